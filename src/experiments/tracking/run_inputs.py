"""What a run records of its inputs: the resolved config (params and ``config.yaml``), the
chosen group options, the installed packages, its tags, and its data (params, ``dataset.json``
and MLflow datasets)."""

import warnings
from pathlib import Path

import pandas as pd
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from omegaconf import DictConfig, OmegaConf

from seqlab.data.identity import PATH_OPTIONS, file_digest
from seqlab.data.raw import SPLITS
from seqlab.experiments.tracking.environment import environment_tags, installed_packages
from seqlab.experiments.tracking.recorder import RunRecorder
from seqlab.experiments.tracking.secrets import redact

CONFIG_ARTIFACT = "config.yaml"
DATASET_ARTIFACT = "dataset.json"
ENVIRONMENT_ARTIFACT = "environment.txt"


def flatten_config(cfg: DictConfig) -> dict[str, object]:
    """Flatten a resolved config to dotted keys: ``{"model.hidden_size": 32, ...}``, with
    credentials in URIs hidden; a section that is not set (a training run's ``study``) is left out."""
    container = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if v is not None}
    flat = pd.json_normalize(container, sep=".").iloc[0].to_dict()
    return {key: redact(value) if isinstance(value, str) else value for key, value in flat.items()}


def config_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML, as runs record it (credentials in URIs hidden)."""
    return redact(OmegaConf.to_yaml(cfg, resolve=True))


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
