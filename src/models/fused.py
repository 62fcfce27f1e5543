"""Fused recurrences: a whole sequence's forward pass, and its backpropagation through time, as
one PyTensor Op each — the way cuDNN's RNN is exposed to frameworks.

``scan`` runs one small graph per time step with per-step overhead; these Ops run the same
maths as plain NumPy loops over time (``tests/reference.py`` and the scan cells in
``src/models/cells.py`` are the references they are tested against). In float32 the LSTM's
per-step gate maths runs as compiled kernels (:mod:`seqlab.models.lstm_kernels`), tested against
the float64 NumPy path.

Inputs follow the scan layer: ``xw`` (time, batch, gates*hidden) is the precomputed input
projection, ``mask`` (time, batch) is 1 on real steps, ``U`` (hidden, gates*hidden) the fused
recurrent weights; the initial state is zero and padded steps carry the state over unchanged.
"""

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op


def _sigmoid(x, out):
    """``out`` = sigmoid(x) as ``0.5 * tanh(0.5 x) + 0.5``: exact, and never overflows."""
    np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def _step_masks(mask):
    """Per step, None when every sequence is real there (nothing to blend), else the
    (batch, 1) mask."""
    return [None if m.all() else m[:, None] for m in mask]


def _blend(m, new, old):
    """``new`` where the step is real, ``old`` (carried over) where it is padding."""
    return new if m is None else np.where(m > 0, new, old)


def _previous_states(hs):
    """The state entering each step (time, batch, hidden): zeros, then ``hs[:-1]``."""
    prev = np.zeros_like(hs)
    prev[1:] = hs[:-1]
    return prev


def _recurrent_weight_grad(entering, g_pre):
    """Sum over steps of ``entering[t].T @ g_pre[t]`` — what multiplied U at a step, times the
    gradient of that product — as one matrix product. Callers pass the steps from the second
    on: the state entering the first is zero."""
    return entering.reshape(-1, entering.shape[-1]).T @ g_pre.reshape(-1, g_pre.shape[-1])


def elman_forward(xw, mask, U, activation):
    """Returns hs (T, B, H) and the cache: each step's new state before masking."""
    T, B, H = xw.shape[0], xw.shape[1], U.shape[0]
    hs, new = np.empty((T, B, H), xw.dtype), np.empty((T, B, H), xw.dtype)
    h = np.zeros((B, H), xw.dtype)
    for t, m in enumerate(_step_masks(mask)):
        a = h @ U
        a += xw[t]
        if activation == "tanh":
            np.tanh(a, out=new[t])
        else:
            np.maximum(a, 0, out=new[t])
        h = hs[t] = _blend(m, new[t], h)
    return hs, new


def elman_backward(xw, mask, U, hs, new, g_hs, activation):
    T, B, H = hs.shape
    g_xw, U_t = np.empty_like(xw), np.ascontiguousarray(U.T)
    gh = np.zeros((B, H), xw.dtype)
    for t, m in reversed(list(enumerate(_step_masks(mask)))):
        gh = gh + g_hs[t]
        da = g_xw[t]
        if activation == "tanh":
            np.multiply(new[t], new[t], out=da)
            np.subtract(1, da, out=da)
        else:
            np.greater(new[t], 0, out=da)
        da *= gh if m is None else gh * m
        gh = _blend(m, da @ U_t, gh)
    return g_xw, _recurrent_weight_grad(hs[:-1], g_xw[1:])


def lstm_forward_step(z, xw, prev_cache, h_prev, m, cache, h):
    """One step in NumPy: ``z`` (batch, 4H) = h_prev @ U (overwritten), ``xw`` (batch, 4H) the
    input projection, ``prev_cache`` the previous step's cache (zeros at the first), ``m``
    (batch,) the mask. Writes ``cache`` (batch, 6H) — gates i, f, g, o, the (masked) new cell
    state and tanh of the unmasked one — and ``h`` (batch, H)."""
    H = h.shape[1]
    z += xw
    gates = _sigmoid(z, out=cache[:, : 4 * H])
    np.tanh(z[:, 2 * H : 3 * H], out=gates[:, 2 * H : 3 * H])
    i, f, g, o = (gates[:, k * H : (k + 1) * H] for k in range(4))
    c_prev, c = prev_cache[:, 4 * H : 5 * H], cache[:, 4 * H : 5 * H]
    np.multiply(f, c_prev, out=c)
    c += i * g
    np.multiply(o, np.tanh(c, out=cache[:, 5 * H :]), out=h)
    padded = m <= 0
    if padded.any():
        c[padded], h[padded] = c_prev[padded], h_prev[padded]


