"""Recurrent cells: one step of the recurrence, with gate matrices fused.

Every cell sees ``xw_t = x_t W + b`` precomputed for all steps outside the loop (one large matrix
product), the step's mask ``m_t`` (batch,) and its previous states, and returns the new states.
On a padded step (``m_t = 0``) the states are carried over unchanged, so the final state is the
one after the last real step whatever the padding.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytensor.tensor as pt
from pytensor.tensor.math import sigmoid


@dataclass(frozen=True)
class Cell:
    """A cell type: how many gate blocks its matrices hold, how many states it carries, its step.

    ``step(xw_t, m_t, *states, U) -> tuple of new states``; states are (batch, hidden), the first
    is the output ``h``; ``xw_t`` is (batch, num_gates * hidden); ``U`` is (hidden, num_gates * hidden).
    """

    num_gates: int
    num_states: int
    step: Callable


def _carry(m_t, new, old):
    m = m_t[:, None]
    return m * new + (1 - m) * old


def elman_step(activation: Callable) -> Callable:
    """``h_t = activation(x_t W + h_{t-1} U + b)``."""

    def step(xw_t, m_t, h, U):
        return (_carry(m_t, activation(xw_t + h @ U), h),)

    return step


def lstm_step(xw_t, m_t, h, c, U):
    """LSTM with gates in the order input, forget, candidate, output."""
    n = U.shape[0]
    z = xw_t + h @ U
    i, f, o = sigmoid(z[:, :n]), sigmoid(z[:, n : 2 * n]), sigmoid(z[:, 3 * n :])
    c_new = f * c + i * pt.tanh(z[:, 2 * n : 3 * n])
    h_new = o * pt.tanh(c_new)
    return _carry(m_t, h_new, h), _carry(m_t, c_new, c)


def gru_step(xw_t, m_t, h, U):
    """GRU (Cho et al. 2014): gates reset, update, then candidate ``tanh(x W + (r * h) U)``."""
    n = U.shape[0]
    rz = sigmoid(xw_t[:, : 2 * n] + h @ U[:, : 2 * n])
    r, z = rz[:, :n], rz[:, n:]
    candidate = pt.tanh(xw_t[:, 2 * n :] + (r * h) @ U[:, 2 * n :])
    return (_carry(m_t, z * h + (1 - z) * candidate, h),)


def relu(x):
    """max(x, 0)."""
    return pt.maximum(x, 0)


ACTIVATIONS: dict[str, Callable] = {"tanh": pt.tanh, "relu": relu}
CELL_NAMES = ("elman", "lstm", "gru")


def make_cell(name: str, activation: str = "tanh") -> Cell:
    """The cell called ``name`` (one of CELL_NAMES); ``activation`` (ACTIVATIONS) is Elman's."""
    if name == "elman":
        return Cell(num_gates=1, num_states=1, step=elman_step(ACTIVATIONS[activation]))
    if name == "lstm":
        return Cell(num_gates=4, num_states=2, step=lstm_step)
    if name == "gru":
        return Cell(num_gates=3, num_states=1, step=gru_step)
    raise ValueError(f"unknown cell {name!r}; known: {CELL_NAMES}")
