"""What the entry points share: their Hydra set-up, one clear message with a non-zero status
(not a traceback) for a mistake of the user's, and one path for SIGTERM and Ctrl-C
(``seqlab.experiments.signals``) in the launching process and in each job."""

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

import hydra
from hydra.core.plugins import Plugins
from omegaconf import DictConfig

from hydra_plugins.seqlab_optuna_sweeper.optuna_sweeper import OptunaSweeper
from hydra_plugins.seqlab_study_sweeper.study_sweeper import StudySweeper
from seqlab import engine
from seqlab.experiments.config.legacy import upgrade_overrides
from seqlab.experiments.config.resolvers import register_resolvers
from seqlab.experiments.config.schema import register_schemas
from seqlab.experiments.signals import stop_cleanly
from seqlab.experiments.user_errors import exit_on_user_error
from seqlab.paths import cache_dir, runs_location

log = logging.getLogger(__name__)

# The configs ship inside the package (conf/ of the checkout is the package seqlab.conf).
CONFIG_PATH = "pkg://seqlab.conf"


def register_configs() -> None:
    """Tell Hydra what it must know before composing a config: the schemas, the resolvers and
    seqlab's Optuna and study sweepers (registered by hand too, as Hydra's plugin scan does not
    see the ``hydra_plugins`` package of an editable install). Idempotent."""
    register_schemas()
    register_resolvers()
    Plugins.instance().register(OptunaSweeper)
    Plugins.instance().register(StudySweeper)


def hydra_app(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """Make ``task(cfg)`` the Hydra app of ``conf/<config_name>.yaml``.

    The app registers seqlab's configs (``register_configs``) before Hydra composes anything,
    sets the engine up (``seqlab.engine.configure``) in whichever process runs the job, logs
    where runs go as its first line, turns a ``USER_ERRORS`` exception into one message and
    exit status 2, and a stop signal or Ctrl-C into status 128 + its number (``stop_cleanly``). What
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
