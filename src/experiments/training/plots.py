"""Figures logged with runs: learning curves, a confusion matrix, and a sweep's metric against
each swept parameter (matplotlib, drawn off-screen)."""

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from seqlab.experiments.tracking.recorder import RunRecorder

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def pyplot():
    """matplotlib's pyplot, drawing off-screen; imported on first use, since importing it
    is slow and most start-ups need neither."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curves(history: pd.DataFrame, best_epoch: int) -> "Figure":
    """Loss and accuracy per epoch, on the training and the validation split, with the epoch
    the run kept (``best_epoch``) marked.

    history: one row per epoch (index), columns ``train_loss``, ``train_accuracy`` and, when
    there is a validation split, ``val_loss``, ``val_accuracy`` (all-NaN columns are left out).
    """
    from matplotlib.ticker import MaxNLocator

    history = history.dropna(axis=1, how="all")
    fig, (loss, accuracy) = pyplot().subplots(1, 2, figsize=(10, 4))
    history.filter(["train_loss", "val_loss"]).plot(ax=loss, marker=".")
    loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    history.filter(["train_accuracy", "val_accuracy"]).plot(ax=accuracy, marker=".")
    accuracy.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    for ax in (loss, accuracy):
        ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"kept: epoch {best_epoch}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    fig.tight_layout()
    return fig


def confusion_matrix(counts: pd.DataFrame, split: str) -> "Figure":
    """``metrics.confusion``'s counts (true classes by predicted) as a heat map with each cell's
    count written on it, predicted classes along x, true classes down y."""
    values = counts.to_numpy()
    size = 2 + 0.6 * len(counts)
    fig, ax = pyplot().subplots(figsize=(size + 1, size))
    image = ax.imshow(values, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax)
    dark = values > values.max() / 2
    for (row, column), count in np.ndenumerate(values):
        colour = "white" if dark[row, column] else "black"
        ax.text(column, row, str(count), ha="center", va="center", color=colour)
    names = list(counts.index)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted class", ylabel="true class")
    ax.set(title=f"{split} split, accuracy {np.trace(values) / values.sum():.3f}")
    fig.tight_layout()
    return fig


def metric_against_params(table: pd.DataFrame, metric: str, params: list[str]) -> "Figure":
    """One panel per swept parameter: ``metric`` of every run against that parameter's value
    (numeric axis when every value is a number, else one position per value; a run without
    the parameter, as an Elman RNN has no ``model.update_bias``, at "(not set)")."""
    fig, axes = pyplot().subplots(1, len(params), figsize=(4 * len(params), 3.5), squeeze=False)
    for ax, param in zip(axes[0], params, strict=True):
        values = pd.to_numeric(table[param], errors="coerce")
        x = values if values.notna().all() else table[param].astype(object).fillna("(not set)").astype(str)
        ax.scatter(x, table[metric])
        if values.notna().all() and values.min() > 0 and values.max() / values.min() >= 100:
            ax.set_xscale("log")
        ax.set(xlabel=param, ylabel=metric)
    fig.tight_layout()
    return fig


def log_figure(run: RunRecorder, figure: "Figure", name: str) -> None:
    """Log ``figure`` as ``plots/<name>.png`` of ``run``, then free it."""
    run.figure(figure, name)
    pyplot().close(figure)
