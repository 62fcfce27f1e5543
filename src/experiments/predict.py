"""Predict entry point: ``seqlab predict run_id=<id> [split=test | input=<file> | texts=[...]]``.

Rebuilds a logged run's model from its ``config.yaml`` and weights and classifies one split of
its (regenerated or reloaded) data, the sequences of a file (``seqlab.data.inputs``), or new
texts mapped through the run's logged vocabulary. Predictions carry the original label names the
run logged, and are written with the class probabilities to a CSV file.
"""

import logging
from pathlib import Path

from omegaconf import DictConfig

from seqlab.experiments.classify import predict_file, predict_split, predict_texts
from seqlab.experiments.cli import hydra_app
from seqlab.experiments.config.validation import ConfigError, validate
from seqlab.experiments.tracking.store import use_tracking_store
from seqlab.paths import runs_dir

log = logging.getLogger(__name__)


@hydra_app("predict")
def main(cfg: DictConfig) -> None:
    """Print the accuracy (on a split, or a file with labels) or the predicted labels (of
    texts, or a file without); write them as CSV."""
    validate(cfg)
    if cfg.texts and cfg.input:
        raise ConfigError(f"input={cfg.input} and texts=[...]: give one of them")
    use_tracking_store(cfg.tracking)
    if cfg.texts:
        table = predict_texts(cfg.run_id, list(cfg.texts), cfg.batch_size)
        source = "texts"
    elif cfg.input:
        table = predict_file(cfg.run_id, cfg.input, cfg.batch_size)
        source = Path(cfg.input).stem
    else:
        table = predict_split(cfg.run_id, cfg.split, cfg.batch_size)
        source = cfg.split
    output = Path(cfg.output or runs_dir() / "predictions" / f"{cfg.run_id}-{source}.csv")
    output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(output, index_label="sequence")
    if "label_name" in table:
        accuracy = (table["label_name"] == table["predicted_name"]).mean()
        log.info("run %s, %s: accuracy=%.4f on %d sequences", cfg.run_id, source, accuracy, len(table))
    elif cfg.texts:
        for text, name in zip(table["text"], table["predicted_name"], strict=True):
            log.info("%s\t%s", name, text)
    else:
        counts = table["predicted_name"].value_counts()
        log.info("run %s, %s: %d sequences, predicted %s", cfg.run_id, source, len(table), counts.to_dict())
    log.info("predictions written to %s", output)


if __name__ == "__main__":
    main()
