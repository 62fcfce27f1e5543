"""Classifying with a logged run: its model rebuilt from its logged files, on a split of its data
or on new raw inputs (texts, symbol sequences, series). Used by ``seqlab predict`` and the
MLflow model."""

import dataclasses

import numpy as np
import pandas as pd

from seqlab.data.dataset import DataSplits
from seqlab.data.inputs import read_inputs
from seqlab.data.raw import RawSplit
from seqlab.engine import set_float_dtype
from seqlab.experiments.encoding import encode
from seqlab.experiments.tracking.logged_runs import LoggedRun, load_run
from seqlab.experiments.training.builders import build_classifier, load_data, model_inputs
from seqlab.models.classifier import SequenceClassifier


class RunClassifier:
    """A logged run's model, built and compiled on its first use and kept for every later call."""

    def __init__(self, run: LoggedRun):
        self.run = run
        self._model: SequenceClassifier | None = None

    def classify(self, data: DataSplits, batch_size: int) -> pd.DataFrame:
        """Classify ``data.test`` (raw, as the source gives it).

        Returns one row per sequence: ``prediction`` (class index), ``predicted_name`` (the
        original label) and a ``proba_<label>`` column per class.
        """
        splits = model_inputs(self.run.config, data)
        if self._model is None:
            set_float_dtype(self.run.config.trainer.dtype)
            self._model = build_classifier(self.run.config, splits, weights=self.run.weights)
        proba = np.exp(self._model.predict_log_proba(splits.test, batch_size))
        names = np.array(self.run.label_names)
        table = pd.DataFrame(proba, columns=[f"proba_{name}" for name in names])
        table.insert(0, "predicted_name", names[proba.argmax(axis=1)])
        table.insert(0, "prediction", proba.argmax(axis=1))
        return table

    def classify_raw(self, values: list, batch_size: int, origin: RawSplit | None = None) -> pd.DataFrame:
        """Classify new raw texts, symbol sequences or series (see ``encoding.encode``), read
        from the file ``origin`` describes when given."""
        run = self.run
        dataset = encode(values, run, origin)
        vocab_size = len(run.vocabulary) if run.vocabulary is not None else None
        data = DataSplits(dataset, dataset, dataset, run.label_names, run.input_kind, vocab_size, run.vocabulary)
        return self.classify(data, batch_size)


def predict_split(run_id: str, split: str, batch_size: int) -> pd.DataFrame:
    """Classify ``split`` of run ``run_id``'s data with its logged weights (current store).

    Returns one row per sequence: class indices ``label`` and ``prediction``, the original
    label names ``label_name`` and ``predicted_name``, and ``proba_<name>`` columns.
    """
    run = load_run(run_id)
    data = load_data(run.config)
    if data.label_names != run.label_names:
        raise LookupError(f"run {run_id}: its data now gives labels {data.label_names}, it logged {run.label_names}")
    dataset = data.split(split)
    table = RunClassifier(run).classify(dataclasses.replace(data, test=dataset), batch_size)
    table.insert(0, "label_name", np.array(run.label_names)[dataset.labels])
    table.insert(0, "label", dataset.labels)
    return table


def predict_file(run_id: str, path: str, batch_size: int) -> pd.DataFrame:
    """Classify the sequences of the file ``path`` (``seqlab.data.inputs.read_inputs``: texts,
    symbol sequences or series, whichever run ``run_id`` classifies).

    Returns one row per sequence: its ``line`` in the file, ``label_name`` when the file gives
    labels, then ``prediction``, ``predicted_name`` and ``proba_<name>`` columns."""
    run = load_run(run_id)
    raw = read_inputs(path, run.input_kind)
    table = RunClassifier(run).classify_raw(list(raw.sequences), batch_size, origin=raw)
    if any(label is not None for label in raw.labels):
        table.insert(0, "label_name", [str(label) for label in raw.labels])
    table.insert(0, "line", raw.lines)
    return table


def predict_texts(run_id: str, texts: list[str], batch_size: int) -> pd.DataFrame:
    """Classify new ``texts`` with a run trained on text, through the vocabulary it logged."""
    run = load_run(run_id)
    if run.input_kind != "text":
        raise LookupError(f"run {run_id} was not trained on text (data={run.config.data.name})")
    table = RunClassifier(run).classify_raw(texts, batch_size)
    table.insert(0, "text", texts)
    return table
