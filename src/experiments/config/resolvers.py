"""OmegaConf resolvers the configs use.

``${seqlab_runs:}`` is where runs and their outputs go (``seqlab.paths.runs_dir``);
``${optuna_direction:<metric>}`` is the direction in which a ``trainer.monitor`` metric improves
(``minimize`` for ``val_loss``); ``${seqlab_groups:}`` lists the config groups of ``conf/`` and
their options, for ``--help``; ``${seqlab_job:<job number or null>}`` prefixes a sweep job's log lines;
``${seqlab_data_id:${data}}`` names the data a config gives, with a digest of its content
(``seqlab.data.identity``), for Optuna study names.
"""

from omegaconf import DictConfig, OmegaConf

from seqlab.data.identity import data_identity
from seqlab.experiments.config.model import model_options
from seqlab.experiments.metrics import MONITOR_SIGN
from seqlab.paths import conf_dir, runs_dir


def optuna_direction(monitor: str) -> str:
    """``minimize`` or ``maximize``: how ``monitor`` (a ``trainer.monitor`` choice) improves."""
    if monitor not in MONITOR_SIGN:
        raise ValueError(f"trainer.monitor={monitor!r}: must be one of {sorted(MONITOR_SIGN)}")
    return "maximize" if MONITOR_SIGN[monitor] > 0 else "minimize"


def _options(group: str, options: list[str]) -> str:
    """A group's options, comma-separated; the model group's by kind: ``elman, gru, lstm
    (recurrent); fcn, resnet``."""
    if group != "model":
        return ", ".join(options)
    cells = {name for name, (_, cell) in model_options().items() if cell is not None}
    recurrent = [option for option in options if option in cells]
    others = [option for option in options if option not in cells]
    parts = ([f"{', '.join(recurrent)} (recurrent)"] if recurrent else []) + ([", ".join(others)] if others else [])
    return "; ".join(parts)


def config_groups(*names: str) -> str:
    """One line per user-facing config group of ``conf/`` (those in ``names``, or all): e.g.
    ``optimizer: adadelta, adagrad, ...``, ``model: elman, gru, lstm (recurrent); fcn, resnet``."""
    root = conf_dir()
    groups = sorted(d for d in root.iterdir() if d.is_dir() and any(d.glob("*.yaml")))
    groups = [d for d in groups if not names or d.name in names]
    return "\n".join(f"{d.name}: {_options(d.name, sorted(p.stem for p in d.glob('*.yaml')))}" for d in groups)


def job_prefix(job_num: int | None) -> str:
    """`` [job N]`` for job ``job_num`` of a sweep, else nothing: parallel jobs' log lines say
    whose they are."""
    return "" if job_num is None else f" [job {job_num}]"


def data_id(data: DictConfig) -> str:
    """The identity of the data config ``data`` (``seqlab.data.identity.data_identity``)."""
    return data_identity(OmegaConf.to_container(data, resolve=True))


def register_resolvers() -> None:
    """Register the resolvers (idempotent)."""
    OmegaConf.register_new_resolver("seqlab_runs", lambda: str(runs_dir()), replace=True)
    OmegaConf.register_new_resolver("optuna_direction", optuna_direction, replace=True)
    OmegaConf.register_new_resolver("seqlab_groups", config_groups, replace=True)
    OmegaConf.register_new_resolver("seqlab_job", job_prefix, replace=True)
    OmegaConf.register_new_resolver("seqlab_data_id", data_id, replace=True)
