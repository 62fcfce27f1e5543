"""The one place that configures PyTensor: BLAS, compile directory, float precision, compile mode.

Import this module before anything else imports :mod:`pytensor` (``seqlab.models`` does so on
import): the compile directory can only be chosen before PyTensor is first imported.

* Compile directory: ``pytensor`` in ``seqlab.paths.cache_dir()`` (``runs/.cache`` of a
  checkout or ``SEQLAB_HOME``, else ``~/.cache/seqlab``), shared by every run, parallel job and
  loaded model (PyTensor locks it), so a graph compiled once is reused by the whole sweep.
  The float32 LSTM's compiled step kernels (Numba) are cached beside it, in ``numba``
  (``NUMBA_CACHE_DIR`` overrides).
* BLAS: pip's ``mkl`` wheel ships ``libmkl_rt.so.3`` in its environment's ``lib/`` but no
  ``libmkl_rt.so`` linker name, so PyTensor's own search misses it and warns that it could not
  link to a BLAS. We give the linker that name through a symlink in the cache and an rpath to
  the real library. Without the wheel (another platform) PyTensor's own search is left to find
  a system BLAS such as Debian's ``libopenblas-dev``.
* Threads: PyTensor's own matrix products (MKL) run on ``blas_threads`` threads, 1 by default.
  The fused recurrences multiply with NumPy's OpenBLAS at the same time, and two thread pools
  spinning on few cores slowed an LSTM training step 2-3x (57 ms against 22 ms on 2 cores);
  ``trainer.blas_threads`` changes it.
* Memory: glibc serves every allocation above its mmap threshold (128 KiB, rising with use)
  with fresh pages that the kernel zero-fills on first touch, and gives them back on free. The
  fused recurrences allocate and free megabytes every step; raising the thresholds
  (``mallopt``) keeps that memory in the heap and cut an Elman training step from 7.3 to 4.3 ms.
* CPU flags: PyTensor finds the g++ flags equal to ``-march=native`` by running the compiler
  three times in every process that compiles (0.2 s, a tenth of a warm start). The answer is
  kept in the compile directory, keyed by compiler, CPU and ``gcc__cxxflags``, and handed back
  to PyTensor, which then skips the detection; the flags, and so the cache keys, are the same.
* Mode: the C backend (``CVM``). PyTensor 3's default, Numba, spends 15 s in the first call of
  an LSTM train function in every new process even with a warm cache; CVM takes 1-2 s warm.

Setting ``blas__ldflags`` or ``base_compiledir`` in ``PYTENSOR_FLAGS`` overrides the choices here.
"""

import ctypes
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import shutil
from pathlib import Path

from seqlab.paths import cache_dir

COMPILE_DIR = cache_dir() / "pytensor"
NUMBA_CACHE_DIR = cache_dir() / "numba"
BLAS_LINK_DIR = cache_dir() / "blas"
FLOAT_DTYPES = ("float32", "float64")
DEFAULT_BLAS_THREADS = 1


def _user_flags() -> str:
    return os.environ.get("PYTENSOR_FLAGS", "")


def _set_compile_dir() -> None:
    os.environ.setdefault("NUMBA_CACHE_DIR", str(NUMBA_CACHE_DIR))
    if "base_compiledir" not in _user_flags():
        flags = f"base_compiledir={COMPILE_DIR}"
        os.environ["PYTENSOR_FLAGS"] = f"{flags},{_user_flags()}" if _user_flags() else flags


def mkl_library() -> Path | None:
    """The pip ``mkl`` wheel's ``libmkl_rt.so.<n>``, wherever that wheel is installed (this
    environment, the user's site, a base environment), or None if it is absent."""
    try:
        files = importlib.metadata.files("mkl") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    libraries = sorted(Path(f.locate()).resolve() for f in files if f.name.startswith("libmkl_rt.so."))
    return libraries[-1] if libraries else None


def mkl_ldflags() -> str | None:
    """Return linker flags for the pip ``mkl`` wheel's library, or None if it is absent."""
    library = mkl_library()
    if library is None:
        return None
    BLAS_LINK_DIR.mkdir(parents=True, exist_ok=True)
    link = BLAS_LINK_DIR / "libmkl_rt.so"
    if not link.exists() or link.resolve() != library:
        tmp = BLAS_LINK_DIR / f".libmkl_rt.so.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(library)
        tmp.replace(link)  # atomic, so parallel jobs never see a half-made link
    return f"-L{BLAS_LINK_DIR} -lmkl_rt -Wl,-rpath,{library.parent}"


_set_compile_dir()

import pytensor  # noqa: E402  (the compile directory must be set first)
from pytensor.compile.mode import get_mode  # noqa: E402
from pytensor.link.c.cmodule import GCC_compiler  # noqa: E402
from threadpoolctl import threadpool_info  # noqa: E402

