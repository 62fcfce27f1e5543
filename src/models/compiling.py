"""How seqlab compiles: PyTensor's compile mode, a cache of rewritten graphs across processes,
and notices of compiles that take a while (one after a second, the time at the end), so that a
first run is not silent for a minute.

Mode: the C backend (``CVM``); PyTensor 3's default, Numba, spends seconds in the first call of
every function in every new process, even with a warm cache. One rewrite is left out:
``local_dot22_to_dot22scalar`` folds a scalar factor into a matrix product even when the plain
product is needed too, so with gradient clipping each weight gradient was computed twice.

Rewritten graphs: PyTensor's compile cache keeps C modules, but every process rewrites its graphs
again, which is most of a warm compile (``docs/performance.md``). ``compile_function`` keeps the
rewritten graph (the function's ``FunctionMaker``) in ``<compiledir>/rewritten_graphs``, keyed by
the SHA-256 of the graph as built (inputs, outputs, updates; pickled with every shared
variable's storage replaced by its number in the order the pickle meets it, so that runs with
other weights, of any shape, share an entry), the compile mode, PyTensor's configuration, the
versions of Python, NumPy and PyTensor, and seqlab's source (whose Ops and rewrites the graph
uses). A hit unpickles the rewritten graph with the same numbers bound to this graph's storage,
which an equal key orders alike, and makes the function from it: no rewrite runs, C modules
come from the compile cache. A miss makes its function from the pickle it stores, as the hits
will: unpickling rebuilds the inner graph of each fused element-wise Op (``Composite``) with its
equal nodes merged, which fusion can leave apart, and that C code differs; a function made from
the rewrite itself compiled modules no later run used, and the first hit one more. An entry not
used for ``cmodule__age_thresh_use`` (PyTensor's limit for its modules) is deleted; deleting the
compile cache deletes them all.
"""

import hashlib
import io
import logging
import os
import pickle
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path

import numpy as np
import pytensor
from pytensor.compile.executor import Function
from pytensor.compile.maker import construct_function_ins_and_outs
from pytensor.compile.mode import Mode, get_mode
from pytensor.graph.basic import Variable
from pytensor.graph.op import Op
from pytensor.link.basic import Container
from pytensor.link.c.basic import get_module_cache
from pytensor.misc.frozendict import frozendict

from seqlab.paths import PACKAGE_DIR, write_atomically

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


def compile_function(
    inputs: Sequence[Variable],
    outputs: Sequence[Variable] | Variable,
    mode: Mode,
    name: str,
    updates: Sequence[tuple[Variable, Variable]] = (),
) -> Function:
    """``pytensor.function(inputs, outputs, updates=updates, mode=mode, name=name)``, its
    rewritten graph taken from or added to the cache of rewritten graphs (module docstring)."""
    storage: dict[int, tuple[int, Container]] = {}
    try:
        key = _graph_key((list(inputs), outputs, list(updates), mode), storage)
    except (pickle.PicklingError, TypeError, AttributeError) as error:  # an Op that does not pickle
        log.debug("%s: not cached (%s)", name, error)
        return pytensor.function(inputs, outputs, updates=updates, mode=mode, name=name)
    path = rewritten_graphs_dir() / f"{name}-{key}.pkl"
    numbered = [container for _, container in storage.values()]  # numbered in insertion order
    if path.exists():
        try:
            with path.open("rb") as file:
                maker = _StorageUnpickler(file, numbered).load()
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError) as error:
            log.warning("the cached rewritten graph %s cannot be read (%s): rewriting it again", path, error)
        else:
            with suppress(OSError):  # a read-only cache: the entry just ages
                os.utime(path)
            log.debug("%s: rewritten graph from %s", name, path)
            return maker.create()
    ins, outs = construct_function_ins_and_outs(inputs, outputs, updates=updates)
    mode = get_mode(mode)
    maker = mode.function_maker(ins, outs, mode, name=name)  # the rewrites, no C module yet
    pickled = _store(maker, storage, path)
    if pickled is not None:  # made from the pickle, as the later runs will make it
        maker = _StorageUnpickler(io.BytesIO(pickled), numbered).load()
    return maker.create()


