"""The convolutional sentence encoder of Kim (2014) (``model=cnn``): for each filter width, a
wide convolution over the embedded words (``filters`` feature maps, ReLU) and the maximum of
each map over the sentence (max-over-time pooling); the maps of every width side by side.

Kim's CNN-rand: widths 3, 4, 5 with 100 maps each, dropout 0.5 on the pooled features
(``model.output_dropout``), a max-norm of 3 on the output weights (``model.max_norm``),
embeddings of 300 learned from scratch. Each sentence is zero-padded by ``width - 1`` steps on
both sides (a wide convolution: every word is seen at every position of a window), so a
sentence shorter than a filter still has features.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from seqlab.fields import counts, positive
from seqlab.models.blocks.base import Block, Parallel, path
from seqlab.models.blocks.conv import conv1d
from seqlab.models.blocks.pooling import Pooling
from seqlab.models.encoders.base import Encoder


@dataclass(frozen=True)
class CNNOptions:
    """``model.*`` of the sentence CNN."""

    filters: int = positive(100)  # feature maps per width
    widths: list[int] = counts((3, 4, 5))  # one convolution per width, in words

    def cross_check(self) -> list:
        """A CNN needs at least one width, each once."""
        if not self.widths:
            return [("widths", self.widths, "needs at least one filter width")]
        if len(set(self.widths)) != len(self.widths):
            return [("widths", self.widths, "must differ: one convolution per width")]
        return []


@dataclass
class WideConv(Block):
    """ReLU of a wide convolution (``conv1d(..., wide=True)``) with ``filters`` maps of
    ``width`` steps: (batch, time, features) -> (batch, time + width - 1, filters) and its mask.
    Parameters ``W`` (width * features, filters) from ``weights`` and ``b`` (filters,)."""

    width: int
    filters: int
    weights: Callable
    prefix: str = ""

    def init(self, rng, in_features):
        return {
            "W": self.weights(rng, self.width * in_features, self.filters),
            "b": np.zeros(self.filters),
        }, self.filters

    def apply(self, params, x, mask, ctx):
        y, out_mask = conv1d(x, mask, params["W"], params["b"], self.width, wide=True)
        return pt.maximum(y, 0), out_mask


def blocks(spec) -> list:
    """One branch per width: its wide convolution and the maximum over time."""
    o = spec.options
    branches = [
        path(WideConv(width, o.filters, spec.input_weights, prefix=f"cnn{width}_"), Pooling("max"))
        for width in o.widths
    ]
    return [Parallel(branches)]


ENCODER = Encoder(name="cnn", title="CNN", blocks=blocks, options=CNNOptions)
