"""The presets under conf/experiment and conf/hparams_search compose into valid configs."""

import pytest

from seqlab.experiments.config.validation import validate
from seqlab.experiments.training.runner import train
from seqlab.models.classifier import SequenceClassifier
from seqlab.paths import conf_dir
from tests.conftest import compose_config


@pytest.mark.parametrize("preset", sorted(p.stem for p in (conf_dir() / "experiment").glob("*.yaml")))
def test_every_experiment_preset_is_a_valid_config(preset):
    validate(compose_config([f"experiment={preset}"]))


def test_the_optuna_preset_optimises_the_monitored_metric_in_its_direction():
    for monitor, direction in [("val_loss", "minimize"), ("val_accuracy", "maximize")]:
        overrides = ["hparams_search=optuna", f"trainer.monitor={monitor}"]
        validate(compose_config(overrides))
        assert compose_config(overrides, with_hydra=True).hydra.sweeper.direction == direction


def test_the_reber_preset_sets_data_model_and_optimiser_together():
    cfg = compose_config(["experiment=reber_lstm"])
    assert (cfg.data.name, cfg.model.name, cfg.optimizer.name) == ("reber", "lstm", "adam")


def test_the_debug_preset_trains_one_epoch_of_two_batches(store_overrides, monkeypatch):
    steps = []
    original = SequenceClassifier.train_batch
    monkeypatch.setattr(SequenceClassifier, "train_batch", lambda self, b: steps.append(len(b)) or original(self, b))
    metrics = train(compose_config(store_overrides + ["experiment=debug", "trainer.progress=false"]))
    assert steps == [16, 16]
    assert metrics["best_epoch"] == 1
