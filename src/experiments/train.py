"""Train entry point: ``python -m src.experiments.train [overrides]`` (add ``-m`` for a sweep).

Returns the best value of ``trainer.monitor`` (``val_loss`` or ``val_accuracy``) to Hydra, so
sweepers can optimise it.
"""

import logging
import sys

import hydra
from omegaconf import DictConfig

from src.data.errors import DataError
from src.experiments.resolvers import register_resolvers
from src.experiments.runner import train
from src.experiments.schema import register_schemas
from src.experiments.validation import ConfigError

log = logging.getLogger(__name__)

register_schemas()
register_resolvers()


@hydra.main(version_base="1.3", config_path="../../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Train one configuration; exit with status 2 on an invalid config value or data file."""
    try:
        metrics = train(cfg)
    except (ConfigError, DataError) as error:
        log.error("%s", error)
        sys.exit(2)
    return metrics[cfg.trainer.monitor]


if __name__ == "__main__":
    main()
