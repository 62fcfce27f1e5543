"""compare in-process: its errors name the unknown target or metric, and it never ranks runs by test results."""

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from seqlab.experiments.config.validation import ConfigError
from seqlab.experiments.tracking.queries import comparison_table, find_runs
from seqlab.experiments.tracking.store import use_tracking_store


def test_an_unknown_target_is_named(default_run, store):
    use_tracking_store(OmegaConf.create({"uri": store["uri"]}))
    with pytest.raises(LookupError, match="target='no-such-sweep' is no sweep id, experiment name or experiment id"):
        find_runs("no-such-sweep")


def test_an_unknown_sort_metric_is_named(default_run, store):
    use_tracking_store(OmegaConf.create({"uri": store["uri"]}))
    runs = find_runs(default_run["cfg"].tracking.experiment_name)
    assert default_run["metrics"]["run_id"] in set(runs["run_id"])
    with pytest.raises(ConfigError, match="sort_by='accuracy': the runs have no such metric"):
        comparison_table(runs, "accuracy")


def test_runs_are_ranked_by_validation_never_by_test(store):
    # "lucky" is best on test but not on validation: choosing it would be selecting on test.
    use_tracking_store(OmegaConf.create({"uri": store["uri"]}))
    client = MlflowClient(store["uri"])
    experiment = client.create_experiment("protocol", artifact_location=f"{store['artifact_root']}/protocol")
    results = {"sound": (0.20, 0.80), "lucky": (0.35, 0.95), "poor": (0.50, 0.60)}
    for name, (best_val_loss, test_accuracy) in results.items():
        run = client.create_run(experiment, run_name=name)
        client.log_param(run.info.run_id, "trainer.monitor", "val_loss")
        client.log_param(run.info.run_id, "model.hidden_size", len(name))
        for step, val_loss in enumerate([0.9, best_val_loss, best_val_loss + 0.1], start=1):
            client.log_metric(run.info.run_id, "val_loss", val_loss, step=step)
        for key, value in {"best_val_loss": best_val_loss, "test_accuracy": test_accuracy, "best_epoch": 2}.items():
            client.log_metric(run.info.run_id, key, value)
        client.set_terminated(run.info.run_id)
    runs = find_runs("protocol")
    table = comparison_table(runs)
    names = dict(zip(runs["run_id"], runs["tags.mlflow.runName"], strict=True))
    assert [names[r] for r in table["run_id"]] == ["sound", "lucky", "poor"]
    assert list(table["final_val_loss"]) == pytest.approx([0.30, 0.45, 0.60]), "final_*: the last epoch's value"
    for metric in ("test_accuracy", "test_loss"):
        with pytest.raises(
            ConfigError, match=f"sort_by='{metric}': ranking runs by a test metric selects on the test set"
        ):
            comparison_table(runs, metric)
