"""Comparing methods over data sets, as papers on time-series classification do (Demšar 2006;
Benavoli et al. 2016): per data set the mean over seeds, ranks within each data set, the Friedman
test over all methods, pairwise Wilcoxon signed-rank tests over data sets with Holm's correction,
and win/tie/loss counts. The data set is the unit: seeds are averaged first, never pooled.

The tests are scipy's (Friedman) and scikit-posthocs' (``posthoc_wilcoxon`` with Holm's step-down
correction from statsmodels), the diagram scikit-posthocs' ``critical_difference_diagram``: well
kept, small, and what aeon's and autorank's diagrams compute as well.
"""

import math

import pandas as pd


def scores(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The mean of ``metric`` over seeds: a data set × configuration table (``results`` in the
    long form of ``results.csv``: ``dataset``, ``configuration``, ``seed``, metrics)."""
    table = results.pivot_table(index="dataset", columns="configuration", values=metric, aggfunc="mean", sort=False)
    return table.rename_axis(index="dataset", columns="method")


def average_ranks(table: pd.DataFrame, higher_is_better: bool) -> pd.Series:
    """Each method's rank on each data set of ``table`` (data set × method; 1 = best, ties
    share the mean of their ranks), averaged over the data sets; best first."""
    ranks = table.rank(axis=1, ascending=not higher_is_better, method="average")
    return ranks.mean(axis=0).sort_values(kind="stable")


def friedman(table: pd.DataFrame) -> tuple[float, float]:
    """The Friedman test's chi-square statistic and p-value over the methods (columns) of
    ``table``, blocked by data set; NaN for fewer than 3 methods or 2 data sets."""
    from scipy import stats

    if table.shape[1] < 3 or table.shape[0] < 2:
        return math.nan, math.nan
    result = stats.friedmanchisquare(*(table[c].to_numpy() for c in table.columns))
    return float(result.statistic), float(result.pvalue)


def pairwise_wilcoxon(table: pd.DataFrame) -> pd.DataFrame:
    """Method × method p-values of two-sided Wilcoxon signed-rank tests paired by data set,
    Holm-corrected over all pairs (1 on the diagonal)."""
    import scikit_posthocs

    long = table.reset_index().melt(id_vars="dataset", var_name="method", value_name="score")
    return scikit_posthocs.posthoc_wilcoxon(long, val_col="score", group_col="method", p_adjust="holm", sort=False)


def win_tie_loss(table: pd.DataFrame, method: str, other: str, higher_is_better: bool, decimals: int = 4) -> dict:
    """How often ``method`` beats, ties and loses to ``other`` over the data sets both have,
    comparing scores rounded to ``decimals`` (published accuracies are rounded)."""
    pair = table[[method, other]].dropna().round(decimals)
    sign = 1 if higher_is_better else -1
    difference = sign * (pair[method] - pair[other])
    return {
        "win": int((difference > 0).sum()),
        "tie": int((difference == 0).sum()),
        "loss": int((difference < 0).sum()),
    }
