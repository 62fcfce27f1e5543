"""Compiled (Numba) kernels of the fused convolution block (``seqlab.models.fused_conv``): the
windows of the convolution gathered from its inputs and their gradient added back onto the
inputs, each in one pass; and batch normalisation in training mode, the statistics, the
normalisation, a residual block's shortcut and the ReLU in three passes over the convolution's
output, its backward pass in two.

NumPy took seven passes forward and about ten backward, each a loop of its own on one core;
beside the block's matrix products they cost as much as the products on the ResNet encoder's
sizes. These kernels run on one core too (the products keep NumPy's BLAS pool); they work on
float32 and float64 alike, accumulating the statistics and the gradients of γ and β in float64.

NumPy gathered the windows through a padded copy of the inputs and added their gradient back in
a pass per kernel offset, then copied it to be contiguous: two to four times slower on the FCN
and ResNet blocks' sizes.

Shapes of batch norm: ``z``, ``out``, ``g_out``, ``centred``, ``g_z``, ``residual``,
``g_residual`` (rows, filters), one row per output step of the batch (the residual's as (0,
filters) where there is none, so that one compiled kernel serves both); ``mask`` (rows,), 0 on
padded steps; ``gamma``, ``var`` (filters,).
The windows: ``x``, ``g_x`` (batch, time, channels), ``mask`` (batch, time); ``windows``,
``g_windows`` (batch * steps, kernel * channels), row ``b * steps + s`` holding, by offset ``j``
then channel, the inputs at step ``s * stride + dilation * j - left``.
"""

import numba
import numpy as np

from seqlab.models.jit import JIT


@numba.njit(**JIT)
def norm_forward(z, mask, gamma, beta, eps, relu, residual, out):
    """Batch-normalise ``z`` over its real rows: μ and the biased variance v of those rows,
    ``z`` ← z − μ in place (the backward pass's ``centred``) and ``out`` = γ (z − μ) / √(v + ε)
    + β (+ ``residual``), ReLU'd with ``relu`` (NaN kept), zero on padded rows. ``residual``
    (rows, filters), or (0, filters) for none. Returns ``(μ, v)``."""
    rows, filters = z.shape
    added = residual.shape[0] != 0
    total, squares, count = np.zeros(filters), np.zeros(filters), np.count_nonzero(mask)
    for n in range(rows):
        if mask[n] != 0:
            for f in range(filters):
                total[f] += z[n, f]
    mean = (total / count).astype(z.dtype)
    for n in range(rows):
        for f in range(filters):
            z[n, f] -= mean[f]
        if mask[n] != 0:
            for f in range(filters):
                squares[f] += z[n, f] * z[n, f]
    var = (squares / count).astype(z.dtype)
    scale = gamma / np.sqrt(var + eps)
    for n in range(rows):
        if mask[n] == 0:
            out[n] = 0
            continue
        for f in range(filters):
            value = z[n, f] * scale[f] + beta[f]
            if added:
                value += residual[n, f]
            out[n, f] = 0 if relu and value < 0 else value
    return mean, var


@numba.njit(inline="always", **JIT)
def _normalised_grad(g_out, out, relu):
    """The gradient of the normalised output: ``g_out``, or 0 where the ReLU cut ``out`` to 0."""
    return 0 if relu and out <= 0 else g_out


@numba.njit(**JIT)
def norm_backward(g_out, out, centred, mask, gamma, var, eps, relu, g_z, g_residual):
    """The backward pass of ``norm_forward`` (Ioffe and Szegedy 2015): with g the gradient of
    the normalised outputs (``g_out``, zero where the ReLU cut, on the N real rows), σ = √(v + ε)
    and x̂ = ``centred`` / σ, g_β = Σ g and g_γ = Σ g x̂; ``g_z`` ← m · γ / σ · (g − g_β / N −
    x̂ · g_γ / N), the gradient of the convolution's output, and ``g_residual`` ← m · g, the
    residual's (unless it is (0, filters): no residual), both zero on padded rows. Returns
    ``(g_γ, g_β)``."""
    rows, filters = centred.shape
    added = g_residual.shape[0] != 0
    g_beta, g_gamma, count = np.zeros(filters), np.zeros(filters), np.count_nonzero(mask)
    for n in range(rows):
        if mask[n] != 0:
            for f in range(filters):
                g = _normalised_grad(g_out[n, f], out[n, f], relu)
                g_beta[f] += g
                g_gamma[f] += g * centred[n, f]
    inv_std = 1 / np.sqrt(var + eps)
    g_gamma_t = (g_gamma * inv_std).astype(centred.dtype)
    g_beta_t = g_beta.astype(centred.dtype)
    scale = gamma * inv_std
    shift = -scale * g_beta_t / count
    slope = -scale * inv_std * g_gamma_t / count
    for n in range(rows):
        if mask[n] == 0:
            g_z[n] = 0
            if added:
                g_residual[n] = 0
            continue
        for f in range(filters):
            g = _normalised_grad(g_out[n, f], out[n, f], relu)
            g_z[n, f] = scale[f] * g + shift[f] + slope[f] * centred[n, f]
            if added:
                g_residual[n, f] = g
    return g_gamma_t, g_beta_t


@numba.njit(**JIT)
def gather(x, mask, kernel, stride, dilation, left, windows):
    """``windows`` ← the window of every output step of ``x``: zero outside the sequence and on
    its padded steps."""
    batch, time, channels = x.shape
    steps = windows.shape[0] // batch
    for b in range(batch):
        for s in range(steps):
            row = windows[b * steps + s]
            for j in range(kernel):
                t = s * stride + dilation * j - left
                start = j * channels
                if 0 <= t < time and mask[b, t] != 0:
                    for c in range(channels):
                        row[start + c] = x[b, t, c]
                else:
                    for c in range(channels):
                        row[start + c] = 0


@numba.njit(**JIT)
def scatter(g_windows, mask, kernel, stride, dilation, left, g_x):
    """The adjoint of ``gather``: ``g_x`` ← for every real input step, the sum (over offsets in
    order) of the gradients of the window entries that read it; zero on padded steps."""
    batch, time, channels = g_x.shape
    steps = g_windows.shape[0] // batch
    for b in range(batch):
        for t in range(time):
            row = g_x[b, t]
            for c in range(channels):
                row[c] = 0
            if mask[b, t] == 0:
                continue
            for j in range(kernel):
                reach = t + left - dilation * j  # = s * stride for the output step s reading t
                if reach < 0 or reach % stride != 0 or reach // stride >= steps:
                    continue
                source = g_windows[b * steps + reach // stride]
                start = j * channels
                for c in range(channels):
                    row[c] += source[start + c]
