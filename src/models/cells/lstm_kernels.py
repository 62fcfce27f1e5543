"""Compiled (Numba) LSTM kernels for float32: the gate maths of one time step in one pass over
memory, vectorised (AVX2/AVX-512), and whole time loops that call them and NumPy's BLAS.

NumPy runs each step's gate maths as a dozen separate passes, each with its own call overhead;
at hidden 128 that cost more than the matrix products. These kernels keep the matrix products
in NumPy (so one BLAS thread pool serves the whole step) and replace only the element-wise
part. ``tanh`` is Eigen's rational approximation (float32 error about 2e-7, the size of float32
rounding) because Numba's ``tanh`` calls scalar libm and does not vectorise; float64 keeps
NumPy's exact functions. The step semantics are those of ``forward_step`` / ``backward_step`` in
:mod:`seqlab.models.cells.lstm`; a mask entry of 0 carries the state over.

The time loops (``forward_sequence``, ``backward_sequence``) run every step's recurrent product
and gate maths without returning to Python: at batch 1 a step's Python calls cost more than its
arithmetic. They call ``cblas_sgemm`` of the OpenBLAS that NumPy's wheels ship (64-bit
integers, symbols prefixed ``scipy_``), so the products run on the thread pool and kernels
``np.matmul`` uses; :func:`numpy_blas_linked` says whether this NumPy has it (other builds keep
the per-step loops in :mod:`seqlab.models.cells.lstm`).

Compiled functions are cached in ``NUMBA_CACHE_DIR`` (set by :func:`seqlab.engine.configure`).
"""

import ctypes
import functools

import numba
import numpy as np
from numba.core import types

from seqlab.models.jit import JIT

_CLAMP = np.float32(7.90531110763549805)  # tanh is 1 to float32 precision beyond this
# Coefficients of tanh(x) ~ x p(x^2) / q(x^2), highest power first.
_P = tuple(
    np.float32(a)
    for a in (
        -2.76076847742355e-16,
        2.00018790482477e-13,
        -8.60467152213735e-11,
        5.12229709037114e-08,
        1.48572235717979e-05,
        6.37261928875436e-04,
        4.89352455891786e-03,
    )
)
_Q = tuple(
    np.float32(b) for b in (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)
)
_HALF, _ONE = np.float32(0.5), np.float32(1.0)


@numba.njit(inline="always", **JIT)
def _tanh(x):
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    # Horner's rule, written out: a loop over the coefficients would stop LLVM vectorising.
    p = (((((_P[0] * x2 + _P[1]) * x2 + _P[2]) * x2 + _P[3]) * x2 + _P[4]) * x2 + _P[5]) * x2 + _P[6]
    q = ((_Q[0] * x2 + _Q[1]) * x2 + _Q[2]) * x2 + _Q[3]
    return x * p / q


@numba.njit(inline="always", **JIT)
def _sigmoid(x):
    return _HALF * _tanh(_HALF * x) + _HALF


@numba.njit(inline="always", **JIT)
def _parts(row, hidden):
    """The six (hidden,) parts of a cache row: gates i, f, g, o, cell state, tanh of it."""
    return (
        row[:hidden],
        row[hidden : 2 * hidden],
        row[2 * hidden : 3 * hidden],
        row[3 * hidden : 4 * hidden],
        row[4 * hidden : 5 * hidden],
        row[5 * hidden :],
    )


@numba.njit(**JIT)
def forward_step(z, xw, prev_cache, h_prev, m, cache, h):
    """One step: ``z`` (batch, 4H) = h_prev @ U (overwritten), ``xw`` (batch, 4H) the input
    projection, ``prev_cache`` (batch, 6H) the previous step's cache (zeros at the first),
    ``h_prev`` (batch, H), ``m`` (batch,) the mask. Writes ``cache`` (batch, 6H) — gates i, f,
    g, o, the (masked) new cell state and tanh of the unmasked one — and ``h`` (batch, H)."""
    hidden = h.shape[1]
    for row in range(h.shape[0]):
        gates, z_row, x_row = cache[row], z[row], xw[row]
        i, f, g, o, c, tanh_c = _parts(gates, hidden)
        cp, hr = _parts(prev_cache[row], hidden)[4], h[row]
        # Loops from 0, over slices: a loop starting elsewhere than 0 did not vectorise.
        z_g, x_g = z_row[2 * hidden : 3 * hidden], x_row[2 * hidden : 3 * hidden]
        z_o, x_o = z_row[3 * hidden :], x_row[3 * hidden :]
        for k in range(2 * hidden):  # gates i and f
            gates[k] = _sigmoid(z_row[k] + x_row[k])
        for j in range(hidden):
            g[j] = _tanh(z_g[j] + x_g[j])
        for j in range(hidden):
            o[j] = _sigmoid(z_o[j] + x_o[j])
        for j in range(hidden):
            c[j] = f[j] * cp[j] + i[j] * g[j]
        for j in range(hidden):
            tanh_c[j] = _tanh(c[j])
        for j in range(hidden):
            hr[j] = o[j] * tanh_c[j]
        if m[row] <= 0:
            c[:] = cp
            hr[:] = h_prev[row]


