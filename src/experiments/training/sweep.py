"""One Hydra sweep = one MLflow parent run, with every job of the sweep as its child run.

``SweepCallback`` (registered in ``conf/config.yaml``) runs in the launching process: before any
job starts it creates the store, the experiment and the parent run, and writes the parent's id
into the sweep folder; when the sweep ends it closes the parent (FAILED if any job failed or the
sweep itself raised, KILLED if SIGTERM or Ctrl-C stopped it) and logs the sweep's plots to it.
Jobs find their parent through ``sweep_parent``. Hydra turns an exception in a callback into a
warning, so a job that finds no parent fails instead: a sweep whose set-up failed never trains unrecorded.
"""

import atexit
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from seqlab import engine
from seqlab.experiments.config.model import model_options
from seqlab.experiments.metrics import PRIMARY_TEST_METRIC
from seqlab.experiments.signals import stopped
from seqlab.experiments.tracking.environment import environment_tags
from seqlab.experiments.tracking.queries import comparison_table, find_runs, varied_params
from seqlab.experiments.tracking.recorder import RunRecorder
from seqlab.experiments.tracking.secrets import redact
from seqlab.experiments.tracking.seeds import configuration_params, dataset_params, over_seeds, repetitions
from seqlab.experiments.tracking.store import open_experiment
from seqlab.experiments.tracking.studies import STUDY, STUDY_PARENT, find_study_parent
from seqlab.experiments.training.plots import log_figure, metric_against_params

log = logging.getLogger(__name__)

PARENT_FILE = "mlflow_parent_run_id"
SWEPT_FILE = "swept_keys"
# The longest run name MLflow's database stores is 250 characters.
MAX_RUN_NAME = 250


