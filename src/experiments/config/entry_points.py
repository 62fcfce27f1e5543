"""The schemas of ``conf/predict.yaml``, ``conf/compare.yaml``, ``conf/reproduce.yaml``,
``conf/study_report.yaml`` and ``conf/ui.yaml``."""

from dataclasses import dataclass

from omegaconf import MISSING

from seqlab.experiments.config.study import StudyReportConfig
from seqlab.experiments.config.tracking import TrackingConfig
from seqlab.fields import checked, one_of, positive


@dataclass
class PredictConfig:
    """``seqlab predict run_id=<id>``: classify a split of a run's data, the sequences of an
    ``input`` file, or new ``texts`` with a run trained on text."""

    run_id: str = MISSING
    split: str = one_of("test", ("train", "validation", "test"))
    # A file of new sequences (seqlab.data.inputs): text lines, symbols, or series (.ts, .tsv, .csv).
    input: str | None = None
    texts: list[str] | None = None
    batch_size: int = positive(500)
    output: str | None = None
    tracking: TrackingConfig = MISSING


@dataclass
class CompareConfig:
    """``seqlab compare target=<sweep id | experiment>``: a table of runs."""

    target: str = MISSING
    # null: the validation metric the runs chose their best epoch by (best_<trainer.monitor>)
    sort_by: str | None = None
    output: str | None = None
    # When runs vary their seed: the metric on which the two best configurations are compared,
    # paired by seed (Wilcoxon signed-rank and paired t-test).
    paired_metric: str = "test_accuracy"
    tracking: TrackingConfig = MISSING


@dataclass
class ReproduceConfig:
    """``seqlab reproduce run_id=<id>``: train a logged run again and compare."""

    run_id: str = MISSING
    tracking: TrackingConfig = MISSING


@dataclass
class UiConfig:
    """``seqlab ui``: the MLflow UI on the store ``tracking`` names, served on ``host:port``."""

    host: str = "127.0.0.1"
    port: int = checked(5000, lambda v: 0 < v < 65536, "must be a TCP port, 1-65535")
    tracking: TrackingConfig = MISSING


ENTRY_POINT_SCHEMAS = {
    "predict_schema": PredictConfig,
    "compare_schema": CompareConfig,
    "reproduce_schema": ReproduceConfig,
    "study_report_schema": StudyReportConfig,
    "ui_schema": UiConfig,
}
