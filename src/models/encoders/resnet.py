"""The residual network for series (``model=resnet``; Wang et al. 2017): residual blocks of
three convolutions each (Conv1D → batch norm, a ReLU after the first two), the block's input
added before the last ReLU, and the mean over the real steps before the output layer.

    block(x) = ReLU(BN(conv(ReLU(BN(conv(ReLU(BN(conv(x))))))) + shortcut(x))

The shortcut is ``x`` itself where the channels stay, else a 1×1 convolution (``skip``, no
bias; Wang et al. also batch-normalise it). Their kernels are 8, 5 and 3; seqlab's 'same'
convolutions centre odd kernels, so the default is 7, 5, 3.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytensor.tensor as pt

from seqlab.fields import counts, in_range
from seqlab.models.blocks.base import Block, own
from seqlab.models.blocks.conv import conv_norm, conv_norm_shapes, init_conv_norm, running_stats
from seqlab.models.blocks.pooling import Pooling
from seqlab.models.encoders.base import Encoder


@dataclass(frozen=True)
class ResidualOptions:
    """The residual blocks: one per entry of ``filters``, each with a convolution per entry of
    ``kernels``."""

    filters: list[int] = counts((64, 128, 128))
    kernels: list[int] = counts((7, 5, 3), odd=True)
    momentum: float = in_range(0.1, 0.0, 1.0, closed_high=True)  # of batch norm's running statistics

    def cross_check(self) -> list[tuple[str, Any, str]]:
        """At least one block, of at least one convolution."""
        return [(key, [], "needs at least one entry") for key in ("filters", "kernels") if not getattr(self, key)]


@dataclass(frozen=True)
class ResNetOptions:
    """``model.*`` of the ResNet encoder."""

    conv: ResidualOptions = field(default_factory=ResidualOptions)


@dataclass
class ResidualBlock(Block):
    """One residual block of ``filters`` channels: a convolution per kernel (parameters
    ``conv{j}_*`` as in ``seqlab.models.blocks.conv.conv_norm``), and ``skip`` (channels,
    filters) where the channels change. Outputs (batch, time, filters), the mask unchanged."""

    filters: int
    kernels: tuple[int, ...]
    momentum: float
    weights: Callable
    prefix: str = "res0_"

    @property
    def running_stats(self) -> tuple[str, ...]:
        return tuple(f"conv{name}" for name in running_stats(len(self.kernels)))

    def init(self, rng, in_features):
        convs: dict[str, np.ndarray] = {}
        channels = in_features
        for j, kernel in enumerate(self.kernels):
            init_conv_norm(convs, rng, j, channels, self.filters, kernel, self.weights)
            channels = self.filters
        params = {f"conv{name}": value for name, value in convs.items()}
        if in_features != self.filters:
            params["skip"] = self.weights(rng, in_features, self.filters)
        return params, self.filters

    def shapes(self, in_features):
        convs: dict[str, tuple[int, ...]] = {}
        channels = in_features
        for j, kernel in enumerate(self.kernels):
            convs |= conv_norm_shapes(j, channels, self.filters, kernel)
            channels = self.filters
        shapes = {f"conv{name}": shape for name, shape in convs.items()}
        if in_features != self.filters:
            shapes["skip"] = (in_features, self.filters)
        return shapes, self.filters

    def apply(self, params, x, mask, ctx):
        convs, y = own(params, "conv"), x
        shortcut = pt.tensordot(x, params["skip"], axes=[[2], [0]]) if "skip" in params else x
        for j, kernel in enumerate(self.kernels):
            last = j == len(self.kernels) - 1  # adds the shortcut before its ReLU, inside its Op
            y, _ = conv_norm(convs, j, y, mask, kernel, 1, 1, self.momentum, ctx.updates, shortcut if last else None)
        return y, mask


def blocks(spec) -> list:
    """The residual blocks and the mean over time."""
    o: ResidualOptions = spec.options.conv
    residual = [
        ResidualBlock(filters, tuple(o.kernels), o.momentum, spec.input_weights, prefix=f"res{i}_")
        for i, filters in enumerate(o.filters)
    ]
    return [*residual, Pooling("mean")]


ENCODER = Encoder(name="resnet", title="ResNet", blocks=blocks, options=ResNetOptions)
