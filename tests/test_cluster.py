"""Beyond one machine, on the real engines: sweeps and a study as jobs of a real single-node SLURM
cluster, a preempted job that requeues itself and resumes its run, one Optuna study shared by
two searchers on PostgreSQL, and a sweep on a local Ray head."""

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from seqlab.experiments.slurm import RESTARTS_TAG, SLURM_JOB_TAG
from seqlab.experiments.training.runner import train
from tests.conftest import PROJECT_ROOT, compose_config, start_seqlab
from tests.servers import SLURM_CLUSTER_NAME, ray_head, slurm_answers, slurm_cluster, wait_until
from tests.test_cli import runs_in, sweep_arguments
from tests.test_resume import EPOCH_METRICS, EPOCHS, SMALL_RUN, history, wait_for_checkpoint
from tests.test_studies import STUDY, cell_runs, parent_report, study_command, toy_archive

pytestmark = pytest.mark.slow

# A job's share of the 2-core node: two jobs run at once.
SLURM_JOB = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The environment under which SLURM's commands reach the module's cluster."""
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as env:
        yield env


def job_runs(store: dict) -> pd.DataFrame:
    """The runs of ``store`` that SLURM jobs trained, with their job ids as SLURM writes them
    (``jobid``)."""
    runs = runs_in(store)
    runs = runs[runs.get(f"tags.{SLURM_JOB_TAG}", pd.Series(index=runs.index, dtype=object)).notna()].copy()
    runs["jobid"] = runs[f"tags.{SLURM_JOB_TAG}"].str.removeprefix(f"{SLURM_CLUSTER_NAME}:")
    return runs


def sacct_states(env: dict[str, str], jobs: list[str]) -> dict[str, list[str]]:
    """Every state SLURM's accounting holds for each of ``jobs`` (a requeued job has one record
    per start), waiting (at most 300 s) until none is still pending or running."""

    def records() -> dict[str, list[str]] | None:
        lines = slurm_answers(env, "sacct", "-X", "-D", "-n", "-P", "-o", "JobID,State", "-j", ",".join(jobs))
        states: dict[str, list[str]] = {job: [] for job in jobs}
        for line in lines.splitlines():
            job, state = line.split("|")
            states.setdefault(job, []).append(state.split()[0])
        done = all(states[job] and states[job][-1] not in ("PENDING", "RUNNING", "REQUEUED") for job in jobs)
        return states if done else None

    return wait_until(records, f"sacct still shows jobs {jobs} pending or running", [])


def finished(process: subprocess.Popen, tmp_path: Path) -> str:
    """The output of ``process`` once it has ended with status 0 (at most 900 s)."""
    process.wait(timeout=900)
    output = (tmp_path / "seqlab.log").read_text()
    assert process.returncode == 0, output[-6000:]
    return output


def test_a_sweep_runs_its_jobs_as_slurm_jobs(slurm, tmp_path):
    arguments, store = sweep_arguments(tmp_path, *SLURM_JOB, "experiment=debug", "seed=0,1,2")
    output = finished(start_seqlab(tmp_path / "seqlab.log", "train", *arguments, env=slurm), tmp_path)
    runs = job_runs(store)
    assert len(runs) == 3 and set(runs["status"]) == {"FINISHED"}, output[-4000:]
    assert sorted(runs["params.seed"]) == ["0", "1", "2"]
    assert all(re.fullmatch(r"\d+_[012]", job) for job in runs["jobid"]), "one array job, a task per run"
    assert set(runs["tags.sweep_id"]) == set(runs_in(store).query("`tags.sweep_id` == run_id")["run_id"])
    states = sacct_states(slurm, list(runs["jobid"]))
    assert states == {job: ["COMPLETED"] for job in runs["jobid"]}
    assert not slurm_answers(slurm, "squeue", "-h").strip(), "nothing left in the queue"


@pytest.fixture(scope="module")
def uninterrupted(store, store_overrides) -> dict:
    """The results of the run every preempted job must end equal to, trained here without
    interruption into the session's store."""
    return train(compose_config(store_overrides + SMALL_RUN + [f"trainer.epochs={EPOCHS}"]))


