"""Fault injection: the malformed inputs, signals and outages a user on a real cluster with real
files meets, each with the message that names its cause and nothing lost. (Earlier rounds'
cases live beside the features they test: test_reliability, test_resume, test_loaders.)"""

import re
import signal
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import optuna
import psutil
import pytest
import sqlalchemy
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from seqlab.data.errors import DataError
from seqlab.experiments.config.validation import ConfigError, validate
from seqlab.experiments.reproduction import reproduce
from seqlab.experiments.tracking import recorder
from seqlab.experiments.tracking.store import TrackingUnavailable, use_tracking_store
from seqlab.experiments.training.checkpoints import load_checkpoint
from seqlab.experiments.training.runner import train
from seqlab.models.weights import WeightsFileError
from tests.conftest import (
    IMBALANCED_RUN,
    checkpoints_in,
    compose_config,
    start_seqlab,
    wait_for,
    write_imbalanced_archive,
)
from tests.servers import free_port, serve_mlflow
from tests.test_cli import runs_in, sweep_arguments, two_training_jobs
from tests.test_loaders import load_archive, load_text

REVIEWS = ["good fun", "great film", "dull plot", "bad acting", "fine cast", "awful end"] * 4
LABELS = ["pos", "pos", "neg", "neg", "pos", "neg"] * 4


def write_lines(path, rows: list[str]) -> str:
    path.write_text("".join(f"{row}\n" for row in rows))
    return str(path)


@pytest.mark.parametrize(
    ("content", "format", "message"),
    [
        ("text,label\n", "csv", r"header row \(text, label\) and no records: no examples"),
        ("", "lines", r"no lines of text: no examples"),
        ("", "csv", r"the file is empty"),
        ("\n\n", "fasttext", r"no lines of text: no examples"),
    ],
    ids=["header-only csv", "empty lines file", "empty csv", "blank fasttext file"],
)
def test_a_file_without_examples_is_named_as_such(tmp_path, content, format, message):
    path = tmp_path / "train.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_text(path, format=format)


@pytest.mark.parametrize("sep", [None, "\t", "\\t", "tab"], ids=["whitespace", "tab", "backslash-t", "tab-name"])
def test_a_line_without_its_label_is_an_error_never_a_new_class(tmp_path, sep):
    separator = {None: " "}.get(sep, "\t")
    rows = [f"{label}{separator}{text}" for label, text in zip(LABELS, REVIEWS, strict=True)]
    rows[4] = f"{separator}great fine"
    path = write_lines(tmp_path / "reviews.txt", rows)
    with pytest.raises(DataError, match=r"reviews.txt:5: no label before the text 'great fine'"):
        load_text(path, format="lines", sep=sep)
    rows[4] = f"pos{separator}great fine"
    splits = load_text(write_lines(tmp_path / "reviews.txt", rows), format="lines", sep=sep)
    assert splits.label_names == ("neg", "pos")


def test_data_sep_is_validated_and_names_a_tab(tmp_path):
    base = ["data=text_table", f"data.path={tmp_path / 'r.tsv'}", "data.format=lines"]
    for sep in ("tab", "\\t", "'|'"):
        validate(compose_config([*base, f"data.sep={sep}"]))
    with pytest.raises(ConfigError, match=r"data.sep='ab': must be one character, tab"):
        validate(compose_config([*base, "data.sep=ab"]))


def test_a_document_of_a_megabyte_is_read_whole(tmp_path):
    rows = [f"{label} {text}" for label, text in zip(LABELS, REVIEWS, strict=True)]
    rows[0] = "pos " + " ".join(["good"] * 250_000)  # 1.25 MB on one line
    splits = load_text(write_lines(tmp_path / "long.txt", rows), format="lines", max_len=None)
    assert (
        splits.train.inputs.shape[1] == 250_000
        or splits.validation.inputs.shape[1] == 250_000
        or (splits.test.inputs.shape[1] == 250_000)
    )


