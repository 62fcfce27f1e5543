"""Checking a composed config against the schema's ranges before anything compiles."""

import re

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from seqlab.experiments.schema import find_violations
from seqlab.paths import conf_dir


class ConfigError(ValueError):
    """A config value is out of its allowed range; the message names key, value and source."""


def _override_for(key: str, overrides: list[str]) -> str | None:
    for override in overrides:
        if override.lstrip("+~").split("=", 1)[0] == key:
            return override
    return None


def _line_of(path, leaf: str) -> int | None:
    pattern = re.compile(rf"^\s*{re.escape(leaf)}\s*:")
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if pattern.match(line):
            return number
    return None


def describe_source(key: str) -> str:
    """Say where ``key`` (dotted) got its value: an override, or a config file and line."""
    if not HydraConfig.initialized():
        return "composed config"
    hydra_cfg = HydraConfig.get()
    override = _override_for(key, list(hydra_cfg.overrides.task))
    if override is not None:
        return f"command-line override '{override}'"
    group, leaf = key.split(".")[0], key.rpartition(".")[2]
    choice = hydra_cfg.runtime.choices.get(group) if "." in key else None
    path = conf_dir() / group / f"{choice}.yaml" if choice else conf_dir() / "config.yaml"
    line = _line_of(path, leaf) if path.exists() else None
    where = path.relative_to(conf_dir().parent)
    return f"{where}:{line}" if line else f"schema default (group file {where})"


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError listing every value of ``cfg`` outside its schema's allowed range."""
    violations = find_violations(OmegaConf.to_object(cfg))
    if violations:
        lines = [
            f"  {key}={value!r}: {requirement} (set by {describe_source(key)})"
            for key, value, requirement in violations
        ]
        raise ConfigError("invalid config:\n" + "\n".join(lines))