@pytest.mark.parametrize(
    "stop",
    [signal.SIGTERM, signal.SIGUSR2],
    ids=["preempted-sigterm", "time-limit-sigusr2"],
)
def test_a_preempted_job_requeues_itself_and_resumes_its_run_to_the_uninterrupted_metrics(
    slurm, tmp_path, store, uninterrupted, stop
):
    # SIGTERM is what preemption (and scancel --signal=TERM) sends, SIGUSR2 what SLURM sends
    # hydra.launcher.signal_delay_s before the time limit: each requeues the job, which resumes
    # the run into the same MLflow run.
    # Checkpoints after every epoch, by which the test sees the job train.
    every_epoch = "trainer.save_every_s=0"
    arguments, job_store = sweep_arguments(tmp_path, *SLURM_JOB, *SMALL_RUN, every_epoch, "seed=0", epochs=EPOCHS)
    sweep = start_seqlab(tmp_path / "seqlab.log", "train", *arguments, env=slurm)
    checkpoint = wait_for_checkpoint(sweep, tmp_path / "checkpoints", epoch=2)
    (job,) = job_runs(job_store)["jobid"]
    subprocess.run(["scancel", f"--signal={signal.Signals(stop).name.removeprefix('SIG')}", job], env=slurm, check=True)
    output = finished(sweep, tmp_path)

    states = sacct_states(slurm, [job])
    assert states[job] == ["REQUEUED", "COMPLETED"], (states, output[-4000:])
    client = MlflowClient(job_store["uri"])
    run = client.get_run(checkpoint.run_id)
    assert len(job_runs(job_store)) == 1, "the requeued job went on with the same MLflow run"
    assert run.info.status == "FINISHED"
    assert run.data.tags["seqlab.stopped_by"] == signal.Signals(stop).name, "why it was stopped is recorded"
    assert run.data.tags[RESTARTS_TAG] == "1"
    assert 2 <= int(run.data.tags["resumed_after_epoch"]) < EPOCHS
    reference = MlflowClient(store["uri"])
    logged = {"val_loss": "best_val_loss", "val_accuracy": "best_val_accuracy", "test_loss": "test_loss"}
    logged |= {"test_accuracy": "test_accuracy", "best_epoch": "best_epoch"}
    for key, name in logged.items():
        assert run.data.metrics[name] == uninterrupted[key], key
    for key in EPOCH_METRICS:
        assert history(client, run.info.run_id, key) == history(reference, uninterrupted["run_id"], key), key


def test_a_study_runs_its_cells_as_slurm_jobs(slurm, tmp_path):
    toy_archive(tmp_path / "archive")
    (tmp_path / "conf" / "study").mkdir(parents=True)
    (tmp_path / "conf" / "study" / "small.yaml").write_text(STUDY.format(folder=tmp_path / "archive", epochs=2))
    command = study_command(tmp_path, *SLURM_JOB, "study.seeds=1")
    study = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900, env=slurm)
    assert study.returncode == 0, (study.stdout + study.stderr)[-6000:]
    cells = cell_runs(tmp_path)
    assert len(cells) == 6 and set(cells["status"]) == {"FINISHED"}
    jobs = list(cells[f"tags.{SLURM_JOB_TAG}"].str.removeprefix(f"{SLURM_CLUSTER_NAME}:"))
    assert sacct_states(slurm, jobs) == {job: ["COMPLETED"] for job in jobs}
    results = pd.read_csv(parent_report(tmp_path, "results.csv"))
    assert sorted(results["run_id"]) == sorted(cells["run_id"])


def test_two_searchers_share_one_optuna_study_on_postgresql(postgres, tmp_path):
    # Two `seqlab train -m hparams_search=optuna` started at once on one study, as on two
    # machines: their trials add up, none is run twice.
    n_trials, searchers = 3, {}
    search = ["hparams_search=optuna", f"hydra.sweeper.storage={postgres}", "hydra.sweeper.study_name=shared"]
    arguments, store = sweep_arguments(tmp_path, *search, f"hydra.sweeper.n_trials={n_trials}", "experiment=debug")
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        sweep_dir = f"hydra.sweep.dir={tmp_path / name / 'sweep'}"  # after the shared one: each its own folder
        searchers[name] = start_seqlab(tmp_path / name / "seqlab.log", "train", *arguments, sweep_dir)
    for name, searcher in searchers.items():
        finished(searcher, tmp_path / name)
    study = optuna.load_study(study_name="shared", storage=postgres)
    trials = study.get_trials()
    assert sorted(trial.number for trial in trials) == list(range(2 * n_trials)), "no trial twice, none lost"
    assert {trial.state for trial in trials} == {optuna.trial.TrialState.COMPLETE}
    runs = runs_in(store)
    children = runs[runs["tags.sweep_id"] != runs["run_id"]]
    assert len(children) == 2 * n_trials
    assert study.best_value == children["metrics.best_val_loss"].min()


def test_a_sweep_runs_on_a_ray_cluster(tmp_path):
    with ray_head() as address:
        cluster = ["hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address={address}"]
        cluster += ["hydra.launcher.ray.remote.num_cpus=1"]
        arguments, store = sweep_arguments(tmp_path, *cluster, "experiment=debug", "seed=0,1")
        output = finished(start_seqlab(tmp_path / "seqlab.log", "train", *arguments), tmp_path)
    assert f"Connecting to existing Ray cluster at address: {address}" in output or "Connected to Ray cluster" in output
    runs = runs_in(store)
    children = runs[runs["tags.sweep_id"] != runs["run_id"]]
    assert sorted(children["params.seed"]) == ["0", "1"] and set(children["status"]) == {"FINISHED"}
    for pid in children["tags.seqlab.pid"]:
        # Ray prefixes what its workers print with their pid: each run trained in a Ray worker.
        assert f"(_run_job pid={pid})" in output, output[-4000:]
