"""A study's report, from the MLflow store alone (never by training): its results in long form,
the mean ± std table (Markdown and LaTeX), average ranks, the Friedman and pairwise
Wilcoxon-Holm tests, the critical-difference diagram and, with published baselines, win/tie/loss
counts and scatter plots; written to a folder, logged under ``report/`` of the study's parent
run, and summarised on the terminal."""

import io
import json
import logging
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from seqlab.experiments.studies.baselines import read_baselines
from seqlab.experiments.studies.figures import against_baseline, critical_difference
from seqlab.experiments.studies.statistics import average_ranks, friedman, pairwise_wilcoxon, scores, win_tie_loss
from seqlab.experiments.tracking.queries import RESULT_METRICS
from seqlab.experiments.tracking.recorder import RunRecorder
from seqlab.experiments.tracking.studies import (
    CELL_DIGEST,
    CELLS_ARTIFACT,
    CONFIGURATION,
    DATASET,
    FOLD,
    SEED,
    study_cell_runs,
)
from seqlab.experiments.training.plots import pyplot
from seqlab.paths import runs_dir

log = logging.getLogger(__name__)

REPORT_FOLDER = "report"


def report_dir(study: str) -> Path:
    """Where a study's report is written unless told otherwise: ``runs/studies/<study>``."""
    return runs_dir() / "studies" / study