# PyTensor folds a scalar factor into a matrix product (Dot22Scalar) even when the plain
# product is needed too: with gradient clipping each weight gradient was computed twice, once
# for the norm and once, scaled, for the update (0.8 ms of a 10 ms LSTM step).
EXCLUDED_REWRITES = ("local_dot22_to_dot22scalar",)
COMPILE_MODE = get_mode("CVM").excluding(*EXCLUDED_REWRITES)

# PyTensor reports every C module it compiles at INFO; keep run logs to what matters.
logging.getLogger("pytensor").setLevel(logging.WARNING)

if "blas__ldflags" not in _user_flags():
    _ldflags = mkl_ldflags()
    if _ldflags is not None:
        pytensor.config.blas__ldflags = _ldflags


CPU_IDENTITY = ("vendor_id", "cpu family", "model", "model name", "flags")


def _march_flags_file(cpuinfo: Path = Path("/proc/cpuinfo")) -> Path:
    """Where the detected ``-march=native`` flags are kept for this compiler, CPU (as
    ``cpuinfo`` describes it) and ``gcc__cxxflags``."""
    compiler = shutil.which(pytensor.config.cxx) or pytensor.config.cxx
    try:
        stat = os.stat(compiler)
        compiler += f"{stat.st_size}:{stat.st_mtime_ns}"
    except OSError:
        pass
    try:  # the CPU's model and features, not its changing clock speed
        first_cpu = cpuinfo.read_text().split("\n\n")[0].splitlines()
        cpu = "\n".join(line for line in first_cpu if line.split(":")[0].strip() in CPU_IDENTITY)
    except OSError:
        cpu = platform.processor()
    key = hashlib.sha256("\0".join([compiler, cpu, pytensor.config.gcc__cxxflags]).encode()).hexdigest()[:16]
    return COMPILE_DIR / f"march-flags-{key}.json"


def reuse_march_flags() -> None:
    """Give PyTensor the ``-march=native`` flags found by an earlier process, or find them now
    (PyTensor's own detection) and keep them for later ones."""
    if not pytensor.config.cxx:
        return
    path = _march_flags_file()
    if path.exists():
        GCC_compiler.march_flags = json.loads(path.read_text())
        return
    GCC_compiler.compile_args()  # detects and sets GCC_compiler.march_flags
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(GCC_compiler.march_flags))
        tmp.replace(path)  # atomic: parallel jobs read a whole file or none
    except OSError as error:  # a read-only compile directory: detect again next time
        logging.getLogger(__name__).info("could not keep the -march flags in %s: %s", path, error)


reuse_march_flags()


def set_blas_threads(threads: int) -> None:
    """Run PyTensor's MKL matrix products on ``threads`` threads (no-op without the mkl wheel)."""
    library = mkl_library()
    if library is not None and "mkl_rt" in pytensor.config.blas__ldflags:
        ctypes.CDLL(str(library)).MKL_Set_Num_Threads(threads)


set_blas_threads(DEFAULT_BLAS_THREADS)


def keep_freed_memory(mmap_threshold: int = 256 << 20, trim_threshold: int = 512 << 20) -> None:
    """Raise glibc's mmap and trim thresholds (bytes) so that large temporary arrays reuse heap
    memory instead of fresh zero-filled pages; a no-op where the C library is not glibc."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
    mallopt(m_mmap_threshold, mmap_threshold)
    mallopt(m_trim_threshold, trim_threshold)


keep_freed_memory()


def set_float_dtype(dtype: str) -> None:
    """Make ``dtype`` ('float32' or 'float64') PyTensor's floatX for the graphs built next."""
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"float dtype must be one of {FLOAT_DTYPES}, got {dtype!r}")
    pytensor.config.floatX = dtype


def blas_libraries() -> str:
    """The BLAS libraries loaded in this process — MKL for PyTensor's products, NumPy's
    OpenBLAS for the fused recurrences' — each with its version, kernels (OpenBLAS's depend on
    the CPU and ``OPENBLAS_CORETYPE``) and threads, e.g. ``openblas 0.3.31, Haswell kernels,
    2 threads; mkl 2026.2, 1 threads``."""
    return "; ".join(
        f"{pool['internal_api']} {pool['version']}"
        + (f", {pool['architecture']} kernels" if pool.get("architecture") else "")
        + f", {pool['num_threads']} threads"
        for pool in threadpool_info()
        if pool["user_api"] == "blas"
    )


def engine_info() -> dict[str, str]:
    """Return the PyTensor settings a run should record (version, BLAS flags, mode, floatX)."""
    return {
        "pytensor_version": pytensor.__version__,
        "pytensor_blas_ldflags": pytensor.config.blas__ldflags,
        "blas_libraries": blas_libraries(),
        "pytensor_mode": f"CVM excluding {', '.join(EXCLUDED_REWRITES)}",
        "pytensor_floatX": pytensor.config.floatX,
        "pytensor_compiledir": str(pytensor.config.compiledir),
        "pytensor_optimizer": pytensor.config.optimizer,
        "pytensor_flags": os.environ.get("PYTENSOR_FLAGS", ""),
    }
