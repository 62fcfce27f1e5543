"""PyTensor runs with a real BLAS, configured by the project alone."""

import os
import subprocess
import sys

from src.paths import PROJECT_ROOT

PROBE = """
import warnings
warnings.simplefilter("error")
from src.models import backend
import numpy as np, pytensor, pytensor.tensor as pt
a = pt.matrix("a")
f = pytensor.function([a], a @ a, mode=backend.COMPILE_MODE)
ops = {type(node.op).__name__ for node in f.maker.fgraph.toposort()}
np.testing.assert_allclose(f(np.eye(3)), np.eye(3))
print("LDFLAGS=" + pytensor.config.blas__ldflags)
import ctypes
mkl = backend.mkl_library()
print("MKL_THREADS=%s" % (ctypes.CDLL(str(mkl)).MKL_Get_Max_Threads() if mkl else "none"))
print("OPS=" + ",".join(sorted(ops)))
"""


def test_pytensor_links_a_blas_without_warnings():
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", PROBE],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "BLAS" not in result.stderr, result.stderr
    assert "did not find a dynamic library" not in result.stderr, result.stderr
    ldflags = result.stdout.split("LDFLAGS=")[1].splitlines()[0]
    assert ldflags.strip(), "PyTensor's blas__ldflags is empty"
    mkl_threads = result.stdout.split("MKL_THREADS=")[1].splitlines()[0]
    assert mkl_threads in ("1", "none"), "PyTensor's MKL runs single-threaded by default"
    ops = result.stdout.split("OPS=")[1].split()[0].split(",")
    assert "Dot22" in ops or "Gemm" in ops, ops  # BLAS-backed C ops, not the NumPy fallback