def lstm_backward_step(gh, g_h, gc, cache, prev_cache, m, dz):
    """One step back in NumPy: adds ``g_h`` (batch, H) to ``gh``, the gradient flowing into
    this step's state; writes ``dz`` (batch, 4H), the gradient of the gate pre-activations,
    and replaces ``gc`` by the gradient of the previous cell state (rows of padded steps keep
    theirs, and their ``dz`` is 0)."""
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
    for k, sigmoid in ((0, i), (1, f), (3, o)):  # sigmoid' = s (1 - s)
        dz[:, k * H : (k + 1) * H] *= sigmoid * (1 - sigmoid)
    dz[:, 2 * H : 3 * H] *= 1 - g * g
    np.copyto(gc, dc * f, where=real)


def _lstm_steps(dtype):
    """The (forward, backward) step functions for ``dtype``: compiled kernels for float32,
    NumPy's exact functions otherwise. Numba is slow to import, so it is imported
    only by runs that train a float32 LSTM."""
    if dtype == np.float32:
        from seqlab.models import lstm_kernels

        return lstm_kernels.forward_step, lstm_kernels.backward_step
    return lstm_forward_step, lstm_backward_step


def lstm_forward(xw, mask, U, activation):
    """Returns hs (T, B, H) and the cache (T, B, 6H): gates i, f, g, o, the (masked) cell state
    c and tanh of the new cell state."""
    T, B, H = xw.shape[0], xw.shape[1], U.shape[0]
    step, _ = _lstm_steps(xw.dtype)
    hs, cache = np.empty((T, B, H), xw.dtype), np.empty((T, B, 6 * H), xw.dtype)
    h, prev_cache = np.zeros((B, H), xw.dtype), np.zeros((B, 6 * H), xw.dtype)
    z = np.empty((B, 4 * H), xw.dtype)
    for t in range(T):
        np.matmul(h, U, out=z)
        step(z, xw[t], prev_cache, h, mask[t], cache[t], hs[t])
        h, prev_cache = hs[t], cache[t]
    return hs, cache


def lstm_backward(xw, mask, U, hs, cache, g_hs, activation):
    T, B, H = hs.shape
    _, step = _lstm_steps(xw.dtype)
    g_xw, U_t = np.empty_like(xw), np.ascontiguousarray(U.T)
    gh, gc = np.zeros((B, H), xw.dtype), np.zeros((B, H), xw.dtype)
    first_cache = np.zeros((B, 6 * H), xw.dtype)
    for t, m in reversed(list(enumerate(_step_masks(mask)))):
        step(gh, g_hs[t], gc, cache[t], cache[t - 1] if t > 0 else first_cache, mask[t], g_xw[t])
        gh = _blend(m, g_xw[t] @ U_t, gh)
    return g_xw, _recurrent_weight_grad(hs[:-1], g_xw[1:])


def gru_forward(xw, mask, U, activation):
    """Returns hs (T, B, H) and the cache: gates r, z and the candidate (T, B, 3H)."""
    T, B, H = xw.shape[0], xw.shape[1], U.shape[0]
    U_rz, U_n = np.ascontiguousarray(U[:, : 2 * H]), np.ascontiguousarray(U[:, 2 * H :])
    hs, cache = np.empty((T, B, H), xw.dtype), np.empty((T, B, 3 * H), xw.dtype)
    h = np.zeros((B, H), xw.dtype)
    for t, m in enumerate(_step_masks(mask)):
        a = h @ U_rz
        a += xw[t, :, : 2 * H]
        rz = _sigmoid(a, out=cache[t, :, : 2 * H])
        r, z = rz[:, :H], rz[:, H:]
        a_n = (r * h) @ U_n
        a_n += xw[t, :, 2 * H :]
        candidate = np.tanh(a_n, out=cache[t, :, 2 * H :])
        h_new = h - candidate
        h_new *= z
        h_new += candidate  # z h + (1 - z) candidate
        h = hs[t] = _blend(m, h_new, h)
    return hs, cache


