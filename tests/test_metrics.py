"""The metric registry: its metrics equal scikit-learn's on any labels and predictions, and
what a run logs per split and per class equals scikit-learn on the run's own predictions; the
confusion matrix is logged as data; every registered metric can select the best epoch."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow.tracking import MlflowClient
from sklearn import metrics as sk

from seqlab.experiments.classify import predict_split
from seqlab.experiments.metrics import (
    BEST_METRICS,
    EPOCH_METRICS,
    METRICS,
    MONITOR_SIGN,
    PER_CLASS,
    confusion,
    measure,
    per_class,
    sign,
)
from seqlab.experiments.training.runner import train
from tests.conftest import CLASS_SIZES, IMBALANCED_RUN, compose_config, write_imbalanced_archive


@st.composite
def labelled_predictions(draw) -> tuple[np.ndarray, np.ndarray, int]:
    """Labels and predictions ((N,) class indices) over 2-6 classes, often with classes absent
    from the labels, the predictions or both, as small splits have."""
    classes = draw(st.integers(2, 6))
    used = draw(st.lists(st.integers(0, classes - 1), min_size=1, max_size=classes, unique=True))
    pairs = st.tuples(st.sampled_from(used), st.integers(0, classes - 1) | st.sampled_from(used))
    labels, predictions = zip(*draw(st.lists(pairs, min_size=1, max_size=40)), strict=True)
    return np.array(labels), np.array(predictions), classes


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.filterwarnings("ignore:A single label was found")
@settings(deadline=None, max_examples=300)
@given(labelled_predictions())
def test_the_metrics_equal_scikit_learns_on_any_labels_and_predictions(case):
    labels, predictions, classes = case
    log_proba = np.log(np.full((len(labels), classes), 0.1 / classes))
    log_proba[np.arange(len(labels)), predictions] = np.log(0.9)
    expected = {
        "accuracy": sk.accuracy_score(labels, predictions),
        "balanced_accuracy": sk.balanced_accuracy_score(labels, predictions),
        "macro_f1": sk.f1_score(labels, predictions, average="macro", zero_division=0),
        "weighted_f1": sk.f1_score(labels, predictions, average="weighted", zero_division=0),
    }
    measured = measure(labels, log_proba, "val")
    for name, value in expected.items():
        assert measured[f"val_{name}"] == pytest.approx(value, abs=1e-12), name
    names = tuple(f"class {c}" for c in range(classes))
    table = per_class(labels, predictions, names)
    statistics = sk.precision_recall_fscore_support(labels, predictions, labels=range(classes), zero_division=0)
    for stat, values in zip(PER_CLASS, statistics, strict=True):
        np.testing.assert_allclose(table[stat].to_numpy(), values, rtol=0, atol=1e-12, err_msg=stat)
    counts = sk.confusion_matrix(labels, predictions, labels=range(classes))
    np.testing.assert_array_equal(confusion(labels, predictions, names).to_numpy(), counts)


def test_every_logged_metric_equals_scikit_learn_on_the_runs_predictions(imbalanced_run):
    run_id = imbalanced_run["metrics"]["run_id"]
    mlflow.set_tracking_uri(imbalanced_run["store"]["uri"])
    logged = MlflowClient().get_run(run_id).data.metrics
    names = list(CLASS_SIZES)
    for split, prefix in (("test", "test"), ("validation", "val")):
        table = predict_split(run_id, split, batch_size=64)
        truth, predicted = table["label_name"], table["predicted_name"]
        expected = {
            "accuracy": sk.accuracy_score(truth, predicted),
            "balanced_accuracy": sk.balanced_accuracy_score(truth, predicted),
            "macro_f1": sk.f1_score(truth, predicted, average="macro", zero_division=0),
            "weighted_f1": sk.f1_score(truth, predicted, average="weighted", zero_division=0),
        }
        metric_prefix = "test" if split == "test" else "best_val"
        for name, value in expected.items():
            assert logged[f"{metric_prefix}_{name}"] == pytest.approx(value, abs=1e-12), (split, name)
        per_class = sk.precision_recall_fscore_support(truth, predicted, labels=names, zero_division=0)
        for stat, values in zip(PER_CLASS, per_class, strict=True):
            for name, value in zip(names, values, strict=True):
                assert logged[f"{prefix}_{stat}/{name}"] == pytest.approx(value, abs=1e-12), (split, stat, name)
        logged_table = mlflow.artifacts.load_dict(f"runs:/{run_id}/metrics/{prefix}_confusion_matrix.json")
        confusion = pd.DataFrame(logged_table["data"], columns=logged_table["columns"])
        counts = confusion.set_index("true").loc[names, names].to_numpy()
        np.testing.assert_array_equal(counts, sk.confusion_matrix(truth, predicted, labels=names))
    assert logged["test_macro_f1"] > 0.6, "the run learned the minority classes, not only the majority"


def test_the_registry_names_every_epoch_and_best_metric_with_a_direction():
    assert set(MONITOR_SIGN) == set(EPOCH_METRICS)
    assert {f"test_{m}" for m in METRICS} <= set(BEST_METRICS)
    assert sign("best_val_macro_f1") == 1 and sign("final_train_loss") == -1 and sign("test_loss") == -1


def test_a_run_selects_its_epoch_on_a_registered_metric(store_overrides, tmp_path):
    overrides = write_imbalanced_archive(tmp_path, seed=1)
    cfg = compose_config(
        store_overrides
        + [f"{k}={v}" for k, v in overrides.items()]
        + IMBALANCED_RUN
        + ["trainer.monitor=val_balanced_accuracy"]
    )
    metrics = train(cfg)
    history = MlflowClient().get_metric_history(metrics["run_id"], "val_balanced_accuracy")
    best = max(history, key=lambda m: (m.value, -m.step))
    assert metrics["best_epoch"] == best.step and metrics["val_balanced_accuracy"] == best.value
