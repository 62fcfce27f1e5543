"""Pooling a sequence over time into one vector per sequence, respecting the mask: the
``Pooling`` block (``model.pooling``: last, mean, max or attention)."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

from seqlab.models.blocks.base import Block

POOLINGS = ("last", "mean", "max", "attention")


def attention_weights(outputs: TensorVariable, mask: TensorVariable, W, b, v) -> TensorVariable:
    """Additive attention over time (Bahdanau et al. 2015): ``a = softmax_t(v · tanh(W h_t + b))``
    over the real steps of each sequence (padded steps get weight 0).

    outputs: (batch, time, features); mask: (batch, time); W: (features, attention); b and v:
    (attention,). Returns the weights (batch, time), each row summing to 1.
    """
    scores = pt.tanh(pt.tensordot(outputs, W, axes=[[2], [0]]) + b) @ v
    scores = pt.where(mask > 0, scores, -pt.inf)
    exp = pt.exp(scores - scores.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def max_over_time(x: TensorVariable, mask: TensorVariable) -> TensorVariable:
    """The maximum of each feature of ``x`` (batch, time, features) over the real steps of
    ``mask`` (batch, time): (batch, features). Its gradient goes to one step per feature (the
    first maximum), as PyTorch's ``max`` does: a repeated n-gram gives two equal windows that
    move together, and a gradient to both would count the feature twice."""
    first = pt.where(mask[:, :, None] > 0, x, -pt.inf).argmax(axis=1)  # (batch, features)
    rows = pt.arange(x.shape[0])[:, None]
    return x[rows, first, pt.arange(x.shape[2])[None, :]]


@dataclass
class Pooling(Block):
    """Reduce a sequence (batch, time, features) to (batch, features) over its real steps.

    'mean' averages and 'max' takes the maximum over real steps (``max_over_time``); 'attention' sums the steps
    weighted by ``attention_weights`` (parameters ``W`` (features, attention_size), ``b`` and
    ``v`` (attention_size,), under the prefix ``att_``); 'last' takes a recurrent layer's state
    after the last real step of each direction, whose outputs stand side by side when
    ``bidirectional`` (the layer carries its state over padded steps, so the forward
    direction's is at the last step and the backward direction's at the first).

    weights: the initialiser of attention's ``W`` and ``v``.
    """

    kind: str
    attention_size: int = 0
    bidirectional: bool = False
    weights: Callable | None = None

    @property
    def prefix(self) -> str:
        return "att_" if self.kind == "attention" else ""

    def init(self, rng, in_features):
        if self.kind != "attention":
            return {}, in_features
        W = self.weights(rng, in_features, self.attention_size)
        b = np.zeros(self.attention_size)
        return {"W": W, "b": b, "v": self.weights(rng, self.attention_size, 1)[:, 0]}, in_features

    def apply(self, params, x, mask, ctx):
        if self.kind == "last" and not self.bidirectional:
            return x[:, -1], None
        if self.kind == "last":
            hidden = x.shape[2] // 2
            return pt.concatenate([x[:, -1, :hidden], x[:, 0, hidden:]], axis=1), None
        m = mask[:, :, None]
        if self.kind == "mean":
            return (x * m).sum(axis=1) / m.sum(axis=1), None
        if self.kind == "max":
            return max_over_time(x, mask), None
        if self.kind == "attention":
            weights = attention_weights(x, mask, params["W"], params["b"], params["v"])
            return (x * weights[:, :, None]).sum(axis=1), None
        raise ValueError(f"unknown pooling {self.kind!r}; known: {POOLINGS}")
