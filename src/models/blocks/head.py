"""The output layer: class scores from a summary of each sequence (the ``Linear`` block)."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from seqlab.models.blocks.base import Block


def max_norm(W, limit: float):
    """``W`` (features, outputs) with each column (the weights of one output) rescaled to an l2
    norm of ``limit`` where it is longer, and unchanged where it is not (the max-norm constraint
    of Srivastava et al. 2014, on the output layer as in Kim 2014):
    ``w_j <- w_j * min(1, limit / ||w_j||)``."""
    norms = pt.sqrt((W**2).sum(axis=0))
    return W * pt.where(norms > limit, limit / norms, 1).astype(W.dtype)


def relu(x):
    """max(``x``, 0), element-wise: the activation of a hidden ``Linear``."""
    return pt.maximum(x, 0)


@dataclass
class Linear(Block):
    """``x W + b`` on a summary (batch, features): ``W`` (features, outputs) from ``weights``,
    ``b`` (outputs,) zeros; outputs (batch, outputs), through ``activation`` when given (a
    hidden layer). With ``max_norm``, training keeps each column of ``W`` within that l2 norm
    (``max_norm``)."""

    outputs: int
    weights: Callable
    max_norm: float | None = None
    prefix: str = "out_"
    activation: Callable | None = None

    @property
    def constraints(self):
        return {} if self.max_norm is None else {"W": lambda W: max_norm(W, self.max_norm)}

    def init(self, rng, in_features):
        return {"W": self.weights(rng, in_features, self.outputs), "b": np.zeros(self.outputs)}, self.outputs

    def apply(self, params, x, mask, ctx):
        y = x @ params["W"] + params["b"]
        return (y if self.activation is None else self.activation(y)), mask
