"""New raw inputs to a padded dataset, encoded the way a logged run's data was: texts through its
tokenizer and vocabulary, symbol sequences through its vocabulary, series through its normaliser."""

from collections.abc import Sequence

import numpy as np

from seqlab.data.dataset import SequenceDataset
from seqlab.data.errors import DataError
from seqlab.data.padding import pad_sequences
from seqlab.data.text import Vocabulary, tokenize
from seqlab.experiments.tracking.logged_runs import LoggedRun

# What each kind of run classifies, and the DataFrame column the MLflow model reads it from.
INPUT_COLUMNS = {"text": "text", "symbols": "sequence", "series": "sequence"}


def _dataset(sequences: list[np.ndarray], run: LoggedRun, source: str) -> SequenceDataset:
    for row, sequence in enumerate(sequences):
        if len(sequence) == 0:
            raise DataError(f"<{source}s to classify>", f"{source} {row} is empty")
    # Texts and loaded series may be cut at data.max_len; a generator's max_len only bounds
    # what it generates, so symbol sequences are never cut.
    max_len = None if run.input_kind == "symbols" else run.config.data.get("max_len")
    inputs, mask = pad_sequences(sequences, max_len, source=source)
    return SequenceDataset(inputs, mask, np.zeros(len(sequences), np.int32))


def encode_texts(texts: Sequence[str], run: LoggedRun) -> SequenceDataset:
    """Token ids (batch, time) of ``texts``; words the run never saw become ``<unk>``."""
    vocabulary, data = Vocabulary(run.vocabulary), run.config.data
    encoded = [np.array(vocabulary.encode(tokenize(t, data.lowercase, data.punctuation)), np.int32) for t in texts]
    return _dataset(encoded, run, "text")


def encode_symbols(sequences: Sequence[Sequence[str]], run: LoggedRun) -> SequenceDataset:
    """Token ids (batch, time) of symbol sequences (e.g. ``["1", "0", "1"]``)."""
    index = {symbol: i for i, symbol in enumerate(run.vocabulary) if i > 0}
    encoded = []
    for row, sequence in enumerate(sequences):
        unknown = sorted({str(s) for s in sequence} - set(index))
        if unknown:
            raise DataError(
                "<sequences to classify>", f"sequence {row}: unknown symbols {unknown}; the run knows {sorted(index)}"
            )
        encoded.append(np.array([index[str(s)] for s in sequence], np.int32))
    return _dataset(encoded, run, "sequence")


def encode_series(sequences: Sequence, run: LoggedRun) -> SequenceDataset:
    """Values (batch, time, features) of series given as (length,) or (length, features)."""
    num_features = run.input_features
    encoded = []
    for row, sequence in enumerate(sequences):
        values = np.asarray([np.asarray(step, dtype=np.float64) for step in sequence], dtype=np.float64)
        values = values.reshape(len(values), -1)
        if values.shape[1] != num_features:
            raise DataError(
                "<sequences to classify>",
                f"sequence {row} has {values.shape[1]} features per step, the run {num_features}",
            )
        encoded.append(run.normalizer(values) if run.normalizer is not None else values)
    return _dataset(encoded, run, "sequence")


def encode(values: Sequence, run: LoggedRun) -> SequenceDataset:
    """Encode texts, symbol sequences or series, whichever ``run`` classifies."""
    kind = run.input_kind
    if kind == "text":
        return encode_texts(values, run)
    return encode_symbols(values, run) if kind == "symbols" else encode_series(values, run)
