"""Predict entry point: ``python -m src.experiments.predict run_id=<id> [split=test]``.

Rebuilds a logged run's model from its ``config.yaml`` and ``weights.pkl`` and classifies the
sequences of one split of its (regenerated, seeded) data.
"""

import logging
import sys
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from src.experiments.builders import build_classifier, load_data, model_inputs
from src.experiments.resolvers import register_resolvers
from src.experiments.schema import register_predict_schema, register_schemas
from src.experiments.tracking import load_run, use_tracking_store
from src.experiments.validation import ConfigError, validate
from src.models.backend import set_float_dtype
from src.paths import RUNS_DIR

log = logging.getLogger(__name__)

register_schemas()
register_predict_schema()
register_resolvers()


def predict_split(run_id: str, split: str, batch_size: int) -> pd.DataFrame:
    """Classify ``split`` of run ``run_id``'s data with its logged weights (current store).

    Returns one row per sequence: class indices ``label`` and ``prediction``, the original
    label names ``label_name`` and ``predicted_name``, and ``proba_<name>`` columns.
    """
    run_cfg, weights = load_run(run_id)
    set_float_dtype(run_cfg.trainer.dtype)
    splits = model_inputs(run_cfg, load_data(run_cfg))
    dataset = splits.split(split)
    model = build_classifier(run_cfg, splits, weights=weights)
    proba = np.exp(model.predict_log_proba(dataset, batch_size))
    names = np.array(splits.label_names)
    table = pd.DataFrame(proba, columns=[f"proba_{name}" for name in names])
    table.insert(0, "predicted_name", names[proba.argmax(axis=1)])
    table.insert(0, "label_name", names[dataset.labels])
    table.insert(0, "prediction", proba.argmax(axis=1))
    table.insert(0, "label", dataset.labels)
    return table


@hydra.main(version_base="1.3", config_path="../../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    """Print the accuracy on the chosen split and write the predictions as CSV."""
    try:
        validate(cfg)
    except ConfigError as error:
        log.error("%s", error)
        sys.exit(2)
    use_tracking_store(cfg.tracking)
    try:
        table = predict_split(cfg.run_id, cfg.split, cfg.batch_size)
    except LookupError as error:
        log.error("%s", error)
        sys.exit(1)
    output = Path(cfg.output or RUNS_DIR / "predictions" / f"{cfg.run_id}-{cfg.split}.csv")
    output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(output, index_label="sequence")
    accuracy = (table["label"] == table["prediction"]).mean()
    log.info("run %s, %s split: accuracy=%.4f on %d sequences", cfg.run_id, cfg.split, accuracy, len(table))
    log.info("predictions written to %s", output)


if __name__ == "__main__":
    main()
