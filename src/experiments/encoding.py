"""New raw inputs to a padded dataset, encoded the way a logged run's data was: texts through its
tokenizer and vocabulary, symbol sequences through its vocabulary, series through its normaliser.

A problem with one input is a DataError naming it: by file and line when the inputs were read
from a file (``origin``, a ``RawSplit``), else by its position among the inputs."""

from collections.abc import Sequence

import numpy as np

from seqlab.data.dataset import SequenceDataset
from seqlab.data.errors import DataError
from seqlab.data.padding import pad_sequences
from seqlab.data.raw import RawSplit
from seqlab.data.text import Vocabulary, text_tokens
from seqlab.experiments.tracking.logged_runs import LoggedRun

# What each kind of run classifies, and the DataFrame column the MLflow model reads it from.
INPUT_COLUMNS = {"text": "text", "symbols": "sequence", "series": "sequence"}


def _error(origin: RawSplit | None, row: int, what: str, problem: str) -> DataError:
    """A DataError about input ``row``: at its file and line when ``origin`` gives them."""
    if origin is not None:
        return DataError(origin.path, f"{what}: {problem}", origin.lines[row])
    return DataError(f"<{what}s to classify>", f"{what} {row}: {problem}")


def _dataset(sequences: list[np.ndarray], run: LoggedRun, source: str, origin: RawSplit | None) -> SequenceDataset:
    for row, sequence in enumerate(sequences):
        if len(sequence) == 0:
            raise _error(origin, row, source, "is empty")
    # Texts and loaded series may be cut at data.max_len; a generator's max_len only bounds
    # what it generates, so symbol sequences are never cut.
    max_len = None if run.input_kind == "symbols" else run.config.data.get("max_len")
    inputs, mask = pad_sequences(sequences, max_len, source=source)
    return SequenceDataset(inputs, mask, np.zeros(len(sequences), np.int32))


def encode_texts(texts: Sequence[str], run: LoggedRun, origin: RawSplit | None = None) -> SequenceDataset:
    """Token ids (batch, time) of ``texts``; words the run never saw become ``<unk>``."""
    vocabulary, data = Vocabulary(run.vocabulary), run.config.data
    encoded = [
        np.array(vocabulary.encode(text_tokens(t, data.lowercase, data.punctuation, data.ngrams)), np.int32)
        for t in texts
    ]
    return _dataset(encoded, run, "text", origin)


def encode_symbols(
    sequences: Sequence[Sequence[str]], run: LoggedRun, origin: RawSplit | None = None
) -> SequenceDataset:
    """Token ids (batch, time) of symbol sequences (e.g. ``["1", "0", "1"]``)."""
    index = {symbol: i for i, symbol in enumerate(run.vocabulary) if i > 0}
    encoded = []
    for row, sequence in enumerate(sequences):
        unknown = sorted({str(s) for s in sequence} - set(index))
        if unknown:
            raise _error(origin, row, "sequence", f"unknown symbols {unknown}; the run knows {sorted(index)}")
        encoded.append(np.array([index[str(s)] for s in sequence], np.int32))
    return _dataset(encoded, run, "sequence", origin)


def encode_series(sequences: Sequence, run: LoggedRun, origin: RawSplit | None = None) -> SequenceDataset:
    """Values (batch, time, features) of series given as (length,) or (length, features)."""
    num_features = run.input_features
    encoded = []
    for row, sequence in enumerate(sequences):
        values = np.asarray([np.asarray(step, dtype=np.float64) for step in sequence], dtype=np.float64)
        values = values.reshape(len(values), -1)
        if values.shape[1] != num_features:
            raise _error(origin, row, "sequence", f"{values.shape[1]} features per step, the run has {num_features}")
        encoded.append(run.normalizer(values) if run.normalizer is not None else values)
    return _dataset(encoded, run, "sequence", origin)


def encode(values: Sequence, run: LoggedRun, origin: RawSplit | None = None) -> SequenceDataset:
    """Encode texts, symbol sequences or series, whichever ``run`` classifies (read from the
    file ``origin`` describes, when given)."""
    encoder = {"text": encode_texts, "symbols": encode_symbols, "series": encode_series}[run.input_kind]
    return encoder(values, run, origin)
