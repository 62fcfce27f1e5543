"""Checking a composed config against the schema's ranges before anything compiles."""

import re
from dataclasses import fields, is_dataclass

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from seqlab.experiments.config.legacy import upgrade_logged
from seqlab.experiments.config.schema import Config, find_violations, schema_of
from seqlab.experiments.config.tracking import TrackingConfig
from seqlab.experiments.config.trainer import TrainerConfig
from seqlab.paths import conf_dir


class ConfigError(ValueError):
    """A config value is out of its allowed range; the message names key, value and source."""


def _override_for(key: str, overrides: list[str]) -> str | None:
    for override in overrides:
        name = override.lstrip("+~").split("=", 1)[0]
        if name == key or name.startswith(f"{key}."):
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


def unknown_keys(node: DictConfig, prefix: str = "") -> list[tuple[str, object, str]]:
    """``(dotted key, value, requirement)`` for every key of ``node`` (and of its sub-configs)
    that its schema does not have: one added with ``+`` on the command line."""
    found = []
    schema = OmegaConf.get_type(node)
    names = {f.name for f in fields(schema)} if is_dataclass(schema) else set(node.keys())
    for key, value in node.items_ex(resolve=False):
        if key not in names:
            found.append((f"{prefix}{key}", value, f"unknown key: {schema.__name__} has no such field"))
        elif isinstance(value, DictConfig) and node.get(key) is not None:
            found += unknown_keys(value, f"{prefix}{key}.")
    return found


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError listing every key of ``cfg`` that its schema does not have and every
    value outside its schema's allowed range."""
    violations = unknown_keys(cfg) + find_violations(OmegaConf.to_object(cfg))
    if violations:
        lines = [
            f"  {key}={value!r}: {requirement} (set by {describe_source(key)})"
            for key, value, requirement in violations
        ]
        raise ConfigError("invalid config:\n" + "\n".join(lines))


def interpolations(node: DictConfig, prefix: str = "") -> list[str]:
    """The dotted keys of ``node`` whose values are interpolations (``${...}``)."""
    found = []
    for key, value in node.items_ex(resolve=False):
        if OmegaConf.is_interpolation(node, key):
            found.append(f"{prefix}{key}")
        elif isinstance(value, DictConfig) and node.get(key) is not None:
            found += interpolations(value, f"{prefix}{key}.")
    return found


def logged_config(logged: DictConfig, source: str) -> DictConfig:
    """A config read back from a run (``source``: its logged config.yaml or checkpoint) put on
    its schema again, so that it is type-checked and validated like a composed one.

    Keys renamed since the run was logged are read under their new names
    (``seqlab.experiments.config.legacy``). Runs log their configs resolved, so an
    interpolation in one was written there afterwards: resolving it could read environment
    variables (secrets) or files into the new run, and it is refused with a ConfigError naming
    the keys.
    """
    upgrade_logged(logged, source)
    planted = interpolations(logged)
    if planted:
        raise ConfigError(
            f"{source} holds interpolations at {planted}; logged configs are resolved, so these were "
            "added later and could read environment variables or files: refusing to resolve them"
        )
    skeleton = Config(
        data=schema_of("data", logged.data.get("source") or logged.data.name)(),
        model=schema_of("model", logged.model.name)(),
        optimizer=schema_of("optimizer", logged.optimizer.name)(),
        trainer=TrainerConfig(),
        tracking=TrackingConfig(),
    )
    return OmegaConf.merge(OmegaConf.structured(skeleton), logged)
