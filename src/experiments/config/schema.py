"""The structured-config schema behind ``conf/``: the top-level ``Config``, the schema of every
group option, and finding the values that break their rules.

The dataclasses of this package (one module per group) and the option dataclasses of cells and
encoders are the only place defaults are written: the YAML files of ``conf/`` select a schema
and override what differs from it. Hydra merges every YAML file and override into them, so a
wrong type or an unknown key fails while the config is composed. Ranges (a positive size, a
known dtype) are declared next to each field with ``seqlab.fields.checked`` and enforced by
``validate`` before anything compiles; the error names the key, the bad value and where it was
set.
"""

from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from seqlab.experiments.config import data as data_schemas
from seqlab.experiments.config import optimizer as optimizer_schemas
from seqlab.experiments.config.entry_points import ENTRY_POINT_SCHEMAS
from seqlab.experiments.config.model import ModelConfig, model_schemas
from seqlab.experiments.config.study import StudyConfig
from seqlab.experiments.config.tracking import TrackingConfig
from seqlab.experiments.config.trainer import TrainerConfig


@dataclass
class Config:
    data: data_schemas.DataConfig = MISSING
    model: ModelConfig = MISSING
    optimizer: optimizer_schemas.OptimizerConfig = MISSING
    trainer: TrainerConfig = MISSING
    tracking: TrackingConfig = MISSING
    seed: int = 0
    # Set by ``seqlab study`` only (conf/study.yaml); a study's cells are trained without it.
    study: StudyConfig | None = None


GROUP_SCHEMAS = {
    "data/parity": data_schemas.ParityDataConfig,
    "data/majority": data_schemas.MajorityDataConfig,
    "data/first_symbol": data_schemas.FirstSymbolDataConfig,
    "data/reber": data_schemas.ReberDataConfig,
    "data/sines": data_schemas.SinesDataConfig,
    "data/shapes": data_schemas.ShapesDataConfig,
    "data/control_charts": data_schemas.ControlChartsDataConfig,
    "data/sentiment": data_schemas.SentimentDataConfig,
    "data/text_table": data_schemas.TextTableDataConfig,
    "data/archive": data_schemas.ArchiveDataConfig,
    "data/ucr": data_schemas.UcrDataConfig,
    "optimizer/sgd": optimizer_schemas.SGDConfig,
    "optimizer/adagrad": optimizer_schemas.AdagradConfig,
    "optimizer/rmsprop": optimizer_schemas.RMSpropConfig,
    "optimizer/adadelta": optimizer_schemas.AdadeltaConfig,
    "optimizer/adam": optimizer_schemas.AdamConfig,
}


def group_schemas() -> dict[str, type]:
    """The schema of every group option, ``"<group>/<option>"``: the data sources and
    optimisers above, and one per option of the model group (``model_schemas``)."""
    return GROUP_SCHEMAS | {f"model/{name}": schema for name, schema in model_schemas().items()}


def schema_of(group: str, name: str) -> type:
    """The schema of option ``name`` of ``group`` (``adamw`` is Adam's schema)."""
    return group_schemas()[f"{group}/{ {'adamw': 'adam'}.get(name, name) }"]


def register_schemas() -> None:
    """Store the schemas where ``conf/`` refers to them (``defaults: [/schema/<group>/<name>@_here_]``,
    and ``<entry point>_schema`` for predict, compare and reproduce).

    Kept under ``schema/`` so they never show up as choices of the groups themselves.
    """
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    for name, node in group_schemas().items():
        group, _, option = name.rpartition("/")
        store.store(group=f"schema/{group}", name=option, node=node)
    store.store(group="schema/trainer", name="default", node=TrainerConfig)
    store.store(group="schema/tracking", name="default", node=TrackingConfig)
    store.store(group="schema/study", name="default", node=StudyConfig)
    for name, node in ENTRY_POINT_SCHEMAS.items():
        store.store(name=name, node=node)


def _cross_check(node: Any) -> list[tuple[str, Any, str]]:
    return node.cross_check() if hasattr(node, "cross_check") else []


def find_violations(node: Any, prefix: str = "") -> list[tuple[str, Any, str]]:
    """Walk a config object (dataclasses from ``OmegaConf.to_object``).

    Returns ``(dotted key, value, requirement)`` for every field whose rule fails, and for every
    rule across fields (a dataclass's ``cross_check``) that fails.
    """
    found = [(f"{prefix}{key}", value, why) for key, value, why in _cross_check(node)]
    for f in fields(node):
        value = getattr(node, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(value):
            found += find_violations(value, prefix=f"{key}.")
        elif "rule" in f.metadata and not f.metadata["rule"](value):
            found.append((key, value, f.metadata["requirement"]))
    return found