def job_summary(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per job of a sweep, by job number: ``job``, ``status``, the ``overrides`` that
    differ between jobs, and ``metric``."""
    columns = {
        "tags.hydra_job": "job",
        "status": "status",
        "tags.hydra_overrides": "overrides",
        f"metrics.{metric}": metric,
    }
    table = runs.reindex(columns=list(columns)).rename(columns=columns)
    overrides = [str(o).split() if isinstance(o, str) else [] for o in table["overrides"]]
    common = set.intersection(*map(set, overrides)) if overrides else set()
    table["overrides"] = [" ".join(o for o in row if o not in common) for row in overrides]
    return table.sort_values("job", key=lambda job: pd.to_numeric(job, errors="coerce"))


class SweepSetupError(RuntimeError):
    """A sweep job found no parent run: the sweep's set-up failed (see its warnings)."""


def sweep_parent() -> str | None:
    """The parent run id of the current Hydra sweep job; None outside a sweep."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    path = Path(HydraConfig.get().sweep.dir) / PARENT_FILE
    if not path.is_file():
        raise SweepSetupError(
            f"{path} is missing: the sweep's MLflow parent run was not created "
            "(look for the warning 'Callback SweepCallback.on_multirun_start raised' above)"
        )
    return path.read_text().strip()


def swept_space(config: DictConfig) -> dict[str, str]:
    """What a sweep varies, key by key as it was given: its sweep overrides
    (``optimizer.lr: 0.01,0.1``, ``seed: range(5)``) and its sweeper's search space
    (``hydra.sweeper.params``)."""
    overrides = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
    space = {o.get_key_element(): o.input_line.split("=", 1)[1] for o in overrides if o.is_sweep_override()}
    searched = OmegaConf.select(config, "hydra.sweeper.params") or {}
    return space | {key: str(value) for key, value in searched.items() if key not in space}


def run_name(cfg: DictConfig) -> str:
    """A single run's name from what it trains: model, hidden size (for a recurrent one),
    optimiser and seed, e.g. ``gru-h64-adam-s0``."""
    _, cell = model_options()[cfg.model.name]
    size = [f"h{cfg.model.hidden_size}"] if cell is not None else []
    return "-".join([cfg.model.name, *size, cfg.optimizer.name, f"s{cfg.seed}"])


def job_run_name() -> str | None:
    """The current sweep job's run name: ``key=value`` of each swept key, by the key's last
    part unless two share it (``model=lstm hidden_size=64 lr=0.01 seed=3``); None outside a
    sweep."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    path = Path(HydraConfig.get().sweep.dir) / SWEPT_FILE
    keys = path.read_text().split() if path.is_file() else []
    values = dict(o.lstrip("+~").split("=", 1) for o in HydraConfig.get().overrides.task if "=" in o)
    leaves = [key.rsplit(".", 1)[-1] for key in keys]
    names = [leaf if leaves.count(leaf) == 1 else key for key, leaf in zip(keys, leaves, strict=True)]
    return " ".join(f"{name}={values[key]}" for key, name in zip(keys, names, strict=True) if key in values) or None


class SweepCallback(Callback):
    """Creates and closes a sweep's MLflow parent run (see the module docstring)."""

    def __init__(self) -> None:
        self.parent: RunRecorder | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Create store, experiment and parent run (a study's is reopened when it exists);
        write the parent id to the sweep folder."""
        engine.configure()  # in the launching process, before the parent's tags read PyTensor's BLAS flags
        experiment_id = open_experiment(config.tracking)
        sweep_dir = Path(config.hydra.sweep.dir)
        tags = {
            **environment_tags(),
            "sweep_dir": str(sweep_dir),
            "hydra_overrides": redact(" ".join(config.hydra.overrides.task)),
            "hydra_sweeper": config.hydra.sweeper._target_,
            "hydra_launcher": config.hydra.launcher._target_,
        }
        study = config.get("study")
        previous = find_study_parent(experiment_id, study.name) if study else None
        if previous is not None:
            self.parent = RunRecorder.reopen(previous, tags)
        elif study:
            tags |= {STUDY: study.name, STUDY_PARENT: "true"}
            self.parent = RunRecorder.create(experiment_id, run_name=f"study {study.name}", tags=tags)
        else:
            space = swept_space(config)
            name = "sweep " + (" ".join(f"{key}={values}" for key, values in space.items()) or sweep_dir.name)
            if len(name) > MAX_RUN_NAME:  # the store's limit; the params carry the whole space
                name = name[: MAX_RUN_NAME - 1] + "…"
            self.parent = RunRecorder.create(experiment_id, run_name=name, tags=tags)
            self.parent.params(space)
        self.parent.tags({"sweep_id": self.parent.run_id})
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_FILE).write_text(self.parent.run_id)
        (sweep_dir / SWEPT_FILE).write_text("\n".join(swept_space(config)))
        atexit.register(self._end_abandoned)
        log.info("sweep parent run %s in %s", self.parent.run_id, self.parent.tracking_uri)

    def _end_abandoned(self) -> None:
        """At exit, end a parent that ``on_multirun_end`` did not: KILLED when SIGTERM or Ctrl-C
        stopped the sweep (its jobs were stopped first), else FAILED."""
        if stopped():
            log.warning(
                "sweep stopped: parent run %s marked KILLED (each stopped job said how to resume it)",
                self.parent.run_id,
            )
        self.parent.end("KILLED" if stopped() else "FAILED")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Log the sweep's comparison table and plot to the parent and close it: FINISHED
        when every child finished, else FAILED (a study's parent: FINISHED, see below)."""
        if self.parent is None:
            return
        if config.get("study"):  # its sweeper returns once every cell has finished, and writes its report
            self.parent.end("FINISHED")
            return
        runs = find_runs(self.parent.run_id)
        metric = f"best_{config.trainer.monitor}"
        try:
            if not runs.empty:
                table = job_summary(runs, metric).to_string(index=False)
                log.info("sweep %s, %d jobs:\n%s", self.parent.run_id, len(runs), table)
            self._log_comparison(runs, metric)
        finally:
            finished = not runs.empty and set(runs["status"]) == {"FINISHED"}
            self.parent.end("FINISHED" if finished else "FAILED")

    def _log_comparison(self, runs: pd.DataFrame, metric: str) -> None:
        """Log to the parent: the comparison table (``sweep_runs.csv``: every metric of every
        child) and plot; as the parent's own metrics, only what compares sweeps: the selection
        ``metric`` and ``test_accuracy`` of the best child by validation (``best_child_run_id``)
        and, when the sweep varies the seed or the cross-validation fold, the best
        configuration's mean and 95 % CI of both over them (``sweep_seeds.csv``: every statistic
        of every configuration; ``n_seeds``: its repetitions)."""
        table = comparison_table(runs, sort_by=metric)
        self.parent.text(table.to_csv(index=False), "sweep_runs.csv")
        params = varied_params(runs)
        plotted = [p for p in params if not p.startswith("dataset.")]
        if plotted:
            log_figure(self.parent, metric_against_params(table, metric, plotted), f"sweep_{metric}")
        finished = table[table["status"] == "FINISHED"]
        if finished.empty:
            return
        best = finished.iloc[0]
        self.parent.tags({"best_child_run_id": best["run_id"]})
        shown = [m for m in dict.fromkeys((metric, PRIMARY_TEST_METRIC)) if m in table.columns]
        self.parent.metrics({m: best[m] for m in shown if pd.notna(best[m])})
        if repetitions(params):
            summary = over_seeds(table, dataset_params(params) + configuration_params(params), metric)
            self.parent.text(summary.to_csv(index=False), "sweep_seeds.csv")
            top = summary.iloc[0]
            aggregates = [f"{m}_{stat}" for m in shown for stat in ("mean", "ci95")]
            self.parent.metrics({c: top[c] for c in aggregates if pd.notna(top.get(c))} | {"n_seeds": top["n"]})
