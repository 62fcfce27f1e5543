"""Study entry point: ``seqlab study study=<name> [overrides]`` trains every (configuration,
data set, seed) cell of ``conf/study/<name>.yaml`` that the store does not hold yet, through the
configured Hydra launcher, and writes the study's report; ``seqlab study report study=<name>``
writes the report again from the store alone (with other ``study.baselines``, say).

Overrides other than ``study.*`` go to every cell (``trainer.epochs=50``); ``hydra/launcher=...``
chooses where cells run (joblib on one machine, submitit_slurm on a cluster).
"""

import sys
from pathlib import Path

from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from seqlab.experiments.cli import hydra_app
from seqlab.experiments.config.validation import validate
from seqlab.experiments.studies.report import report_dir, write_report
from seqlab.experiments.tracking.secrets import redact
from seqlab.experiments.tracking.store import use_tracking_store
from seqlab.experiments.tracking.studies import find_study_parent
from seqlab.experiments.training.runner import train


@hydra_app("study")
def run_study(cfg: DictConfig) -> float:
    """One cell of a study, composed from the training config: an ordinary training run."""
    return train(cfg)[cfg.trainer.monitor]


@hydra_app("study_report")
def report(cfg: DictConfig) -> None:
    """Write the report of study ``cfg.study`` from the store (see the module docstring)."""
    validate(cfg)
    uri = use_tracking_store(cfg.tracking)
    experiment = MlflowClient().get_experiment_by_name(cfg.tracking.experiment_name)
    parent = find_study_parent(experiment.experiment_id, cfg.study.name) if experiment else None
    if parent is None:
        raise LookupError(
            f"study {cfg.study.name} has no runs in experiment {cfg.tracking.experiment_name!r} of {redact(uri)}; "
            f"run it first: seqlab study study={cfg.study.name}"
        )
    write_report(cfg.study, parent, Path(cfg.output) if cfg.output else report_dir(cfg.study.name))


def main() -> None:
    """``seqlab study report ...`` writes a report, ``seqlab study ...`` runs the study."""
    if sys.argv[1:2] == ["report"]:
        del sys.argv[1]
        report()
    else:
        run_study()


if __name__ == "__main__":
    main()
