"""The entry points as a user runs them: in new processes, with Hydra's command line."""

import subprocess

import mlflow
import numpy as np
import optuna
import pandas as pd
import psutil
import pytest
from mlflow.tracking import MlflowClient
from scipy import stats

from tests.conftest import checkpoints_in, run_cli, start_seqlab, wait_for

pytestmark = pytest.mark.slow


def runs_in(store: dict) -> pd.DataFrame:
    mlflow.set_tracking_uri(store["uri"])
    return mlflow.search_runs(search_all_experiments=True)


def sweep_arguments(tmp_path, *overrides: str, epochs: int = 2) -> tuple[list[str], dict]:
    """The command-line arguments of a sweep into a store of its own under ``tmp_path``, and that store."""
    store = {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "artifact_root": str(tmp_path / "art")}
    arguments = [
        "-m",
        *overrides,
        f"trainer.epochs={epochs}",
        "trainer.progress=false",
        f"trainer.checkpoint_dir={tmp_path / 'checkpoints'}",
        f"tracking.uri={store['uri']}",
        f"tracking.artifact_root={store['artifact_root']}",
        "tracking.experiment_name=sweep",
        f"hydra.sweep.dir={tmp_path / 'hydra'}",
    ]
    return arguments, store


def sweep(tmp_path, *overrides: str):
    """Run a sweep into a store of its own under ``tmp_path``; return the result and the store."""
    arguments, store = sweep_arguments(tmp_path, *overrides)
    return run_cli("seqlab.experiments.train", *arguments), store


LAUNCHERS = {
    "joblib-4-parallel": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=4", "optimizer.lr=0.05,0.1,0.2,0.4"],
    "submitit-local": ["hydra/launcher=submitit_local", "optimizer.lr=0.05,0.1"],
}


@pytest.fixture(scope="module", params=list(LAUNCHERS))
def finished_sweep(request, tmp_path_factory) -> dict:
    """A small learning-rate sweep on each launcher: its process result, store and runs."""
    tmp_path = tmp_path_factory.mktemp(request.param)
    result, store = sweep(tmp_path, *LAUNCHERS[request.param])
    assert result.returncode == 0, result.stderr
    runs = runs_in(store)
    parents = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert len(parents) == 1
    parent = parents.run_id.iloc[0]
    return {
        "result": result,
        "store": store,
        "tmp_path": tmp_path,
        "runs": runs,
        "parent": parent,
        "children": runs[runs["tags.mlflow.parentRunId"] == parent],
        "swept": LAUNCHERS[request.param][-1].removeprefix("optimizer.lr=").split(","),
    }


def test_a_sweep_is_one_parent_run_with_every_job_as_a_child(finished_sweep):
    runs, children, parent = finished_sweep["runs"], finished_sweep["children"], finished_sweep["parent"]
    assert "database is locked" not in finished_sweep["result"].stderr
    assert runs["experiment_id"].nunique() == 1
    assert set(runs["status"]) == {"FINISHED"}
    assert len(children) == len(runs) - 1
    assert sorted(children["params.optimizer.lr"]) == sorted(finished_sweep["swept"])
    assert sorted(children["tags.mlflow.runName"]) == sorted(f"lr={lr}" for lr in finished_sweep["swept"])
    assert set(children["tags.sweep_id"]) == {parent}
    client = MlflowClient(finished_sweep["store"]["uri"])
    for _, child in children.iterrows():
        assert f"optimizer.lr={child['params.optimizer.lr']}" in child["tags.hydra_overrides"]
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            steps = [m.step for m in client.get_metric_history(child.run_id, key)]
            assert sorted(steps) == [1, 2], key
    assert children["metrics.test_accuracy"].notna().all()


def test_every_run_has_its_plots_and_the_sweep_its_own(finished_sweep):
    client = MlflowClient(finished_sweep["store"]["uri"])
    for run_id in finished_sweep["children"].run_id:
        plots = {a.path for a in client.list_artifacts(run_id, "plots")}
        assert plots == {"plots/learning_curves.png", "plots/confusion_matrix.png"}
    parent = finished_sweep["parent"]
    assert {a.path for a in client.list_artifacts(parent, "plots")} == {"plots/sweep_best_val_loss.png"}
    assert "sweep_runs.csv" in {a.path for a in client.list_artifacts(parent)}