def gru_backward(xw, mask, U, hs, cache, g_hs, activation):
    T, B, H = hs.shape
    U_rz_t, U_n_t = np.ascontiguousarray(U[:, : 2 * H].T), np.ascontiguousarray(U[:, 2 * H :].T)
    g_xw = np.empty_like(xw)
    h_prev = _previous_states(hs)
    gh = np.zeros((B, H), xw.dtype)
    for t, m in reversed(list(enumerate(_step_masks(mask)))):
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
        gh = _blend(m, g_step, gh)
    g_U = np.empty_like(U)
    g_U[:, : 2 * H] = _recurrent_weight_grad(hs[:-1], g_xw[1:, :, : 2 * H])
    g_U[:, 2 * H :] = _recurrent_weight_grad(cache[1:, :, :H] * hs[:-1], g_xw[1:, :, 2 * H :])
    return g_xw, g_U


FORWARD = {"elman": elman_forward, "lstm": lstm_forward, "gru": gru_forward}
CACHE_WIDTH = {"elman": 1, "lstm": 6, "gru": 3}  # the cache's last axis, in hidden sizes
BACKWARD = {"elman": elman_backward, "lstm": lstm_backward, "gru": gru_backward}


class FusedRecurrence(Op):
    """``(xw, mask, U) -> (hs, cache)``: the states (time, batch, hidden) of one cell over the
    whole sequence, and what its gradient needs (internal)."""

    __props__ = ("cell", "activation")

    def __init__(self, cell: str, activation: str = "tanh"):
        self.cell, self.activation = cell, activation

    def make_node(self, xw, mask, U):
        xw, mask, U = (pt.as_tensor_variable(v) for v in (xw, mask, U))
        return Apply(self, [xw, mask, U], [pt.tensor3(dtype=xw.dtype), pt.tensor3(dtype=xw.dtype)])

    def perform(self, node, inputs, outputs):
        xw, mask, U = inputs
        hs, cache = FORWARD[self.cell](xw, mask.astype(xw.dtype), U, self.activation)
        outputs[0][0], outputs[1][0] = hs, cache

    def infer_shape(self, fgraph, node, input_shapes):
        (steps, batch, _), _, (hidden, _) = input_shapes
        return [(steps, batch, hidden), (steps, batch, CACHE_WIDTH[self.cell] * hidden)]

    def pullback(self, inputs, outputs, output_grads):
        xw, mask, U = inputs
        hs, cache = outputs
        g_hs = output_grads[0]
        if isinstance(g_hs.type, DisconnectedType):
            g_hs = pt.zeros_like(hs)
        g_xw, g_U = FusedRecurrenceGrad(self.cell, self.activation)(xw, mask, U, hs, cache, g_hs)
        return [g_xw, pt.zeros_like(mask), g_U]


class FusedRecurrenceGrad(Op):
    """``(xw, mask, U, hs, cache, g_hs) -> (g_xw, g_U)``: backpropagation through time."""

    __props__ = ("cell", "activation")

    def __init__(self, cell: str, activation: str = "tanh"):
        self.cell, self.activation = cell, activation

    def make_node(self, xw, mask, U, hs, cache, g_hs):
        inputs = [pt.as_tensor_variable(v) for v in (xw, mask, U, hs, cache, g_hs)]
        return Apply(self, inputs, [inputs[0].type(), inputs[2].type()])

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0], input_shapes[2]]

    def perform(self, node, inputs, outputs):
        xw, mask, U, hs, cache, g_hs = inputs
        g_xw, g_U = BACKWARD[self.cell](xw, mask.astype(xw.dtype), U, hs, cache, g_hs, self.activation)
        outputs[0][0], outputs[1][0] = g_xw, g_U
