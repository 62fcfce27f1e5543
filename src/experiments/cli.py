"""What the entry points share: their Hydra set-up, one clear message with a non-zero status
(not a traceback) for a mistake of the user's, and one path for SIGTERM and Ctrl-C
(``seqlab.experiments.signals``) in the launching process and in each job."""

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import hydra
from hydra.core.plugins import Plugins
from omegaconf import DictConfig

from hydra_plugins.seqlab_optuna_sweeper.optuna_sweeper import OptunaSweeper
from seqlab import engine
from seqlab.data.errors import DataError
from seqlab.experiments.config.legacy import upgrade_overrides
from seqlab.experiments.config.resolvers import register_resolvers
from seqlab.experiments.config.schema import register_schemas
from seqlab.experiments.config.validation import ConfigError
from seqlab.experiments.signals import stop_cleanly
from seqlab.experiments.training.checkpoints import CheckpointWriteError
from seqlab.models.weights import UnsafeWeightsError
from seqlab.paths import cache_dir, runs_location

log = logging.getLogger(__name__)

# The configs ship inside the package (conf/ of the checkout is the package seqlab.conf).
CONFIG_PATH = "pkg://seqlab.conf"

# A bad config value, data file, weights or checkpoint file, run id, experiment or tracking server,
# or a disk that refuses a checkpoint: one message each, no traceback.
USER_ERRORS = (ConfigError, DataError, UnsafeWeightsError, LookupError, CheckpointWriteError)


@contextmanager
def exit_on_user_error(status: int = 2) -> Iterator[None]:
    """Log a ``USER_ERRORS`` exception's message and exit with ``status``."""
    try:
        yield
    except USER_ERRORS as error:
        log.error("%s", error)
        sys.exit(status)


def register_configs() -> None:
    """Tell Hydra what it must know before composing a config: the schemas, the resolvers and
    seqlab's Optuna sweeper (registered by hand too, as Hydra's plugin scan does not see the
    ``hydra_plugins`` package of an editable install). Idempotent."""
    register_schemas()
    register_resolvers()
    Plugins.instance().register(OptunaSweeper)


def hydra_app(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """Make ``task(cfg)`` the Hydra app of ``conf/<config_name>.yaml``.

    The app registers seqlab's configs (``register_configs``) before Hydra composes anything,
    sets the engine up (``seqlab.engine.configure``) in whichever process runs the job, logs
    where runs go as its first line, turns a ``USER_ERRORS`` exception into one message and
    exit status 2, and SIGTERM or Ctrl-C into status 143 or 130 (``stop_cleanly``). What
    ``task`` returns goes back to Hydra (a sweeper's objective).
    """

    def decorator(task: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        @functools.wraps(task)
        def run(cfg: DictConfig) -> Any:  # in the launching process or a launcher's worker
            engine.configure()
            runs, reason = runs_location()
            log.info("seqlab: runs in %s (%s); compile cache in %s", runs, reason, cache_dir())
            with stop_cleanly(), exit_on_user_error():
                return task(cfg)

        app = hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name=config_name)(run)

        @functools.wraps(task)
        def main() -> Any:  # in the launching process: a sweep launcher passes SIGTERM on to its jobs
            register_configs()
            sys.argv[1:] = upgrade_overrides(sys.argv[1:])
            with stop_cleanly(entry_point=True):
                return app()

        return main

    return decorator
