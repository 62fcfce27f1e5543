"""Results over seeds: runs that differ only in their seed are one configuration, reported as
mean, standard deviation, 95 % confidence interval and n; two configurations are compared
with paired tests over the seeds they share. Used by ``seqlab compare`` and sweeps."""

import math

import numpy as np
import pandas as pd

from seqlab.experiments.metrics import BEST_METRICS

# Parameters that vary between the seeds of one configuration: the seeds, and what follows
# from them (the data's hash and split sizes, when the seed draws the data).
SEED_PARAMS = ("seed", "data.seed")


def configuration_params(params: list[str]) -> list[str]:
    """The parameters among ``params`` that tell configurations apart (not seeds)."""
    return [p for p in params if p not in SEED_PARAMS and not p.startswith("dataset.")]


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


def over_seeds(table: pd.DataFrame, params: list[str], metric: str) -> pd.DataFrame:
    """``aggregate`` of every best-epoch and test metric of ``table`` (a ``comparison_table``)
    per configuration of ``params``, best first by the mean of ``metric`` (ascending for losses)."""
    summary = aggregate(table, params, [m for m in BEST_METRICS if m in table.columns])
    return summary.sort_values(f"{metric}_mean", ascending=metric.endswith("loss"), kind="stable")


def paired_comparison(
    table: pd.DataFrame, params: list[str], first: dict, second: dict, metric: str
) -> dict[str, object]:
    """Compare configurations ``first`` and ``second`` (values of ``params``) on ``metric``,
    paired by seed over the seeds both have FINISHED runs for: ``seeds``, ``mean_difference``
    (first - second), and the p-values of the two-sided Wilcoxon signed-rank test and paired
    t-test (``scipy.stats.wilcoxon``, ``scipy.stats.ttest_rel``; NaN with fewer than 2 seeds)."""
    from scipy import stats

    finished = table[table["status"] == "FINISHED"]

    def by_seed(values: dict) -> pd.Series:
        chosen = np.logical_and.reduce([finished[p].astype(str) == str(v) for p, v in values.items()])
        return finished[chosen].set_index("seed")[metric]

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
