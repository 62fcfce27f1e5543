"""The schemas of ``conf/optimizer``: the update rules and the learning-rate schedule."""

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from seqlab.fields import checked, fixed_name, in_range, non_negative, one_of, positive
from seqlab.models.schedules import SCHEDULES

# The files of conf/optimizer (momentum and nesterov are sgd, adamw is adam with other defaults).
OPTIMIZER_CONFIGS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw")


@dataclass
class ScheduleConfig:
    """Learning-rate schedule over epochs, with an optional linear warm-up."""

    name: str = one_of("constant", SCHEDULES)
    warmup_epochs: float = non_negative(0.0)  # linear warm-up from lr/steps to lr
    step_epochs: float = positive(10.0)  # step: multiply lr by gamma every step_epochs
    gamma: float = checked(0.5, lambda v: 0 < v <= 1, "must be in (0, 1]")
    # plateau: multiply lr by gamma once trainer.monitor has not improved for patience_epochs
    # (counted again after each reduction), never below min_lr
    patience_epochs: int = positive(5)
    min_lr: float = non_negative(0.0)


@dataclass
class OptimizerConfig:
    name: str = MISSING
    lr: float = positive(0.05)
    weight_decay: float = non_negative(0.0)  # L2 penalty added to the gradient (adamw: decoupled)
    # Clip the global gradient norm to this.
    clip_norm: float = checked(0.0, lambda v: v >= 0, "must be >= 0 (0 turns clipping off)")
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


@dataclass
class SGDConfig(OptimizerConfig):
    name: str = fixed_name("sgd", "optimizer", OPTIMIZER_CONFIGS)
    momentum: float = in_range(0.0, 0.0, 1.0)
    nesterov: bool = False

    def cross_check(self) -> list[tuple[str, Any, str]]:
        if self.nesterov and self.momentum == 0:
            return [("nesterov", True, "needs optimizer.momentum > 0")]
        return []


@dataclass
class AdagradConfig(OptimizerConfig):
    name: str = fixed_name("adagrad", "optimizer", OPTIMIZER_CONFIGS)
    eps: float = positive(1e-8)


@dataclass
class RMSpropConfig(OptimizerConfig):
    name: str = fixed_name("rmsprop", "optimizer", OPTIMIZER_CONFIGS)
    lr: float = positive(0.001)
    rho: float = in_range(0.9, 0.0, 1.0)
    eps: float = positive(1e-8)


@dataclass
class AdadeltaConfig(OptimizerConfig):
    name: str = fixed_name("adadelta", "optimizer", OPTIMIZER_CONFIGS)
    lr: float = positive(1.0)
    rho: float = in_range(0.95, 0.0, 1.0)
    eps: float = positive(1e-6)


@dataclass
class AdamConfig(OptimizerConfig):
    """Adam; with ``name: adamw`` the weight decay is decoupled from the gradient."""

    name: str = checked(
        "adam",
        lambda v: v in ("adam", "adamw"),
        f"must be 'adam' or 'adamw'; choose another with optimizer=<{'|'.join(OPTIMIZER_CONFIGS)}>",
    )
    lr: float = positive(0.001)
    beta1: float = in_range(0.9, 0.0, 1.0)
    beta2: float = in_range(0.999, 0.0, 1.0)
    eps: float = positive(1e-8)
