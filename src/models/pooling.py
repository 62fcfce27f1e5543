"""Pooling a layer's outputs over time into one vector per sequence, respecting the mask."""

import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

POOLINGS = ("last", "mean", "max", "attention")


def attention_weights(outputs: TensorVariable, mask: TensorVariable, W, b, v) -> TensorVariable:
    """Additive attention over time (Bahdanau et al. 2015): ``a = softmax_t(v · tanh(W h_t + b))``
    over the real steps of each sequence (padded steps get weight 0).

    outputs: (time, batch, features); mask: (time, batch); W: (features, attention); b and v:
    (attention,). Returns the weights (time, batch), each column summing to 1.
    """
    scores = pt.tanh(pt.tensordot(outputs, W, axes=[[2], [0]]) + b) @ v
    scores = pt.where(mask > 0, scores, -pt.inf)
    exp = pt.exp(scores - scores.max(axis=0, keepdims=True))
    return exp / exp.sum(axis=0, keepdims=True)


def pool(
    outputs: TensorVariable,
    mask: TensorVariable,
    last: TensorVariable,
    pooling: str,
    attention: tuple[TensorVariable, TensorVariable, TensorVariable] | None = None,
) -> TensorVariable:
    """Reduce ``outputs`` (time, batch, features) to (batch, features).

    mask: (time, batch), 1 on real steps. ``last`` is the state after each sequence's last real
    step (for a bidirectional layer, forward and backward final states side by side), used by
    ``pooling='last'``; 'mean' averages and 'max' takes the maximum over real steps only;
    'attention' sums the steps weighted by ``attention_weights`` with ``attention`` = (W, b, v).
    """
    if pooling == "last":
        return last
    m = mask[:, :, None]
    if pooling == "mean":
        return (outputs * m).sum(axis=0) / m.sum(axis=0)
    if pooling == "max":
        return pt.where(m > 0, outputs, -pt.inf).max(axis=0)
    if pooling == "attention":
        return (outputs * attention_weights(outputs, mask, *attention)[:, :, None]).sum(axis=0)
    raise ValueError(f"unknown pooling {pooling!r}; known: {POOLINGS}")
