"""Numba's compile options for seqlab's kernels (``seqlab.models.cells.lstm_kernels``,
``seqlab.models.conv_kernels``): fastmath for vectorising, without its no-NaN and no-infinity
assumptions (a diverged run must keep its NaNs for the trainer to stop it); the GIL released;
compiled functions cached in ``NUMBA_CACHE_DIR`` (set by :func:`seqlab.engine.configure`)."""

JIT = {
    "nogil": True,
    "fastmath": {"nsz", "arcp", "contract", "afn", "reassoc"},
    "error_model": "numpy",
    "cache": True,
}
