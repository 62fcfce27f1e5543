"""A Hydra sweeper that runs a study (``seqlab.experiments.studies``): every (configuration,
data set, seed) cell of ``study`` not yet done in the store becomes one job of the configured
launcher (joblib, submitit/SLURM, ray), composed from the training config, ``max_batch_size``
at a time; then the study's report is written. Hydra only instantiates sweepers defined under
``hydra_plugins``, hence this package; the study's logic lives in ``seqlab.experiments.studies``.
"""

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from seqlab.experiments.studies.launch import StudyIncomplete, cell_config, plan_cells, run_cells
from seqlab.experiments.studies.report import report_dir, write_report
from seqlab.experiments.tracking.recorder import RunRecorder
from seqlab.experiments.training.sweep import PARENT_FILE
from seqlab.experiments.user_errors import exit_on_user_error

log = logging.getLogger(__name__)


@dataclass
class StudySweeperConf:
    """``hydra.sweeper``: how many cells are launched at once (null: the launcher's ``n_jobs``,
    one at a time on the basic launcher, all at once on others such as SLURM)."""

    _target_: str = "hydra_plugins.seqlab_study_sweeper.study_sweeper.StudySweeper"
    max_batch_size: int | None = None


ConfigStore.instance().store(group="hydra/sweeper", name="seqlab_study", node=StudySweeperConf, provider="seqlab")


class StudySweeper(Sweeper):
    """Runs the cells of ``config.study`` (see the module docstring)."""

    def __init__(self, max_batch_size: int | None = None) -> None:
        self.max_batch_size = max_batch_size

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """Keep the study's config and create the launcher, which composes every job from the
        training config (``cell_config``)."""
        self.config, self.hydra_context = config, hydra_context
        self.cell_master = cell_config(config)
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=self.cell_master
        )

    def _batch_size(self, cells: int) -> int:
        if self.max_batch_size:
            return self.max_batch_size
        launcher = self.config.hydra.launcher
        n_jobs = launcher.get("n_jobs")
        if isinstance(n_jobs, int) and n_jobs != 0:
            return n_jobs if n_jobs > 0 else os.cpu_count() or 1
        return 1 if launcher._target_.endswith("BasicLauncher") else max(cells, 1)

    def sweep(self, arguments: list[str]) -> None:
        """Plan the study's cells, launch those to run and write the report. A user's mistake
        (a bad override in a cell, a data set that cannot be downloaded) exits with status 2
        before anything trains; failed cells, with status 1 after the report says what the
        others gave."""
        study = self.config.study
        loader = self.hydra_context.config_loader
        with exit_on_user_error():
            planned = plan_cells(
                study,
                arguments,
                lambda overrides: loader.load_sweep_config(self.cell_master, overrides),
                self.config.tracking.experiment_name,
            )
        parent = RunRecorder((Path(self.config.hydra.sweep.dir) / PARENT_FILE).read_text().strip(), active=False)
        todo = sum(p.state in ("new", "resume") for p in planned)
        launch = lambda batch, first: self.launcher.launch(batch, initial_job_idx=first)  # noqa: E731
        try:
            run_cells(study, planned, launch, self._batch_size(todo), parent)
        except StudyIncomplete as incomplete:
            self._report(study, parent)
            log.error("%s", incomplete)
            sys.exit(1)
        self._report(study, parent)

    def _report(self, study: DictConfig, parent: RunRecorder) -> None:
        with exit_on_user_error():  # a baselines file that cannot be read, say: the cells are kept
            try:
                write_report(study, parent.run_id, report_dir(study.name))
            except LookupError as nothing:  # no cell has finished yet
                log.warning("%s", nothing)