def rewritten_graphs_dir() -> Path:
    """Where ``compile_function`` keeps rewritten graphs: in PyTensor's compile directory."""
    return Path(pytensor.config.compiledir) / "rewritten_graphs"


class _StoragePickler(pickle.Pickler):
    """Pickles with every ``Container`` (a shared variable's storage) replaced by its number in
    ``storage`` (``id -> (number, container)``), numbering new ones in the order met unless
    ``closed`` (then a new one is an error: the rewritten graph must use the graph's storage)."""

    def __init__(self, file: io.BufferedIOBase, storage: dict[int, tuple[int, Container]], closed: bool):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.storage, self.closed = storage, closed

    def persistent_id(self, obj: object) -> int | None:
        if not isinstance(obj, Container):
            return None
        if id(obj) not in self.storage:
            if self.closed:
                raise pickle.PicklingError(f"storage {obj} is not in the graph as built")
            self.storage[id(obj)] = (len(self.storage), obj)
        return self.storage[id(obj)][0]


class _KeyPickler(_StoragePickler):
    """A ``_StoragePickler`` for keys, so that equal graphs pickle alike wherever and after what
    the process built them: a variable without its ``auto_name`` (a process-wide count) and the
    ``trace`` of where it was made; an Op with ``__props__`` as its class and props (what
    PyTensor's equality of Ops compares; compiling leaves caches in Ops other graphs share); a
    ``frozendict`` as its items."""

    def reducer_override(self, obj: object) -> object:
        if isinstance(obj, Variable):
            state = obj.__getstate__()
            state.pop("auto_name", None)
            if "tag" in state:
                state["tag"] = {name: value for name, value in vars(state["tag"]).items() if name != "trace"}
            return type(obj), (), state
        if isinstance(obj, Op) and getattr(obj, "__props__", None) is not None:
            return type(obj), (), {"props": obj._props()}
        if isinstance(obj, frozendict):  # without the hash it caches once hashed, of str keys too
            return frozendict, (dict(obj),)
        return NotImplemented


class _StorageUnpickler(pickle.Unpickler):
    """Unpickles what ``_StoragePickler`` wrote, storage number ``i`` becoming ``numbered[i]``."""

    def __init__(self, file: io.BufferedIOBase, numbered: list[Container]):
        super().__init__(file)
        self.numbered = numbered

    def persistent_load(self, number: int) -> Container:
        return self.numbered[number]


def _graph_key(graph: tuple, storage: dict[int, tuple[int, Container]]) -> str:
    """The SHA-256 (hex) of ``graph`` pickled by ``_StoragePickler`` (filling ``storage``) and of
    what else decides its rewrites (``_environment``)."""
    pickled = io.BytesIO()
    _KeyPickler(pickled, storage, closed=False).dump(graph)
    config = pytensor.config
    flags = repr([(name, getattr(config, name)) for name in config._config_var_dict])
    return hashlib.sha256(_environment() + flags.encode() + pickled.getvalue()).hexdigest()


@cache
def _environment() -> bytes:
    """The versions of Python, NumPy and PyTensor, and the SHA-256 of seqlab's source files."""
    source = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        source.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{sys.version} {np.__version__} {pytensor.__version__} {source.hexdigest()}".encode()


def _store(maker: object, storage: dict[int, tuple[int, Container]], path: Path) -> bytes | None:
    """Write ``maker`` to ``path`` and delete the entries not used for
    ``cmodule__age_thresh_use``. Returns the pickle, or None for a graph that does not pickle
    (it is not cached). The pickle is returned even where it could not be written."""
    pickled = io.BytesIO()
    try:
        _StoragePickler(pickled, storage, closed=True).dump(maker)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        log.debug("%s: not cached (%s)", path.name, error)
        return None
    data = pickled.getvalue()
    try:
        write_atomically(data, path)  # concurrent sweep jobs write the same entry
    except OSError as error:  # a full disk or read-only cache costs the next run a rewrite, not this one
        log.warning("could not cache the rewritten graph in %s (%s)", path, error)
        return data
    oldest = time.time() - pytensor.config.cmodule__age_thresh_use
    for entry in path.parent.glob("*.pkl"):
        with suppress(FileNotFoundError):  # deleted meanwhile by another process
            if entry.stat().st_mtime < oldest:
                entry.unlink()
    return data
