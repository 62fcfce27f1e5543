"""Turning a composed config into data and a model (the only place config meets constructors)."""

import numpy as np
from omegaconf import DictConfig, OmegaConf

from src.data.dataset import DataSplits
from src.data.registry import build_splits
from src.models.classifier import SequenceClassifier
from src.models.elman import init_elman_params

INIT_STREAM, SHUFFLE_STREAM = 1, 2  # independent random streams derived from cfg.seed


def build_data(cfg: DictConfig) -> DataSplits:
    """Generate ``cfg.data``'s splits, cast to ``cfg.trainer.dtype``."""
    return build_splits(**OmegaConf.to_container(cfg.data, resolve=True)).astype(
        cfg.trainer.dtype
    )


def build_classifier(
    cfg: DictConfig, splits: DataSplits, weights: dict[str, np.ndarray] | None = None
) -> SequenceClassifier:
    """Build the classifier ``cfg.model`` describes, for the shapes of ``splits``.

    Parameters are ``weights`` when given (a logged run), else a seeded initialisation.
    """
    if weights is None:
        weights = init_elman_params(
            input_size=splits.num_features,
            hidden_size=cfg.model.hidden_size,
            num_classes=splits.num_classes,
            init_std=cfg.model.init_std,
            seed=[cfg.seed, INIT_STREAM],
        )
    hyperparams = {k: v for k, v in cfg.optimizer.items() if k != "name"}
    return SequenceClassifier(
        weights, optimizer=cfg.optimizer.name, hyperparams=hyperparams, dtype=cfg.trainer.dtype
    )


def shuffle_rng(cfg: DictConfig) -> np.random.Generator:
    """The generator that orders minibatches, seeded from ``cfg.seed``."""
    return np.random.default_rng([cfg.seed, SHUFFLE_STREAM])
