"""Fused recurrences: a whole sequence's forward pass, and its backpropagation through time, as
one PyTensor Op each — the way cuDNN's RNN is exposed to frameworks.

``scan`` runs one small graph per time step with per-step overhead; these Ops run the same
maths as plain NumPy loops over time (``tests/reference.py`` and the scan cells in
``src/models/cells.py`` are the references they are tested against). Inputs follow the scan
layer: ``xw`` (time, batch, gates*hidden) is the precomputed input projection, ``mask``
(time, batch) is 1 on real steps, ``U`` (hidden, gates*hidden) the fused recurrent weights; the
initial state is zero and padded steps carry the state over unchanged.
"""

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op


def _sigmoid(x):
    return 0.5 * (np.tanh(0.5 * x) + 1)  # exact, and never overflows


def elman_forward(xw, mask, U, activation):
    """Returns hs (T, B, H) and the cache: each step's unmasked new state."""
    T, B, H = xw.shape[0], xw.shape[1], U.shape[0]
    hs, new = np.empty((T, B, H), xw.dtype), np.empty((T, B, H), xw.dtype)
    h = np.zeros((B, H), xw.dtype)
    for t in range(T):
        a = xw[t] + h @ U
        new[t] = np.tanh(a) if activation == "tanh" else np.maximum(a, 0)
        m = mask[t][:, None]
        h = hs[t] = m * new[t] + (1 - m) * h
    return hs, new


def elman_backward(xw, mask, U, hs, new, g_hs, activation):
    T, B, H = hs.shape
    g_xw, g_U = np.empty_like(xw), np.zeros_like(U)
    gh = np.zeros((B, H), xw.dtype)
    for t in reversed(range(T)):
        gh = gh + g_hs[t]
        m = mask[t][:, None]
        slope = 1 - new[t] ** 2 if activation == "tanh" else (new[t] > 0).astype(xw.dtype)
        da = m * gh * slope
        h_prev = hs[t - 1] if t > 0 else np.zeros_like(gh)
        g_xw[t] = da
        g_U += h_prev.T @ da
        gh = da @ U.T + (1 - m) * gh
    return g_xw, g_U


def lstm_forward(xw, mask, U, activation):
    """Returns hs (T, B, H) and the cache: gates i, f, g, o and the cell states c (T, B, 5H)."""
    T, B, H = xw.shape[0], xw.shape[1], U.shape[0]
    hs, cache = np.empty((T, B, H), xw.dtype), np.empty((T, B, 5 * H), xw.dtype)
    h, c = np.zeros((B, H), xw.dtype), np.zeros((B, H), xw.dtype)
    for t in range(T):
        z = xw[t] + h @ U
        i, f, o = _sigmoid(z[:, :H]), _sigmoid(z[:, H : 2 * H]), _sigmoid(z[:, 3 * H :])
        g = np.tanh(z[:, 2 * H : 3 * H])
        c_new = f * c + i * g
        m = mask[t][:, None]
        c = m * c_new + (1 - m) * c
        h = hs[t] = m * (o * np.tanh(c_new)) + (1 - m) * h
        cache[t] = np.concatenate([i, f, g, o, c], axis=1)
    return hs, cache


def lstm_backward(xw, mask, U, hs, cache, g_hs, activation):
    T, B, H = hs.shape
    g_xw, g_U = np.empty_like(xw), np.zeros_like(U)
    gh, gc = np.zeros((B, H), xw.dtype), np.zeros((B, H), xw.dtype)
    for t in reversed(range(T)):
        gh = gh + g_hs[t]
        m = mask[t][:, None]
        i, f, g, o = (cache[t][:, k * H : (k + 1) * H] for k in range(4))
        c_prev = cache[t - 1][:, 4 * H :] if t > 0 else np.zeros_like(gc)
        tanh_c = np.tanh(f * c_prev + i * g)
        dh_new = m * gh
        dc_new = m * gc + dh_new * o * (1 - tanh_c**2)
        dz = np.concatenate(
            [dc_new * g * i * (1 - i), dc_new * c_prev * f * (1 - f), dc_new * i * (1 - g**2),
             dh_new * tanh_c * o * (1 - o)],
            axis=1,
        )  # fmt: skip
        h_prev = hs[t - 1] if t > 0 else np.zeros_like(gh)
        g_xw[t] = dz
        g_U += h_prev.T @ dz
        gh = dz @ U.T + (1 - m) * gh
        gc = dc_new * f + (1 - m) * gc
    return g_xw, g_U


def gru_forward(xw, mask, U, activation):
    """Returns hs (T, B, H) and the cache: gates r, z and the candidate (T, B, 3H)."""
    T, B, H = xw.shape[0], xw.shape[1], U.shape[0]
    hs, cache = np.empty((T, B, H), xw.dtype), np.empty((T, B, 3 * H), xw.dtype)
    h = np.zeros((B, H), xw.dtype)
    for t in range(T):
        rz = _sigmoid(xw[t][:, : 2 * H] + h @ U[:, : 2 * H])
        r, z = rz[:, :H], rz[:, H:]
        candidate = np.tanh(xw[t][:, 2 * H :] + (r * h) @ U[:, 2 * H :])
        m = mask[t][:, None]
        h = hs[t] = m * (z * h + (1 - z) * candidate) + (1 - m) * h
        cache[t] = np.concatenate([r, z, candidate], axis=1)
    return hs, cache


def gru_backward(xw, mask, U, hs, cache, g_hs, activation):
    T, B, H = hs.shape
    g_xw, g_U = np.empty_like(xw), np.zeros_like(U)
    gh = np.zeros((B, H), xw.dtype)
    for t in reversed(range(T)):
        gh = gh + g_hs[t]
        m = mask[t][:, None]
        r, z, candidate = (cache[t][:, k * H : (k + 1) * H] for k in range(3))
        h_prev = hs[t - 1] if t > 0 else np.zeros_like(gh)
        dh_new = m * gh
        da_n = dh_new * (1 - z) * (1 - candidate**2)
        d_rh = da_n @ U[:, 2 * H :].T
        da_rz = np.concatenate([d_rh * h_prev * r * (1 - r), dh_new * (h_prev - candidate) * z * (1 - z)], axis=1)
        g_xw[t] = np.concatenate([da_rz, da_n], axis=1)
        g_U[:, : 2 * H] += h_prev.T @ da_rz
        g_U[:, 2 * H :] += (r * h_prev).T @ da_n
        gh = dh_new * z + d_rh * r + da_rz @ U[:, : 2 * H].T + (1 - m) * gh
    return g_xw, g_U


FORWARD = {"elman": elman_forward, "lstm": lstm_forward, "gru": gru_forward}
CACHE_WIDTH = {"elman": 1, "lstm": 5, "gru": 3}  # the cache's last axis, in hidden sizes
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
