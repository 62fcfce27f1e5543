"""The output layer: class scores from a summary of each sequence (the ``Linear`` block)."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seqlab.models.blocks.base import Block


@dataclass
class Linear(Block):
    """``x W + b`` on a summary (batch, features): ``W`` (features, outputs) from ``weights``,
    ``b`` (outputs,) zeros; outputs (batch, outputs)."""

    outputs: int
    weights: Callable
    prefix: str = "out_"

    def init(self, rng, in_features):
        return {"W": self.weights(rng, in_features, self.outputs), "b": np.zeros(self.outputs)}, self.outputs

    def apply(self, params, x, mask, ctx):
        return x @ params["W"] + params["b"], mask
