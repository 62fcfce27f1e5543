"""Running a study: plan its cells against the store, launch the missing ones through Hydra's
launcher in batches with progress, and write its report.

A cell is done when the store holds a FINISHED run of it with the same digest (``cell_digest``:
its resolved config and its data's identity); a KILLED one with a checkpoint is resumed
(``trainer.resume``), any other is trained anew. Each cell is composed and validated before
anything trains, so a bad override in one cell stops the study at once, naming the cell.
"""

import copy
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

from seqlab.data.archives import fetch
from seqlab.data.identity import data_identity
from seqlab.experiments.config.validation import ConfigError, validate
from seqlab.experiments.studies.cells import Cell, quoted, study_cells
from seqlab.experiments.tracking.recorder import RunRecorder
from seqlab.experiments.tracking.store import open_experiment
from seqlab.experiments.tracking.studies import (
    CELL_DIGEST,
    CELLS_ARTIFACT,
    CONFIGURATION,
    DATASET,
    FOLD,
    SEED,
    STUDY,
    study_cell_runs,
)
from seqlab.experiments.training.checkpoints import FREE_ON_RESUME, checkpoint_path

log = logging.getLogger(__name__)

# The training config every cell is composed from (conf/config.yaml), whatever the study's is.
CELL_CONFIG = "config"


class StudyIncomplete(RuntimeError):
    """Some cells of a study failed; running the study again retries them."""


@dataclass
class PlannedCell:
    """A cell with its digest, what the store holds of it (``done``, ``resume``, ``running``
    or ``new``; ``run_id`` of that run) and the overrides of its job."""

    cell: Cell
    digest: str
    state: str
    run_id: str | None
    overrides: list[str]


def cell_config(config: DictConfig) -> DictConfig:
    """The config the launcher composes cells from: the study's (its launcher, sweep folder and
    Hydra overrides), with the training config ``CELL_CONFIG`` as the job's config."""
    master = copy.deepcopy(config)
    with read_write(master.hydra), open_dict(master.hydra):
        master.hydra.job.config_name = CELL_CONFIG
    return master


def cell_digest(cfg: DictConfig) -> str:
    """16 hex digits of the SHA-256 of what a cell trains: its resolved config (``cfg``, without
    ``hydra``), less where runs are recorded (``tracking``) and what may change on a resume
    (``FREE_ON_RESUME``), and the identity of its data (``data_identity``: its files' bytes)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    for key in ("hydra", "tracking", "study"):
        container.pop(key, None)
    for key in FREE_ON_RESUME:
        container["trainer"].pop(key.removeprefix("trainer."), None)
    text = json.dumps(container, sort_keys=True, default=str) + data_identity(container["data"])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def common_overrides(arguments: list[str]) -> list[str]:
    """The study's command-line overrides that every cell gets: all but those of ``study``."""
    keys = [a.lstrip("+~").split("=", 1)[0] for a in arguments]
    return [a for a, key in zip(arguments, keys, strict=True) if key != "study" and not key.startswith("study.")]


def _compose_cell(compose: Callable[[list[str]], DictConfig], cell: Cell, overrides: list[str]) -> DictConfig:
    """The validated training config of ``cell`` (without ``hydra``); ConfigError naming the cell."""
    where = cell.where
    try:
        cfg = compose(overrides)
        with read_write(cfg), open_dict(cfg):
            del cfg["hydra"]
        validate(cfg)
    except (HydraException, OmegaConfBaseException, ConfigError) as error:
        raise ConfigError(f"{where} (overrides {overrides}): {error}") from None
    return cfg


