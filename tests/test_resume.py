"""Checkpoints and early stopping: a run stopped by a signal, or killed with SIGKILL, resumes to
the metrics of an uninterrupted run, and a run keeps its best epoch's weights, not its last."""

import os
import re
import signal
import subprocess
import time

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from seqlab.data.errors import DataError
from seqlab.experiments.config.validation import ConfigError
from seqlab.experiments.tracking.logged_runs import WEIGHTS_ARTIFACT
from seqlab.experiments.training.checkpoints import load_checkpoint, run_lock
from seqlab.experiments.training.runner import train
from seqlab.models.weights import WeightsFileError, load_tree, load_weights, save_tree
from tests.conftest import compose_config, run_cli, start_seqlab, wait_for

SMALL_RUN = [
    "trainer.dtype=float64",
    "trainer.progress=false",
    "model.hidden_size=8",
    "data.train_size=6000",
    "data.val_size=100",
    "data.test_size=100",
]
# Epochs of the runs that are stopped: enough that a signal sent after the second lands mid-run.
EPOCHS = 60
EPOCH_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    """A metric's (step, value) pairs; an epoch logged twice (killed after logging it, before
    its checkpoint was written) must have logged the same value both times."""
    return sorted({(m.step, m.value) for m in client.get_metric_history(run_id, key)})


