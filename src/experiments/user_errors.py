"""The mistakes of a user's (a bad config value, data file, weights or checkpoint file, run id,
experiment or tracking server, or a disk that refuses a checkpoint): one message each and a
non-zero status, never a traceback; shared by the entry points and the study sweeper."""

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from seqlab.data.errors import DataError
from seqlab.experiments.config.validation import ConfigError
from seqlab.experiments.training.checkpoints import CheckpointWriteError
from seqlab.models.legacy_pickle import UnsafePickleError
from seqlab.models.weights import WeightsFileError

log = logging.getLogger(__name__)

USER_ERRORS = (ConfigError, DataError, WeightsFileError, UnsafePickleError, LookupError, CheckpointWriteError)


@contextmanager
def exit_on_user_error(status: int = 2) -> Iterator[None]:
    """Log a ``USER_ERRORS`` exception's message and exit with ``status``."""
    try:
        yield
    except USER_ERRORS as error:
        log.error("%s", error)
        sys.exit(status)