def plan_cells(
    study: DictConfig, arguments: list[str], compose: Callable[[list[str]], DictConfig], experiment_name: str
) -> list[PlannedCell]:
    """Every cell of ``study`` with its digest, state and job overrides: the common ``arguments``,
    the cell's own, the study's experiment ``experiment_name`` (over that of a preset such as
    ``experiment=ts_lstm_fcn``, so that the report finds every cell), its tags
    (``tracking.tags``) and, to resume it, ``trainer.resume``. Archive data sets named by the
    cells are downloaded here, once, before any job starts."""
    base = common_overrides(arguments)
    planned, runs = [], None
    for cell in study_cells(study):
        cell_overrides = [*base, *cell.overrides, f"tracking.experiment_name={quoted(experiment_name)}"]
        cfg = _compose_cell(compose, cell, cell_overrides)
        if cfg.data.get("source") == "ucr" and cfg.data.root is None:
            fetch(cfg.data.name, cfg.data.base_url)
        if runs is None:  # the store of the first cell is every cell's: the study's tracking overrides
            runs = study_cell_runs(open_experiment(cfg.tracking), study.name)
        digest = cell_digest(cfg)
        state, run_id = _stored_state(runs, digest, cfg.trainer.checkpoint_dir)
        tags = {STUDY: study.name, CONFIGURATION: cell.configuration, DATASET: cell.dataset, SEED: cell.seed}
        tags |= {} if cell.fold is None else {FOLD: cell.fold}
        overrides = [*cell_overrides]
        overrides += [f"++tracking.tags.{key}={quoted(str(value))}" for key, value in tags.items()]
        overrides += [f"++tracking.tags.{CELL_DIGEST}={digest}"]
        overrides += [f"trainer.resume={run_id}"] if state == "resume" else []
        planned.append(PlannedCell(cell, digest, state, run_id, overrides))
    return planned


def _stored_state(runs: pd.DataFrame, digest: str, checkpoint_dir: str) -> tuple[str, str | None]:
    """What the store holds of the cell of ``digest``: ``done`` (a FINISHED run), ``running``
    (a run a live process records), ``resume`` (a KILLED run with a checkpoint) or ``new``."""
    if runs.empty or f"tags.{CELL_DIGEST}" not in runs:
        return "new", None
    mine = runs[runs[f"tags.{CELL_DIGEST}"] == digest]
    for state, status in (("done", "FINISHED"), ("running", "RUNNING")):
        if (mine["status"] == status).any():
            return state, mine[mine["status"] == status]["run_id"].iloc[0]
    for run_id in mine[mine["status"] == "KILLED"]["run_id"]:
        if checkpoint_path(checkpoint_dir, run_id).is_file():
            return "resume", run_id
    return "new", None


def cells_table(planned: list[PlannedCell]) -> pd.DataFrame:
    """The cells a study was run with, as its parent records them (``CELLS_ARTIFACT``)."""
    return pd.DataFrame(
        [(p.cell.dataset, p.cell.configuration, p.cell.seed, p.cell.fold, p.digest) for p in planned],
        columns=[DATASET, CONFIGURATION, SEED, FOLD, CELL_DIGEST],
    )


def _eta(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def run_cells(
    study: DictConfig,
    planned: list[PlannedCell],
    launch: Callable[[list[list[str]], int], list[JobReturn]],
    batch_size: int,
    parent: RunRecorder,
) -> None:
    """Launch the cells of ``planned`` that are not done, ``batch_size`` at a time, through
    ``launch(job overrides, first job number)``; log progress with an estimate of the time
    left after each batch, and record the plan on ``parent`` first. Raises StudyIncomplete
    naming the cells that failed once the others have run."""
    parent.text(cells_table(planned).to_csv(index=False), CELLS_ARTIFACT)
    done = sum(p.state == "done" for p in planned)
    running = [p for p in planned if p.state == "running"]
    todo = [p for p in planned if p.state in ("new", "resume")]
    resumed = sum(p.state == "resume" for p in todo)
    log.info(
        "study %s: %d of %d cells done, %d to run%s",
        study.name,
        done,
        len(planned),
        len(todo),
        f" ({resumed} resumed from their checkpoints)" if resumed else "",
    )
    for p in running:
        log.warning("cell %s is being trained by another process (run %s): left to it", p.cell.key, p.run_id)
    failed, started, finished_here = [], time.monotonic(), 0
    for first in range(0, len(todo), batch_size):
        batch = todo[first : first + batch_size]
        for p, result in zip(batch, launch([p.overrides for p in batch], first), strict=True):
            if result.status == JobStatus.COMPLETED:
                finished_here += 1
            else:
                failed.append(f"{p.cell.key}: {result._return_value!r}")
        left = len(todo) - first - len(batch)
        per_cell = (time.monotonic() - started) / max(first + len(batch), 1)
        parent.metrics({"cells_done": done + finished_here}, step=first + len(batch))
        log.info(
            "study %s: %d of %d cells done, %d failed%s",
            study.name,
            done + finished_here,
            len(planned),
            len(failed),
            f"; about {_eta(per_cell * left)} left" if left and math.isfinite(per_cell) else "",
        )
    if failed or running:
        raise StudyIncomplete(
            f"study {study.name}: {len(failed)} cells failed and {len(running)} are still running elsewhere "
            f"({'; '.join(failed)}); the report covers the others. Run the same command again to retry."
        )
