"""Reproducing a run: train its logged config again and compare every metric with the original."""

import pandas as pd
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from seqlab.data.errors import DataError
from seqlab.experiments.config.validation import logged_config
from seqlab.experiments.metrics import BEST_METRICS, EPOCH_METRICS
from seqlab.experiments.tracking.logged_runs import load_run
from seqlab.experiments.tracking.studies import REPRODUCES
from seqlab.experiments.training.runner import train


def _metrics(run_id: str) -> pd.Series:
    client = MlflowClient()
    values = {
        (key, m.step): m.value
        for key in (*EPOCH_METRICS, "lr", *BEST_METRICS)
        for m in client.get_metric_history(run_id, key)
    }
    return pd.Series(values, dtype=float).rename_axis(["metric", "step"])


def compare_runs(original: str, again: str) -> pd.DataFrame:
    """Every metric value of two runs side by side: index (metric, step), columns ``original``,
    ``reproduced`` and ``equal`` (exact equality; a value one run lacks is unequal)."""
    table = pd.concat({"original": _metrics(original), "reproduced": _metrics(again)}, axis=1)
    table["equal"] = table["original"] == table["reproduced"]
    return table


def reproduce(run_id: str, tracking: DictConfig) -> tuple[str, pd.DataFrame]:
    """Train run ``run_id``'s logged config again into the store ``tracking`` names.

    Returns the new run's id and ``compare_runs``' table.
    """
    cfg = logged_config(load_run(run_id).config, f"the logged config of run {run_id}")
    cfg.tracking.uri, cfg.tracking.artifact_root = tracking.uri, tracking.artifact_root
    cfg.tracking.run_name = f"reproduce of {MlflowClient().get_run(run_id).info.run_name}"
    again = train(cfg, tags={REPRODUCES: run_id})["run_id"]
    table = compare_runs(run_id, again)
    hashes = [MlflowClient().get_run(r).data.params["dataset.hash"] for r in (run_id, again)]
    if hashes[0] != hashes[1]:
        raise DataError(f"the data of run {run_id}", f"hash {hashes[0]} when logged, {hashes[1]} now")
    return again, table
