"""The Elman RNN: ``h_t = φ(x_t W + h_{t-1} U + b)``, φ = tanh or relu (``model.activation``)."""

from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from seqlab.fields import one_of
from seqlab.models.cells.base import Cell, blend, carry, recurrent_weight_grad, step_masks

ACTIVATIONS = {"tanh": pt.tanh, "relu": lambda x: pt.maximum(x, 0)}


@dataclass(frozen=True)
class ElmanOptions:
    """``model.activation``: the nonlinearity φ."""

    activation: str = one_of("tanh", tuple(ACTIVATIONS))  # tanh | relu


def step(xw_t, m_t, h, U, options: ElmanOptions):
    """Scan reference: ``h_t = φ(xw_t + h_{t-1} U)``, carried over on padded steps."""
    return (carry(m_t, ACTIVATIONS[options.activation](xw_t + h @ U), h),)


def reference_step(x, h, W, U, b, options: ElmanOptions):
    z = x @ W + h @ U + b
    return ((np.tanh(z) if options.activation == "tanh" else np.maximum(z, 0)),)


def forward(xw, mask, U, options: ElmanOptions):
    """Returns hs (T, B, H) and the cache (T, B, H): each step's new state before masking,
    ``φ(a_t)`` with ``a_t = xw_t + h_{t-1} U``."""
    T, B, H = xw.shape[0], xw.shape[1], U.shape[0]
    hs, new = np.empty((T, B, H), xw.dtype), np.empty((T, B, H), xw.dtype)
    h = np.zeros((B, H), xw.dtype)
    for t, m in enumerate(step_masks(mask)):
        a = h @ U
        a += xw[t]
        if options.activation == "tanh":
            np.tanh(a, out=new[t])
        else:
            np.maximum(a, 0, out=new[t])
        h = hs[t] = blend(m, new[t], h)
    return hs, new


def backward(xw, mask, U, hs, new, g_hs, options: ElmanOptions):
    """Backpropagation through time, from the last step to the first. With ``g_t`` the gradient
    reaching ``h_t`` (``g_hs[t]`` plus what step t+1 sends back) and ``m_t`` the mask:

        da_t = m_t g_t φ'(a_t)           (φ' = 1 - φ² for tanh, [a_t > 0] for relu)
        g_xw_t = da_t
        to h_{t-1}: da_t Uᵀ + (1 - m_t) g_t
        g_U = Σ_t h_{t-1}ᵀ da_t
    """
    B, H = hs.shape[1], hs.shape[2]
    g_xw, U_t = np.empty_like(xw), np.ascontiguousarray(U.T)
    gh = np.zeros((B, H), xw.dtype)
    for t, m in reversed(list(enumerate(step_masks(mask)))):
        gh = gh + g_hs[t]
        da = g_xw[t]
        if options.activation == "tanh":
            np.multiply(new[t], new[t], out=da)
            np.subtract(1, da, out=da)
        else:
            np.greater(new[t], 0, out=da)
        da *= gh if m is None else gh * m
        gh = blend(m, da @ U_t, gh)
    return g_xw, recurrent_weight_grad(hs[:-1], g_xw[1:])


CELL = Cell(
    name="elman",
    title="Elman RNN",
    num_gates=1,
    num_states=1,
    options=ElmanOptions,
    step=step,
    reference_step=reference_step,
    forward=forward,
    backward=backward,
    cache_width=1,
)
