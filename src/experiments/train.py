"""Train entry point: ``python -m src.experiments.train [overrides]`` (add ``-m`` for a sweep).

Returns the best value of ``trainer.monitor`` (``val_loss`` or ``val_accuracy``) to Hydra, so
sweepers can optimise it.
"""

import hydra
from omegaconf import DictConfig

from src.experiments.cli import exit_on_user_error
from src.experiments.resolvers import register_resolvers
from src.experiments.runner import train
from src.experiments.schema import register_schemas

register_schemas()
register_resolvers()


@hydra.main(version_base="1.3", config_path="../../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Train one configuration; exit with status 2 on an invalid config value, data file,
    run id or tracking server."""
    with exit_on_user_error():
        metrics = train(cfg)
    return metrics[cfg.trainer.monitor]


if __name__ == "__main__":
    main()
