"""Faults a real lab meets: many processes on one fresh store, and a run terminated half-way."""

import errno
import os
import subprocess
import sys

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from seqlab.experiments.tracking.journal import BATCH_LIMIT, MetricJournal
from seqlab.experiments.tracking.recorder import RunRecorder
from seqlab.experiments.tracking.store import open_experiment
from seqlab.experiments.training.checkpoints import CheckpointWriteError
from seqlab.experiments.training.runner import train
from tests.conftest import compose_config

STORE_PROBE = """
import sys
from omegaconf import OmegaConf
from seqlab.experiments.tracking.recorder import RunRecorder
from seqlab.experiments.tracking.store import open_experiment
tracking = OmegaConf.create({"uri": sys.argv[1], "artifact_root": sys.argv[2], "experiment_name": "race"})
with RunRecorder.start(open_experiment(tracking)) as run:
    run.metrics({"epoch_done": 1.0}, step=1)
"""


@pytest.mark.slow
@pytest.mark.parametrize("processes", [4, 8])
def test_independent_processes_on_a_fresh_store_all_finish(tmp_path, processes):
    # Plain parallel runs (a shell loop, a SLURM array) go through no sweep callback that could
    # create the store first; MLflow's migration run by all of them at once broke the store.
    for attempt in range(3):
        root = tmp_path / f"attempt{attempt}"
        uri = f"sqlite:///{root / 'mlflow.db'}"
        command = [sys.executable, "-c", STORE_PROBE, uri, str(root / "artifacts")]
        started = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(processes)]
        errors = [p.communicate(timeout=600)[1] for p in started]
        assert [p.returncode for p in started] == [0] * processes, "\n".join(errors)
        mlflow.set_tracking_uri(uri)
        runs = mlflow.search_runs(experiment_names=["race"])
        assert len(runs) == processes and set(runs["status"]) == {"FINISHED"}
        assert mlflow.search_experiments(), "the store is usable afterwards"


