"""Process-wide engine set-up: where PyTensor compiles, which BLAS it links, threads, memory,
CPU flags, float precision. Measurements behind these choices are in ``docs/engine.md``.

Two explicit steps:

* ``import_pytensor()`` (run by importing :mod:`seqlab.models`): imports PyTensor with seqlab's
  compile directory, ``pytensor`` in ``seqlab.paths.cache_dir()``, shared by every run,
  parallel job and loaded model (PyTensor locks it). PyTensor reads that directory only once,
  from ``PYTENSOR_FLAGS`` when it is first imported, so the variable is set for that import and
  then put back as it was: importing seqlab changes no environment variable and writes no file.
* ``configure(blas_threads)`` (entry points, the MLflow model and test fixtures call it before
  they compile anything): links PyTensor to the pip ``mkl`` wheel, runs its products on
  ``blas_threads`` threads, raises glibc's malloc thresholds, compiles without debug
  information, reuses the kept ``-march`` flags and caches the float32 LSTM's Numba kernels
  beside PyTensor's. Idempotent.

Details of ``configure``:

* BLAS: pip's ``mkl`` wheel ships ``libmkl_rt.so.3`` but no ``libmkl_rt.so`` linker name, so
  PyTensor's own search misses it and warns that it could not link to a BLAS. We give the
  linker that name through a symlink in the cache and an rpath to the real library. Without
  the wheel (another platform) PyTensor's own search finds a system BLAS such as Debian's
  ``libopenblas-dev``.
* Threads: the fused recurrences multiply with NumPy's OpenBLAS while PyTensor's own products
  run on MKL; two busy thread pools on few cores slow each other, so MKL gets
  ``trainer.blas_threads`` (1 by default). With more than one, MKL's threads (Intel OpenMP)
  would keep spinning after each product (its ``KMP_BLOCKTIME``), on the cores NumPy's OpenBLAS
  threads are about to use (a ResNet step's eight products between its convolutions made it
  twice as slow, and bimodal: ``docs/performance.md``); ``KMP_BLOCKTIME=0`` puts them to sleep
  at once, unless the user set it.
* Memory: the fused recurrences allocate and free megabytes every step; raising glibc's mmap
  and trim thresholds (``mallopt``) keeps that memory in the heap instead of fresh zero-filled
  pages.
* Debug information: PyTensor compiles every C module with ``-g``; ``-g0`` (appended to
  ``gcc__cxxflags``) drops it, which shortens every cold compile (measured in
  ``docs/performance.md``) and changes no instruction.
* CPU flags: PyTensor finds the g++ flags equal to ``-march=native`` by running the compiler
  three times in every process that compiles. The answer is kept in the compile directory,
  keyed by compiler, CPU and ``gcc__cxxflags``, and handed back to PyTensor, which then skips
  the detection; the flags, and so the cache keys, are the same.

Setting ``blas__ldflags``, ``base_compiledir`` or ``gcc__cxxflags`` in ``PYTENSOR_FLAGS`` overrides
the choices here.
"""

import ctypes
import hashlib
import importlib
import importlib.metadata
import json
import logging
import os
import platform
import shutil
import sys
from pathlib import Path

from seqlab.paths import cache_dir, write_atomically

FLOAT_DTYPES = ("float32", "float64")
DEFAULT_BLAS_THREADS = 1
CPU_IDENTITY = ("vendor_id", "cpu family", "model", "model name", "flags")

log = logging.getLogger(__name__)


def _user_flags() -> str:
    return os.environ.get("PYTENSOR_FLAGS", "")


def import_pytensor() -> None:
    """Import PyTensor with its compile directory in ``cache_dir()`` unless ``PYTENSOR_FLAGS``
    names one; leave the environment as it was. A no-op once PyTensor is imported."""
    if "pytensor" in sys.modules:
        return
    # PyTensor reports its config parsing and every C module it compiles at INFO, under loggers
    # named by file path; keep run logs to what matters (its warnings), from the import on.
    logging.getLogger("pytensor").setLevel(logging.WARNING)
    before = os.environ.get("PYTENSOR_FLAGS")
    if "base_compiledir" not in _user_flags():
        flags = f"base_compiledir={cache_dir() / 'pytensor'}"
        os.environ["PYTENSOR_FLAGS"] = f"{flags},{before}" if before else flags
    try:
        importlib.import_module("pytensor")
    finally:
        if before is None:
            os.environ.pop("PYTENSOR_FLAGS", None)
        else:
            os.environ["PYTENSOR_FLAGS"] = before


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
    """Linker flags for the pip ``mkl`` wheel's library (making its linker-name symlink in the
    cache), or None if the wheel is absent."""
    library = mkl_library()
    if library is None:
        return None
    link_dir = cache_dir() / "blas"
    link_dir.mkdir(parents=True, exist_ok=True)
    link = link_dir / "libmkl_rt.so"
    if not link.exists() or link.resolve() != library:
        tmp = link_dir / f".libmkl_rt.so.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(library)
        tmp.replace(link)  # atomic, so parallel jobs never see a half-made link
    return f"-L{link_dir} -lmkl_rt -Wl,-rpath,{library.parent}"


