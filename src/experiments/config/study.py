"""The schema of ``conf/study``: a study's configurations, data sets, seeds and report."""

import re
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from seqlab.experiments.config.tracking import TrackingConfig
from seqlab.experiments.metrics import BEST_METRICS
from seqlab.fields import in_range, one_of, plain_name, positive

# A configuration's or data set's name: it becomes a run tag, a table row and a file name.
NAME = re.compile(r"[A-Za-z0-9][\w.-]*")
# The metrics a study can report: a run's best-epoch and test metrics (not its best epoch's number).
REPORTED_METRICS = tuple(m for m in BEST_METRICS if m != "best_epoch")


@dataclass
class StudyConfig:
    """``seqlab study study=<name>``: every (configuration, data set, seed) cell is one training
    run; the report compares the configurations over the data sets."""

    name: str = plain_name(MISSING)
    # name -> the overrides that make it: {lstm_fcn: [experiment=ts_lstm_fcn], gru: [model=gru]}
    configurations: dict[str, list[str]] = field(default_factory=dict)
    # name -> the overrides of one data set: {parity: [data=parity], coffee: [data=archive, ...]}
    datasets: dict[str, list[str]] = field(default_factory=dict)
    # A folder of UCR/UEA data sets, each <X>/<X>_TRAIN.ts and <X>/<X>_TEST.ts (or .tsv): data set X.
    folder: str | None = None
    # UCR/UEA archive data sets by name (data=ucr data.name=<name>), downloaded once into the cache.
    archives: list[str] = field(default_factory=list)
    # Overrides every cell gets, before its configuration's and its data set's: [trainer.epochs=50]
    overrides: list[str] = field(default_factory=list)
    seeds: int = positive(5)  # seeds 0, 1, ..., seeds - 1 of every configuration on every data set
    # What the report compares: a test metric of the epoch each run selected by trainer.monitor.
    metric: str = one_of("test_accuracy", REPORTED_METRICS)
    # Published results to rank against: a CSV, long (dataset, method, accuracy) or wide (a row
    # per data set and a column per method, or the other way round), joined on data set names.
    baselines: str | None = None
    alpha: float = in_range(0.05, 0.0, 0.5)  # significance level of the tests and the diagram's cliques

    def cross_check(self) -> list[tuple[str, Any, str]]:
        if not self.configurations:
            return [("configurations", {}, "must name at least one configuration (name: [overrides])")]
        if not (self.datasets or self.folder or self.archives):
            return [("datasets", {}, "give at least one data set (study.datasets, study.folder or study.archives)")]
        for key, names in (("configurations", self.configurations), ("datasets", self.datasets)):
            bad = [name for name in names if not NAME.fullmatch(name)]
            if bad:
                return [(key, bad, "names must be letters, digits, '_', '.' and '-', starting with a letter or digit")]
        if self.baselines is not None and not self.metric.endswith("accuracy"):
            return [("baselines", self.baselines, f"published results are accuracies; study.metric is {self.metric}")]
        return []


@dataclass
class StudyReportConfig:
    """``seqlab study report study=<name>``: the report of a study, from the store alone."""

    study: StudyConfig = MISSING
    output: str | None = None  # null: runs/studies/<study name>/
    tracking: TrackingConfig = MISSING
