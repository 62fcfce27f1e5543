"""tracking=server: a real `mlflow server` on 127.0.0.1, on a real PostgreSQL, takes a parallel sweep and
independent runs at once; a dead one is named; credentials in its URI are recorded nowhere."""

import subprocess
import sys
from collections.abc import Iterator

import mlflow.data
import numpy as np
import pytest
import requests
from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from seqlab.experiments.tracking import recorder
from seqlab.experiments.tracking.recorder import RunRecorder
from seqlab.experiments.tracking.store import TrackingUnavailable, use_tracking_store
from seqlab.experiments.training.runner import train
from tests.conftest import PROJECT_ROOT, compose_config, run_cli
from tests.servers import dropping_proxy, free_port, serve_mlflow


@pytest.fixture
def mlflow_server(tmp_path) -> Iterator[str]:
    """An `mlflow server` with a sqlite backend in ``tmp_path``."""
    with serve_mlflow(f"sqlite:///{tmp_path / 'server.db'}", tmp_path) as uri:
        yield uri


@pytest.mark.slow
def test_a_team_server_on_postgresql_takes_a_parallel_sweep_and_independent_runs_at_once(postgres, tmp_path):
    # The team set-up of docs/research-workflow.md: an 8-job parallel sweep and 4 runs started
    # by hand log into one server at the same time; nothing may be lost.
    with serve_mlflow(postgres, tmp_path) as server:
        common = [
            "tracking=server",
            f"tracking.uri={server}",
            "tracking.experiment_name=shared",
            "trainer.epochs=2",
            "trainer.progress=false",
            f"trainer.checkpoint_dir={tmp_path / 'checkpoints'}",
            "tracking.log_model=false",  # the weights and the rest still go through the server
        ]
        rates = ["0.05", "0.1", "0.2", "0.4"]
        commands = [
            ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4", "optimizer=sgd,momentum"]
            + [f"optimizer.lr={','.join(rates)}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
        ]
        commands += [[f"seed={seed}", f"hydra.run.dir={tmp_path / f'run{seed}'}"] for seed in range(4)]
        started = [
            subprocess.Popen(
                [sys.executable, "-m", "seqlab.experiments.train", *command, *common],
                cwd=PROJECT_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for command in commands
        ]
        outputs = [process.communicate(timeout=900)[0] for process in started]
        server_log = (tmp_path / "server.log").read_text()[-5000:]  # a worker restarted, a request dropped
        assert [process.returncode for process in started] == [0] * len(started), "\n".join([*outputs, server_log])
        client = MlflowClient(server)
        runs = client.search_runs([client.get_experiment_by_name("shared").experiment_id])
        assert len(runs) == 1 + 8 + 4 and {run.info.status for run in runs} == {"FINISHED"}
        (parent,) = [run for run in runs if "sweep_dir" in run.data.tags]
        jobs = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        # momentum is SGD with a momentum term: the group choice tells the two apart.
        swept = sorted((run.data.params["choice.optimizer"], run.data.params["optimizer.lr"]) for run in jobs)
        assert swept == sorted((optimizer, lr) for optimizer in ("sgd", "momentum") for lr in rates)
        assert {run.data.params["optimizer.name"] for run in jobs} == {"sgd"}
        singles = [run for run in runs if "sweep_id" not in run.data.tags]
        assert sorted(run.data.params["seed"] for run in singles) == ["0", "1", "2", "3"]
        for run in jobs + singles:
            assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [1, 2]
            assert {"test_accuracy", "best_epoch"} <= set(run.data.metrics)
            assert {"weights.safetensors", "config.yaml"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
    assert any((tmp_path / "art").rglob("weights.safetensors")), "artifacts went through the server (--serve-artifacts)"


@pytest.mark.slow
def test_a_write_the_server_drops_without_an_answer_is_sent_again_unless_it_creates_a_run(mlflow_server, monkeypatch):
    # A server closes a request's connection without an answer when uvicorn restarts the worker
    # that held it, or closes an idle keep-alive connection as the request goes out. MLflow does
    # not send such a write again (the server may have applied it); seqlab sends again the writes
    # the store applies once however often they come, and not one that creates a run.
    monkeypatch.setattr(recorder, "RETRY_WAIT_S", 0.0)
    for variable in (
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
    ):
        monkeypatch.delenv(variable, raising=False)  # what use_tracking_store sets is undone after the test
    experiment = MlflowClient(mlflow_server).create_experiment("dropped")
    with dropping_proxy(mlflow_server, {b"/runs/create": 1, b"/runs/log-inputs": 2}) as proxy:
        use_tracking_store(compose_config(["tracking=server", f"tracking.uri={proxy}"]).tracking)
        with pytest.raises(MlflowException, match="Connection aborted"):
            RunRecorder.create(experiment, "parent", {})
        run = RunRecorder.create(experiment, "parent", {})
        run.datasets([(mlflow.data.from_numpy(np.zeros((4, 3)), name="toy"), "train")])  # dropped twice
    server = MlflowClient(mlflow_server)
    assert [r.info.run_name for r in server.search_runs([experiment])] == ["parent"], (
        "a dropped create is not sent again"
    )
    assert [d.dataset.name for d in server.get_run(run.run_id).inputs.dataset_inputs] == ["toy"]


def test_an_unreachable_server_fails_before_training(store_overrides, monkeypatch):
    def no_data(cfg):
        raise AssertionError("data was loaded before the server was checked")

    monkeypatch.setattr("seqlab.experiments.training.runner.load_data", no_data)
    requests_made = []
    real_get = requests.get
    monkeypatch.setattr(
        "seqlab.experiments.tracking.store.requests.get", lambda *a, **k: requests_made.append(a) or real_get(*a, **k)
    )
    uri = f"http://127.0.0.1:{free_port()}"
    cfg = compose_config(store_overrides + ["tracking=server", f"tracking.uri={uri}"])
    with pytest.raises(TrackingUnavailable, match=f"tracking.uri={uri}: no MLflow server answers"):
        train(cfg)
    assert len(requests_made) == 1, "one health check, no retry loop: the run fails at once"


@pytest.mark.slow
def test_credentials_in_the_tracking_uri_are_recorded_nowhere(mlflow_server, tmp_path, monkeypatch):
    secret_uri = mlflow_server.replace("http://", "http://alice:s3cr3t-pw@")
    result = run_cli(
        "seqlab.experiments.train",
        "experiment=debug",
        "tracking=server",
        "trainer.progress=false",
        f"trainer.checkpoint_dir={tmp_path / 'checkpoints'}",
        f"hydra.run.dir={tmp_path / 'hydra'}",
        env={"MLFLOW_TRACKING_URI": secret_uri},
    )
    assert result.returncode == 0, result.stderr
    assert "alice:***@127.0.0.1" in result.stdout + result.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in ("overrides.yaml",)]
    leaks = [str(p) for p in files if b"s3cr3t-pw" in p.read_bytes()]
    assert not leaks and "s3cr3t-pw" not in result.stdout + result.stderr
    client = MlflowClient(mlflow_server)
    run = client.search_runs([client.get_experiment_by_name("debug").experiment_id])[0]
    assert run.data.params["tracking.uri"] == secret_uri.replace("s3cr3t-pw", "***")

    # The same server, in this process: its requests are retried a bounded number of times.
    for variable in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.setenv(variable, "unset")  # restored after the test
    tracking = compose_config(["tracking=server", f"tracking.uri={mlflow_server}", "tracking.request_retries=1"])
    use_tracking_store(tracking.tracking)
    assert (MLFLOW_HTTP_REQUEST_MAX_RETRIES.get(), MLFLOW_HTTP_REQUEST_TIMEOUT.get()) == (1, 30)