def _march_flags_file(cpuinfo: Path = Path("/proc/cpuinfo")) -> Path:
    """Where the detected ``-march=native`` flags are kept for this compiler, CPU (as
    ``cpuinfo`` describes it) and ``gcc__cxxflags``."""
    import pytensor

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
    return Path(pytensor.config.base_compiledir) / f"march-flags-{key}.json"


def reuse_march_flags() -> None:
    """Give PyTensor the ``-march=native`` flags found by an earlier process, or find them now
    (PyTensor's own detection) and keep them for later ones."""
    import pytensor
    from pytensor.link.c.cmodule import GCC_compiler

    if not pytensor.config.cxx or GCC_compiler.march_flags is not None:
        return
    path = _march_flags_file()
    if path.exists():
        GCC_compiler.march_flags = json.loads(path.read_text())
        return
    GCC_compiler.compile_args()  # detects and sets GCC_compiler.march_flags
    try:
        write_atomically(json.dumps(GCC_compiler.march_flags).encode(), path)  # parallel jobs read all or none
    except OSError as error:  # a read-only compile directory: detect again next time
        log.info("could not keep the -march flags in %s: %s", path, error)


def set_blas_threads(threads: int) -> None:
    """Run PyTensor's MKL matrix products on ``threads`` threads (no-op without the mkl wheel)."""
    import pytensor

    library = mkl_library()
    if library is not None and "mkl_rt" in pytensor.config.blas__ldflags:
        ctypes.CDLL(str(library)).MKL_Set_Num_Threads(threads)


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


NO_DEBUG_INFO = "-g0"  # after PyTensor's own -g on the compiler's command line, so it wins
_configured = False


def configure(blas_threads: int = DEFAULT_BLAS_THREADS) -> None:
    """Set the engine up for compiling and training (see the module docstring); later calls
    only change the BLAS threads."""
    global _configured
    import_pytensor()
    import pytensor

    if not _configured:
        os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir() / "numba"))
        os.environ.setdefault("KMP_BLOCKTIME", "0")  # read when MKL's OpenMP runtime starts
        if "blas__ldflags" not in _user_flags():
            ldflags = mkl_ldflags()
            if ldflags is not None:
                pytensor.config.blas__ldflags = ldflags
        if "gcc__cxxflags" not in _user_flags():
            pytensor.config.gcc__cxxflags = NO_DEBUG_INFO
        reuse_march_flags()
        keep_freed_memory()
        _configured = True
    set_blas_threads(blas_threads)


def set_float_dtype(dtype: str) -> None:
    """Make ``dtype`` ('float32' or 'float64') PyTensor's floatX for the graphs built next."""
    import pytensor

    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"float dtype must be one of {FLOAT_DTYPES}, got {dtype!r}")
    pytensor.config.floatX = dtype


def blas_libraries() -> str:
    """The BLAS libraries loaded in this process — MKL for PyTensor's products, NumPy's
    OpenBLAS for the fused recurrences' — each with its version, kernels (OpenBLAS's depend on
    the CPU and ``OPENBLAS_CORETYPE``) and threads, e.g. ``openblas 0.3.31, Haswell kernels,
    2 threads; mkl 2026.2, 1 threads``."""
    from threadpoolctl import threadpool_info

    return "; ".join(
        f"{pool['internal_api']} {pool['version']}"
        + (f", {pool['architecture']} kernels" if pool.get("architecture") else "")
        + f", {pool['num_threads']} threads"
        for pool in threadpool_info()
        if pool["user_api"] == "blas"
    )


def engine_info(compile_mode: str) -> dict[str, str]:
    """The engine settings a run records: versions, BLAS, ``compile_mode`` (a description),
    floatX, compile directory and flags."""
    import pytensor

    return {
        "pytensor_version": pytensor.__version__,
        "pytensor_blas_ldflags": pytensor.config.blas__ldflags,
        "blas_libraries": blas_libraries(),
        "pytensor_mode": compile_mode,
        "pytensor_floatX": pytensor.config.floatX,
        "pytensor_compiledir": str(pytensor.config.compiledir),
        "pytensor_optimizer": pytensor.config.optimizer,
        "pytensor_flags": os.environ.get("PYTENSOR_FLAGS", ""),
    }