@pytest.mark.parametrize("target", ["sweep", "experiment"])
def test_compare_tables_the_varied_parameters_against_the_final_metrics(target, finished_sweep):
    output = finished_sweep["tmp_path"] / f"compare-{target}.csv"
    result = run_cli(
        "seqlab.experiments.compare",
        f"target={finished_sweep['parent'] if target == 'sweep' else 'sweep'}",
        f"tracking.uri={finished_sweep['store']['uri']}",
        f"output={output}",
        f"hydra.run.dir={finished_sweep['tmp_path'] / 'compare'}",
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(output, dtype={"optimizer.lr": str})
    children = finished_sweep["children"].set_index("run_id")
    assert sorted(table["run_id"]) == sorted(children.index), "every job, and no sweep parent"
    assert [c for c in table.columns if "." in c] == ["optimizer.lr"], "only the swept parameter varies"
    assert list(table["best_val_loss"]) == sorted(table["best_val_loss"]), "best first by the monitored metric"
    for _, row in table.iterrows():
        assert row["optimizer.lr"] == children.loc[row.run_id, "params.optimizer.lr"]
        for column, metric in [("test_accuracy", "test_accuracy"), ("best_val_loss", "best_val_loss")] + [
            (f"final_{m}", m) for m in ("val_loss", "train_loss")
        ]:
            assert row[column] == children.loc[row.run_id, f"metrics.{metric}"], column
    assert table.iloc[0]["run_id"] in result.stdout


def test_a_sweep_whose_set_up_failed_fails_visibly(tmp_path):
    result, store = sweep(
        tmp_path,
        "hydra.callbacks.mlflow_sweep._target_=tests.failing_callback.FailingSweepCallback",
        "optimizer.lr=0.05,0.1",
    )
    assert result.returncode != 0
    assert "the sweep's MLflow parent run was not created" in result.stderr
    assert runs_in(store).empty, "no job may train unrecorded or outside its sweep"


def test_a_sweep_with_a_failing_job_exits_non_zero_and_marks_its_parent_failed(tmp_path):
    result, store = sweep(tmp_path, "data.train_size=100,-1")
    assert result.returncode != 0
    assert "data.train_size=-1: must be > 0" in result.stdout + result.stderr
    runs = runs_in(store)
    parent = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert list(parent["status"]) == ["FAILED"]
    assert list(runs[runs["tags.mlflow.parentRunId"].notna()]["status"]) == ["FINISHED"]


def two_training_jobs(tmp_path) -> tuple[subprocess.Popen, dict]:
    """A sweep of two long jobs in parallel (joblib), its output in ``tmp_path/sweep.log``,
    once both are training: its launcher and store."""
    arguments, store = sweep_arguments(
        tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "optimizer.lr=0.05,0.1", epochs=500
    )
    launcher = start_seqlab(tmp_path / "sweep.log", "train", *arguments)
    try:
        wait_for(lambda: checkpoints_in(tmp_path / "checkpoints", 2), launcher, tmp_path / "sweep.log")
    except BaseException:
        launcher.kill()
        raise
    return launcher, store


def test_sigterm_to_a_parallel_sweep_stops_its_jobs_and_marks_every_run_killed(tmp_path):
    # What SLURM or `kill` does to a sweep's launcher: its joblib workers must not be left
    # training (they used to be orphaned), and no run may stay RUNNING.
    launcher, store = two_training_jobs(tmp_path)
    try:
        workers = psutil.Process(launcher.pid).children(recursive=True)
    finally:
        launcher.terminate()
        launcher.wait(timeout=300)
    output = (tmp_path / "sweep.log").read_text()
    assert launcher.returncode == 143, output
    _, left = psutil.wait_procs(workers, timeout=60)  # its resource trackers end when it has
    assert not left, f"processes of the sweep left behind: {[w.cmdline() for w in left]}"
    runs = runs_in(store)
    parent = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert list(parent["status"]) == ["KILLED"], output
    jobs = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert list(jobs["status"]) == ["KILLED", "KILLED"], output
    for run_id in jobs["run_id"]:
        assert f"resume with trainer.resume={run_id}" in output
        assert (tmp_path / "checkpoints" / run_id / "checkpoint.safetensors").is_file()
    assert "Traceback" not in output, output


def test_a_sweep_over_seeds_and_folds_of_two_models_is_reported_over_both_with_a_paired_test(tmp_path):
    # model=elman,gru: parameters one model has and the other lacks (NaN) used to break the
    # sweep's plot (a TypeError in the callback) and the pairing by seed (no seeds, p = nan).
    # Two seeds × three cross-validation folds: six repetitions of each model, paired by (seed, fold).
    repeated = ("seed=0,1", "data.folds=3", "data.fold=range(3)")
    result, store = sweep(tmp_path, *repeated, "model=elman,gru", "tracking.log_model=false")
    assert result.returncode == 0, result.stderr
    assert "raised" not in result.stderr, result.stderr
    runs = runs_in(store)
    (parent,) = runs[runs["tags.mlflow.parentRunId"].isna()]["run_id"]
    compared = run_cli(
        "seqlab.experiments.compare",
        f"target={parent}",
        f"tracking.uri={store['uri']}",
        f"output={tmp_path / 'seeds.csv'}",
        f"hydra.run.dir={tmp_path / 'compare'}",
    )
    assert compared.returncode == 0, compared.stderr
    assert "Over seeds and folds: mean ± std" in compared.stdout
    summary = pd.read_csv(tmp_path / "seeds_seeds.csv").set_index("model.name")
    children = runs[runs["tags.mlflow.parentRunId"] == parent]
    repetition = ["params.seed", "params.data.fold"]
    accuracy = {m: children[children["params.model.name"] == m].set_index(repetition) for m in ("elman", "gru")}
    for size, group in accuracy.items():
        values = group["metrics.test_accuracy"].to_numpy()
        row = summary.loc[size]
        assert row["n"] == 6
        assert row["test_accuracy_mean"] == pytest.approx(values.mean())
        assert row["test_accuracy_std"] == pytest.approx(values.std(ddof=1))
        assert row["test_accuracy_ci95"] == pytest.approx(stats.t.ppf(0.975, 5) * values.std(ddof=1) / np.sqrt(6))
    best, other = summary.index  # best first by the mean validation loss
    assert summary.loc[best, "best_val_loss_mean"] <= summary.loc[other, "best_val_loss_mean"]
    pairs = sorted(accuracy["elman"].index)
    assert len(pairs) == 6
    x, y = (accuracy[h].loc[pairs, "metrics.test_accuracy"].to_numpy() for h in (best, other))
    assert np.isfinite(stats.wilcoxon(x, y).pvalue), "paired over the six (seed, fold) repetitions"
    assert f"Wilcoxon signed-rank p = {stats.wilcoxon(x, y).pvalue:.4g}" in compared.stdout
    assert f"paired t-test p = {stats.ttest_rel(x, y).pvalue:.4g}" in compared.stdout
    client = MlflowClient(store["uri"])
    assert [a.path for a in client.list_artifacts(parent, "plots")] == ["plots/sweep_best_val_loss.png"]
    parent_metrics = client.get_run(parent).data.metrics
    assert parent_metrics["n_seeds"] == 6
    assert parent_metrics["test_accuracy_mean"] == pytest.approx(summary.loc[best, "test_accuracy_mean"])
    best_child = children.sort_values("metrics.best_val_loss").iloc[0]
    assert parent_metrics["test_accuracy"] == best_child["metrics.test_accuracy"], "the best child by validation"


def test_an_optuna_search_is_persistent_resumable_kept_apart_per_data_set_and_averages_seeds(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    search = ["hparams_search=optuna", f"hydra.sweeper.storage={storage}", "tracking.log_model=false"]
    first, store = sweep(tmp_path, *search, "hydra.sweeper.n_trials=2")
    assert first.returncode == 0, first.stderr
    again, _ = sweep(tmp_path, *search, "hydra.sweeper.n_trials=1")
    assert again.returncode == 0, again.stderr
    # Other data (a larger training split) in the same store, one trial over two seeds: a study
    # of its own, not the first one's, and the trial's value the mean of its two runs.
    other, _ = sweep(tmp_path, *search, "hydra.sweeper.n_trials=1", "hydra.sweeper.seeds=2", "data.train_size=1500")
    assert other.returncode == 0, other.stderr

    studies = {
        s.study_name: optuna.load_study(study_name=s.study_name, storage=storage).trials
        for s in optuna.get_all_study_summaries(storage)
    }
    assert len(studies) == 2 and all(name.startswith("elman-parity-") for name in studies), list(studies)
    runs = runs_in(store)
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(children) == 5 and set(children["status"]) == {"FINISHED"}
    assert children["tags.mlflow.parentRunId"].nunique() == 3, "one parent run per sweep"
    by_size = {size: group for size, group in children.groupby("params.data.train_size")}
    (first_study,) = [name for name, trials in studies.items() if len(trials) == 3]
    (other_study,) = set(studies) - {first_study}
    assert sorted(t.value for t in studies[first_study]) == sorted(by_size["2000"]["metrics.best_val_loss"])
    (trial,) = studies[other_study]
    assert sorted(by_size["1500"]["params.seed"]) == ["0", "1"]
    assert by_size["1500"]["params.optimizer.lr"].nunique() == 1, "one trial: the same hyper-parameters"
    assert trial.value == pytest.approx(by_size["1500"]["metrics.best_val_loss"].mean())
    for trial in studies[first_study] + studies[other_study]:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert {"model.hidden_size", "optimizer", "optimizer.lr"} == set(trial.params)

    # Naming the first study for the other data is refused, not mixed in.
    mixed, _ = sweep(
        tmp_path, *search, "hydra.sweeper.n_trials=1", "data.train_size=1500", f"hydra.sweeper.study_name={first_study}"
    )
    assert mixed.returncode != 0
    assert "refusing to mix their trials" in mixed.stderr + mixed.stdout
    assert len(optuna.load_study(study_name=first_study, storage=storage).trials) == 3


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("model.hidden_size=-4", "model.hidden_size=-4: must be > 0"),
        ("data=no_such_generator", "Could not find 'data/no_such_generator'"),
        ("model.hiden_size=4", "Key 'hiden_size' not in 'ElmanModelConfig'"),
        ("trainer.epochs=many", "trainer.epochs"),
        ("optimizer.schedule.gamma=2", "optimizer.schedule.gamma=2.0: must be in (0, 1]"),
        ("data=archive data.train_path=/no/such.tsv data.test_path=/no/such.tsv", "/no/such.tsv: no such file"),
    ],
)
def test_bad_override_fails_naming_the_key(override, named, default_run, store, tmp_path):
    before = runs_in(store)
    result = run_cli(
        "seqlab.experiments.train",
        *override.split(),
        f"tracking.uri={store['uri']}",
        f"tracking.artifact_root={store['artifact_root']}",
        f"hydra.run.dir={tmp_path}",
    )
    assert result.returncode != 0
    assert named in result.stderr + result.stdout
    after = runs_in(store)
    assert len(after) == len(before), "a rejected config must not start a run"
    assert "RUNNING" not in set(after["status"])


