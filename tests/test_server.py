"""tracking=server: a real `mlflow server` on 127.0.0.1 receives a sweep; a dead one is named."""

import os
import signal
import subprocess
import sys

import pytest
import requests
from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT
from mlflow.tracking import MlflowClient

from seqlab.experiments.runner import train
from seqlab.experiments.tracking import TrackingUnavailable, use_tracking_store
from tests.conftest import compose_config, free_port, run_cli, wait_until_serving


@pytest.fixture
def mlflow_server(tmp_path):
    """An `mlflow server` with a sqlite backend in ``tmp_path``; stopped by its pid afterwards."""
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    with open(tmp_path / "server.log", "w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                f"sqlite:///{tmp_path / 'server.db'}",
                "--artifacts-destination",
                str(tmp_path / "server-artifacts"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(f"{uri}/health", server, f"mlflow server (log: {tmp_path / 'server.log'})")
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.slow
def test_a_sweep_against_a_real_mlflow_server(mlflow_server, tmp_path):
    result = run_cli(
        "seqlab.experiments.train",
        "-m",
        "tracking=server",
        f"tracking.uri={mlflow_server}",
        "tracking.experiment_name=shared",
        "optimizer.lr=0.05,0.1",
        "trainer.epochs=2",
        "trainer.progress=false",
        f"trainer.checkpoint_dir={tmp_path / 'checkpoints'}",
        f"hydra.sweep.dir={tmp_path / 'hydra'}",
    )
    assert result.returncode == 0, result.stderr
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("shared")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 3
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted(r.data.params["optimizer.lr"] for r in children) == ["0.05", "0.1"]
    for run in children:
        assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 2
        assert {"weights.pkl", "config.yaml"} <= {a.path for a in client.list_artifacts(run.info.run_id)}


def test_an_unreachable_server_fails_before_training(store_overrides, monkeypatch):
    def no_data(cfg):
        raise AssertionError("data was loaded before the server was checked")

    monkeypatch.setattr("seqlab.experiments.runner.load_data", no_data)
    requests_made = []
    real_get = requests.get
    monkeypatch.setattr(
        "seqlab.experiments.tracking.requests.get", lambda *a, **k: requests_made.append(a) or real_get(*a, **k)
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
