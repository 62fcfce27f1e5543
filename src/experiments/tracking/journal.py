"""Metrics a run could not send to its tracking store, kept in a local journal until the store
answers again: a JSON-lines file beside the run's checkpoint, one line per metric value,
written (and synced to disk) before training goes on; the run's recorder sends them in order
(``BATCH_LIMIT`` at a time), keeping what is left after each batch, so nothing is sent twice."""

import json
import os
from pathlib import Path

from mlflow.entities import Metric

# MLflow takes at most this many metrics in one log_batch.
BATCH_LIMIT = 1000


class MetricJournal:
    """The journal file of one run (``path``)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def append(self, metrics: list[Metric]) -> None:
        """Add ``metrics`` to the journal, on disk when this returns."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _write(self.path, "a", metrics)

    def entries(self) -> list[Metric]:
        """The journal's metrics, in the order they were kept."""
        if not self.path.is_file():
            return []
        lines = self.path.read_text().splitlines()
        return [Metric(**json.loads(line)) for line in lines if line.strip()]

    def steps(self) -> list[int]:
        """The steps (epochs) the journal holds metrics of, in order."""
        return sorted({m.step for m in self.entries()})

    def replace(self, metrics: list[Metric]) -> None:
        """Keep only ``metrics`` (what is left to send), atomically; no journal when none."""
        if not metrics:
            self.path.unlink(missing_ok=True)
            return
        fresh = self.path.with_name(f".{self.path.name}.new")
        _write(fresh, "w", metrics)
        os.replace(fresh, self.path)


def _write(path: Path, mode: str, metrics: list[Metric]) -> None:
    """Write ``metrics`` to ``path`` (opened with ``mode``), one JSON line each, synced to disk."""
    with open(path, mode) as f:
        for m in metrics:
            f.write(json.dumps({"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step}) + "\n")
        f.flush()
        os.fsync(f.fileno())
