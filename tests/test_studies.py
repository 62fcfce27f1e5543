"""Studies: one command from configurations × data sets × seeds to a report; resumable after a
kill, idempotent when run again; archive data sets by name from a local HTTP server; compare
blocked by data set."""

import functools
import http.server
import io
import re
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import matplotlib.image
import mlflow
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from scipy import stats

from seqlab.data.errors import DataError
from seqlab.data.registry import build_splits
from seqlab.experiments.studies.statistics import win_tie_loss
from tests.conftest import PROJECT_ROOT, compose_config, run_cli
from tests.test_loaders import write_ts

STUDY = """
defaults:
  - /schema/study/default@_here_
  - _self_
name: small
configurations:
  elman: [model=elman]
  gru: [model=gru, tracking.experiment_name=gru]  # as a preset names its experiment: the study's wins
datasets:
  sines: [data=sines, data.train_size=120, data.val_size=40, data.test_size=80, data.length=20]
  majority: [data=majority, data.train_size=120, data.val_size=40, data.test_size=80]
folder: {folder}
overrides: [model.hidden_size=8, optimizer=adam, optimizer.lr=0.02, trainer.epochs={epochs}, trainer.batch_size=16]
seeds: 2
"""


def toy_archive(folder, name: str = "Toy", seed: int = 0) -> None:
    """A small two-class UEA data set ``name`` in ``folder/name/`` (TRAIN and TEST)."""
    rng = np.random.default_rng(seed)
    (folder / name).mkdir(parents=True)
    for split, size in (("TRAIN", 60), ("TEST", 40)):
        labels = [("up", "down")[i % 2] for i in range(size)]
        cases = [[np.linspace(0, 1 if label == "up" else -1, 15) + rng.normal(0, 0.3, 15)] for label in labels]
        header = ["@problemName toy", "@univariate true", "@equalLength true", "@classLabel true down up", "@data"]
        write_ts(folder / name / f"{name}_{split}.ts", cases, labels, header)


def study_command(tmp_path, *extra: str, report: bool = False) -> list[str]:
    """``seqlab study`` (or ``seqlab study report``) of the small study into the store under ``tmp_path``."""
    cells = [
        "trainer.progress=false",
        f"trainer.checkpoint_dir={tmp_path / 'checkpoints'}",
        f"hydra.sweep.dir={tmp_path / 'hydra'}",
    ]
    cells = [] if report else cells
    return [
        sys.executable,
        "-m",
        "seqlab.experiments.study",
        *(["report"] if report else []),
        *extra,
        *cells,
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        "study=small",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"tracking.artifact_root={tmp_path / 'artifacts'}",
        "tracking.experiment_name=studies",
        "tracking.log_model=false",
    ]


def cell_runs(tmp_path) -> pd.DataFrame:
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["studies"])
    return runs[runs.get("tags.study_parent", pd.Series(index=runs.index, dtype=object)) != "true"]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    """The small study (2 configurations × sines, majority and a .ts pair × 2 seeds) on the
    joblib launcher: SIGTERM to the launcher after two cells, then run again to the end, then
    once more; the outputs of each."""
    tmp_path = tmp_path_factory.mktemp("study")
    toy_archive(tmp_path / "archive")
    (tmp_path / "conf" / "study").mkdir(parents=True)
    (tmp_path / "conf" / "study" / "small.yaml").write_text(STUDY.format(folder=tmp_path / "archive", epochs=4))
    command = study_command(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    with open(tmp_path / "first.log", "w") as log:
        launcher = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        log_text = (tmp_path / "first.log").read_text
        # the store is queried once the study has made it (and said what it will run)
        while "cells done" not in log_text() or (cell_runs(tmp_path)["status"] == "FINISHED").sum() < 2:
            assert launcher.poll() is None and time.monotonic() < deadline, log_text()
            time.sleep(0.2)
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=300)
    second = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    after_second = cell_runs(tmp_path)
    third = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    return {
        "path": tmp_path,
        "first": (launcher.returncode, (tmp_path / "first.log").read_text()),
        "second": second,
        "third": third,
        "after_second": after_second,
    }


def parent_report(tmp_path, name: str):
    runs = mlflow.search_runs(experiment_names=["studies"], filter_string="tags.study_parent = 'true'")
    (parent,) = runs["run_id"]
    return mlflow.artifacts.download_artifacts(f"runs:/{parent}/report/{name}", dst_path=str(tmp_path / "downloaded"))


