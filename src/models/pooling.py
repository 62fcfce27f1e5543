"""Pooling a layer's outputs over time into one vector per sequence, respecting the mask."""

import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

POOLINGS = ("last", "mean", "max")


def pool(outputs: TensorVariable, mask: TensorVariable, last: TensorVariable, pooling: str) -> TensorVariable:
    """Reduce ``outputs`` (time, batch, features) to (batch, features).

    mask: (time, batch), 1 on real steps. ``last`` is the state after each sequence's last real
    step (for a bidirectional layer, forward and backward final states side by side), used by
    ``pooling='last'``; 'mean' averages and 'max' takes the maximum over real steps only.
    """
    if pooling == "last":
        return last
    m = mask[:, :, None]
    if pooling == "mean":
        return (outputs * m).sum(axis=0) / m.sum(axis=0)
    if pooling == "max":
        return pt.where(m > 0, outputs, -pt.inf).max(axis=0)
    raise ValueError(f"unknown pooling {pooling!r}; known: {POOLINGS}")
