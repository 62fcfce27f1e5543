"""The schema of ``conf/tracking``: where runs are recorded."""

from dataclasses import dataclass, field
from typing import Any

from seqlab.fields import non_negative, plain_name, positive


@dataclass
class TrackingConfig:
    """Where runs are recorded. ``uri: null`` is the embedded store ``runs/mlflow.db``."""

    uri: str | None = None
    artifact_root: str | None = None  # null: runs/artifacts/<experiment> (a server decides its own)
    experiment_name: str = plain_name("seqlab")
    # null: named from what it trains (gru-h64-adam-s0), or for a sweep's job from the values it
    # sweeps ("lr=0.01 seed=3"); seqlab reproduce names its run "reproduce of <name>".
    run_name: str | None = plain_name(None)
    # Tags every run gets ({paper: icml}); a study tags its cells with their study, configuration,
    # data set and seed.
    tags: dict[str, str] = field(default_factory=dict)
    # Also log the classifier as an MLflow pyfunc model (runs:/<run id>/model).
    log_model: bool = True
    # Also register that model in MLflow's model registry under this name (a new version per run).
    register_model: str | None = plain_name(None)
    # A tracking server that stops answering fails the run after this many retries of a
    # request (MLflow's own default retries for about 4 minutes), each waiting request_timeout_s.
    request_retries: int = non_negative(2)
    request_timeout_s: float = positive(30.0)
    # While the store does not answer mid-run, training goes on this long (seconds), its metrics
    # kept in a journal beside the checkpoint and sent when the store answers again; then the run
    # stops, naming the command that sends them and finishes it. 0: stop at once.
    outage_s: float = non_negative(600.0)

    def cross_check(self) -> list[tuple[str, Any, str]]:
        """A registered model must be logged."""
        if self.register_model and not self.log_model:
            return [("register_model", self.register_model, "needs tracking.log_model=true: it registers that model")]
        return []
