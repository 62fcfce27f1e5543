"""reproduce: a logged run trained again from its own config matches it metric for metric."""

from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from seqlab.experiments.reproduction import reproduce
from seqlab.experiments.tracking import use_tracking_store
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
    assert len(table) == 5 * epochs + 3, "4 metrics and lr per epoch; test_loss, test_accuracy, best_epoch"
    assert table["equal"].all(), table[~table["equal"]]


def test_reproduce_reports_the_metrics_that_differ(default_run, store, monkeypatch):
    original = SequenceClassifier.train_batch

    def slightly_off(self, batch):
        step = original(self, batch)
        return step._replace(loss=step.loss + 1e-9)

    monkeypatch.setattr(SequenceClassifier, "train_batch", slightly_off)
    _, table = reproduce(default_run["metrics"]["run_id"], tracking(store))
    differing = table[~table["equal"]]
    assert set(differing.index.get_level_values("metric")) == {"train_loss"}
    assert len(differing) == default_run["cfg"].trainer.epochs
