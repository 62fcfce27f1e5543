"""How seqlab compiles: PyTensor's compile mode, and a line before a compile that is new to this
machine's compile cache with its time after, so that a first run is not silent for a minute.

Mode: the C backend (``CVM``); PyTensor 3's default, Numba, spends seconds in the first call of
every function in every new process, even with a warm cache. One rewrite is left out:
``local_dot22_to_dot22scalar`` folds a scalar factor into a matrix product even when the plain
product is needed too, so with gradient clipping each weight gradient was computed twice.
"""

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytensor
from pytensor.compile.mode import get_mode
from pytensor.link.c.basic import get_module_cache

log = logging.getLogger(__name__)

EXCLUDED_REWRITES = ("local_dot22_to_dot22scalar",)
COMPILE_MODE = get_mode("CVM").excluding(*EXCLUDED_REWRITES)
COMPILE_MODE_DESCRIPTION = f"CVM excluding {', '.join(EXCLUDED_REWRITES)}"


def compiled_modules() -> int:
    """How many C modules this process has compiled (not loaded from the cache) so far."""
    return get_module_cache().stats[2]


@contextmanager
def announce_compile(what: str, signature: str) -> Iterator[None]:
    """Wrap the compile of ``what`` (e.g. "LSTM train step"), whose graph ``signature`` (a string
    naming everything that shapes the graph) says whether this compile cache has seen it: log a
    line before the first compile of a signature and its time after; stay quiet otherwise."""
    compile_dir = Path(pytensor.config.compiledir)
    marker = compile_dir / "seqlab-graphs" / hashlib.sha256(signature.encode()).hexdigest()[:24]
    first_time = not marker.exists()
    if first_time:
        log.info("compiling the %s (first time for this configuration; cached under %s)", what, compile_dir)
    start, modules = time.perf_counter(), compiled_modules()
    yield
    if first_time:
        log.info(
            "compiled the %s in %.1f s (%d new C modules)",
            what,
            time.perf_counter() - start,
            compiled_modules() - modules,
        )
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
