"""OmegaConf resolvers the configs use.

``${seqlab_root:}`` is the project root; ``${optuna_direction:<metric>}`` is the direction in
which a ``trainer.monitor`` metric improves (``minimize`` for ``val_loss``).
"""

from omegaconf import OmegaConf

from src.experiments.checkpoint import MONITOR_SIGN
from src.paths import PROJECT_ROOT


def optuna_direction(monitor: str) -> str:
    """``minimize`` or ``maximize``: how ``monitor`` (a ``trainer.monitor`` choice) improves."""
    if monitor not in MONITOR_SIGN:
        raise ValueError(f"trainer.monitor={monitor!r}: must be one of {sorted(MONITOR_SIGN)}")
    return "maximize" if MONITOR_SIGN[monitor] > 0 else "minimize"


def register_resolvers() -> None:
    """Register the resolvers (idempotent)."""
    OmegaConf.register_new_resolver("seqlab_root", lambda: str(PROJECT_ROOT), replace=True)
    OmegaConf.register_new_resolver("optuna_direction", optuna_direction, replace=True)
