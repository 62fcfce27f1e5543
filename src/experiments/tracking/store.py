"""The MLflow store runs are recorded in: the embedded sqlite store or a server, checked
before a run starts, and the experiment a run goes to."""

import fcntl
import os
from pathlib import Path

import mlflow
import requests
import sqlalchemy
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from seqlab.experiments.config.validation import ConfigError
from seqlab.experiments.tracking.secrets import redact
from seqlab.paths import runs_dir

SERVER_TIMEOUT_S = 10


def embedded_store_uri() -> str:
    """The embedded MLflow store: one sqlite database in ``runs_dir()``."""
    return f"sqlite:///{runs_dir() / 'mlflow.db'}"


class TrackingUnavailable(ConfigError):
    """The configured tracking server does not answer."""


def check_server(uri: str) -> None:
    """Raise TrackingUnavailable unless an MLflow server answers at ``uri`` within seconds."""
    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=SERVER_TIMEOUT_S).raise_for_status()
    except requests.RequestException as error:
        problem = f"{type(error).__name__}: {redact(str(error))}"
        raise TrackingUnavailable(
            f"tracking.uri={redact(uri)}: no MLflow server answers there ({problem}); "
            "start one (see conf/tracking/server.yaml) or use tracking=local"
        ) from error


def open_sqlite_store(uri: str) -> None:
    """Create (or migrate) the sqlite store at ``uri`` while holding an exclusive lock on the
    file beside it, so that processes started at once (a shell loop, a SLURM array, two
    terminals) take turns: MLflow's schema migration, run by several processes on a fresh
    store at the same time, can leave it broken. A store MLflow cannot open is named with the
    fix."""
    path = Path(uri.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f"{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        try:
            MlflowClient(uri).search_experiments(max_results=1)
        except (MlflowException, sqlalchemy.exc.SQLAlchemyError) as error:
            raise ConfigError(
                f"tracking.uri={uri}: MLflow cannot open this store ({type(error).__name__}: {error}); "
                "if an earlier run crashed while creating it, move the file aside and run again"
            ) from error


def use_tracking_store(tracking: DictConfig) -> str:
    """Point MLflow at ``tracking.uri`` (the embedded store when null); return the URI.

    A sqlite store is created under a lock (``open_sqlite_store``); a server URI (http/https) is
    checked first, so an unreachable server fails at once, and its requests are retried
    ``tracking.request_retries`` times at most.
    """
    uri = tracking.uri or embedded_store_uri()
    # Downloading a run's few small files needs no progress bar in the middle of a log.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if uri.startswith("sqlite:///"):
        open_sqlite_store(uri)
    if uri.startswith(("http://", "https://")):
        # MLflow reads these at every request: bounded retries, so a dead server fails the run.
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(tracking.request_retries)
        os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(tracking.request_timeout_s))
        check_server(uri)
        if redact(uri) != uri:  # MLflow would print the run's address, password included
            os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    mlflow.set_tracking_uri(uri)
    return uri


def _artifact_location(tracking: DictConfig, uri: str) -> str | None:
    if tracking.artifact_root:
        root = Path(tracking.artifact_root).resolve()
    elif uri == embedded_store_uri():
        root = runs_dir() / "artifacts"
    else:
        return None  # a tracking server decides where artifacts go
    return (root / tracking.experiment_name).as_uri()


def open_experiment(tracking: DictConfig) -> str:
    """Select the store and get or create ``tracking.experiment_name``; return its id.

    On the embedded store the experiment's artifacts go to ``runs/artifacts/<name>``
    (or ``tracking.artifact_root/<name>``), never into a Hydra output folder.
    """
    uri = use_tracking_store(tracking)
    client = MlflowClient()
    experiment = client.get_experiment_by_name(tracking.experiment_name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(tracking.experiment_name, artifact_location=_artifact_location(tracking, uri))
    except MlflowException:  # another job created it first
        return client.get_experiment_by_name(tracking.experiment_name).experiment_id
