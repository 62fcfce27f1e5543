"""MLflow tracking: where the store is, what every run records (through its ``RunRecorder``),
the files a classifier needs, and reading runs back."""

import dataclasses
import fcntl
import importlib.metadata
import json
import os
import platform
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import mlflow
import numpy as np
import pandas as pd
import requests
import sqlalchemy
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from seqlab.data.dataset import DataSplits
from seqlab.data.identity import PATH_OPTIONS, file_digest
from seqlab.data.normalize import Normalizer
from seqlab.data.raw import SPLITS
from seqlab.engine import engine_info
from seqlab.experiments.recorder import RunRecorder
from seqlab.experiments.secrets import redact
from seqlab.experiments.validation import ConfigError, logged_config
from seqlab.models.compiling import COMPILE_MODE_DESCRIPTION
from seqlab.models.weights import load_weights, save_weights
from seqlab.paths import checkout_root, runs_dir

CONFIG_ARTIFACT = "config.yaml"
WEIGHTS_ARTIFACT = "weights.pkl"
DATASET_ARTIFACT = "dataset.json"
LABELS_ARTIFACT = "labels.json"
INPUTS_ARTIFACT = "inputs.json"
VOCABULARY_ARTIFACT = "vocabulary.json"
NORMALIZER_ARTIFACT = "normalizer.json"
ENVIRONMENT_ARTIFACT = "environment.txt"
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


def flatten_config(cfg: DictConfig) -> dict[str, object]:
    """Flatten a resolved config to dotted keys: ``{"model.hidden_size": 32, ...}``, with
    credentials in URIs hidden."""
    container = OmegaConf.to_container(cfg, resolve=True)
    flat = pd.json_normalize(container, sep=".").iloc[0].to_dict()
    return {key: redact(value) if isinstance(value, str) else value for key, value in flat.items()}


def config_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML, as runs record it (credentials in URIs hidden)."""
    return redact(OmegaConf.to_yaml(cfg, resolve=True))


def _git(*args: str) -> str:
    """``git <args>`` in seqlab's checkout; "unknown" for an installed seqlab (its version tag
    says which code ran) or without git."""
    if checkout_root() is None:
        return "unknown"
    try:
        result = subprocess.run(["git", *args], cwd=checkout_root(), capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return result.stdout.strip()


def environment_tags() -> dict[str, str]:
    """Tags that say what code and engine produced a run: git commit, versions, BLAS."""
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": commit,
        "mlflow.source.git.commit": commit,
        "git_dirty": "unknown" if dirty == "unknown" else str(bool(dirty)).lower(),
        "seqlab_version": importlib.metadata.version("seqlab"),
        "numpy_version": np.__version__,
        "mlflow_version": mlflow.__version__,
        "python_version": platform.python_version(),
        **engine_info(COMPILE_MODE_DESCRIPTION),
    }


def installed_packages() -> str:
    """Every installed distribution as ``name==version`` lines, sorted (a ``pip freeze``)."""
    versions = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}
    return "".join(f"{name}=={versions[name]}\n" for name in sorted(versions, key=str.lower))


def log_run_inputs(run: RunRecorder, cfg: DictConfig, extra_tags: dict[str, str], choices: dict[str, str]) -> None:
    """Record the resolved config (as params and as ``config.yaml``), the option chosen in each
    config group (``choices``, as ``choice.<group>`` params), the installed packages
    (``environment.txt``) and the run's tags."""
    run.params(flatten_config(cfg) | {f"choice.{group}": option for group, option in choices.items()})
    run.text(config_yaml(cfg), CONFIG_ARTIFACT)
    run.text(installed_packages(), ENVIRONMENT_ARTIFACT)
    run.tags({**environment_tags(), **extra_tags})


# The MLflow context of the file each data option that names one gives.
FILE_CONTEXTS = dict(zip(PATH_OPTIONS, ("all splits", "train", "validation", "test"), strict=True))
# MLflow stores a dataset's digest in at most 36 characters.
MLFLOW_DIGEST_CHARS = 32


def dataset_inputs(data: DictConfig, summary: dict) -> list[tuple[MetaDataset, str]]:
    """The MLflow datasets a run trained and was tested on, with their contexts: each data file
    (named by its stem, its digest the SHA-256 of its bytes, its source its file URI), or
    for generated data the generator (its digest the content hash of the splits)."""
    files = {key: data[key] for key in FILE_CONTEXTS if data.get(key)}
    if not files:
        source = CodeDatasetSource({"seqlab.generator": data.name})
        return [(MetaDataset(source, name=data.name, digest=summary["hash"][:MLFLOW_DIGEST_CHARS]), "all splits")]
    with warnings.catch_warnings():  # MLflow registers its local-file source twice, for "" and "file:"
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
        return [
            (
                MetaDataset(
                    resolve_dataset_source(Path(path).resolve().as_uri()),
                    name=Path(path).stem,
                    digest=file_digest(path)[:MLFLOW_DIGEST_CHARS],
                ),
                FILE_CONTEXTS[key],
            )
            for key, path in files.items()
        ]