@pytest.mark.slow
def test_a_study_killed_half_way_runs_only_its_missing_cells_and_then_nothing(study):
    status, first = study["first"]
    assert status == 143, first
    assert "of 12 cells done" in first
    second, third = study["second"], study["third"]
    assert second.returncode == 0, (second.stdout + second.stderr)[-4000:]
    planned = re.search(r"(\d+) of 12 cells done, (\d+) to run", second.stdout + second.stderr)
    assert planned and 2 <= int(planned[1]) < 12 and int(planned[1]) + int(planned[2]) == 12, second.stdout
    assert third.returncode == 0, (third.stdout + third.stderr)[-4000:]
    assert "12 of 12 cells done, 0 to run" in third.stdout + third.stderr
    assert len(cell_runs(study["path"])) == len(study["after_second"]), "the third run trained nothing"
    assert mlflow.get_experiment_by_name("gru") is None, "every cell is in the study's experiment"
    results = pd.read_csv(parent_report(study["path"], "results.csv"))
    assert len(results) == 12 and not results.duplicated(["dataset", "configuration", "seed"]).any()
    assert set(results["dataset"]) == {"sines", "majority", "Toy"}
    finished = study["after_second"].query("status == 'FINISHED'")
    assert sorted(results["run_id"]) == sorted(finished["run_id"]), "each cell once, by its finished run"
    tagged = finished.set_index("run_id").loc[results["run_id"]]
    assert list(tagged["tags.dataset"]) == list(results["dataset"])
    assert list(tagged["tags.configuration"]) == list(results["configuration"])
    assert list(results["test_accuracy"]) == list(tagged["metrics.test_accuracy"])


