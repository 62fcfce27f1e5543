"""Querying a store's runs: those of a sweep or an experiment, the parameters that vary between
them, and a comparison table of their final metrics. Used by ``seqlab compare`` and sweeps."""

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from seqlab.experiments.config.validation import ConfigError
from seqlab.experiments.metrics import BEST_METRICS, FINAL_METRICS
from seqlab.experiments.tracking.secrets import redact

# The metrics of a run as tables show them: its best epoch's and test metrics, then its last
# epoch's as ``final_<name>``, by their ``mlflow.search_runs`` column.
RESULT_METRICS = {f"metrics.{m}": m for m in BEST_METRICS} | {f"metrics.{m}": f"final_{m}" for m in FINAL_METRICS}


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


def killed_runs(experiment_id: str, tag: str, value: str) -> list[str]:
    """The ids of the KILLED runs of experiment ``experiment_id`` whose tag ``tag`` is
    ``value``, newest first."""
    runs = MlflowClient().search_runs(
        [experiment_id],
        filter_string=f"tags.`{tag}` = '{value}' and attributes.status = 'KILLED'",
        order_by=["attributes.start_time DESC"],
    )
    return [run.info.run_id for run in runs]


def varied_params(runs: pd.DataFrame) -> list[str]:
    """The parameters (without the ``params.`` prefix) that differ between ``runs``."""
    params = [c for c in runs.columns if c.startswith("params.")]
    return [c.removeprefix("params.") for c in params if runs[c].nunique(dropna=False) > 1]


def monitored_metric(runs: pd.DataFrame) -> str:
    """``best_<trainer.monitor>`` of ``runs`` (the validation metric their best epochs were
    selected by); ConfigError when they were selected by different ones."""
    monitors = set(runs.get("params.trainer.monitor", pd.Series(["val_loss"])).dropna()) or {"val_loss"}
    if len(monitors) > 1:
        raise ConfigError(
            f"the runs select their best epoch by different trainer.monitor {sorted(monitors)}: give sort_by"
        )
    return f"best_{monitors.pop()}"


def comparison_table(runs: pd.DataFrame, sort_by: str | None = None) -> pd.DataFrame:
    """``run_id``, ``status``, the varied parameters and the metrics of ``runs``: those of each
    run's best epoch and its test metrics (``BEST_METRICS``), then its last epoch's
    (``final_<name>``). Best first by ``sort_by`` (ascending for losses), by default the
    validation metric the runs selected their best epoch by (``monitored_metric``).

    Raises ConfigError for a metric the runs lack and for a test metric: choosing among runs
    by their test results is selecting on the test set."""
    if runs.empty:
        raise LookupError("no runs to compare")
    columns = RESULT_METRICS
    metrics = [name for column, name in columns.items() if column in runs.columns]
    sort_by = sort_by or monitored_metric(runs)
    if sort_by.startswith("test_"):
        raise ConfigError(
            f"sort_by={sort_by!r}: ranking runs by a test metric selects on the test set; "
            f"sort by a validation metric ({[m for m in metrics if 'val_' in m]})"
        )
    if sort_by not in metrics:
        raise ConfigError(f"sort_by={sort_by!r}: the runs have no such metric; they have {metrics}")
    params = [f"params.{p}" for p in varied_params(runs)]
    table = runs[["run_id", "status", *params, *[c for c in columns if c in runs.columns]]]
    table = table.rename(columns=columns).rename(columns=lambda c: c.removeprefix("params."))
    return table.sort_values(sort_by, ascending=sort_by.endswith("loss"), na_position="last", kind="stable")