def log_dataset(run: RunRecorder, data: DictConfig, summary: dict) -> None:
    """Record the data: ``dataset.*`` params (hash, split sizes), ``dataset.json`` (the full
    ``summarize(splits)``) and the MLflow datasets of ``dataset_inputs``."""
    run.params(
        {
            "dataset.name": data.name,
            "dataset.hash": summary["hash"],
            "dataset.input_kind": summary["input_kind"],
            **{f"dataset.{split}_size": summary[split]["size"] for split in SPLITS},
        }
    )
    run.json(summary, DATASET_ARTIFACT)
    run.datasets(dataset_inputs(data, summary))


def write_model_files(folder: Path, cfg: DictConfig, weights: dict[str, np.ndarray], data: DataSplits) -> list[Path]:
    """Write what a classifier needs (``MODEL_FILES``) into ``folder``: the resolved config,
    ``weights.pkl``, ``labels.json`` (class names by index), ``inputs.json`` (the kind of raw
    inputs: text, symbols or series) and, when the data has them,
    ``vocabulary.json`` (token of each id) and ``normalizer.json``; return their paths.
    ``read_logged_run`` reads them back."""
    contents = {
        CONFIG_ARTIFACT: config_yaml(cfg),
        LABELS_ARTIFACT: json.dumps(list(data.label_names)),
        INPUTS_ARTIFACT: json.dumps({"kind": data.input_kind}),
        VOCABULARY_ARTIFACT: None if data.vocabulary is None else json.dumps(list(data.vocabulary)),
        NORMALIZER_ARTIFACT: None if data.normalizer is None else json.dumps(dataclasses.asdict(data.normalizer)),
    }
    for name, text in contents.items():
        if text is not None:
            (folder / name).write_text(text)
    save_weights(weights, folder / WEIGHTS_ARTIFACT)
    return [folder / name for name in MODEL_FILES if (folder / name).exists()]


class LoggedRun(NamedTuple):
    """What a finished run recorded: its resolved config, weights, class names, the kind of its
    raw inputs (``seqlab.data.dataset.INPUT_KINDS``) and, when its data had them, its vocabulary
    (token of each id) and series normaliser."""

    config: DictConfig
    weights: dict[str, np.ndarray]
    label_names: tuple[str, ...]
    input_kind: str
    vocabulary: tuple[str, ...] | None
    normalizer: Normalizer | None


MODEL_FILES = (
    CONFIG_ARTIFACT,
    WEIGHTS_ARTIFACT,
    LABELS_ARTIFACT,
    INPUTS_ARTIFACT,
    VOCABULARY_ARTIFACT,
    NORMALIZER_ARTIFACT,
)


def _input_kind(folder: Path, config: DictConfig) -> str:
    """The run's input kind from ``inputs.json``; runs logged before that file existed are told
    apart as seqlab used to: no vocabulary means series, a tokenizer setting text."""
    if (folder / INPUTS_ARTIFACT).exists():
        return json.loads((folder / INPUTS_ARTIFACT).read_text())["kind"]
    if not (folder / VOCABULARY_ARTIFACT).exists():
        return "series"
    return "text" if "punctuation" in config.data else "symbols"


def read_logged_run(folder: Path) -> LoggedRun:
    """Read a run's model files (``MODEL_FILES``, the optional ones when present) from ``folder``."""
    vocabulary, normalizer = folder / VOCABULARY_ARTIFACT, folder / NORMALIZER_ARTIFACT
    # On its schema: settings added since the run was logged take their defaults.
    config = logged_config(OmegaConf.load(folder / CONFIG_ARTIFACT), str(folder / CONFIG_ARTIFACT))
    return LoggedRun(
        config=config,
        weights=load_weights(folder / WEIGHTS_ARTIFACT),
        label_names=tuple(json.loads((folder / LABELS_ARTIFACT).read_text())),
        input_kind=_input_kind(folder, config),
        vocabulary=tuple(json.loads(vocabulary.read_text())) if vocabulary.exists() else None,
        normalizer=Normalizer(**json.loads(normalizer.read_text())) if normalizer.exists() else None,
    )


def download_model_files(run_id: str, folder: Path) -> Path:
    """Download run ``run_id``'s model files into ``folder``; return it."""
    logged = {artifact.path for artifact in MlflowClient().list_artifacts(run_id)}
    for name in MODEL_FILES:
        if name in logged:
            mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name, dst_path=str(folder))
    return folder


def load_run(run_id: str) -> LoggedRun:
    """Read back a finished run's model files from the current store."""
    try:
        run = MlflowClient().get_run(run_id)
    except MlflowException as error:
        raise LookupError(f"no run {run_id!r} in {redact(mlflow.get_tracking_uri())}") from error
    if run.info.status != "FINISHED":
        raise LookupError(f"run {run_id} is {run.info.status}, not FINISHED: it has no weights")
    with tempfile.TemporaryDirectory() as tmp:
        return read_logged_run(download_model_files(run_id, Path(tmp)))
