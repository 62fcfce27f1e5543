"""Results over seeds and folds: runs that differ only in their seed or cross-validation fold
(``data.fold``) are repetitions of one configuration, reported as mean, standard deviation, 95 %
confidence interval and n; two configurations are compared with paired tests over the (seed,
fold) repetitions they share. Runs on different data sets are never pooled or
paired across them: the data set is a blocking factor (``dataset_params``). Used by
``seqlab compare`` and sweeps."""

import math

import numpy as np
import pandas as pd

from seqlab.experiments.metrics import BEST_METRICS

# Parameters that vary between the repetitions of one configuration: the seeds, the
# cross-validation fold, and what follows from them (the data's hash and split sizes).
SEED_PARAMS = ("seed", "data.seed", "data.fold")
# Of these, those a repetition is named by (pairs are matched on them).
REPETITIONS = ("seed", "data.fold")
# The run tags of the config (tracking.tags.*): a study's cells carry their configuration, data
# set, seed and digest there; only the data set's tells runs apart beyond their other parameters.
TAG_PARAMS = "tracking.tags."
DATASET_TAG_PARAM = "tracking.tags.dataset"


def dataset_params(params: list[str]) -> list[str]:
    """The parameters among ``params`` that tell data sets apart: the data source and its options
    (``choice.data``, ``data.*`` but the seed) and a study's data set tag."""
    return [
        p
        for p in params
        if p == "choice.data" or p == DATASET_TAG_PARAM or (p.startswith("data.") and p not in SEED_PARAMS)
    ]


def configuration_params(params: list[str]) -> list[str]:
    """The parameters among ``params`` that tell configurations apart: not the seeds, the data
    sets (``dataset_params``), what the data gives (``dataset.*``) or run tags."""
    data = set(dataset_params(params))
    return [p for p in params if p not in SEED_PARAMS and p not in data and not p.startswith(("dataset.", TAG_PARAMS))]


def aggregate(table: pd.DataFrame, params: list[str], metrics: list[str]) -> pd.DataFrame:
    """One row per configuration (the distinct values of ``params`` among the FINISHED runs of
    ``table``, a ``comparison_table``): the values of ``params``, ``n`` (its runs) and, for
    each of ``metrics``, ``<metric>_mean``, ``_std`` (sample, ddof 1) and ``_ci95`` (half-width
    of the 95 % confidence interval of the mean, Student's t with n - 1 degrees of freedom;
    NaN for n < 2)."""
    from scipy import stats  # here, not at the top: importing it slows every training run's start

    finished = table[table["status"] == "FINISHED"]
    groups = finished.groupby(params, dropna=False, sort=False) if params else [((), finished)]
    rows = []
    for key, group in groups:
        row = dict(zip(params, key if isinstance(key, tuple) else (key,), strict=True)) | {"n": len(group)}
        for metric in metrics:
            values = group[metric].dropna().to_numpy(dtype=float)
            n = len(values)
            row[f"{metric}_mean"] = values.mean() if n else math.nan
            row[f"{metric}_std"] = values.std(ddof=1) if n > 1 else math.nan
            row[f"{metric}_ci95"] = stats.t.ppf(0.975, n - 1) * stats.sem(values) if n > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def repetitions(params: list[str]) -> list[str]:
    """The parameters among ``params`` (those the runs vary) that name a repetition: the seed,
    the cross-validation fold, or both; empty when each configuration ran once."""
    return [p for p in REPETITIONS if p in params]


def over_seeds(table: pd.DataFrame, params: list[str], metric: str) -> pd.DataFrame:
    """``aggregate`` of every best-epoch and test metric of ``table`` (a ``comparison_table``)
    per configuration of ``params``, best first by the mean of ``metric`` (ascending for losses)."""
    summary = aggregate(table, params, [m for m in BEST_METRICS if m in table.columns])
    return summary.sort_values(f"{metric}_mean", ascending=metric.endswith("loss"), kind="stable")


def same(column: pd.Series, value: object) -> pd.Series:
    """Where ``column`` holds ``value``, a parameter's value as logged; a missing value (the
    parameter of another model: an Elman RNN has no ``model.update_bias``) matches a missing one."""
    if pd.isna(value):
        return column.isna()
    return column.astype(object).map(str) == str(value)


def paired_comparison(
    table: pd.DataFrame, params: list[str], first: dict, second: dict, metric: str
) -> dict[str, object]:
    """Compare configurations ``first`` and ``second`` (values of ``params``) on ``metric``,
    paired by repetition (seed and fold, those of ``REPETITIONS`` that ``table`` has) over the
    repetitions both have FINISHED runs for: ``seeds`` (the repetitions: seeds, or (seed, fold)
    pairs), ``mean_difference`` (first - second), and the p-values of the two-sided Wilcoxon
    signed-rank test and paired t-test (``scipy.stats.wilcoxon``, ``scipy.stats.ttest_rel``;
    NaN with fewer than 2 repetitions)."""
    from scipy import stats

    finished = table[table["status"] == "FINISHED"]
    names = [p for p in REPETITIONS if p in table.columns]

    def by_seed(values: dict) -> pd.Series:
        chosen = np.logical_and.reduce([same(finished[p], v) for p, v in values.items()])
        return finished[chosen].set_index(names[0] if len(names) == 1 else names)[metric]

    a, b = by_seed(first), by_seed(second)
    seeds = sorted(set(a.index) & set(b.index), key=str)
    x, y = a.loc[seeds].to_numpy(dtype=float), b.loc[seeds].to_numpy(dtype=float)
    enough = len(seeds) > 1 and not np.allclose(x, y)
    return {
        "metric": metric,
        "seeds": seeds,
        "mean_difference": float(np.mean(x - y)) if seeds else math.nan,
        "wilcoxon_p": float(stats.wilcoxon(x, y).pvalue) if enough else math.nan,
        "paired_t_p": float(stats.ttest_rel(x, y).pvalue) if enough else math.nan,
    }
