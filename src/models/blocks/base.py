"""The block protocol, and the blocks that hold other blocks.

Between blocks a batch is ``x`` (batch, time, features) with ``mask`` (batch, time), 1 on real
steps (padding at the end); a block that pools over time returns ``x`` (batch, features) and
``mask`` None. Parameters are NumPy arrays at ``init`` and PyTensor shared variables at
``apply``, by the block's local names; the full name of a parameter is its block's ``prefix``
followed by its local name (a container's prefix comes first), e.g. ``conv`` + ``0_W``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytensor.tensor as pt

from seqlab.models.dropout import Dropout


@dataclass
class Context:
    """What a graph may depend on beyond a block's own parameters and inputs.

    dropout: the network's dropout (training graphs only), or None.
    updates: for a training graph a list that blocks append ``(shared, new value)`` updates of
    their running statistics to, using the batch's statistics; None (evaluation) uses the
    running statistics.
    """

    dropout: Dropout | None = None
    updates: list | None = None


class Block:
    """One piece of a network (subclasses set ``prefix`` and implement ``init`` and ``apply``).

    running_stats: local names of parameters that training sets from batch statistics, not
    from gradients; dropout: the rate of each dropout place the block draws at
    (``seqlab.models.dropout.PLACES``); constraints: by local name, a projection that training
    applies to a parameter's value after each optimiser step (``new value -> constrained``, a
    PyTensor expression).
    """

    prefix: str = ""
    running_stats: tuple[str, ...] = ()

    @property
    def constraints(self) -> dict[str, Any]:
        return {}

    @property
    def dropout(self) -> dict[str, float]:
        return {}

    def init(self, rng: np.random.Generator, in_features: int) -> tuple[dict[str, np.ndarray], int]:
        """Seeded float64 parameters by local name, and the features per step (or per sequence,
        after pooling) of the outputs, for inputs of ``in_features``."""
        raise NotImplementedError

    def shapes(self, in_features: int) -> tuple[dict[str, tuple[int, ...]], int]:
        """What ``init`` returns, as shapes: the shape of each parameter by local name, and the
        outputs' features (``seqlab.models.network.memory_estimate`` sizes a model with them
        before it is built). By default read from ``init`` itself; a block whose parameters
        can be large says them without allocating anything."""
        params, out_features = self.init(np.random.default_rng(0), in_features)
        return {name: value.shape for name, value in params.items()}, out_features

    def apply(self, params: Mapping[str, Any], x, mask, ctx: Context) -> tuple[Any, Any]:
        """The outputs and their mask for ``x`` and ``mask``, with ``params`` by local name."""
        raise NotImplementedError


def own(params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The entries of ``params`` whose name starts with ``prefix``, by the rest of the name."""
    return {name[len(prefix) :]: value for name, value in params.items() if name.startswith(prefix)}


def prefixed(block: "Block", params: Mapping[str, Any]) -> dict[str, Any]:
    """``block``'s ``params`` by local name, under their full names (its prefix first)."""
    return {f"{block.prefix}{name}": value for name, value in params.items()}


@dataclass
class Drop(Block):
    """Dropout at ``place`` (no parameters): ``input`` on the sequence, ``output`` on the summary."""

    place: str
    rate: float

    @property
    def dropout(self) -> dict[str, float]:
        return {self.place: self.rate} if self.rate > 0 else {}

    def init(self, rng, in_features):
        return {}, in_features

    def apply(self, params, x, mask, ctx):
        if ctx.dropout is None:
            return x, mask
        return ctx.dropout(x, self.place, time_axis=1 if mask is not None else None), mask


@dataclass
class Sequential(Block):
    """``blocks`` one after the other, each block's parameters under ``prefix`` + its prefix."""

    blocks: list[Block]
    prefix: str = ""

    @property
    def running_stats(self) -> tuple[str, ...]:
        return tuple(f"{b.prefix}{name}" for b in self.blocks for name in b.running_stats)

    @property
    def dropout(self) -> dict[str, float]:
        return {place: rate for b in self.blocks for place, rate in b.dropout.items()}

    @property
    def constraints(self) -> dict[str, Any]:
        return {name: project for b in self.blocks for name, project in prefixed(b, b.constraints).items()}

    def init(self, rng, in_features):
        params: dict[str, np.ndarray] = {}
        for block in self.blocks:
            own_params, in_features = block.init(rng, in_features)
            params |= prefixed(block, own_params)
        return params, in_features

    def shapes(self, in_features):
        shapes: dict[str, tuple[int, ...]] = {}
        for block in self.blocks:
            own_shapes, in_features = block.shapes(in_features)
            shapes |= prefixed(block, own_shapes)
        return shapes, in_features

    def apply(self, params, x, mask, ctx):
        for block in self.blocks:
            x, mask = block.apply(own(params, block.prefix), x, mask, ctx)
        return x, mask


@dataclass
class Parallel(Sequential):
    """``blocks`` each on the same inputs, each pooling over time; their summaries (batch,
    features) side by side, in order (the LSTM-FCN layout, Karim et al. 2018)."""

    def init(self, rng, in_features):
        params: dict[str, np.ndarray] = {}
        total = 0
        for block in self.blocks:
            own_params, out_features = block.init(rng, in_features)
            params |= prefixed(block, own_params)
            total += out_features
        return params, total

    def shapes(self, in_features):
        shapes: dict[str, tuple[int, ...]] = {}
        total = 0
        for block in self.blocks:
            own_shapes, out_features = block.shapes(in_features)
            shapes |= prefixed(block, own_shapes)
            total += out_features
        return shapes, total

    def apply(self, params, x, mask, ctx):
        summaries = [block.apply(own(params, block.prefix), x, mask, ctx)[0] for block in self.blocks]
        return pt.concatenate(summaries, axis=1), None


def path(*blocks: Block) -> Sequential:
    """Blocks in sequence whose parameters keep their own prefixes (a branch of ``Parallel``)."""
    return Sequential(list(blocks))