@pytest.mark.slow
def test_the_report_carries_tables_and_a_diagram_whose_statistics_scipy_confirms(study):
    tmp_path = study["path"]
    results = pd.read_csv(parent_report(tmp_path, "results.csv"))
    means = results.pivot_table(index="dataset", columns="configuration", values="test_accuracy", aggfunc="mean")
    ranks = means.rank(axis=1, ascending=False).mean()
    reported = pd.read_csv(parent_report(tmp_path, "ranks.csv"), index_col=0)["average_rank"]
    assert reported.to_dict() == pytest.approx(ranks.to_dict())
    pairwise = pd.read_csv(parent_report(tmp_path, "pairwise_wilcoxon_holm.csv"), index_col=0)
    x, y = means["elman"], means["gru"]
    assert pairwise.loc["elman", "gru"] == pytest.approx(min(1.0, stats.wilcoxon(x, y).pvalue))  # one pair: Holm = p
    markdown = Path(parent_report(tmp_path, "table.md")).read_text()
    for dataset, row in means.iterrows():
        best = row.round(3).max()
        assert f"**{best:.3f} ± " in markdown.split(f"| {dataset}")[1].split("\n")[0]
    assert "\\textbf{" in Path(parent_report(tmp_path, "table.tex")).read_text()
    image = matplotlib.image.imread(parent_report(tmp_path, "critical_difference.png"))
    assert image.ndim == 3 and image.shape[0] > 50
    assert Path(parent_report(tmp_path, "critical_difference.svg")).read_text().lstrip().startswith("<?xml")


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment, written out."""
    order = np.argsort(p_values)
    adjusted, running = np.empty(len(p_values)), 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - i) * p_values[index]))
        adjusted[index] = running
    return list(adjusted)


@pytest.mark.slow
def test_published_baselines_enter_the_ranks_and_the_win_tie_loss_counts(study):
    tmp_path = study["path"]
    results = pd.read_csv(parent_report(tmp_path, "results.csv"))
    means = results.pivot_table(index="dataset", columns="configuration", values="test_accuracy", aggfunc="mean")
    # Two published methods, one in percent, one tying gru exactly on one data set (long form).
    baseline = pd.DataFrame({"dataset": list(means.index) * 2, "method": ["old"] * 3 + ["sota"] * 3})
    baseline["accuracy"] = [0.55, 0.6, 0.65] + [means.loc[d, "gru"].round(4) for d in means.index]
    baseline.loc[3, "accuracy"] = 1.0
    baseline.to_csv(tmp_path / "published.csv", index=False)
    report = subprocess.run(
        study_command(
            tmp_path, f"study.baselines={tmp_path / 'published.csv'}", f"output={tmp_path / 'r'}", report=True
        ),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.returncode == 0, report.stderr
    table = means.join(baseline.pivot(index="dataset", columns="method", values="accuracy"))
    ranks = pd.read_csv(tmp_path / "r" / "ranks.csv", index_col=0)["average_rank"]
    assert set(ranks.index) == {"elman", "gru", "old", "sota"}
    assert ranks.to_dict() == pytest.approx(table.rank(axis=1, ascending=False).mean().to_dict())
    statistics = pd.read_json(tmp_path / "r" / "statistics.json", typ="series")
    expected = stats.friedmanchisquare(*(table[c] for c in table.columns))
    assert statistics["friedman_p"] == pytest.approx(expected.pvalue)
    pairs = [(a, b) for i, a in enumerate(table.columns) for b in table.columns[i + 1 :]]
    raw = [stats.wilcoxon(table[a], table[b]).pvalue for a, b in pairs]
    pairwise = pd.read_csv(tmp_path / "r" / "pairwise_wilcoxon_holm.csv", index_col=0)
    assert [pairwise.loc[a, b] for a, b in pairs] == pytest.approx(holm(raw))
    counts = pd.read_csv(tmp_path / "r" / "win_tie_loss.csv").set_index(["configuration", "baseline"])
    for configuration in ("elman", "gru"):
        for method in ("old", "sota"):
            ours, theirs = table[configuration].round(4), table[method].round(4)
            expected = {"win": (ours > theirs).sum(), "tie": (ours == theirs).sum(), "loss": (ours < theirs).sum()}
            assert counts.loc[(configuration, method)].to_dict() == expected
    assert counts.loc[("gru", "sota"), "tie"] >= 2
    assert matplotlib.image.imread(tmp_path / "r" / "against_best_baseline.png").ndim == 3


def test_win_tie_loss_counts_on_rounded_scores_in_the_metric_s_direction():
    table = pd.DataFrame({"a": [0.9, 0.5, 0.700001], "b": [0.8, 0.6, 0.7]})
    assert win_tie_loss(table, "a", "b", higher_is_better=True) == {"win": 1, "tie": 1, "loss": 1}
    assert win_tie_loss(table, "a", "b", higher_is_better=False) == {"win": 1, "tie": 1, "loss": 1}


@pytest.mark.slow
def test_compare_reports_over_seeds_within_each_data_set(study):
    tmp_path = study["path"]
    compared = run_cli(
        "seqlab.experiments.compare",
        "target=studies",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"output={tmp_path / 'compare.csv'}",
        f"hydra.run.dir={tmp_path / 'compare'}",
    )
    assert compared.returncode == 0, compared.stderr
    summary = pd.read_csv(tmp_path / "compare_seeds.csv")
    assert len(summary) == 6 and set(summary["n"]) == {2}, "a row per configuration and data set"
    assert set(summary["tracking.tags.dataset"]) == {"sines", "majority", "Toy"}
    assert compared.stdout.count("Paired over seeds") == 3, compared.stdout
    results = cell_runs(tmp_path).query("status == 'FINISHED'")
    for dataset in ("sines", "Toy"):
        block = compared.stdout.split(f"data set {dataset}:")[1].split("Paired")[1].split("\n")[0]
        mine = results[results["tags.dataset"] == dataset].sort_values("params.seed")
        x, y = (mine[mine["params.model.name"] == m]["metrics.test_accuracy"].to_numpy() for m in ("elman", "gru"))
        difference = np.mean(x - y)
        assert f"mean difference {difference:.4g}" in block or f"mean difference {-difference:.4g}" in block


class _Counting(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


def _zip_of(folder, name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for path in (folder / name).iterdir():
            zipped.write(path, f"{name}/{path.name}")
    return buffer.getvalue()


def test_an_archive_data_set_by_name_downloads_once_and_a_truncated_zip_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_HOME", str(tmp_path / "home"))
    toy_archive(tmp_path / "source")
    served = tmp_path / "served"
    served.mkdir()
    (served / "Toy.zip").write_bytes(_zip_of(tmp_path / "source", "Toy"))
    (served / "Cut.zip").write_bytes(_zip_of(tmp_path / "source", "Toy")[:-200])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Counting, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}/"
    cfg = compose_config(["data=ucr", "data.name=Toy", f"data.base_url={base_url}"])
    options = {k: v for k, v in OmegaConf.to_container(cfg.data, resolve=True).items() if k != "name"}
    try:
        splits = build_splits("Toy", **options)
        assert _Counting.requests == ["/Toy.zip"]
        with pytest.raises(DataError, match=r"Cut.zip: is not a complete zip archive .*nothing was kept in"):
            build_splits("Cut", **options)
    finally:
        server.shutdown()
        server.server_close()
    cache = tmp_path / "home" / "datasets"
    assert sorted(p.name for p in cache.iterdir()) == ["Toy"], "no half-written file or folder is left"
    again = build_splits("Toy", **options)  # the server is gone: from the cache
    assert len(_Counting.requests) == 2
    assert np.array_equal(again.test.labels, splits.test.labels) and len(splits.train) + len(splits.validation) == 60
    local = build_splits("Toy", **(options | {"root": str(tmp_path / "source"), "base_url": "http://unused.invalid"}))
    assert np.array_equal(local.test.labels, splits.test.labels)
    with pytest.raises(DataError, match=r"cannot be downloaded .*set data.root"):
        build_splits("Gone", **options)


@pytest.mark.slow
def test_a_reproduced_cell_is_not_a_cell_of_the_study(study):
    # Runs after the tests above read the study's runs: it adds one to the store.
    tmp_path = study["path"]
    results = pd.read_csv(parent_report(tmp_path, "results.csv"))
    reproduced = run_cli(
        "seqlab.experiments.reproduce",
        f"run_id={results['run_id'][0]}",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"hydra.run.dir={tmp_path / 'reproduce'}",
    )
    assert reproduced.returncode == 0, reproduced.stderr
    again = subprocess.run(
        study_command(tmp_path, report=True), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr
    assert list(pd.read_csv(parent_report(tmp_path, "results.csv"))["run_id"]) == list(results["run_id"])
