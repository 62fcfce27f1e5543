"""A finished run's model files: written at the end of training, logged with the run, and
read back (``LoggedRun``) by predict, reproduce and the MLflow model."""

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import NamedTuple

import mlflow
import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from seqlab.data.dataset import DataSplits
from seqlab.data.normalize import Normalizer
from seqlab.experiments.config.validation import logged_config
from seqlab.experiments.tracking.run_inputs import CONFIG_ARTIFACT, config_yaml
from seqlab.experiments.tracking.secrets import redact
from seqlab.models.weights import load_weights, save_weights

WEIGHTS_ARTIFACT = "weights.safetensors"
OLD_WEIGHTS_ARTIFACT = "weights.pkl"  # logged before safetensors
LABELS_ARTIFACT = "labels.json"
INPUTS_ARTIFACT = "inputs.json"
VOCABULARY_ARTIFACT = "vocabulary.json"
NORMALIZER_ARTIFACT = "normalizer.json"


def write_model_files(folder: Path, cfg: DictConfig, weights: dict[str, np.ndarray], data: DataSplits) -> list[Path]:
    """Write what a classifier needs (``MODEL_FILES``) into ``folder``: the resolved config,
    ``weights.safetensors``, ``labels.json`` (class names by index), ``inputs.json`` (the kind of raw
    inputs: text, symbols or series, and the features per step of a series) and, when the data has them,
    ``vocabulary.json`` (token of each id) and ``normalizer.json``; return their paths.
    ``read_logged_run`` reads them back."""
    contents = {
        CONFIG_ARTIFACT: config_yaml(cfg),
        LABELS_ARTIFACT: json.dumps(list(data.label_names)),
        INPUTS_ARTIFACT: json.dumps({"kind": data.input_kind, "features": data.num_features}),
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
    raw inputs (``seqlab.data.dataset.INPUT_KINDS``), the features per step of its series (None
    for tokens) and, when its data had them, its vocabulary (token of each id) and series
    normaliser."""

    config: DictConfig
    weights: dict[str, np.ndarray]
    label_names: tuple[str, ...]
    input_kind: str
    input_features: int | None
    vocabulary: tuple[str, ...] | None
    normalizer: Normalizer | None


MODEL_FILES = (
    CONFIG_ARTIFACT,
    WEIGHTS_ARTIFACT,
    OLD_WEIGHTS_ARTIFACT,
    LABELS_ARTIFACT,
    INPUTS_ARTIFACT,
    VOCABULARY_ARTIFACT,
    NORMALIZER_ARTIFACT,
)


def _inputs(folder: Path, config: DictConfig, weights: dict[str, np.ndarray]) -> tuple[str, int | None]:
    """The run's input kind and features per step from ``inputs.json``. Runs logged before
    that file existed are told apart as seqlab used to (no vocabulary means series, a tokenizer
    setting text), and runs logged before it held the features, all recurrent, read them from
    the weights of their first layer: a convolution's (kernel * features, filters) or a
    recurrent layer's (features, gates * hidden)."""
    described = json.loads((folder / INPUTS_ARTIFACT).read_text()) if (folder / INPUTS_ARTIFACT).exists() else {}
    if "kind" in described:
        kind = described["kind"]
    elif not (folder / VOCABULARY_ARTIFACT).exists():
        kind = "series"
    else:
        kind = "text" if "punctuation" in config.data else "symbols"
    if "features" in described or kind != "series":
        return kind, described.get("features")
    if "conv0_W" in weights:
        return kind, weights["conv0_W"].shape[0] // config.model.conv.kernels[0]
    return kind, weights["rnn0_fwd_W"].shape[0]


def read_logged_run(folder: Path) -> LoggedRun:
    """Read a run's model files (``MODEL_FILES``, the optional ones when present) from ``folder``."""
    vocabulary, normalizer = folder / VOCABULARY_ARTIFACT, folder / NORMALIZER_ARTIFACT
    # On its schema: settings added since the run was logged take their defaults.
    config = logged_config(OmegaConf.load(folder / CONFIG_ARTIFACT), str(folder / CONFIG_ARTIFACT))
    weights_file = folder / WEIGHTS_ARTIFACT
    weights = load_weights(weights_file if weights_file.exists() else folder / OLD_WEIGHTS_ARTIFACT)
    input_kind, input_features = _inputs(folder, config, weights)
    return LoggedRun(
        config=config,
        weights=weights,
        label_names=tuple(json.loads((folder / LABELS_ARTIFACT).read_text())),
        input_kind=input_kind,
        input_features=input_features,
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
