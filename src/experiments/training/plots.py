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


def learning_curves(history: pd.DataFrame) -> "Figure":
    """Loss and accuracy per epoch, on the training and the validation split.

    history: one row per epoch (index), columns ``train_loss``, ``train_accuracy`` and, when
    there is a validation split, ``val_loss``, ``val_accuracy`` (all-NaN columns are left out).
    """
    history = history.dropna(axis=1, how="all")
    fig, (loss, accuracy) = pyplot().subplots(1, 2, figsize=(10, 4))
    history.filter(["train_loss", "val_loss"]).plot(ax=loss, marker=".")
    loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    history.filter(["train_accuracy", "val_accuracy"]).plot(ax=accuracy, marker=".")
    accuracy.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    fig.tight_layout()
    return fig


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, names: tuple[str, ...]) -> "Figure":
    """Counts of each (true, predicted) class pair, as an annotated heat map."""
    counts = pd.crosstab(
        pd.Categorical(np.asarray(names)[labels], categories=names),
        pd.Categorical(np.asarray(names)[predictions], categories=names),
        dropna=False,
    ).to_numpy()
    size = 2 + 0.6 * len(names)
    fig, ax = pyplot().subplots(figsize=(size + 1, size))
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set(
        xticks=range(len(names)),
        yticks=range(len(names)),
        xlabel="predicted",
        ylabel="true",
        title=f"test split, accuracy {np.trace(counts) / counts.sum():.3f}",
    )
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_yticklabels(names)
    for (row, column), count in np.ndenumerate(counts):
        ax.text(
            column, row, str(count), ha="center", va="center", color="white" if count > counts.max() / 2 else "black"
        )
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
