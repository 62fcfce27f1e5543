"""The GRU (Cho et al. 2014): gates reset, update, then the candidate, in ``W``, ``U``, ``b``.

    r = σ(xw_r + h_{t-1} U_r);  z = σ(xw_z + h_{t-1} U_z)
    n = tanh(xw_n + (r h_{t-1}) U_n)
    h_t = z h_{t-1} + (1 - z) n

with ``xw = x_t W + b``. The update gate's bias starts at ``model.update_bias``.
"""

from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.math import sigmoid as pt_sigmoid

from seqlab.models.cells.base import (
    Cell,
    blend,
    carry,
    previous_states,
    recurrent_weight_grad,
    reference_sigmoid,
    sigmoid,
    step_masks,
)


@dataclass(frozen=True)
class GRUOptions:
    """``model.update_bias``: the update gate's initial bias."""

    update_bias: float = 1.0  # > 0 keeps the state by default


def init_bias(b, hidden: int, options: GRUOptions) -> None:
    b[hidden : 2 * hidden] = options.update_bias


def step(xw_t, m_t, h, U, options: GRUOptions):
    """Scan reference: one step of the equations above, carried over on padded steps."""
    n = U.shape[0]
    rz = pt_sigmoid(xw_t[:, : 2 * n] + h @ U[:, : 2 * n])
    r, z = rz[:, :n], rz[:, n:]
    candidate = pt.tanh(xw_t[:, 2 * n :] + (r * h) @ U[:, 2 * n :])
    return (carry(m_t, z * h + (1 - z) * candidate, h),)


def reference_step(x, h, W, U, b, options: GRUOptions):
    n = h.shape[1]
    xw = x @ W + b
    r = reference_sigmoid(xw[:, :n] + h @ U[:, :n])
    z = reference_sigmoid(xw[:, n : 2 * n] + h @ U[:, n : 2 * n])
    candidate = np.tanh(xw[:, 2 * n :] + (r * h) @ U[:, 2 * n :])
    return (z * h + (1 - z) * candidate,)


def forward(xw, mask, U, options: GRUOptions):
    """Returns hs (T, B, H) and the cache (T, B, 3H): gates r, z and the candidate n."""
    T, B, H = xw.shape[0], xw.shape[1], U.shape[0]
    U_rz, U_n = np.ascontiguousarray(U[:, : 2 * H]), np.ascontiguousarray(U[:, 2 * H :])
    hs, cache = np.empty((T, B, H), xw.dtype), np.empty((T, B, 3 * H), xw.dtype)
    h = np.zeros((B, H), xw.dtype)
    for t, m in enumerate(step_masks(mask)):
        a = h @ U_rz
        a += xw[t, :, : 2 * H]
        rz = sigmoid(a, out=cache[t, :, : 2 * H])
        r, z = rz[:, :H], rz[:, H:]
        a_n = (r * h) @ U_n
        a_n += xw[t, :, 2 * H :]
        candidate = np.tanh(a_n, out=cache[t, :, 2 * H :])
        h_new = h - candidate
        h_new *= z
        h_new += candidate  # z h + (1 - z) candidate
        h = hs[t] = blend(m, h_new, h)
    return hs, cache


def backward(xw, mask, U, hs, cache, g_hs, options: GRUOptions):
    """Backpropagation through time, from the last step to the first. With ``gh`` the gradient
    reaching ``h_t`` (``g_hs[t]`` plus what step t+1 sends back) and ``m_t`` the mask:

        dh = m_t gh
        da_n = dh (1 - z) (1 - n²);  d(r h) = da_n U_nᵀ
        da_r = d(r h) h_{t-1} r (1 - r);  da_z = dh (h_{t-1} - n) z (1 - z)
        g_xw_t = [da_r, da_z, da_n]
        to h_{t-1}: dh z + d(r h) r + [da_r, da_z] U_rzᵀ  (gh itself where padded)
        g_U_rz = Σ_t h_{t-1}ᵀ [da_r, da_z];  g_U_n = Σ_t (r h_{t-1})ᵀ da_n
    """
    B, H = hs.shape[1], hs.shape[2]
    U_rz_t, U_n_t = np.ascontiguousarray(U[:, : 2 * H].T), np.ascontiguousarray(U[:, 2 * H :].T)
    g_xw = np.empty_like(xw)
    h_prev = previous_states(hs)
    gh = np.zeros((B, H), xw.dtype)
    for t, m in reversed(list(enumerate(step_masks(mask)))):
        gh = gh + g_hs[t]
        r, z, candidate = (cache[t, :, k * H : (k + 1) * H] for k in range(3))
        dh = gh if m is None else gh * m
        da_n = np.multiply(candidate, candidate, out=g_xw[t, :, 2 * H :])
        np.subtract(1, da_n, out=da_n)
        da_n *= 1 - z
        da_n *= dh
        d_rh = da_n @ U_n_t
        da_rz = g_xw[t, :, : 2 * H]
        np.multiply(d_rh, h_prev[t], out=da_rz[:, :H])
        da_rz[:, :H] *= r * (1 - r)
        np.subtract(h_prev[t], candidate, out=da_rz[:, H:])
        da_rz[:, H:] *= dh
        da_rz[:, H:] *= z * (1 - z)
        g_step = dh * z
        g_step += d_rh * r
        g_step += da_rz @ U_rz_t
        gh = blend(m, g_step, gh)
    g_U = np.empty_like(U)
    g_U[:, : 2 * H] = recurrent_weight_grad(hs[:-1], g_xw[1:, :, : 2 * H])
    g_U[:, 2 * H :] = recurrent_weight_grad(cache[1:, :, :H] * hs[:-1], g_xw[1:, :, 2 * H :])
    return g_xw, g_U


CELL = Cell(
    name="gru",
    title="GRU",
    num_gates=3,
    num_states=1,
    options=GRUOptions,
    step=step,
    reference_step=reference_step,
    init_bias=init_bias,
    forward=forward,
    backward=backward,
    cache_width=3,
)
