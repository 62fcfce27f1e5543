"""What a person at the terminal sees: one Rich console (standard error) that log lines and the
training progress bar share, so that a line logged while the bar is live prints above it and
never lands on the bar's line.

``log_handler`` is the handler of every seqlab app's log (``conf/hydra/job_logging/seqlab.yaml``):
Rich's on a terminal; on anything else (a file, a pipe, a SLURM log) plain lines with the time,
logger and level, never wrapped.
"""

import logging
import sys

from rich.console import Console
from rich.logging import RichHandler

CONSOLE = Console(stderr=True)

PLAIN_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s]{job} - %(message)s"


def console() -> Console:
    """The console the bar and the log share (looked up at each use, so tests can record it)."""
    return CONSOLE


def log_handler(job: str = "") -> logging.Handler:
    """A log handler for the terminal (``job``: a sweep job's `` [job N]`` prefix, or nothing)."""
    if console().is_terminal:
        handler: logging.Handler = RichHandler(console=console(), show_path=False, markup=False)
        handler.setFormatter(logging.Formatter(f"{job.strip()} %(message)s" if job else "%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT.format(job=job)))
    return handler
