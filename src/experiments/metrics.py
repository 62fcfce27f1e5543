"""What a run measures, in one place: each metric defined once (on a split's labels and the
model's log-probabilities), and every name that config (``trainer.monitor``, the Optuna
direction, ``study.metric``), training, tracking, ``compare``, the sweep parent and the study
report use, derived from it. Adding a metric is one entry in ``METRICS``.

Naming scheme, per split (``train``, ``val``, ``test``):
- ``<split>_<metric>`` per epoch (MLflow step = epoch): ``train_loss`` and ``train_accuracy``
  measured by each batch's step during the epoch's pass, every metric on validation;
- ``best_<epoch metric>`` at the epoch selected by ``trainer.monitor``, ``best_epoch`` its number;
- ``test_<metric>`` for the selected epoch's weights on the test split;
- ``<split>_<statistic>/<class>`` per class (precision, recall, f1, support) for validation and
  test at the selected epoch; the confusion matrices as tables beside them.

The metrics are scikit-learn's definitions (``accuracy_score``, ``balanced_accuracy_score``,
``f1_score`` with ``zero_division=0``, ``precision_recall_fscore_support``, ``confusion_matrix``),
computed here from one confusion matrix: importing ``sklearn.metrics`` is slow and its input
checks cost every epoch (measured in ``docs/performance.md``). The tests compare every value with
scikit-learn's.
"""

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


def confusion_counts(labels: np.ndarray, predictions: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) int64 counts of each (true, predicted) pair: row true class, column
    predicted, of ``labels`` and ``predictions`` ((N,) class indices below ``classes``)."""
    pairs = np.asarray(labels, dtype=np.int64) * classes + np.asarray(predictions, dtype=np.int64)
    return np.bincount(pairs, minlength=classes * classes).reshape(classes, classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` elementwise, 0 where the denominator is 0 (``zero_division=0``)."""
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def _class_statistics(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per class (each (classes,)) of ``confusion_counts``' matrix: precision (0 for a class
    never predicted), recall (0 for a class absent from the labels), F1 = 2 TP / (2 TP + FP + FN)
    (0 for a class neither present nor predicted) and support, the class's number of labels."""
    hits = np.diag(counts).astype(np.float64)
    support, predicted = counts.sum(axis=1), counts.sum(axis=0)
    return {
        "precision": _ratio(hits, predicted),
        "recall": _ratio(hits, support),
        "f1": _ratio(2 * hits, support + predicted),
        "support": support,
    }


def _accuracy(counts: np.ndarray) -> float:
    return float(np.trace(counts) / counts.sum())


def _balanced_accuracy(counts: np.ndarray) -> float:
    """Mean recall over the classes present in the labels (scikit-learn leaves the others out)."""
    present = counts.sum(axis=1) > 0
    return float(_class_statistics(counts)["recall"][present].mean())


def _f1(average: str) -> Callable[[np.ndarray], float]:
    """F1 averaged over the classes present in the labels or the predictions (scikit-learn's
    label set): unweighted (``macro``) or weighted by support (``weighted``)."""

    def f1(counts: np.ndarray) -> float:
        statistics = _class_statistics(counts)
        seen = (statistics["support"] + counts.sum(axis=0)) > 0
        weights = statistics["support"][seen] if average == "weighted" else None
        return float(np.average(statistics["f1"][seen], weights=weights))

    return f1


def _on_predictions(of_counts: Callable[[np.ndarray], float]) -> Callable[[np.ndarray, np.ndarray], float]:
    """``of_counts`` of the confusion matrix of the labels and the argmax of ``log_proba``."""

    def compute(labels: np.ndarray, log_proba: np.ndarray) -> float:
        return of_counts(confusion_counts(labels, log_proba.argmax(axis=1), log_proba.shape[1]))

    return compute


METRICS = {
    "loss": Metric(-1, _loss, "mean cross-entropy of the true class"),
    "accuracy": Metric(1, _on_predictions(_accuracy), "fraction classified right"),
    "balanced_accuracy": Metric(1, _on_predictions(_balanced_accuracy), "mean recall over the classes"),
    "macro_f1": Metric(1, _on_predictions(_f1("macro")), "unweighted mean F1"),
    "weighted_f1": Metric(1, _on_predictions(_f1("weighted")), "F1 weighted by class support"),
}

# The statistics reported per class at the selected epoch (scikit-learn's precision_recall_fscore_support).
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
    statistics = _class_statistics(confusion_counts(labels, predictions, len(names)))
    return pd.DataFrame({stat: statistics[stat] for stat in PER_CLASS}, index=pd.Index(names, name="class"))


def confusion(labels: np.ndarray, predictions: np.ndarray, names: tuple[str, ...]) -> pd.DataFrame:
    """Counts of each (true, predicted) class pair: rows true classes, columns predicted, by name."""
    counts = confusion_counts(labels, predictions, len(names))
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