def wait_for_checkpoint(process: subprocess.Popen, folder, epoch: int):
    """Poll ``folder`` until a checkpoint of at least ``epoch`` finished epochs appears."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for path in folder.glob("*/checkpoint.safetensors"):
            checkpoint = load_checkpoint(path)
            if checkpoint.progress.epoch >= epoch:
                return checkpoint
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.01)
    pytest.fail(f"no checkpoint of epoch {epoch} within 300 s")


@pytest.fixture(scope="module")
def uninterrupted(store_overrides, tmp_path_factory) -> dict:
    """The uninterrupted run that every stopped one, once resumed, must equal."""
    checkpoints = tmp_path_factory.mktemp("uninterrupted")
    return train(
        compose_config(
            store_overrides + SMALL_RUN + [f"trainer.epochs={EPOCHS}", f"trainer.checkpoint_dir={checkpoints}"]
        )
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop", "status", "exit_code"),
    [
        (signal.SIGKILL, "RUNNING", -signal.SIGKILL),
        (signal.SIGTERM, "KILLED", 143),
        (signal.SIGINT, "KILLED", 130),
        (signal.SIGHUP, "KILLED", 129),  # a closed terminal or SSH session
        (signal.SIGQUIT, "KILLED", 131),
        (signal.SIGUSR1, "KILLED", 138),  # SLURM's --signal before a time limit
    ],
    ids=["sigkill", "sigterm", "sigint", "sighup", "sigquit", "sigusr1"],
)
def test_a_stopped_run_resumes_to_the_metrics_of_an_uninterrupted_run(
    store, store_overrides, tmp_path, uninterrupted, stop, status, exit_code
):
    # SIGKILL leaves the run RUNNING and its checkpoint as last written (every second here: it
    # retrains the epochs since); SIGTERM (SLURM, timeout, kill), Ctrl-C, SIGHUP, SIGQUIT and
    # SIGUSR1 mark it KILLED and say how to resume, with no traceback, and write the checkpoint
    # of the last finished epoch, well before trainer.save_every_s's default has passed.
    checkpoints = tmp_path / "checkpoints"
    overrides = store_overrides + SMALL_RUN + [f"trainer.epochs={EPOCHS}", f"trainer.checkpoint_dir={checkpoints}"]
    if stop == signal.SIGKILL:
        overrides.append("trainer.save_every_s=1")
    log = tmp_path / "train.log"
    process = start_seqlab(
        log,
        "train",
        *overrides,
        f"hydra.run.dir={tmp_path}",
        # Ctrl-C as a terminal delivers it: a test run in the background (CI) inherits SIGINT
        # ignored, which Python keeps ignoring.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        if stop == signal.SIGKILL:
            wait_for_checkpoint(process, checkpoints, epoch=2)
        else:
            wait_for(lambda: f"epoch 2/{EPOCHS} " in log.read_text(), process, log)
    finally:
        process.send_signal(stop)
        process.wait(timeout=300)
    output = log.read_text()
    assert process.returncode == exit_code, output
    client = MlflowClient(store["uri"])
    paths = list(checkpoints.glob("*/checkpoint.safetensors"))
    assert len(paths) == 1, f"one checkpoint, of the last epoch written, not {paths}"
    checkpoint = load_checkpoint(paths[0])
    killed_at = checkpoint.progress.epoch
    assert 2 <= killed_at < EPOCHS, "the run finished before it was stopped"
    assert client.get_run(checkpoint.run_id).info.status == status
    assert not list(checkpoints.glob("*/.checkpoint.safetensors.*")), "no half-written checkpoint is left"
    if stop != signal.SIGKILL:
        assert f"resume with trainer.resume={checkpoint.run_id}" in output and "Traceback" not in output, output
        reason = "Ctrl-C" if stop == signal.SIGINT else signal.Signals(stop).name
        assert f"stopped by {reason}: run {checkpoint.run_id} marked KILLED" in output, output
        assert client.get_run(checkpoint.run_id).data.tags["seqlab.stopped_by"] == reason
        last_logged = max(int(epoch) for epoch in re.findall(rf"epoch (\d+)/{EPOCHS} ", output))
        assert killed_at - last_logged in (0, 1), "the stop wrote the last finished epoch (logged or not yet)"

    resume = compose_config(
        store_overrides + [f"trainer.checkpoint_dir={checkpoints}", f"trainer.resume={checkpoint.run_id}"]
    )
    with run_lock(str(checkpoints), checkpoint.run_id):  # as if another process were training it now
        busy = (
            rf"trainer.resume={checkpoint.run_id}: the run is being trained by another process now \(pid {os.getpid()}"
        )
        with pytest.raises(ConfigError, match=busy):
            train(resume)
    assert client.get_run(checkpoint.run_id).info.status != "RUNNING", "a refused resume leaves the run as it was"
    resumed = train(resume)

    assert resumed["run_id"] == checkpoint.run_id
    assert client.get_run(checkpoint.run_id).info.status == "FINISHED"
    assert client.get_run(checkpoint.run_id).data.tags["resumed_after_epoch"] == str(killed_at)
    assert not (checkpoints / checkpoint.run_id).exists(), "a finished run keeps no checkpoint"
    for key in ("train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy", "best_epoch"):
        assert resumed[key] == uninterrupted[key], key
    for key in EPOCH_METRICS:
        resumed_history = history(client, resumed["run_id"], key)
        assert [step for step, _ in resumed_history] == list(range(1, EPOCHS + 1)), key
        assert resumed_history == history(client, uninterrupted["run_id"], key), key


def test_resuming_a_run_without_checkpoint_names_it(store_overrides):
    cfg = compose_config(store_overrides + ["trainer.resume=no-such-run"])
    with pytest.raises(ValueError, match=r"trainer.resume='no-such-run': no checkpoint"):
        train(cfg)


def test_resuming_from_a_file_that_is_no_checkpoint_names_it(store_overrides, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(WeightsFileError, match=r"notes.txt: not a safetensors file written by seqlab"):
        train(compose_config(store_overrides + [f"trainer.resume={text}"]))


def test_resuming_on_changed_data_is_refused(store_overrides, tmp_path, monkeypatch):
    checkpoints = tmp_path / "checkpoints"
    overrides = store_overrides + SMALL_RUN + ["trainer.epochs=2", f"trainer.checkpoint_dir={checkpoints}"]
    monkeypatch.setattr("seqlab.experiments.training.checkpoints.TrainingState.discard", lambda self: None)
    run_id = train(compose_config(overrides))["run_id"]
    checkpoint = checkpoints / run_id / "checkpoint.safetensors"
    state = load_tree(checkpoint)
    save_tree(state | {"data_hash": "0" * 64}, checkpoint)
    with pytest.raises(DataError, match=f"the data of run {run_id} .*hash 0000"):
        train(compose_config(store_overrides + [f"trainer.checkpoint_dir={checkpoints}", f"trainer.resume={run_id}"]))


def test_early_stopping_keeps_the_best_epochs_weights(store, store_overrides, monkeypatch):
    val_losses = iter([0.9, 0.5, 0.6, 0.7, 0.8])
    snapshots = []

    def scripted_evaluate(model, dataset, batch_size, split):
        snapshots.append(model.get_weights())
        return {f"{split}_loss": next(val_losses, 0.0), f"{split}_accuracy": 0.5}

    monkeypatch.setattr("seqlab.experiments.training.runner.evaluate", scripted_evaluate)
    cfg = compose_config(store_overrides + SMALL_RUN[1:] + ["trainer.patience=2", "trainer.epochs=10"])
    metrics = train(cfg)

    assert metrics["best_epoch"] == 2 and metrics["val_loss"] == 0.5
    client = MlflowClient(store["uri"])
    assert [step for step, _ in history(client, metrics["run_id"], "val_loss")] == [1, 2, 3, 4]
    mlflow.set_tracking_uri(store["uri"])
    kept = load_weights(mlflow.artifacts.download_artifacts(run_id=metrics["run_id"], artifact_path=WEIGHTS_ARTIFACT))
    assert len(snapshots) == 5, "four validations and one test"
    for name, value in kept.items():
        np.testing.assert_array_equal(value, snapshots[1][name])
        np.testing.assert_array_equal(value, snapshots[4][name])
        assert not np.array_equal(value, snapshots[3][name])


@pytest.mark.slow
def test_a_resume_applies_new_epochs_and_refuses_overrides_it_would_ignore(
    store, store_overrides, tmp_path, monkeypatch
):
    checkpoints = tmp_path / "checkpoints"
    overrides = store_overrides + SMALL_RUN + ["trainer.epochs=2", f"trainer.checkpoint_dir={checkpoints}"]
    monkeypatch.setattr("seqlab.experiments.training.checkpoints.TrainingState.discard", lambda self: None)
    run_id = train(compose_config(overrides))["run_id"]
    resume = [*store_overrides, f"trainer.checkpoint_dir={checkpoints}", f"trainer.resume={run_id}"]

    refused = run_cli("seqlab.experiments.train", *resume, "model.hidden_size=99", "trainer.epochs=3")
    assert refused.returncode == 2
    assert "these overrides differ from it: ['model.hidden_size=99']" in refused.stdout + refused.stderr

    resumed = run_cli("seqlab.experiments.train", *resume, "trainer.epochs=3", "trainer.progress=false")
    assert resumed.returncode == 0, resumed.stderr
    client = MlflowClient(store["uri"])
    assert client.get_run(run_id).data.tags["resumed_with"] == "trainer.epochs=3"
    assert [step for step, _ in history(client, run_id, "val_loss")] == [1, 2, 3]
