"""Every request to stop: one path for all, in a single run and in a sweep's launcher.

SIGTERM is what SLURM, ``timeout``, ``kill`` and container runtimes send; SIGHUP a closed
terminal or SSH session; SIGQUIT Ctrl-\\; SIGUSR1 and SIGUSR2 SLURM's ``--signal`` before a time
limit. While ``stop_cleanly`` is active each is turned into ``Terminated`` (naming it), a
``KeyboardInterrupt``, so that it takes Ctrl-C's path: the run being trained is marked KILLED
and keeps its checkpoint, and the process exits with 128 + the signal's number. A process with
children (a sweep launcher and its joblib workers) first passes the signal on to them and gives
them ``CHILDREN_GRACE_S`` to record their runs and exit. A launcher's worker whose launcher dies
without a signal (``kill -9``) sees its parent change and stops itself the same way
(``watch_parent``). ``stopped`` tells code that runs at exit (a sweep's parent run) whether the
process was stopped this way.

A signal that arrives inside ``deferred`` (a write to the tracking store) is raised when the
block ends: an sqlite transaction cut in half keeps the store locked, and the run could then
not be marked KILLED. A signal's exception can also be lost: the handler runs wherever the main
thread is, and Python drops an exception raised inside a weakref callback or a ``__del__``
method. The training loop therefore asks ``raise_if_stopped`` before every batch, and while
``stop_cleanly`` is active such a dropped stop is not printed as an ignored exception (with its
traceback) either: it has not been ignored.
"""

import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

from seqlab.experiments.slurm import requeue

# How long a stopping process waits for its children to record their runs KILLED and exit.
CHILDREN_GRACE_S = 60
# The signals that ask a run to stop (besides Ctrl-C's SIGINT).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
# How often a launcher's worker looks whether its launcher is still there.
PARENT_POLL_S = 0.5

_stopped = False
_entry_point = False  # whether a seqlab entry point started this process (not a launcher's worker)
_deferring = 0  # how many ``deferred`` blocks are open
_pending: int | None = None  # a signal held by ``deferred``
_watching = False  # whether ``watch_parent`` runs in this process
_stopped_by: str | None = None  # the signal that stopped this process
_requested: int | None = None  # the number of the stop signal received, raised or held


class Terminated(KeyboardInterrupt):
    """A stop signal (``STOP_SIGNALS``), raised where the main thread is (see the module
    docstring); ``signum`` is the signal."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def stopped() -> bool:
    """Whether a stop signal or Ctrl-C has stopped this process."""
    return _stopped


def stopped_by() -> str | None:
    """What stopped this process (``SIGTERM``, ``Ctrl-C``...), or None."""
    return _stopped_by


def _deaf_to(pid: int, signum: int) -> bool:
    """Whether process ``pid`` ignores or blocks signal ``signum``, as a multiprocessing resource
    tracker does: it will not act on it, and lives until this process ends (read from Linux's
    /proc; False where that cannot be read)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    masks = re.findall(r"^Sig(?:Blk|Ign):\s*([0-9a-f]+)$", status, re.MULTILINE)
    return any(int(mask, 16) >> (signum - 1) & 1 for mask in masks)


def _stop_children(signum: int) -> None:
    """Pass signal ``signum`` on to every descendant of this process; wait (at most
    ``CHILDREN_GRACE_S``) for those that act on it to exit."""
    children = psutil.Process().children(recursive=True)
    acting = [child for child in children if not _deaf_to(child.pid, signum)]
    for child in children:
        with suppress(psutil.NoSuchProcess):
            child.send_signal(signum)
    psutil.wait_procs(acting, timeout=CHILDREN_GRACE_S)


