"""Reproducing a run: train its logged config again and compare every metric with the original."""

from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT
from omegaconf import DictConfig

from seqlab.data.errors import DataError
from seqlab.data.files import data_file
from seqlab.data.identity import file_digest
from seqlab.data.summary import summarize
from seqlab.experiments.config.validation import logged_config
from seqlab.experiments.metrics import BEST_METRICS, EPOCH_METRICS
from seqlab.experiments.tracking.logged_runs import load_run
from seqlab.experiments.tracking.run_inputs import FILE_CONTEXTS, MLFLOW_DIGEST_CHARS
from seqlab.experiments.tracking.studies import REPRODUCES
from seqlab.experiments.training.builders import load_data
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


def check_data(run_id: str, cfg: DictConfig) -> None:
    """Raise DataError before anything trains when the data of run ``run_id`` (its logged
    ``cfg``) is not what it trained on: a data file whose bytes changed (named, with its logged
    and current digests), else data whose content hash differs."""
    logged = MlflowClient().get_run(run_id)
    digests = {
        (i.dataset.name, tag.value): i.dataset.digest
        for i in logged.inputs.dataset_inputs
        for tag in i.tags
        if tag.key == MLFLOW_DATASET_CONTEXT
    }
    for key, context in FILE_CONTEXTS.items():
        path = cfg.data.get(key)
        if not path:
            continue
        then, now = digests.get((Path(path).stem, context)), file_digest(data_file(path))[:MLFLOW_DIGEST_CHARS]
        if then is not None and then != now:
            raise DataError(path, f"changed since run {run_id} trained on it (sha256 {then}... then, {now}... now)")
    now = summarize(load_data(cfg))["hash"]
    if now != logged.data.params["dataset.hash"]:
        raise DataError(
            f"the data of run {run_id}", f"hash {logged.data.params['dataset.hash']} when logged, {now} now"
        )


def reproduce(run_id: str, tracking: DictConfig) -> tuple[str, pd.DataFrame]:
    """Train run ``run_id``'s logged config again into the store ``tracking`` names, once its
    data is known to be the same (``check_data``).

    Returns the new run's id and ``compare_runs``' table.
    """
    cfg = logged_config(load_run(run_id).config, f"the logged config of run {run_id}")
    check_data(run_id, cfg)
    cfg.tracking.uri, cfg.tracking.artifact_root = tracking.uri, tracking.artifact_root
    cfg.tracking.run_name = f"reproduce of {MlflowClient().get_run(run_id).info.run_name}"
    again = train(cfg, tags={REPRODUCES: run_id})["run_id"]
    return again, compare_runs(run_id, again)
