"""seqlab from Python (a notebook, a script): the same engine set-up, config composition and
tracking as the ``seqlab`` command, without a command line.

    import seqlab
    result = seqlab.train(["model=gru", "optimizer=adam"])   # one MLflow run, as `seqlab train`
    model = seqlab.load(result.run_id)                       # its logged model
    model.predict([["1", "0", "1"]]), model.predict_proba([["1", "0", "1"]])
    seqlab.compare("Default")                                # the table of `seqlab compare`

Errors are raised, not turned into exit statuses: a bad value is a ``ConfigError``, a bad data
file a ``DataError``, an unknown run a ``LookupError``, each naming what is wrong. See
``docs/python-api.md``.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from hydra import compose as hydra_compose
from hydra import initialize_config_module
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from seqlab import engine
from seqlab.experiments.classify import RunClassifier
from seqlab.experiments.cli import register_configs
from seqlab.experiments.config.legacy import upgrade_overrides
from seqlab.experiments.config.validation import validate
from seqlab.experiments.metrics import EPOCH_METRICS
from seqlab.experiments.tracking.logged_runs import LoggedRun, load_run
from seqlab.experiments.tracking.queries import comparison_table, find_runs, monitored_metric
from seqlab.experiments.tracking.store import use_tracking_store
from seqlab.experiments.training import runner
from seqlab.paths import runs_location

log = logging.getLogger(__name__)

PREDICT_BATCH_SIZE = 500


def compose(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """The config ``seqlab <command>`` would run with ``overrides`` (``conf/<config_name>.yaml``:
    ``config`` for train, ``predict``, ``compare``...), validated, without the ``hydra`` node.
    Old keys are upgraded as on the command line."""
    return _strip_hydra(_compose(overrides, config_name))


def _compose(overrides: Sequence[str], config_name: str) -> DictConfig:
    """The composed config with its ``hydra`` node, after the set-up every entry point does."""
    engine.configure()
    register_configs()
    with initialize_config_module(config_module="seqlab.conf", version_base="1.3"):
        cfg = hydra_compose(config_name, overrides=upgrade_overrides(list(overrides)), return_hydra_config=True)
    return cfg


def _strip_hydra(cfg: DictConfig) -> DictConfig:
    cfg = cfg.copy()
    with open_dict(cfg):
        del cfg["hydra"]
    validate(cfg)
    return cfg


@dataclass(frozen=True)
class TrainResult:
    """A finished training run: its MLflow ``run_id``, its ``metrics`` as MLflow has them (the
    best epoch's ``best_<metric>``, its ``test_<metric>``, ``best_epoch``) and the ``config`` it
    trained with."""

    run_id: str
    metrics: dict[str, float]
    config: DictConfig


def train(overrides: Sequence[str] = ()) -> TrainResult:
    """Train the experiment ``seqlab train <overrides>`` would, recorded as one MLflow run in
    the store the config names (the embedded one under ``runs/`` by default), with the same
    params, tags and artifacts. Hydra's output folder is ``hydra.run.dir``, as for the command."""
    full = _compose(overrides, "config")
    output_dir = Path(OmegaConf.select(full, "hydra.run.dir"))
    with open_dict(full):
        full.hydra.runtime.output_dir = str(output_dir)
    cfg = _strip_hydra(full)
    runs, reason = runs_location()
    log.info("seqlab: runs in %s (%s)", runs, reason)
    output_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, output_dir / "config.yaml")
    HydraConfig.instance().set_config(full)
    try:
        metrics = runner.train(cfg)
    finally:
        HydraConfig.instance().cfg = None
    run_id = metrics.pop("run_id")
    logged = {f"best_{name}" if name in EPOCH_METRICS else name: value for name, value in metrics.items()}
    return TrainResult(run_id, logged, cfg)


class Model:
    """A logged run's classifier: ``predict`` and ``predict_proba`` on new raw inputs (texts,
    symbol sequences such as ``["1", "0"]``, or series as (length,) or (length, features)
    arrays), encoded as the run encoded its data. Compiled on first use."""

    def __init__(self, run_id: str, run: LoggedRun):
        self.run_id, self.run = run_id, run
        self.classes = np.array(run.label_names)
        self._classifier = RunClassifier(run)

    def predict_proba(self, inputs: Sequence) -> pd.DataFrame:
        """Class probabilities: one row per input, one column per class name."""
        table = self._classifier.classify_raw(list(inputs), PREDICT_BATCH_SIZE)
        return table.filter(like="proba_").set_axis(list(self.classes), axis=1)

    def predict(self, inputs: Sequence) -> np.ndarray:
        """The predicted class name of each input."""
        return self.classes[self.predict_proba(inputs).to_numpy().argmax(axis=1)]

    def __repr__(self) -> str:
        return f"<seqlab.Model of run {self.run_id}: {self.run.config.model.name} on {self.run.config.data.name}>"


def load(run_id: str, overrides: Sequence[str] = ()) -> Model:
    """The model of the FINISHED run ``run_id``, from the store of ``tracking`` (``overrides``
    such as ``tracking.uri=...``; the embedded store by default)."""
    cfg = compose([f"run_id={run_id}", *overrides], "predict")
    use_tracking_store(cfg.tracking)
    return Model(run_id, load_run(run_id))


def compare(target: str, sort_by: str | None = None, overrides: Sequence[str] = ()) -> pd.DataFrame:
    """The table of ``seqlab compare target=<target>``: one row per run of the sweep (its parent
    run id) or experiment (name or id), its varied params and metrics, best first by
    ``sort_by`` (default: the validation metric the runs selected their epoch by)."""
    cfg = compose([f"target={target}", *overrides], "compare")
    use_tracking_store(cfg.tracking)
    runs = find_runs(target)
    return comparison_table(runs, sort_by or monitored_metric(runs))
