"""What a run measures, in one place: each metric defined once (on a split's labels and the
model's log-probabilities, with scikit-learn's functions), and every name that config
(``trainer.monitor``, the Optuna direction, ``study.metric``), training, tracking, ``compare``,
the sweep parent and the study report use, derived from it. Adding a metric is one entry in
``METRICS``.

Naming scheme, per split (``train``, ``val``, ``test``):
- ``<split>_<metric>`` per epoch (MLflow step = epoch): ``train_loss`` and ``train_accuracy``
  measured by each batch's step during the epoch's pass, every metric on validation;
- ``best_<epoch metric>`` at the epoch selected by ``trainer.monitor``, ``best_epoch`` its number;
- ``test_<metric>`` for the selected epoch's weights on the test split;
- ``<split>_<statistic>/<class>`` per class (precision, recall, f1, support) for validation and
  test at the selected epoch; the confusion matrices as tables beside them.
"""

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Metric:
    """A number measured on one split: ``compute(labels, log_proba)`` with labels (N,) class
    indices and log_proba (N, classes); ``sign`` +1 when higher is better, -1 when lower."""

    sign: int
    compute: Callable[[np.ndarray, np.ndarray], float]
    description: str


def _loss(labels: np.ndarray, log_proba: np.ndarray) -> float:
    return float(-log_proba[np.arange(len(labels)), labels].mean())


def _on_predictions(name: str, **options) -> Callable[[np.ndarray, np.ndarray], float]:
    """``sklearn.metrics.<name>(labels, argmax of log_proba, **options)``."""

    def compute(labels: np.ndarray, log_proba: np.ndarray) -> float:
        import sklearn.metrics  # slow to import: on first use

        with warnings.catch_warnings():  # a small split may lack a class the model predicts: expected
            warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
            return float(getattr(sklearn.metrics, name)(labels, log_proba.argmax(axis=1), **options))

    return compute


METRICS = {
    "loss": Metric(-1, _loss, "mean cross-entropy of the true class"),
    "accuracy": Metric(1, _on_predictions("accuracy_score"), "fraction classified right"),
    "balanced_accuracy": Metric(1, _on_predictions("balanced_accuracy_score"), "mean recall over the classes"),
    "macro_f1": Metric(1, _on_predictions("f1_score", average="macro", zero_division=0), "unweighted mean F1"),
    "weighted_f1": Metric(
        1, _on_predictions("f1_score", average="weighted", zero_division=0), "F1 weighted by class support"
    ),
}

# The statistics reported per class at the selected epoch (sklearn's precision_recall_fscore_support).
PER_CLASS = ("precision", "recall", "f1", "support")

# Measured during the training pass, for which only the loss and accuracy are known per batch.
TRAIN_PASS_METRICS = ("loss", "accuracy")

# Measured after every epoch: the training pass's, and every metric on the validation split.
EPOCH_METRICS = tuple(f"train_{m}" for m in TRAIN_PASS_METRICS) + tuple(f"val_{m}" for m in METRICS)

# The direction each epoch metric improves in: any of them can be ``trainer.monitor``.
MONITOR_SIGN = {name: METRICS[name.split("_", 1)[1]].sign for name in EPOCH_METRICS}

# The metrics of a run's best epoch and the test metrics of its weights, in the order tables show them.
BEST_METRICS = (
    "best_epoch",
    *(f"best_{m}" for m in EPOCH_METRICS if m.startswith("val_")),
    *(f"best_{m}" for m in EPOCH_METRICS if m.startswith("train_")),
    *(f"test_{m}" for m in METRICS),
)

# The test metric a sweep's parent shows beside its selection metric, and a study reports by default.
PRIMARY_TEST_METRIC = "test_accuracy"

# Per-epoch metrics whose last value is the run's last epoch's: shown as ``final_<name>``.
FINAL_METRICS = EPOCH_METRICS


def sign(name: str) -> int:
    """+1 when the run metric ``name`` (``val_loss``, ``best_val_macro_f1``, ``test_accuracy``,
    ``final_train_loss``) is better higher, -1 when lower."""
    return METRICS[name.removeprefix("best_").removeprefix("final_").split("_", 1)[1]].sign


def measure(labels: np.ndarray, log_proba: np.ndarray, split: str) -> dict[str, float]:
    """Every metric of ``METRICS`` on one split, named ``<split>_<metric>``.

    labels: (N,) class indices; log_proba: (N, classes) the model's log-probabilities."""
    return {f"{split}_{name}": metric.compute(labels, log_proba) for name, metric in METRICS.items()}


def per_class(labels: np.ndarray, predictions: np.ndarray, names: tuple[str, ...]) -> pd.DataFrame:
    """One row per class (index: its name): ``PER_CLASS`` statistics of ``predictions`` against
    ``labels`` (both (N,) class indices), a class never predicted having precision 0."""
    from sklearn.metrics import precision_recall_fscore_support

    stats = precision_recall_fscore_support(labels, predictions, labels=range(len(names)), zero_division=0)
    return pd.DataFrame(dict(zip(PER_CLASS, stats, strict=True)), index=pd.Index(names, name="class"))


def confusion(labels: np.ndarray, predictions: np.ndarray, names: tuple[str, ...]) -> pd.DataFrame:
    """Counts of each (true, predicted) class pair: rows true classes, columns predicted, by name."""
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(labels, predictions, labels=range(len(names)))
    return pd.DataFrame(counts, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))


def metric_key(name: str) -> str:
    """``name`` with what MLflow refuses in a metric name (anything but letters, digits, ``_``,
    ``-``, ``.``, space and ``/``) replaced by ``_``."""
    return "".join(c if c.isalnum() or c in "_-. /" else "_" for c in name)


def per_class_metrics(table: pd.DataFrame, split: str) -> dict[str, float]:
    """``per_class``'s table as metrics ``<split>_<statistic>/<class>``."""
    return {
        metric_key(f"{split}_{stat}/{name}"): float(value)
        for name, row in table.iterrows()
        for stat, value in row.items()
    }
