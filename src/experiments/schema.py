"""The structured-config schema behind ``conf/``: types, defaults and allowed ranges.

Hydra merges every YAML file and override into these dataclasses, so a wrong type or an
unknown key fails while the config is composed. Ranges (a positive size, a known dtype) are
declared next to each field with ``checked`` and enforced by ``validate`` before anything
compiles; the error names the key, the bad value and where it was set.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


def checked(default: Any, rule: Callable[[Any], bool], requirement: str) -> Any:
    """A dataclass field whose value must satisfy ``rule``; ``requirement`` explains it."""
    return field(default=default, metadata={"rule": rule, "requirement": requirement})


def positive(default: Any) -> Any:
    """A dataclass field that must be > 0."""
    return checked(default, lambda v: v > 0, "must be > 0")


def one_of(default: str, choices: tuple[str, ...]) -> Any:
    """A dataclass field that must be one of ``choices``."""
    return checked(default, lambda v: v in choices, f"must be one of {list(choices)}")


@dataclass
class DataConfig:
    """Which generator makes the sequences, and how many go into each split."""

    name: str = MISSING
    train_size: int = positive(2000)
    val_size: int = positive(500)
    test_size: int = positive(500)
    seed: int = 0


@dataclass
class ParityDataConfig(DataConfig):
    name: str = one_of("parity", ("parity",))
    length: int = positive(8)


@dataclass
class ModelConfig:
    name: str = MISSING
    hidden_size: int = positive(32)


@dataclass
class ElmanModelConfig(ModelConfig):
    name: str = one_of("elman", ("elman",))
    init_std: float = positive(0.5)


@dataclass
class OptimizerConfig:
    name: str = one_of("sgd", ("sgd",))
    lr: float = positive(0.05)


@dataclass
class TrainerConfig:
    epochs: int = positive(60)
    batch_size: int = positive(16)
    eval_batch_size: int = positive(500)
    dtype: str = one_of("float32", ("float32", "float64"))
    progress: bool = True


@dataclass
class TrackingConfig:
    """Where runs are recorded. ``uri: null`` is the embedded store ``runs/mlflow.db``."""

    uri: str | None = None
    artifact_root: str | None = None
    experiment_name: str = "seqlab"
    run_name: str | None = None


@dataclass
class Config:
    data: DataConfig = MISSING
    model: ModelConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    trainer: TrainerConfig = MISSING
    tracking: TrackingConfig = MISSING
    seed: int = 0


def register_schemas() -> None:
    """Store the schemas where ``conf/`` refers to them (``defaults: [/schema/<group>/<name>@_here_]``).

    Kept under ``schema/`` so they never show up as choices of the groups themselves.
    """
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    store.store(group="schema/data", name="parity", node=ParityDataConfig)
    store.store(group="schema/model", name="elman", node=ElmanModelConfig)
    store.store(group="schema/optimizer", name="sgd", node=OptimizerConfig)
    store.store(group="schema/trainer", name="default", node=TrainerConfig)
    store.store(group="schema/tracking", name="default", node=TrackingConfig)


def find_violations(node: Any, prefix: str = "") -> list[tuple[str, Any, str]]:
    """Walk a config object (dataclasses from ``OmegaConf.to_object``).

    Returns ``(dotted key, value, requirement)`` for every field whose rule fails.
    """
    found = []
    for f in fields(node):
        value = getattr(node, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(value):
            found += find_violations(value, prefix=f"{key}.")
        elif "rule" in f.metadata and not f.metadata["rule"](value):
            found.append((key, value, f.metadata["requirement"]))
    return found


@dataclass
class PredictConfig:
    """``python -m src.experiments.predict run_id=<id>``: classify a split of a run's data."""

    run_id: str = MISSING
    split: str = one_of("test", ("train", "validation", "test"))
    batch_size: int = positive(500)
    output: str | None = None
    tracking: TrackingConfig = MISSING


def register_predict_schema() -> None:
    """Store the predict entry point's schema as ``predict_schema``."""
    ConfigStore.instance().store(name="predict_schema", node=PredictConfig)
