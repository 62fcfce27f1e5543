"""The schema of ``conf/tracking``: where runs are recorded."""

from dataclasses import dataclass, field

from seqlab.fields import non_negative, plain_name, positive


@dataclass
class TrackingConfig:
    """Where runs are recorded. ``uri: null`` is the embedded store ``runs/mlflow.db``."""

    uri: str | None = None
    artifact_root: str | None = None  # null: runs/artifacts/<experiment> (a server decides its own)
    experiment_name: str = plain_name("seqlab")
    # null: MLflow's random name, or for a sweep's job the values it sweeps ("lr=0.01 seed=3")
    run_name: str | None = plain_name(None)
    # Tags every run gets ({paper: icml}); a study tags its cells with their study, configuration,
    # data set and seed.
    tags: dict[str, str] = field(default_factory=dict)
    # Also log the classifier as an MLflow pyfunc model (runs:/<run id>/model).
    log_model: bool = True
    # A tracking server that stops answering fails the run after this many retries of a
    # request (MLflow's own default retries for about 4 minutes), each waiting request_timeout_s.
    request_retries: int = non_negative(2)
    request_timeout_s: float = positive(30.0)
