"""Compare entry point: ``seqlab compare target=<sweep id | experiment>``.

Reads the runs of one sweep (its parent run's id) or of one experiment (name or id) with
``mlflow.search_runs``, and prints the parameters that vary between them against their best
epoch's, test and final metrics, sorted by a validation metric (``sort_by``); the same table
is written as CSV.
"""

import logging
import re
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from seqlab.experiments.cli import hydra_app
from seqlab.experiments.queries import comparison_table, find_runs
from seqlab.experiments.tracking import use_tracking_store
from seqlab.experiments.validation import validate
from seqlab.paths import runs_dir

log = logging.getLogger(__name__)

TABLE_KEY = (
    "best_*: the epoch chosen by trainer.monitor on validation; test_*: that epoch's weights on the test "
    "split; final_*: the last epoch"
)


@hydra_app("compare")
def main(cfg: DictConfig) -> None:
    """Print the comparison table of ``cfg.target`` and write it as CSV."""
    validate(cfg)
    use_tracking_store(cfg.tracking)
    table = comparison_table(find_runs(cfg.target), cfg.sort_by)
    safe_target = re.sub(r"[^\w.-]", "_", cfg.target)  # a file name inside runs/compare, whatever the target
    output = Path(cfg.output or runs_dir() / "compare" / f"{safe_target}.csv")
    output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(output, index=False)
    with pd.option_context("display.max_columns", None, "display.width", 200):
        print(table.to_string(index=False))
    print(TABLE_KEY)
    log.info("%d runs; table written to %s", len(table), output)


if __name__ == "__main__":
    main()
