"""reproduce: a logged run trained again from its own config matches it metric for metric."""

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from seqlab.experiments.config.validation import ConfigError
from seqlab.experiments.metrics import BEST_METRICS, EPOCH_METRICS
from seqlab.experiments.reproduction import reproduce
from seqlab.experiments.tracking.run_inputs import CONFIG_ARTIFACT
from seqlab.experiments.tracking.store import use_tracking_store
from seqlab.models.classifier import SequenceClassifier


def tracking(store: dict):
    config = OmegaConf.create({"uri": store["uri"], "artifact_root": store["artifact_root"]})
    use_tracking_store(config)
    return config


def test_reproduce_matches_every_metric_exactly(default_run, store):
    run_id, epochs = default_run["metrics"]["run_id"], default_run["cfg"].trainer.epochs
    again, table = reproduce(run_id, tracking(store))
    assert again != run_id
    assert MlflowClient().get_run(again).data.tags["reproduces"] == run_id
    per_epoch = len(EPOCH_METRICS) + 1  # and lr
    assert len(table) == per_epoch * epochs + len(BEST_METRICS), "every epoch metric and lr per epoch; best and test"
    assert table["equal"].all(), table[~table["equal"]]


def test_reproduce_reports_the_metrics_that_differ(default_run, store, monkeypatch):
    original = SequenceClassifier.train_batch

    def slightly_off(self, batch):
        step = original(self, batch)
        return step._replace(loss=step.loss + 1e-9)

    monkeypatch.setattr(SequenceClassifier, "train_batch", slightly_off)
    _, table = reproduce(default_run["metrics"]["run_id"], tracking(store))
    differing = table[~table["equal"]]
    assert set(differing.index.get_level_values("metric")) == {"train_loss", "best_train_loss"}
    assert len(differing) == default_run["cfg"].trainer.epochs + 1


def test_reproduce_refuses_a_logged_config_with_a_planted_environment_lookup(default_run, store, monkeypatch):
    # Anyone who can write to a shared store could plant this to leak a secret into a new run.
    monkeypatch.setenv("PLANTED_SECRET", "s3cr3t")
    run_id = default_run["metrics"]["run_id"]
    client = MlflowClient(store["uri"])
    original = client.download_artifacts(run_id, CONFIG_ARTIFACT)
    planted = OmegaConf.load(original)
    planted.tracking.run_name = "${oc.env:PLANTED_SECRET}"
    runs_before = len(client.search_runs([client.get_run(run_id).info.experiment_id]))
    client.log_text(run_id, OmegaConf.to_yaml(planted), CONFIG_ARTIFACT)
    try:
        with pytest.raises(ConfigError, match=r"interpolations at \['tracking.run_name'\]"):
            reproduce(run_id, tracking(store))
    finally:
        client.log_text(run_id, Path(original).read_text(), CONFIG_ARTIFACT)
    assert len(client.search_runs([client.get_run(run_id).info.experiment_id])) == runs_before
