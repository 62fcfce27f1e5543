"""The schemas of ``conf/model``, derived from the registries: one option per registered cell
for an encoder that uses cells (``model=elman|lstm|gru``: the recurrent encoder) and one per
other encoder (``model=fcn|resnet``).

A schema's fields are ``ModelConfig``'s, the network's (``seqlab.models.network.NetworkOptions``),
the encoder's options and, with a cell, the cell's options, each with the defaults and rules
written where it is defined; an option dataclass nested in them is a sub-config
(``model.conv.filters``).
"""

import copy
import dataclasses
from dataclasses import dataclass, field, fields, make_dataclass
from functools import cache
from typing import Any

from omegaconf import MISSING

from seqlab.fields import checked
from seqlab.models.cells import CELLS
from seqlab.models.cells.base import Cell
from seqlab.models.encoders import ENCODERS
from seqlab.models.encoders.base import Encoder
from seqlab.models.network import NetworkOptions


@dataclass
class ModelConfig:
    """What every option of the model group has besides its network's fields."""

    name: str = MISSING  # the option of the model group (model=<name>)
    encoder: str = MISSING  # the registered encoder it builds (seqlab.models.encoders)
    # Start the embedding from pretrained word vectors: a GloVe/word2vec text file, or a .npy
    # (words, dim) matrix with its words one per line in <stem>.vocab beside it (no download).
    embedding_vectors: str | None = None
    embedding_freeze: bool = False  # keep the embedding as initialised (pretrained) while training

    def cross_check(self) -> list[tuple[str, Any, str]]:
        """The encoder's and the cell's rules across fields, and the network's own."""
        found = []
        rates = ["input_dropout", *(["dropout"] if hasattr(self, "dropout") else [])]  # dropout: between layers
        if self.variational_dropout and all(getattr(self, rate) == 0 for rate in rates):
            masks = " and ".join(f"model.{rate}" for rate in rates)
            found.append(("variational_dropout", True, f"shapes the masks of {masks}, which are all 0"))
        if self.embedding_vectors is not None and self.embedding_dim is None:
            found.append(("embedding_vectors", self.embedding_vectors, "needs model.embedding_dim (the vectors' size)"))
        if self.name not in model_options():  # the name field's own rule says so
            return found
        encoder, cell = model_options()[self.name]
        if hasattr(encoder.options, "cross_check"):
            found += encoder.options.cross_check(self)
        if cell is not None and self.implementation == "fused" and not cell.fused:
            found.append(
                (
                    "implementation",
                    self.implementation,
                    f"the {cell.title} cell has no fused implementation; use model.implementation=scan",
                )
            )
        return found


def model_options() -> dict[str, tuple[Encoder, Cell | None]]:
    """Every option of the model group: its encoder and, for an encoder that uses cells, its cell."""
    options: dict[str, tuple[Encoder, Cell | None]] = {}
    for encoder in ENCODERS.values():
        if encoder.uses_cell:
            options |= {cell.name: (encoder, cell) for cell in CELLS.values()}
        else:
            options[encoder.name] = (encoder, None)
    return options


def _schema_field(f: dataclasses.Field) -> tuple[str, Any, Any]:
    """A field of an option dataclass as a schema field; a nested option dataclass becomes its
    own (mutable) schema, with the nested defaults."""
    if dataclasses.is_dataclass(f.type):
        schema = config_schema(f.type)
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.type()
        values = {g.name: getattr(default, g.name) for g in fields(default)}
        return f.name, schema, field(default_factory=lambda: schema(**copy.deepcopy(values)))
    if f.default_factory is not dataclasses.MISSING:
        return f.name, f.type, field(default_factory=f.default_factory, metadata=f.metadata)
    return f.name, f.type, field(default=f.default, metadata=f.metadata)


@cache
def config_schema(options: type) -> type:
    """A mutable copy of the frozen option dataclass ``options`` (OmegaConf makes a frozen
    dataclass read-only), with its rules and its ``cross_check``."""
    namespace = {"cross_check": options.cross_check} if hasattr(options, "cross_check") else {}
    fields_ = [_schema_field(f) for f in fields(options)]
    return _made_here(make_dataclass(f"{options.__name__}Config", fields_, namespace=namespace))


def _option_names(options: dict[str, tuple[Encoder, Cell | None]]) -> str:
    """``model=<elman|lstm|gru> (recurrent) or model=<fcn|resnet>``: the options, by kind."""
    with_cells = [name for name, (_, cell) in options.items() if cell is not None]
    others = [name for name, (_, cell) in options.items() if cell is None]
    kinds = [f"model=<{'|'.join(with_cells)}>", f"model=<{'|'.join(others)}>"]
    return " (recurrent) or ".join(kind for kind in kinds if not kind.endswith("<>"))


@cache
def model_schema(encoder: Encoder, cell: Cell | None = None) -> type:
    """The schema of ``model=<cell.name>`` (with a cell) or ``model=<encoder.name>``."""
    option = cell.name if cell is not None else encoder.name
    own = [encoder.options, *([cell.options] if cell is not None else [])]
    requirement = f"must be {option!r}; choose another with {_option_names(model_options())}"
    fixed = [
        ("name", str, checked(option, lambda v: v == option, requirement)),
        (
            "encoder",
            str,
            checked(encoder.name, lambda v: v == encoder.name, f"must be {encoder.name!r} (model={option})"),
        ),
    ]
    added = [_schema_field(f) for options in (NetworkOptions, *own) for f in fields(options)]
    title = (cell.title if cell is not None else encoder.title).split()[0]
    return _made_here(make_dataclass(f"{title}ModelConfig", [*fixed, *added], bases=(ModelConfig,)))


# The schemas made at run time, by class name (``_made_here``).
_MADE: dict[str, type] = {}


def _made_here(schema: type) -> type:
    """``schema``, a dataclass made at run time, as a class of this module, which
    ``__getattr__`` finds by its name: pickle then sends it by reference. (submitit pickles a
    job's config; cloudpickle < 3, which hydra-ray-launcher requires, loses the fields of a
    dataclass it pickles by value.)"""
    schema.__module__ = __name__
    _MADE[schema.__qualname__] = schema
    return schema


def __getattr__(name: str) -> type:
    """A schema made at run time (``model_schema``, ``config_schema``), by its class name: how
    pickle finds one in a new process."""
    model_schemas()
    if name in _MADE:
        return _MADE[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def model_schemas() -> dict[str, type]:
    """The schema of every option of the model group, by option."""
    return {option: model_schema(encoder, cell) for option, (encoder, cell) in model_options().items()}
