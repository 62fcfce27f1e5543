"""Where training stands: the best epoch so far (selected on ``trainer.monitor``), early
stopping's count of epochs without improvement, and the reduce-on-plateau rule."""

from dataclasses import dataclass, field

import numpy as np

from seqlab.experiments.metrics import MONITOR_SIGN


@dataclass
class Progress:
    """Where training stands after ``epoch`` finished epochs, and its best epoch so far."""

    epoch: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    best_epoch: int = 0
    best_metrics: dict[str, float] = field(default_factory=dict)
    best_weights: dict[str, np.ndarray] = field(default_factory=dict)
    # Reduce-on-plateau: the multiplier of the learning rate, and the epoch it last changed.
    lr_scale: float = 1.0
    lr_changed_epoch: int = 0

    def reduce_on_plateau(self, patience: int, factor: float, min_scale: float) -> bool:
        """Multiply ``lr_scale`` by ``factor`` (not below ``min_scale``) when the monitor has not
        improved for ``patience`` epochs, counted since the best epoch and since the last
        reduction; return whether it changed."""
        waited = self.epoch - max(self.best_epoch, self.lr_changed_epoch)
        scale = max(self.lr_scale * factor, min_scale)
        if waited < patience or scale >= self.lr_scale:
            return False
        self.lr_scale, self.lr_changed_epoch = scale, self.epoch
        return True

    def record(self, epoch: int, metrics: dict[str, float], weights, monitor: str) -> None:
        """Note epoch ``epoch``'s metrics; keep ``weights`` if ``monitor`` improved on the best."""
        self.epoch, self.metrics = epoch, metrics
        sign = MONITOR_SIGN[monitor]
        if not self.best_metrics or sign * metrics[monitor] > sign * self.best_metrics[monitor]:
            self.best_epoch, self.best_metrics, self.best_weights = epoch, metrics, weights

    def epochs_without_improvement(self) -> int:
        """Epochs finished since the best one."""
        return self.epoch - self.best_epoch
