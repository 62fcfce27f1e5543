"""A study's figures: the critical-difference diagram and its configurations against the best
published baseline."""

from typing import TYPE_CHECKING

import pandas as pd

from seqlab.experiments.training.plots import pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def critical_difference(ranks: pd.Series, pairwise: pd.DataFrame, alpha: float, metric: str) -> "Figure":
    """Average ranks on a line (1 = best, on the left), with a bar joining the methods that no
    Holm-corrected Wilcoxon test (``pairwise`` p-values) tells apart at ``alpha``
    (``scikit_posthocs.critical_difference_diagram``)."""
    import scikit_posthocs

    fig, ax = pyplot().subplots(figsize=(7, 0.6 + 0.35 * len(ranks)))
    scikit_posthocs.critical_difference_diagram(ranks, pairwise, ax=ax, alpha=alpha)
    ax.set_title(f"average rank by {metric} (bars: no difference, Wilcoxon-Holm, alpha={alpha:g})", fontsize=9)
    fig.tight_layout()
    return fig


def against_baseline(scores: pd.DataFrame, configurations: list[str], baseline: str, metric: str) -> "Figure":
    """One panel per configuration: its ``metric`` (mean over seeds) against ``baseline``'s on
    each data set of ``scores`` (data set × method); above the diagonal the configuration wins."""
    fig, axes = pyplot().subplots(1, len(configurations), figsize=(3.6 * len(configurations), 3.6), squeeze=False)
    for ax, configuration in zip(axes[0], configurations, strict=True):
        pair = scores[[baseline, configuration]].dropna()
        ax.scatter(pair[baseline], pair[configuration])
        low = min(pair.min().min(), 1.0) if len(pair) else 0.0
        ax.plot([low, 1], [low, 1], color="grey", linewidth=0.8)
        ax.set(xlabel=f"{baseline} ({metric})", ylabel=configuration, aspect="equal")
    fig.tight_layout()
    return fig