def test_predict_cli_writes_the_predictions_of_a_logged_run(default_run, store, tmp_path):
    run_id = default_run["metrics"]["run_id"]
    output = tmp_path / "predictions.csv"
    result = run_cli(
        "seqlab.experiments.predict",
        f"run_id={run_id}",
        f"tracking.uri={store['uri']}",
        f"output={output}",
        f"hydra.run.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(output)
    assert len(table) == default_run["cfg"].data.test_size
    accuracy = (table["label"] == table["prediction"]).mean()
    assert accuracy == pytest.approx(default_run["metrics"]["test_accuracy"], abs=1e-12)
    assert f"accuracy={accuracy:.4f}" in result.stderr + result.stdout


def test_predict_cli_names_an_unknown_run(store, tmp_path):
    result = run_cli(
        "seqlab.experiments.predict",
        "run_id=0123456789abcdef",
        f"tracking.uri={store['uri']}",
        f"hydra.run.dir={tmp_path}",
    )
    assert result.returncode != 0
    assert "0123456789abcdef" in result.stderr + result.stdout


def test_reproduce_cli_confirms_an_exact_reproduction(default_run, store, tmp_path):
    run_id = default_run["metrics"]["run_id"]
    result = run_cli(
        "seqlab.experiments.reproduce",
        f"run_id={run_id}",
        f"tracking.uri={store['uri']}",
        f"tracking.artifact_root={store['artifact_root']}",
        f"hydra.run.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr
    assert f"reproduces run {run_id} exactly" in result.stderr + result.stdout