@numba.njit(**JIT)
def backward_step(gh, g_h, gc, cache, prev_cache, m, dz):
    """One step back: adds ``g_h`` (batch, H), the loss gradient of this step's state, to
    ``gh``, the gradient flowing back into it; writes ``dz`` (batch, 4H), the gradient of the
    gate pre-activations, and replaces ``gc`` by the gradient of the previous cell state
    (unchanged on padded rows, where ``dz`` is 0)."""
    hidden = gh.shape[1]
    for row in range(gh.shape[0]):
        dh, dzr = gh[row], dz[row]
        for j in range(hidden):
            dh[j] += g_h[row, j]
        if m[row] <= 0:
            dzr[:] = 0
            continue
        i, f, g, o, _, tanh_c = _parts(cache[row], hidden)
        cp, dc = _parts(prev_cache[row], hidden)[4], gc[row]
        for j in range(hidden):
            dc[j] += (_ONE - tanh_c[j] * tanh_c[j]) * o[j] * dh[j]
        for j in range(hidden):
            dzr[j] = dc[j] * g[j] * i[j] * (_ONE - i[j])
        for j in range(hidden):
            dzr[hidden + j] = dc[j] * cp[j] * f[j] * (_ONE - f[j])
        for j in range(hidden):
            dzr[2 * hidden + j] = dc[j] * i[j] * (_ONE - g[j] * g[j])
        for j in range(hidden):
            dzr[3 * hidden + j] = dh[j] * tanh_c[j] * o[j] * (_ONE - o[j])
        for j in range(hidden):
            dc[j] *= f[j]


_SGEMM_SYMBOL = "scipy_cblas_sgemm64_"
_INT, _POINTER = types.int64, types.uintp
# cblas_sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
_sgemm = types.ExternalFunction(
    _SGEMM_SYMBOL,
    types.void(
        *(types.int32,) * 3, *(_INT,) * 3, types.float32, _POINTER, _INT, _POINTER, _INT, types.float32, _POINTER, _INT
    ),
)
_ROW_MAJOR, _NO_TRANS = np.int32(101), np.int32(111)
_ZERO = np.float32(0.0)


@functools.cache
def numpy_blas_linked() -> bool:
    """Whether NumPy's BLAS exports ``scipy_cblas_sgemm64_``; if it does, makes the symbol
    visible to the compiled loops (call this before their first call in a process)."""
    import llvmlite.binding
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool["user_api"] == "blas" and hasattr(ctypes.CDLL(pool["filepath"]), _SGEMM_SYMBOL):
            llvmlite.binding.load_library_permanently(pool["filepath"])
            return True
    return False


@numba.njit(inline="always", **JIT)
def _matmul(a, b, out):
    """``out`` = ``a`` @ ``b``, all three C-contiguous float32 matrices."""
    m, k = a.shape
    n = b.shape[1]
    _sgemm(
        _ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, n, k, _ONE, a.ctypes.data, k, b.ctypes.data, n, _ZERO, out.ctypes.data, n
    )


@numba.njit(**JIT)
def forward_sequence(xw, mask, U, hs, cache):
    """The whole forward pass: ``xw`` (time, batch, 4H) the input projections, ``mask`` (time,
    batch), ``U`` (H, 4H); writes ``hs`` (time, batch, H) and ``cache`` (time, batch, 6H) as
    :func:`forward_step` does, step after step from a zero state. All C-contiguous."""
    batch, hidden = xw.shape[1], U.shape[0]
    z = np.empty((batch, 4 * hidden), np.float32)
    h_prev, prev_cache = np.zeros((batch, hidden), np.float32), np.zeros((batch, 6 * hidden), np.float32)
    for t in range(xw.shape[0]):
        _matmul(h_prev, U, z)
        forward_step(z, xw[t], prev_cache, h_prev, mask[t], cache[t], hs[t])
        h_prev, prev_cache = hs[t], cache[t]


@numba.njit(**JIT)
def backward_sequence(mask, U_t, cache, g_hs, g_xw):
    """Backpropagation through time (the equations of ``seqlab.models.cells.lstm.backward``)
    from the last step to the first: ``U_t`` (4H, H) is ``U`` transposed, ``cache`` (time,
    batch, 6H) the forward pass's, ``g_hs`` (time, batch, H) the loss gradient of each state;
    writes ``g_xw`` (time, batch, 4H). All C-contiguous."""
    steps, batch, hidden = g_hs.shape[0], g_hs.shape[1], U_t.shape[1]
    gh, gc = np.zeros((batch, hidden), np.float32), np.zeros((batch, hidden), np.float32)
    to_previous = np.empty((batch, hidden), np.float32)
    first_cache = np.zeros((batch, 6 * hidden), np.float32)
    for t in range(steps - 1, -1, -1):
        backward_step(gh, g_hs[t], gc, cache[t], cache[t - 1] if t > 0 else first_cache, mask[t], g_xw[t])
        _matmul(g_xw[t], U_t, to_previous)
        for row in range(batch):
            if mask[t, row] > 0:  # padded rows carry their gradient over
                gh[row] = to_previous[row]
