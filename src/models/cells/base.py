"""What a recurrent cell is, and the pieces its implementations share.

A cell sees ``xw_t = x_t W + b`` precomputed for all steps outside the loop (one large matrix
product), the step's mask ``m_t`` (batch,) and its previous states, and returns the new states.
On a padded step (``m_t = 0``) the states are carried over unchanged, so the final state is the
one after the last real step whatever the padding. Gate matrices are fused: ``W`` is (inputs,
gates * hidden), ``U`` (hidden, gates * hidden), ``b`` (gates * hidden,).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class NoOptions:
    """The options of a cell that has none."""


@dataclass(frozen=True)
class Cell:
    """Everything one cell type is; a module per cell defines one (``seqlab.models.cells``).

    name: its ``model`` config option (``model=<name>``); title: its name in messages.
    num_gates: gate blocks in ``W``, ``U`` and ``b``; num_states: states it carries, the first
    being the output ``h``.
    options: a frozen dataclass of the cell's own config fields (``model.<field>``), with their
    defaults and allowed values (``seqlab.fields``); an instance of it reaches every function
    below.
    step: the scan reference, ``step(xw_t, m_t, *states, U, options) -> new states`` on PyTensor
    variables, states (batch, hidden).
    reference_step: plain NumPy, ``reference_step(x_t, *states, W, U, b, options) -> new
    states`` (no mask), written for clarity: what the network is tested against.
    init_bias: ``init_bias(b, hidden, options)`` sets the initial gate biases in ``b`` in place.
    forward, backward: the fused whole-sequence implementation in NumPy (None if the cell has
    none): ``forward(xw, mask, U, options) -> (hs, cache)`` with ``xw`` (time, batch,
    gates * hidden), ``mask`` (time, batch), ``hs`` (time, batch, hidden) and ``cache`` (time,
    batch, cache_width * hidden); ``backward(xw, mask, U, hs, cache, g_hs, options) -> (g_xw,
    g_U)``, backpropagation through time.
    """

    name: str
    title: str
    num_gates: int
    num_states: int
    step: Callable
    reference_step: Callable
    options: type = NoOptions
    init_bias: Callable[[np.ndarray, int, Any], None] = lambda b, hidden, options: None
    forward: Callable | None = None
    backward: Callable | None = None
    cache_width: int = 1

    @property
    def fused(self) -> bool:
        """Whether the cell has a fused implementation (``model.implementation=fused``)."""
        return self.forward is not None and self.backward is not None


def carry(m_t, new, old):
    """Scan steps: ``new`` where the step is real (``m_t`` = 1), ``old`` where it is padding."""
    m = m_t[:, None]
    return m * new + (1 - m) * old


def sigmoid(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out`` = sigmoid(x) as ``0.5 * tanh(0.5 x) + 0.5``: exact, and never overflows."""
    np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def step_masks(mask: np.ndarray) -> list[np.ndarray | None]:
    """Per step of ``mask`` (time, batch): None when every sequence is real there (nothing to
    blend), else the (batch, 1) mask."""
    return [None if m.all() else m[:, None] for m in mask]


def blend(m: np.ndarray | None, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """``new`` where the step is real, ``old`` (carried over) where it is padding."""
    return new if m is None else np.where(m > 0, new, old)


def previous_states(hs: np.ndarray) -> np.ndarray:
    """The state entering each step (time, batch, hidden): zeros, then ``hs[:-1]``."""
    prev = np.zeros_like(hs)
    prev[1:] = hs[:-1]
    return prev


def recurrent_weight_grad(entering: np.ndarray, g_pre: np.ndarray) -> np.ndarray:
    """Sum over steps of ``entering[t].T @ g_pre[t]`` — what multiplied U at a step, times the
    gradient of that product — as one matrix product. Callers pass the steps from the second
    on: the state entering the first is zero."""
    return entering.reshape(-1, entering.shape[-1]).T @ g_pre.reshape(-1, g_pre.shape[-1])


def reference_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), for the NumPy reference steps."""
    return 1 / (1 + np.exp(-x))