def test_the_metrics_of_many_epochs_kept_between_saves_reach_the_store_once_though_it_fails_midway(
    store, tmp_path, monkeypatch
):
    # A save after many short epochs sends more metric values than MLflow takes in one request;
    # the store fails after the first request: the rest waits in the journal, nothing is sent twice.
    epochs = BATCH_LIMIT // 2
    tracking = OmegaConf.create({**store, "experiment_name": "kept"})
    client = MlflowClient(store["uri"])
    with RunRecorder.start(open_experiment(tracking)) as run:
        journal = MetricJournal(tmp_path / "journal.jsonl")
        run.keep_metrics_through_outages(journal, outage_s=600, kept="nothing", resume="nothing")
        for epoch in range(1, epochs + 1):
            run.keep({"train_loss": 1 / epoch, "lr": 0.1, "val_accuracy": epoch / epochs}, step=epoch)
        assert not client.get_metric_history(run.run_id, "lr"), "kept, not sent yet"
        requests, log_batch = [], run.client.log_batch

        def failing_after_one(*args, **kwargs):
            requests.append(len(kwargs["metrics"]))
            if len(requests) > 1:
                raise MlflowException("the store went away")
            return log_batch(*args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(run.client, "log_batch", failing_after_one)
            run.flush()
        assert requests == [BATCH_LIMIT, 3 * epochs - BATCH_LIMIT]
        assert len(journal.entries()) == 3 * epochs - BATCH_LIMIT, "only what the store did not take"
        run.flush()  # nothing kept since: nothing sent
        run.sync()  # the store answers again and takes the journal
        assert not journal.entries()
    for key, value in (("train_loss", lambda e: 1 / e), ("lr", lambda e: 0.1), ("val_accuracy", lambda e: e / epochs)):
        history = sorted((m.step, m.value) for m in client.get_metric_history(run.run_id, key))
        assert history == [(e, value(e)) for e in range(1, epochs + 1)], key


ORPHAN_PROBE = """
import os, sys
from omegaconf import OmegaConf
from seqlab.experiments.tracking.recorder import RunRecorder
from seqlab.experiments.tracking.store import open_experiment
tracking = OmegaConf.create({"uri": sys.argv[1], "artifact_root": sys.argv[2], "experiment_name": "debug"})
run = RunRecorder.start(open_experiment(tracking))
print(run.run_id, flush=True)
os.kill(os.getpid(), 9)
"""


def test_a_run_left_running_by_a_killed_process_is_marked_failed_by_the_next_run(store, store_overrides):
    killed = subprocess.run(
        [sys.executable, "-c", ORPHAN_PROBE, store["uri"], store["artifact_root"]], capture_output=True, text=True
    )
    assert killed.returncode == -9, killed.stderr
    orphan = killed.stdout.split()[0]
    client = MlflowClient(store["uri"])
    assert client.get_run(orphan).info.status == "RUNNING"
    train(compose_config(store_overrides + ["experiment=debug", "trainer.progress=false"]))
    run = client.get_run(orphan)
    assert run.info.status == "FAILED"
    assert "ended without closing it" in run.data.tags["seqlab.note"]


def test_a_full_disk_during_a_checkpoint_fails_the_run_and_keeps_the_last_checkpoint(
    store, store_overrides, default_run, tmp_path, monkeypatch
):
    # The disk fills up while epoch 2's checkpoint is written (its fsync fails, as ENOSPC does).
    calls, real_fsync = [], os.fsync

    def fsync(descriptor):
        calls.append(descriptor)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(descriptor)

    overrides = store_overrides + [
        "trainer.progress=false",
        "data.train_size=300",
        f"trainer.checkpoint_dir={tmp_path}",
        "trainer.save_every_s=0",  # a write after every epoch: the second one fails
    ]
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", fsync)
        with pytest.raises(CheckpointWriteError) as error:
            train(compose_config(overrides + ["trainer.epochs=4"]))
    (folder,) = tmp_path.iterdir()
    run_id = folder.name
    assert str(error.value) == (
        f"run {run_id}: the checkpoint of epoch 2 could not be written to {folder} (No space left on device); "
        f"kept: the metrics of epochs 1-2 in MLflow and the checkpoint of epoch 1 at "
        f"{folder / 'checkpoint.safetensors'} "
        f"(once there is room, resume with trainer.resume={run_id})"
    )
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.safetensors"], "no temp file, no lock left"
    client = MlflowClient(store["uri"])
    assert client.get_run(run_id).info.status == "FAILED"
    earlier = client.get_run(default_run["metrics"]["run_id"])
    assert earlier.info.status == "FINISHED"
    assert earlier.data.metrics["test_accuracy"] == default_run["metrics"]["test_accuracy"], "earlier runs intact"
    resumed = train(compose_config(overrides + [f"trainer.resume={run_id}"]))
    assert resumed["run_id"] == run_id and client.get_run(run_id).info.status == "FINISHED"


DEFERRED_STOP = """
import os, signal
from seqlab.experiments import signals
with signals.stop_cleanly():
    with signals.deferred():
        os.kill(os.getpid(), signal.SIGTERM)  # handled at once, in this thread
        print("write finished", flush=True)
    print("went on after the write", flush=True)
"""
# The write fails after the signal came, and its caller handles that error (a retry, say): the
# stop must not be lost with it.
DEFERRED_STOP_FAILED_WRITE = """
import os, signal
from seqlab.experiments import signals
with signals.stop_cleanly():
    try:
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            raise RuntimeError("the store refused the write")
    except RuntimeError:
        print("handled the write's error", flush=True)
    print("went on after the write", flush=True)
"""


# The handler runs inside a weakref callback, where Python drops the exception it raises (a
# SIGHUP during a model's build was lost so, and the run trained to its end): the stop is raised
# at the next check, and the drop is not printed as an ignored exception with its traceback.
LOST_STOP = """
import os, signal, weakref
from seqlab.experiments import signals

class Node:
    pass

def collected(_):
    os.kill(os.getpid(), signal.SIGHUP)
    sum(range(1000))  # the handler runs here

with signals.stop_cleanly():
    node = Node()
    ref = weakref.ref(node, collected)
    del node
    print("went on after the callback", flush=True)
    signals.raise_if_stopped()
    print("went on after the check", flush=True)
"""


def test_a_stop_whose_exception_python_dropped_is_raised_at_the_next_check():
    result = subprocess.run([sys.executable, "-c", LOST_STOP], capture_output=True, text=True, timeout=120)
    assert result.returncode == 129, (result.stdout, result.stderr)
    # The code after the callback ran: the handler's exception was dropped.
    assert result.stdout.splitlines() == ["went on after the callback"], result.stdout
    assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("probe", "printed"), [(DEFERRED_STOP, ["write finished"]), (DEFERRED_STOP_FAILED_WRITE, [])], ids=["ok", "failed"]
)
def test_sigterm_during_a_store_write_is_raised_when_the_write_has_finished(probe, printed):
    # A SIGTERM raised inside an sqlite write left its transaction open and the store locked:
    # two stopped sweep jobs then could not mark their runs KILLED. The recorder's writes hold
    # the signal until they end, failed or not. In a process of its own: signal handlers are
    # process-wide.
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 143, (result.stdout, result.stderr)
    assert result.stdout.splitlines() == printed, result.stdout