def study_results(parent_run_id: str, study: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The results of study ``study`` whose parent is ``parent_run_id``: one row per cell of
    its last plan (the parent's ``cells.csv``) that has a FINISHED run with the cell's digest
    (the newest), with ``dataset``, ``configuration``, ``seed``, ``fold`` (empty without
    cross-validation), ``run_id`` and every result metric (``RESULT_METRICS``); and the cells
    without one."""
    parent = MlflowClient().get_run(parent_run_id)
    cells = pd.read_csv(
        io.StringIO(mlflow.artifacts.load_text(f"runs:/{parent_run_id}/{CELLS_ARTIFACT}")),
        dtype={DATASET: str, CONFIGURATION: str, CELL_DIGEST: str},
    )
    runs = study_cell_runs(parent.info.experiment_id, study)
    finished = runs[runs["status"] == "FINISHED"] if not runs.empty else runs
    columns = {"run_id": "run_id", f"tags.{CELL_DIGEST}": CELL_DIGEST} | {
        c: name for c, name in RESULT_METRICS.items() if c in finished.columns
    }
    newest = finished.reindex(columns=list(columns)).rename(columns=columns).drop_duplicates(CELL_DIGEST)
    merged = cells.merge(newest, on=CELL_DIGEST, how="left")
    missing = merged[merged["run_id"].isna()].reindex(columns=[DATASET, CONFIGURATION, SEED, FOLD])
    results = merged[merged["run_id"].notna()].drop(columns=CELL_DIGEST)
    return results.reset_index(drop=True), missing


def _mean_std(results: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    means = scores(results, metric)
    stds = results.pivot_table(index="dataset", columns="configuration", values=metric, aggfunc="std", sort=False)
    return means, stds.reindex_like(means)


def _latex_escape(text: str) -> str:
    return "".join("\\" + c if c in "_&%#${}" else c for c in str(text))


def results_table(
    means: pd.DataFrame, stds: pd.DataFrame, ranks: pd.Series, higher_is_better: bool, latex: bool
) -> pd.DataFrame:
    """Data set × method cells ``mean ± std`` (a baseline's value alone), the best of each row
    (at the shown precision) in bold, and a last row of average ranks."""
    shown = means.round(3)
    best = shown.max(axis=1) if higher_is_better else shown.min(axis=1)
    pm, bold = (" $\\pm$ ", "\\textbf{{{}}}") if latex else (" ± ", "**{}**")
    rows = {}
    for dataset, row in shown.iterrows():
        cells = {}
        for method, value in row.items():
            spread = stds.at[dataset, method] if method in stds.columns else float("nan")
            text = "" if pd.isna(value) else f"{value:.3f}" + ("" if pd.isna(spread) else f"{pm}{spread:.3f}")
            cells[method] = bold.format(text) if text and value == best[dataset] else text
        rows[dataset] = cells
    rows["average rank"] = {m: f"{ranks[m]:.2f}" if m in ranks else "" for m in means.columns}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(means.columns)).rename_axis("dataset")
    if latex:
        table = table.rename(index=_latex_escape, columns=_latex_escape).rename_axis(_latex_escape("dataset"))
    return table


def write_report(study: DictConfig, parent_run_id: str, output: Path) -> dict:
    """Write the report of ``study`` (its ``name``, ``metric``, ``baselines``, ``alpha``) into
    ``output``, log it under ``report/`` of ``parent_run_id`` and print its summary; return the
    statistics it wrote (``statistics.json``). LookupError when no cell has finished yet."""
    results, missing = study_results(parent_run_id, study.name)
    if results.empty:
        raise LookupError(f"study {study.name}: no cell has finished yet; nothing to report")
    output.mkdir(parents=True, exist_ok=True)
    results.to_csv(output / "results.csv", index=False)
    metric, higher = study.metric, not study.metric.endswith("loss")
    means, stds = _mean_std(results, metric)
    configurations = list(means.columns)
    baselines = read_baselines(study.baselines, list(means.index)) if study.baselines else None
    if baselines is not None:
        means = means.join(baselines.drop(columns=configurations, errors="ignore"))
    complete = means.dropna()
    ranks = average_ranks(complete, higher)
    statistic, p_value = friedman(complete)
    statistics = {
        "metric": metric,
        "datasets": len(complete),
        "methods": list(complete.columns),
        "average_ranks": ranks.to_dict(),
        "friedman_chi2": statistic,
        "friedman_p": p_value,
        "left_out": sorted(set(means.index) - set(complete.index)),
        "missing_cells": missing.to_dict(orient="records"),
    }
    for latex, name in ((False, "table.md"), (True, "table.tex")):
        table = results_table(means, stds, ranks, higher, latex)
        table = table.reset_index()
        (output / name).write_text(
            table.to_latex(escape=False, index=False) if latex else table.to_markdown(index=False) + "\n"
        )
    ranks.rename("average_rank").to_csv(output / "ranks.csv")
    if len(complete) >= 2 and complete.shape[1] >= 2:
        pairwise = pairwise_wilcoxon(complete)
        pairwise.to_csv(output / "pairwise_wilcoxon_holm.csv")
        statistics["wilcoxon_holm_p"] = {
            f"{a} vs {b}": pairwise.at[a, b] for a in ranks.index for b in ranks.index if a < b
        }
        figure = critical_difference(ranks, pairwise, study.alpha, metric)
        for suffix in ("png", "svg"):
            figure.savefig(output / f"critical_difference.{suffix}", dpi=150)
        pyplot().close(figure)
    if baselines is not None:
        statistics |= _against_baselines(means, configurations, list(baselines.columns), ranks, higher, metric, output)
    (output / "statistics.json").write_text(json.dumps(statistics, indent=2, default=str) + "\n")
    RunRecorder(parent_run_id, active=False).folder(output, REPORT_FOLDER)
    _print_summary(study, output, means, ranks, statistics)
    return statistics


def _against_baselines(
    means: pd.DataFrame,
    configurations: list[str],
    baselines: list[str],
    ranks: pd.Series,
    higher: bool,
    metric: str,
    output: Path,
) -> dict:
    """Win/tie/loss of every configuration against every baseline (``win_tie_loss.csv``) and
    the scatter plot against the best-ranked baseline."""
    counts = pd.DataFrame(
        [
            {"configuration": c, "baseline": b} | win_tie_loss(means, c, b, higher)
            for c in configurations
            for b in baselines
        ]
    )
    counts.to_csv(output / "win_tie_loss.csv", index=False)
    best = min(baselines, key=lambda b: ranks.get(b, float("inf")))
    figure = against_baseline(means, configurations, best, metric)
    figure.savefig(output / "against_best_baseline.png", dpi=150)
    pyplot().close(figure)
    return {"best_baseline": best, "win_tie_loss": counts.to_dict(orient="records")}


def _print_summary(study: DictConfig, output: Path, means: pd.DataFrame, ranks: pd.Series, statistics: dict) -> None:
    """The report on one screen: the table, ranks, tests and where the files are."""
    print(f"\nStudy {study.name}: {statistics['metric']}, mean over seeds ({len(means)} data sets)")
    print((output / "table.md").read_text())
    print("average ranks (1 = best): " + ", ".join(f"{m} {r:.2f}" for m, r in ranks.items()))
    if pd.notna(statistics["friedman_p"]):
        print(f"Friedman chi2 = {statistics['friedman_chi2']:.4g}, p = {statistics['friedman_p']:.4g}")
    for pair, p in statistics.get("wilcoxon_holm_p", {}).items():
        print(f"Wilcoxon signed-rank (Holm) {pair}: p = {p:.4g}")
    for row in statistics.get("win_tie_loss", []):
        print(
            f"{row['configuration']} vs {row['baseline']}: {row['win']} wins, {row['tie']} ties, {row['loss']} losses"
        )
    if statistics["left_out"]:
        print(f"left out of ranks and tests (a method has no result): {statistics['left_out']}")
    if statistics["missing_cells"]:
        print(f"{len(statistics['missing_cells'])} cells have no finished run yet")
    print(f"report in {output} (and under {REPORT_FOLDER}/ of the study's parent run)")
