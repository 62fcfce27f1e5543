"""Config keys renamed since earlier versions of seqlab, read under their new names with a
deprecation message: on the command line (``model.conv_filters=[16]`` is
``model.conv.filters=[16]``) and in the configs that earlier runs logged (``config.yaml`` and
checkpoints), so that every logged run still predicts, reproduces and resumes."""

import logging

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

# Old key -> new key. The convolution options became the sub-config model.conv.
RENAMED = {
    f"model.conv_{name}": f"model.conv.{name}"
    for name in ("filters", "kernels", "strides", "dilations", "residual", "layout", "momentum")
}


def _warn(old: str, new: str, where: str) -> None:
    log.warning("%s: %s is now %s (read as that; the old key will be refused in a later version)", where, old, new)


def upgrade_overrides(overrides: list[str]) -> list[str]:
    """``overrides`` (Hydra's command-line form, ``[+|++|~]key=value``) with renamed keys under
    their new names, each renaming logged as a deprecation warning."""
    upgraded = []
    for override in overrides:
        body = override.lstrip("+~")  # as validation and resume read an override's key
        key = body.split("=", 1)[0]
        if key in RENAMED:
            _warn(key, RENAMED[key], "command line")
            override = override[: len(override) - len(body)] + RENAMED[key] + body[len(key) :]
        upgraded.append(override)
    return upgraded


def upgrade_logged(config: DictConfig, source: str) -> DictConfig:
    """A config a run logged (read from ``source``) with the keys renamed since then moved to
    their new places (in place; also returned)."""
    for old, new in RENAMED.items():
        group, _, leaf = old.partition(".")
        node = config.get(group)
        if isinstance(node, DictConfig) and leaf in node:
            _warn(old, new, source)
            value = node.pop(leaf)
            OmegaConf.update(config, new, value, force_add=True)
    return config
