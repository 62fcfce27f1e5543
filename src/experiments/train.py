"""Train entry point: ``seqlab train [overrides]`` (add ``-m`` for a sweep), or
``python -m seqlab.experiments.train``.

Returns the best value of ``trainer.monitor`` (``val_loss`` or ``val_accuracy``) to Hydra, so
sweepers can optimise it.
"""

from omegaconf import DictConfig

from seqlab.experiments.cli import hydra_app
from seqlab.experiments.training.runner import train


@hydra_app("config")
def main(cfg: DictConfig) -> float:
    """Train one configuration; exit with status 2 on an invalid config value, data file,
    run id or tracking server."""
    return train(cfg)[cfg.trainer.monitor]


if __name__ == "__main__":
    main()
