"""PyTensor runs with a real BLAS, configured by the project alone, and only when asked."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytensor
from pytensor.link.c.cmodule import GCC_compiler

from seqlab import engine
from tests.conftest import PROJECT_ROOT

PROBE = """
import warnings
warnings.simplefilter("error")
from seqlab import engine
engine.configure()
from seqlab.models.compiling import COMPILE_MODE
import numpy as np, pytensor, pytensor.tensor as pt
a = pt.matrix("a")
f = pytensor.function([a], a @ a, mode=COMPILE_MODE)
ops = {type(node.op).__name__ for node in f.maker.fgraph.toposort()}
np.testing.assert_allclose(f(np.eye(3)), np.eye(3))
print("LDFLAGS=" + pytensor.config.blas__ldflags)
import ctypes, os
mkl = engine.mkl_library()
print("MKL_THREADS=%s" % (ctypes.CDLL(str(mkl)).MKL_Get_Max_Threads() if mkl else "none"))
print("OPS=" + ",".join(sorted(ops)))
try:  # the Intel OpenMP runtime the product above started (not a second copy), MKL's threading layer
    print("BLOCKTIME=%s" % ctypes.CDLL("libiomp5.so", mode=os.RTLD_NOLOAD).kmp_get_blocktime())
except OSError:
    print("BLOCKTIME=none")
from pytensor.link.c.cmodule import GCC_compiler
print("COMPILE_ARGS=" + " ".join(GCC_compiler.compile_args()))
"""


def test_pytensor_links_a_blas_without_warnings():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTENSOR_FLAGS", "KMP_BLOCKTIME")}
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
    blocktime = result.stdout.split("BLOCKTIME=")[1].splitlines()[0]
    assert blocktime in ("0", "none"), "MKL's OpenMP threads sleep after each product instead of spinning"
    ops = result.stdout.split("OPS=")[1].split()[0].split(",")
    assert "Dot22" in ops or "Gemm" in ops, ops  # BLAS-backed C ops, not the NumPy fallback
    # No debug information (PyTensor passes -g before these arguments; the last one wins).
    assert "-g0" in result.stdout.split("COMPILE_ARGS=")[1].split()


def test_the_march_flags_are_detected_once_and_then_reused(tmp_path, monkeypatch):
    detections = []

    def detect():
        detections.append(1)
        GCC_compiler.march_flags = ["-march=test", "-mavx2"]

    monkeypatch.setattr(engine, "_march_flags_file", lambda: tmp_path / "march-flags.json")
    monkeypatch.setattr(GCC_compiler, "compile_args", detect)
    monkeypatch.setattr(GCC_compiler, "march_flags", None)
    engine.reuse_march_flags()
    assert detections == [1] and json.loads((tmp_path / "march-flags.json").read_text()) == ["-march=test", "-mavx2"]
    GCC_compiler.march_flags = None  # a new process
    engine.reuse_march_flags()
    assert detections == [1], "the second process reads the flags instead of detecting them"
    assert GCC_compiler.march_flags == ["-march=test", "-mavx2"]


def test_an_unwritable_compile_directory_only_costs_the_detection(tmp_path, monkeypatch):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")  # unwritable as a directory, even for root
    monkeypatch.setattr(engine, "_march_flags_file", lambda: not_a_directory / "march-flags.json")
    monkeypatch.setattr(GCC_compiler, "compile_args", lambda: setattr(GCC_compiler, "march_flags", ["-mavx2"]))
    monkeypatch.setattr(GCC_compiler, "march_flags", None)
    engine.reuse_march_flags()
    assert GCC_compiler.march_flags == ["-mavx2"]


def test_the_march_flags_file_depends_on_cpu_features_and_compiler_flags_not_on_clock_speed(tmp_path, monkeypatch):
    def cpuinfo(mhz: str, flags: str) -> Path:
        path = tmp_path / f"cpuinfo-{mhz}-{flags}"
        first_cpu = f"processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: {mhz}\nflags\t\t: {flags}\n"
        path.write_text(first_cpu + "\nprocessor\t: 1\n")
        return path

    base = engine._march_flags_file(cpuinfo("2596.1", "avx2 avx512f"))
    assert engine._march_flags_file(cpuinfo("3100.0", "avx2 avx512f")) == base
    assert engine._march_flags_file(cpuinfo("2596.1", "avx2")) != base
    monkeypatch.setattr(pytensor.config, "gcc__cxxflags", "-O2")
    assert engine._march_flags_file(cpuinfo("2596.1", "avx2 avx512f")) != base


IMPORT_PROBE = """
import ctypes, os, sys
loaded = []
class RecordingCDLL(ctypes.CDLL):
    def __init__(self, name, *args, **kwargs):
        loaded.append(str(name))
        super().__init__(name, *args, **kwargs)
ctypes.CDLL = RecordingCDLL
before = dict(os.environ)
import seqlab.models.network, seqlab.models.classifier, seqlab.data.registry
import pytensor
assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items())
assert not [name for name in loaded if "libc" in name or "mkl" in name], loaded
print("COMPILEDIR=" + str(pytensor.config.base_compiledir))
"""


def test_importing_seqlab_sets_no_variable_writes_no_file_and_calls_no_mallopt(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTENSOR_FLAGS", "NUMBA_CACHE_DIR")}
    env["SEQLAB_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "home").exists(), "importing created files"
    assert f"COMPILEDIR={tmp_path / 'home' / 'runs' / '.cache' / 'pytensor'}" in result.stdout
