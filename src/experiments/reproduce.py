"""Reproduce entry point: ``seqlab reproduce run_id=<id>``.

Trains a new run from a logged run's own config (tagged ``reproduces=<id>``) and compares every
per-epoch metric and every final metric with the original, value for value. Exits 0 when all
match exactly, 1 otherwise (the differing values are printed). Exact equality holds on the same
machine, code and libraries (``git_commit``, ``git_dirty``, ``blas_libraries`` and the version
tags say which: a different BLAS kernel sums in a different order).
"""

import logging
import sys

import pandas as pd
from omegaconf import DictConfig

from seqlab.experiments.cli import hydra_app
from seqlab.experiments.config.validation import validate
from seqlab.experiments.reproduction import reproduce
from seqlab.experiments.tracking.store import use_tracking_store

log = logging.getLogger(__name__)


@hydra_app("reproduce")
def main(cfg: DictConfig) -> None:
    """Reproduce ``cfg.run_id``; exit 1 if any metric differs."""
    validate(cfg)
    use_tracking_store(cfg.tracking)
    again, table = reproduce(cfg.run_id, cfg.tracking)
    differing = table[~table["equal"]]
    if differing.empty:
        log.info("run %s reproduces run %s exactly: %d metric values equal", again, cfg.run_id, len(table))
        return
    with pd.option_context("display.max_rows", 50, "display.precision", 17):
        print(differing.to_string())
    log.error("run %s differs from run %s in %d of %d metric values", again, cfg.run_id, len(differing), len(table))
    sys.exit(1)


if __name__ == "__main__":
    main()