def test_an_infinite_value_is_named_where_the_file_has_it_before_normalisation(tmp_path):
    rng = np.random.default_rng(0)
    rows = {
        name: [f"{'ab'[i % 2]}\t" + "\t".join(f"{v:.4f}" for v in rng.normal(size=8)) for i in range(12)]
        for name in ("TRAIN", "TEST")
    }
    cells = rows["TRAIN"][9].split("\t")
    cells[6] = "inf"  # line 10, step 6
    rows["TRAIN"][9] = "\t".join(cells)
    for name, lines in rows.items():
        write_lines(tmp_path / f"S_{name}.tsv", lines)
    with pytest.raises(DataError, match=r"S_TRAIN.tsv:10: inf at step 6: series must be finite"):
        load_archive(tmp_path / "S_TRAIN.tsv", tmp_path / "S_TEST.tsv", normalize="dataset")


def test_a_binary_file_is_refused_from_its_first_bytes(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(b"text,label\n" + bytes(range(128, 256)) * 4096)
    with pytest.raises(DataError, match=r"train.csv:2: not utf-8 text: byte 0x80 at byte offset 11"):
        load_text(path)


def test_a_file_larger_than_its_kind_warrants_is_refused_before_it_is_read(tmp_path):
    rows = [f"{label},{text}" for label, text in zip(LABELS, REVIEWS, strict=True)]
    path = write_lines(tmp_path / "big.csv", ["label,text", *rows * 100])
    size = re.escape(f"{(tmp_path / 'big.csv').stat().st_size / 2**20:,.0f}")
    with pytest.raises(DataError, match=rf"big.csv: is {size} MiB, more than data.max_file_mb=0.01 allows"):
        load_text(path, max_file_mb=0.01)
    assert len(load_text(path, max_file_mb=1).train.labels) > 0


def test_a_sweep_launcher_killed_with_sigkill_leaves_no_worker_training(tmp_path):
    # kill -9 of the launcher (an OOM killer, a lost node) gives it no chance to stop its joblib
    # workers; each watches its parent and stops itself: checkpoint, run KILLED, exit.
    launcher, store = two_training_jobs(tmp_path)
    try:
        children = psutil.Process(launcher.pid).children(recursive=True)
        workers = [p for p in children if "popen_loky_posix" in " ".join(p.cmdline())]
    finally:
        launcher.kill()
        launcher.wait(timeout=60)
    assert len(workers) == 2, [p.cmdline() for p in children]
    _, left = psutil.wait_procs(workers, timeout=10)
    output = (tmp_path / "sweep.log").read_text()
    assert not left, f"workers alive 10 s after their launcher was killed: {[w.pid for w in left]}\n{output}"
    runs = runs_in(store)
    jobs = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert list(jobs["status"]) == ["KILLED", "KILLED"], output
    assert set(jobs["tags.seqlab.stopped_by"]) == {"SIGTERM"}
    for run_id in jobs["run_id"]:
        assert (tmp_path / "checkpoints" / run_id / "checkpoint.safetensors").is_file()


@pytest.mark.parametrize("stop", [signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1], ids=["sighup", "sigquit", "sigusr1"])
def test_a_stop_before_the_first_epoch_ends_marks_the_run_killed(store, store_overrides, tmp_path, stop):
    overrides = store_overrides + ["data.train_size=20000", "trainer.batch_size=8", "trainer.progress=false"]
    log = tmp_path / "train.log"
    process = start_seqlab(log, "train", *overrides, f"hydra.run.dir={tmp_path}")
    wait_for(lambda: "MLflow run" in log.read_text(), process, log)  # the run exists; the model is being built
    process.send_signal(stop)
    process.wait(timeout=300)
    output = (tmp_path / "train.log").read_text()
    assert process.returncode == 128 + stop, output
    run_id = re.search(r"MLflow run (\w+)", output).group(1)
    name = signal.Signals(stop).name
    assert f"stopped by {name} before its first epoch ended: run {run_id} marked KILLED" in output, output
    assert "Traceback" not in output
    assert MlflowClient(store["uri"]).get_run(run_id).info.status == "KILLED"


def test_sigterm_to_an_optuna_search_leaves_no_trial_running(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    arguments, store = sweep_arguments(
        tmp_path, "hparams_search=optuna", f"hydra.sweeper.storage={storage}", "hydra.sweeper.n_trials=3", epochs=500
    )
    log = tmp_path / "search.log"
    search = start_seqlab(log, "train", *arguments)
    try:
        wait_for(lambda: checkpoints_in(tmp_path / "checkpoints"), search, log)  # the first trial trains
    finally:
        search.terminate()
        search.wait(timeout=300)
    output = (tmp_path / "search.log").read_text()
    assert search.returncode == 143, output
    (summary,) = optuna.get_all_study_summaries(storage)
    (trial,) = optuna.load_study(study_name=summary.study_name, storage=storage).trials
    assert trial.state == optuna.trial.TrialState.FAIL and trial.user_attrs["stopped_by"] == "SIGTERM"
    assert "trial(s) 0 marked FAIL in Optuna study" in output, output
    assert set(runs_in(store)["status"]) == {"KILLED"}, "the trial's run and the search's parent"


def test_reproduce_on_a_changed_data_file_is_refused_before_it_trains(store, store_overrides, tmp_path):
    data = write_imbalanced_archive(tmp_path)
    run_id = train(compose_config(store_overrides + [f"{k}={v}" for k, v in data.items()] + IMBALANCED_RUN))["run_id"]
    train_file = Path(data["data.train_path"])
    lines = train_file.read_text().splitlines()
    lines[3] = lines[3].replace("\t", "\t9", 1)  # one value changed
    train_file.write_text("\n".join(lines) + "\n")
    client = MlflowClient(store["uri"])
    before = len(client.search_runs([client.get_run(run_id).info.experiment_id]))
    tracking = OmegaConf.create({"uri": store["uri"], "artifact_root": store["artifact_root"]})
    use_tracking_store(tracking)
    with pytest.raises(DataError, match=rf"{train_file}: changed since run {run_id} trained on it \(sha256 \w+"):
        reproduce(run_id, tracking)
    assert len(client.search_runs([client.get_run(run_id).info.experiment_id])) == before, "nothing was trained"


# Checkpoints written after every epoch: the tests follow the run's progress by them.
OUTAGE_RUN = [
    "data.train_size=3000",
    "trainer.epochs=12",
    "trainer.progress=false",
    "tracking.log_model=false",
    "trainer.save_every_s=0",
]


def start_training(tmp_path, uri: str, *overrides: str) -> subprocess.Popen:
    """A training run on the tracking server ``uri``, its output in ``tmp_path/train.log``."""
    arguments = [f"tracking.uri={uri}", f"trainer.checkpoint_dir={tmp_path / 'checkpoints'}", *OUTAGE_RUN, *overrides]
    return start_seqlab(
        tmp_path / "train.log", "train", *arguments, f"hydra.run.dir={tmp_path / 'hydra'}", cwd=tmp_path
    )


def checkpointed_epoch(tmp_path, process: subprocess.Popen, at_least: int) -> tuple[str, int]:
    """Wait for a checkpoint of at least ``at_least`` epochs; its run id and epoch."""

    def found() -> tuple[str, int] | None:
        for path in checkpoints_in(tmp_path / "checkpoints"):
            try:
                checkpoint = load_checkpoint(path)
            except WeightsFileError:  # being replaced
                continue
            if checkpoint.progress.epoch >= at_least:
                return checkpoint.run_id, checkpoint.progress.epoch
        return None

    return wait_for(found, process, tmp_path / "train.log")


def assert_every_epoch_once(client: MlflowClient, run_id: str, epochs: int) -> None:
    for key in ("train_loss", "val_loss", "val_macro_f1", "lr"):
        steps = sorted(m.step for m in client.get_metric_history(run_id, key))
        assert steps == list(range(1, epochs + 1)), (key, steps)


@pytest.mark.slow
def test_a_tracking_server_that_stops_for_several_epochs_loses_no_metric(tmp_path):
    backend, port = f"sqlite:///{tmp_path / 'server.db'}", free_port()
    with serve_mlflow(backend, tmp_path, port) as uri:
        process = start_training(tmp_path, uri)
        run_id, stopped_at = checkpointed_epoch(tmp_path, process, at_least=2)
    checkpointed_epoch(tmp_path, process, at_least=stopped_at + 3)  # epochs trained with no server
    with serve_mlflow(backend, tmp_path, port) as uri:
        process.wait(timeout=600)
        output = (tmp_path / "train.log").read_text()
        assert process.returncode == 0, output
        assert "does not answer" in output and "training goes on" in output, output
        client = MlflowClient(uri)
        assert client.get_run(run_id).info.status == "FINISHED"
        assert_every_epoch_once(client, run_id, 12)


@pytest.mark.slow
def test_a_tracking_server_that_does_not_come_back_stops_the_run_with_the_command_that_finishes_it(tmp_path):
    backend, port = f"sqlite:///{tmp_path / 'server.db'}", free_port()
    with serve_mlflow(backend, tmp_path, port) as uri:
        process = start_training(tmp_path, uri, "tracking.outage_s=2")
        run_id, _ = checkpointed_epoch(tmp_path, process, at_least=2)
    process.wait(timeout=600)
    output = (tmp_path / "train.log").read_text()
    assert process.returncode == 2, output
    assert "Traceback" not in output, output
    command = re.search(r"Once the store answers, `(seqlab train [^`]+)` sends them and finishes the run", output)
    assert command, output
    assert f"Kept: its checkpoint in {tmp_path / 'checkpoints' / run_id}" in output
    with serve_mlflow(backend, tmp_path, port) as uri:
        resumed = subprocess.run(
            [sys.executable, "-m", "seqlab", *command.group(1).split()[1:], f"hydra.run.dir={tmp_path / 'again'}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        client = MlflowClient(uri)
        assert client.get_run(run_id).info.status == "FINISHED"
        assert_every_epoch_once(client, run_id, 12)
    assert not (tmp_path / "checkpoints" / run_id).exists(), "the journal was sent and the checkpoint discarded"


STOPPED_AT_CREATION = """
import os, signal, sys
import mlflow

created = mlflow.start_run


def start_run(*args, **kwargs):  # SIGTERM the moment the run exists in the store
    run = created(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGTERM)
    return run


mlflow.start_run = start_run
sys.argv = ["seqlab", "train", *sys.argv[1:]]
from seqlab.__main__ import main

main()
"""


def test_sigterm_the_moment_a_run_is_created_leaves_it_killed_not_running(store, store_overrides, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", STOPPED_AT_CREATION, *store_overrides, f"hydra.run.dir={tmp_path}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 143, output
    run_id = re.search(r"stopped as run (\w+) was created: marked KILLED", output).group(1)
    assert MlflowClient(store["uri"]).get_run(run_id).info.status == "KILLED"
    assert "Traceback" not in output


def test_a_store_that_cannot_create_the_run_is_one_message(store_overrides, monkeypatch):
    def full_disk(*args, **kwargs):
        raise sqlalchemy.exc.OperationalError("INSERT INTO runs", {}, Exception("database or disk is full"))

    monkeypatch.setattr(mlflow, "start_run", full_disk)
    with pytest.raises(
        TrackingUnavailable, match=r"the store cannot record a new run \(OperationalError: .*disk is full"
    ):
        train(compose_config(store_overrides + ["trainer.progress=false"]))


def test_a_model_too_large_for_the_memory_is_refused_before_anything_is_built(store, store_overrides):
    # A 3-layer bidirectional LSTM of hidden size 8192: about 3.8 billion parameters.
    big = ["model=lstm", "model.hidden_size=8192", "model.num_layers=3", "model.bidirectional=true"]
    use_tracking_store(OmegaConf.create({"uri": store["uri"]}))
    before = len(mlflow.search_runs(search_all_experiments=True))
    with pytest.raises(
        ConfigError, match=r"model=lstm: training it would need about \d+\.\d GB \(3,7\d\d M parameters"
    ):
        train(compose_config(store_overrides + big + ["trainer.progress=false"]))
    assert len(mlflow.search_runs(search_all_experiments=True)) == before, "no run was created"


def test_a_write_waits_for_a_store_locked_by_another_process(monkeypatch):
    # Parallel jobs on the embedded sqlite store: a write that finds it locked longer than
    # sqlite's own wait tries again instead of failing the run; any other error is at once.
    monkeypatch.setattr(recorder, "RETRY_WAIT_S", 0.0)
    answers = iter([sqlalchemy.exc.OperationalError("INSERT", {}, Exception("database is locked"))] * 3 + ["written"])

    def write():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert recorder.sent_again_while_refused(write) == "written"
    answers = iter([sqlalchemy.exc.OperationalError("INSERT", {}, Exception("database or disk is full")), "written"])
    with pytest.raises(sqlalchemy.exc.OperationalError, match="disk is full"):
        recorder.sent_again_while_refused(write)
