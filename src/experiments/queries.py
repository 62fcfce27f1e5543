"""Querying a store's runs: those of a sweep or an experiment, the parameters that vary between
them, and a comparison table of their final metrics. Used by ``seqlab compare`` and sweeps."""

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from seqlab.experiments.secrets import redact
from seqlab.experiments.validation import ConfigError

# Final metrics in the order the table shows them; per-epoch ones hold their last epoch's value.
METRICS = (
    "test_accuracy",
    "test_loss",
    "best_val_loss",
    "best_val_accuracy",
    "best_epoch",
    "val_accuracy",
    "val_loss",
    "train_loss",
)


def find_runs(target: str) -> pd.DataFrame:
    """The runs of sweep ``target`` (a parent run id), else of experiment ``target`` (name or
    id), without sweep parents; one row per run as ``mlflow.search_runs`` gives it."""
    client = MlflowClient()
    try:
        parent = client.get_run(target)
    except MlflowException:
        parent = None
    if parent is not None:
        return mlflow.search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{target}'")
    experiment = client.get_experiment_by_name(target)
    if experiment is None:
        try:
            experiment = client.get_experiment(target)
        except MlflowException:
            store = redact(mlflow.get_tracking_uri())
            raise LookupError(
                f"target={target!r} is no sweep id, experiment name or experiment id in {store}"
            ) from None
    runs = mlflow.search_runs([experiment.experiment_id])
    is_parent = runs.get("tags.sweep_id", pd.Series(index=runs.index, dtype=object)) == runs["run_id"]
    return runs[~is_parent]


def varied_params(runs: pd.DataFrame) -> list[str]:
    """The parameters (without the ``params.`` prefix) that differ between ``runs``."""
    params = [c for c in runs.columns if c.startswith("params.")]
    return [c.removeprefix("params.") for c in params if runs[c].nunique(dropna=False) > 1]


def comparison_table(runs: pd.DataFrame, sort_by: str) -> pd.DataFrame:
    """``run_id``, ``status``, the varied parameters and the final metrics of ``runs``, best
    first by metric ``sort_by`` (ascending for losses, descending otherwise)."""
    if runs.empty:
        raise LookupError("no runs to compare")
    metrics = [m for m in METRICS if f"metrics.{m}" in runs.columns]
    if sort_by not in metrics:
        raise ConfigError(f"sort_by={sort_by!r}: the runs have no such metric; they have {metrics}")
    params = varied_params(runs)
    table = runs[["run_id", "status", *[f"params.{p}" for p in params], *[f"metrics.{m}" for m in metrics]]]
    table = table.rename(columns=lambda c: c.split(".", 1)[1] if c.startswith(("params.", "metrics.")) else c)
    return table.sort_values(sort_by, ascending=sort_by.endswith("loss"), na_position="last", kind="stable")