def _stop_error(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def stop_reason(stop: KeyboardInterrupt) -> str:
    """What stopped the process: ``SIGHUP``, ``SIGTERM``..., or ``Ctrl-C``."""
    return stop.name if isinstance(stop, Terminated) else "Ctrl-C"


def _on_signal(signum, frame) -> None:
    global _stopped, _pending, _stopped_by, _requested
    _stopped, _stopped_by, _requested = True, stop_reason(_stop_error(signum)), signum
    for handled in (*STOP_SIGNALS, signal.SIGINT):  # a second signal must not interrupt the clean-up
        signal.signal(handled, signal.SIG_IGN)
    _stop_children(signum)
    if _deferring:
        _pending = signum
        return
    raise _stop_error(signum)


def _unraisable(previous):
    """A ``sys.unraisablehook`` that keeps quiet about a stop this module raised where Python
    drops exceptions (``raise_if_stopped`` raises it again) and hands anything else to
    ``previous``."""

    def hook(unraisable) -> None:
        if _requested is not None and isinstance(unraisable.exc_value, KeyboardInterrupt):
            return
        previous(unraisable)

    return hook


def raise_if_stopped() -> None:
    """Raise the stop (``Terminated`` or ``KeyboardInterrupt``) that a signal asked for, if the
    process is still at work after it (its exception was lost; see the module docstring) and
    not inside ``deferred``, which raises it itself."""
    if _requested is not None and not _deferring:
        raise _stop_error(_requested)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a stopping signal that arrives while the block runs, and raise it (``Terminated``
    or ``KeyboardInterrupt``) when the block has finished, also when it failed: the stop then
    replaces the block's error (kept as its context), which a caller may have handled."""
    global _deferring, _pending
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending is not None:
            signum, _pending = _pending, None
            raise _stop_error(signum)


def _exit(status: int) -> None:
    """End the process with ``status``: through ``sys.exit`` (atexit handlers run: a sweep's
    parent run is closed) in an entry point's process; at once in a launcher's worker, whose
    pool would otherwise keep it alive while its launcher waits for it to end."""
    if _entry_point:
        sys.exit(status)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def watch_parent(poll_s: float = PARENT_POLL_S) -> None:
    """In a launcher's worker: a daemon thread that sends this process SIGTERM (the clean stop
    path) once its parent process is gone (the launcher killed with SIGKILL leaves its workers
    to init), so that no worker outlives its launcher by more than ``poll_s`` and a stop.
    One thread per process, however many jobs a worker runs."""
    global _watching
    if _watching:
        return
    _watching = True
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="seqlab-watch-parent", daemon=True).start()


@contextmanager
def stop_cleanly(entry_point: bool = False) -> Iterator[None]:
    """While the block runs (in the main thread), turn a stop signal (``STOP_SIGNALS``) into
    ``Terminated`` and Ctrl-C (unless it is ignored, as in a background job) into
    ``KeyboardInterrupt``, each after passing the signal on to this process's children and
    waiting for them; end the process on any with its conventional status and no traceback:
    128 + the signal's number (143 for SIGTERM, 129 SIGHUP, 130 Ctrl-C; the runner has said
    what was kept). ``entry_point``: the block is a seqlab command's whole work (see
    ``_exit``); otherwise it is a launcher's worker, which watches its launcher (``watch_parent``)."""
    global _stopped, _entry_point
    _entry_point = _entry_point or entry_point
    previous, hook = {}, sys.unraisablehook
    if threading.current_thread() is threading.main_thread():
        interrupt = [signal.SIGINT] * (signal.getsignal(signal.SIGINT) is not signal.SIG_IGN)
        previous = {signum: signal.signal(signum, _on_signal) for signum in [*STOP_SIGNALS, *interrupt]}
        sys.unraisablehook = _unraisable(hook)
        if not _entry_point:
            watch_parent()
    try:
        yield
    except KeyboardInterrupt as stop:
        _stopped = True
        if isinstance(stop, Terminated) and not _entry_point:
            requeue(stop.signum, previous)  # a SLURM job preempted or out of time: requeued
        _exit(128 + stop.signum if isinstance(stop, Terminated) else 130)
    finally:
        if not _stopped:  # once stopping, the process stays deaf to both signals
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            sys.unraisablehook = hook
