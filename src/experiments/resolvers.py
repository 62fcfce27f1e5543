"""OmegaConf resolvers the configs use: ``${seqlab_root:}`` is the project root."""

from omegaconf import OmegaConf

from src.paths import PROJECT_ROOT


def register_resolvers() -> None:
    """Register the resolvers (idempotent)."""
    OmegaConf.register_new_resolver("seqlab_root", lambda: str(PROJECT_ROOT), replace=True)
