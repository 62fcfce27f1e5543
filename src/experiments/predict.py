"""Predict entry point: ``seqlab predict run_id=<id> [split=test | texts=[...]]``.

Rebuilds a logged run's model from its ``config.yaml`` and weights and classifies either
one split of its (regenerated or reloaded) data, or new texts mapped through the run's logged
vocabulary. Predictions carry the original label names the run logged.
"""

import logging
from pathlib import Path

from omegaconf import DictConfig

from seqlab.experiments.classify import predict_split, predict_texts
from seqlab.experiments.cli import hydra_app
from seqlab.experiments.config.validation import validate
from seqlab.experiments.tracking.store import use_tracking_store
from seqlab.paths import runs_dir

log = logging.getLogger(__name__)


@hydra_app("predict")
def main(cfg: DictConfig) -> None:
    """Print the accuracy (on a split) or the predicted labels (of texts); write them as CSV."""
    validate(cfg)
    use_tracking_store(cfg.tracking)
    if cfg.texts:
        table = predict_texts(cfg.run_id, list(cfg.texts), cfg.batch_size)
        source = "texts"
    else:
        table = predict_split(cfg.run_id, cfg.split, cfg.batch_size)
        source = cfg.split
    output = Path(cfg.output or runs_dir() / "predictions" / f"{cfg.run_id}-{source}.csv")
    output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(output, index_label="sequence")
    if cfg.texts:
        for text, name in zip(table["text"], table["predicted_name"], strict=True):
            log.info("%s\t%s", name, text)
    else:
        accuracy = (table["label"] == table["prediction"]).mean()
        log.info("run %s, %s split: accuracy=%.4f on %d sequences", cfg.run_id, source, accuracy, len(table))
    log.info("predictions written to %s", output)


if __name__ == "__main__":
    main()
