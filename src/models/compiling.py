"""How seqlab compiles: PyTensor's compile mode, and notices of compiles that take a while (one
after a second, the time at the end), so that a first run is not silent for a minute.

Mode: the C backend (``CVM``); PyTensor 3's default, Numba, spends seconds in the first call of
every function in every new process, even with a warm cache. One rewrite is left out:
``local_dot22_to_dot22scalar`` folds a scalar factor into a matrix product even when the plain
product is needed too, so with gradient clipping each weight gradient was computed twice.
"""

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytensor
from pytensor.compile.mode import get_mode
from pytensor.link.c.basic import get_module_cache

log = logging.getLogger(__name__)

EXCLUDED_REWRITES = ("local_dot22_to_dot22scalar",)
COMPILE_MODE = get_mode("CVM").excluding(*EXCLUDED_REWRITES)
COMPILE_MODE_DESCRIPTION = f"CVM excluding {', '.join(EXCLUDED_REWRITES)}"
# A compile (or first step) that takes longer than this is announced while it runs.
SLOW_S = 1.0


def compiled_modules() -> int:
    """How many C modules this process has compiled (not loaded from the cache) so far."""
    return get_module_cache().stats[2]


@contextmanager
def announce_compile(what: str) -> Iterator[None]:
    """Time the compile of ``what`` (e.g. "LSTM train step"): a notice once it has taken longer
    than ``SLOW_S`` (a long compile is never silent), and after it, when it compiled a C module
    or took that long, its time and its new C modules; nothing when the compile cache had it all."""
    start, modules = time.perf_counter(), compiled_modules()
    notice = threading.Timer(SLOW_S, log.info, ("compiling the %s ...", what))
    notice.daemon = True
    notice.start()
    try:
        yield
    finally:
        notice.cancel()
    elapsed, new = time.perf_counter() - start, compiled_modules() - modules
    if new or elapsed > SLOW_S:
        cached = f"{new} new C modules, cached in {pytensor.config.compiledir}" if new else "from the compile cache"
        log.info("compiled the %s in %.1f s (%s)", what, elapsed, cached)
