"""What the entry points share: a mistake of the user's ends the process with one clear
message and a non-zero status, not a traceback."""

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from src.data.errors import DataError
from src.experiments.validation import ConfigError

log = logging.getLogger(__name__)

# A bad config value, data file, run id, experiment or tracking server.
USER_ERRORS = (ConfigError, DataError, LookupError)


@contextmanager
def exit_on_user_error(status: int = 2) -> Iterator[None]:
    """Log a ``USER_ERRORS`` exception's message and exit with ``status``."""
    try:
        yield
    except USER_ERRORS as error:
        log.error("%s", error)
        sys.exit(status)
