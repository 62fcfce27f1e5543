"""The LSTM: gates input, forget, candidate, output in that order in ``W``, ``U`` and ``b``.

    z_t = x_t W + h_{t-1} U + b
    i, f, o = σ(z_i), σ(z_f), σ(z_o);  g = tanh(z_g)
    c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)

The forget gate's bias starts at ``model.forget_bias`` (Jozefowicz et al. 2015). In float32 the
fused path runs compiled kernels (:mod:`seqlab.models.cells.lstm_kernels`): the whole time loop
where NumPy's BLAS allows, else the per-step gate maths; both are tested against the float64
NumPy steps below.
"""

from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.math import sigmoid as pt_sigmoid

from seqlab.models.cells.base import (
    Cell,
    blend,
    carry,
    recurrent_weight_grad,
    reference_sigmoid,
    sigmoid,
    step_masks,
)


@dataclass(frozen=True)
class LSTMOptions:
    """``model.forget_bias``: the forget gate's initial bias."""

    forget_bias: float = 1.0  # Jozefowicz et al. 2015


def init_bias(b, hidden: int, options: LSTMOptions) -> None:
    b[hidden : 2 * hidden] = options.forget_bias


def step(xw_t, m_t, h, c, U, options: LSTMOptions):
    """Scan reference: one step of the equations above, carried over on padded steps."""
    n = U.shape[0]
    z = xw_t + h @ U
    i, f, o = pt_sigmoid(z[:, :n]), pt_sigmoid(z[:, n : 2 * n]), pt_sigmoid(z[:, 3 * n :])
    c_new = f * c + i * pt.tanh(z[:, 2 * n : 3 * n])
    h_new = o * pt.tanh(c_new)
    return carry(m_t, h_new, h), carry(m_t, c_new, c)


def reference_step(x, h, c, W, U, b, options: LSTMOptions):
    n = h.shape[1]
    z = x @ W + h @ U + b
    i, f, o = reference_sigmoid(z[:, :n]), reference_sigmoid(z[:, n : 2 * n]), reference_sigmoid(z[:, 3 * n :])
    c = f * c + i * np.tanh(z[:, 2 * n : 3 * n])
    return o * np.tanh(c), c


def forward_step(z, xw, prev_cache, h_prev, m, cache, h):
    """One step in NumPy: ``z`` (batch, 4H) = h_prev @ U (overwritten), ``xw`` (batch, 4H) the
    input projection, ``prev_cache`` the previous step's cache (zeros at the first), ``m``
    (batch,) the mask. Writes ``cache`` (batch, 6H) — gates i, f, g, o, the (masked) new cell
    state and tanh of the unmasked one — and ``h`` (batch, H)."""
    H = h.shape[1]
    z += xw
    gates = sigmoid(z, out=cache[:, : 4 * H])
    np.tanh(z[:, 2 * H : 3 * H], out=gates[:, 2 * H : 3 * H])
    i, f, g, o = (gates[:, k * H : (k + 1) * H] for k in range(4))
    c_prev, c = prev_cache[:, 4 * H : 5 * H], cache[:, 4 * H : 5 * H]
    np.multiply(f, c_prev, out=c)
    c += i * g
    np.multiply(o, np.tanh(c, out=cache[:, 5 * H :]), out=h)
    padded = m <= 0
    if padded.any():
        c[padded], h[padded] = c_prev[padded], h_prev[padded]


def backward_step(gh, g_h, gc, cache, prev_cache, m, dz):
    """One step back in NumPy: adds ``g_h`` (batch, H) to ``gh``, the gradient flowing into
    this step's state; writes ``dz`` (batch, 4H), the gradient of the gate pre-activations,
    and replaces ``gc`` by the gradient of the previous cell state (rows of padded steps keep
    theirs, and their ``dz`` is 0). The equations are in ``backward``."""
    H = gh.shape[1]
    gh += g_h
    i, f, g, o, _, tanh_c = (cache[:, k * H : (k + 1) * H] for k in range(6))
    real = (m > 0)[:, None]
    dh = gh * real
    dc = tanh_c * tanh_c
    np.subtract(1, dc, out=dc)
    dc *= o
    dc *= dh
    dc += gc * real
    np.multiply(dc, g, out=dz[:, :H])
    np.multiply(dc, prev_cache[:, 4 * H : 5 * H], out=dz[:, H : 2 * H])
    np.multiply(dc, i, out=dz[:, 2 * H : 3 * H])
    np.multiply(dh, tanh_c, out=dz[:, 3 * H :])
    for k, s in ((0, i), (1, f), (3, o)):  # σ' = σ (1 - σ)
        dz[:, k * H : (k + 1) * H] *= s * (1 - s)
    dz[:, 2 * H : 3 * H] *= 1 - g * g
    np.copyto(gc, dc * f, where=real)


