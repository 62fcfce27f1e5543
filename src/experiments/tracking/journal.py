"""Metrics a run could not send to its tracking store, kept in a local journal until the store
answers again: a JSON-lines file beside the run's checkpoint, one line per metric value,
written (and synced to disk) before training goes on, and sent in order, then deleted."""

import json
import os
from pathlib import Path

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

# MLflow takes at most this many metrics in one log_batch.
BATCH_LIMIT = 1000


class MetricJournal:
    """The journal file of one run (``path``)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def append(self, metrics: list[Metric]) -> None:
        """Add ``metrics`` to the journal, on disk when this returns."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            for m in metrics:
                f.write(json.dumps({"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def entries(self) -> list[Metric]:
        """The journal's metrics, in the order they were kept."""
        if not self.path.is_file():
            return []
        lines = self.path.read_text().splitlines()
        return [Metric(**json.loads(line)) for line in lines if line.strip()]

    def steps(self) -> list[int]:
        """The steps (epochs) the journal holds metrics of, in order."""
        return sorted({m.step for m in self.entries()})

    def send(self, client: MlflowClient, run_id: str) -> int:
        """Log the journal's metrics to run ``run_id`` in order, then delete the journal; return
        how many were sent. Raises what the store raises, the journal keeping what was not sent."""
        metrics = self.entries()
        for start in range(0, len(metrics), BATCH_LIMIT):
            client.log_batch(run_id, metrics=metrics[start : start + BATCH_LIMIT])
            self.path.unlink()
            self.append(metrics[start + BATCH_LIMIT :])  # what is left: nothing is sent twice
        self.path.unlink(missing_ok=True)
        return len(metrics)