def _kernels(dtype):
    """The compiled kernels for ``dtype`` (:mod:`seqlab.models.cells.lstm_kernels`), or None:
    float32 runs them, float64 NumPy's exact functions. Numba is slow to import, so it is
    imported only by runs that train a float32 LSTM."""
    if dtype != np.float32:
        return None
    from seqlab.models.cells import lstm_kernels

    return lstm_kernels


def _whole_loop(kernels, asked: bool) -> bool:
    """Whether to run the compiled whole time loop: float32 (``kernels`` loaded), ``asked``
    (the ``whole_loop`` argument), and NumPy's BLAS exports what it calls."""
    return kernels is not None and asked and kernels.numpy_blas_linked()


def forward(xw, mask, U, options: LSTMOptions, whole_loop: bool = True):
    """Returns hs (T, B, H) and the cache (T, B, 6H): gates i, f, g, o, the (masked) cell state
    c and tanh of the new cell state. In float32 the whole loop is compiled when NumPy's BLAS
    allows it (``whole_loop=False`` keeps the steps' loop in Python, as tests compare)."""
    T, B, H = xw.shape[0], xw.shape[1], U.shape[0]
    hs, cache = np.empty((T, B, H), xw.dtype), np.empty((T, B, 6 * H), xw.dtype)
    kernels = _kernels(xw.dtype)
    if _whole_loop(kernels, whole_loop):
        kernels.forward_sequence(*(np.ascontiguousarray(a) for a in (xw, mask, U)), hs, cache)
    else:
        step_forward = forward_step if kernels is None else kernels.forward_step
        h, prev_cache = np.zeros((B, H), xw.dtype), np.zeros((B, 6 * H), xw.dtype)
        z = np.empty((B, 4 * H), xw.dtype)
        for t in range(T):
            np.matmul(h, U, out=z)
            step_forward(z, xw[t], prev_cache, h, mask[t], cache[t], hs[t])
            h, prev_cache = hs[t], cache[t]
    return hs, cache


def backward(xw, mask, U, hs, cache, g_hs, options: LSTMOptions, whole_loop: bool = True):
    """Backpropagation through time, from the last step to the first. With ``gh`` the gradient
    reaching ``h_t`` (``g_hs[t]`` plus what step t+1 sends back), ``gc`` the one reaching
    ``c_t`` from step t+1, and ``m_t`` the mask:

        dh = m_t gh
        dc = dh o (1 - tanh²(c_t)) + m_t gc
        dz_i = dc g i (1 - i);  dz_f = dc c_{t-1} f (1 - f)
        dz_g = dc i (1 - g²);   dz_o = dh tanh(c_t) o (1 - o)
        g_xw_t = dz;  to h_{t-1}: dz Uᵀ + (1 - m_t) gh;  to c_{t-1}: dc f (gc where padded)
        g_U = Σ_t h_{t-1}ᵀ dz_t

    ``whole_loop`` as in ``forward``.
    """
    B, H = hs.shape[1], hs.shape[2]
    kernels = _kernels(xw.dtype)
    g_xw, U_t = np.empty_like(xw, order="C"), np.ascontiguousarray(U.T)
    if _whole_loop(kernels, whole_loop):
        kernels.backward_sequence(*(np.ascontiguousarray(a) for a in (mask, U_t, cache, g_hs)), g_xw)
    else:
        step_backward = backward_step if kernels is None else kernels.backward_step
        gh, gc = np.zeros((B, H), xw.dtype), np.zeros((B, H), xw.dtype)
        first_cache = np.zeros((B, 6 * H), xw.dtype)
        for t, m in reversed(list(enumerate(step_masks(mask)))):
            step_backward(gh, g_hs[t], gc, cache[t], cache[t - 1] if t > 0 else first_cache, mask[t], g_xw[t])
            gh = blend(m, g_xw[t] @ U_t, gh)
    return g_xw, recurrent_weight_grad(hs[:-1], g_xw[1:])


CELL = Cell(
    name="lstm",
    title="LSTM",
    num_gates=4,
    num_states=2,
    options=LSTMOptions,
    step=step,
    reference_step=reference_step,
    init_bias=init_bias,
    forward=forward,
    backward=backward,
    cache_width=6,
)
