"""Pretrained word vectors (GloVe or word2vec text files, or a ``.npy`` matrix with its words),
aligned to a training vocabulary to initialise an embedding. Files are read from disk only:
nothing is downloaded."""

from pathlib import Path

import numpy as np

from seqlab.data.errors import DataError
from seqlab.data.files import data_file, file_lines, read_text


def _text_vectors(path: Path) -> dict[str, np.ndarray]:
    """``word v1 ... vd`` per line (GloVe; word2vec's text format adds a ``count dim`` first line)."""
    vectors, dim = {}, None
    for line, text in enumerate(file_lines(read_text(path)), start=1):
        fields = text.rstrip().split(" ")
        if line == 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
            continue  # word2vec's header
        if len(fields) < 2:
            continue
        try:
            vector = np.array(fields[1:], dtype=np.float64)
        except ValueError:
            raise DataError(path, f"the vector of {fields[0]!r} holds a value that is not a number", line) from None
        if dim is not None and len(vector) != dim:
            raise DataError(path, f"the vector of {fields[0]!r} has {len(vector)} values, earlier ones {dim}", line)
        dim = len(vector)
        vectors.setdefault(fields[0], vector)
    if not vectors:
        raise DataError(path, "no word vectors in the file")
    return vectors


def _npy_vectors(path: Path) -> dict[str, np.ndarray]:
    """A (words, dim) ``.npy`` matrix, its words one per line in ``<stem>.vocab`` beside it."""
    words = file_lines(read_text(data_file(path.with_suffix(".vocab"))))
    matrix = np.load(path, allow_pickle=False)
    if matrix.ndim != 2 or len(matrix) != len(words):
        raise DataError(path, f"a {matrix.shape} array for {len(words)} words in {path.with_suffix('.vocab')}")
    return dict(zip(words, matrix.astype(np.float64), strict=True))


def aligned_vectors(
    path: str | Path, vocabulary: tuple[str, ...], dim: int, seed: int | list[int]
) -> tuple[np.ndarray, float]:
    """An embedding matrix (len(vocabulary), dim) from the vectors file at ``path``, and the
    share of the vocabulary's words (all but padding, id 0, and unknown, id 1) it covers.

    A word takes its own vector, else that of a word equal to it but for case; other rows are drawn (seeded)
    from a normal distribution with the vectors' per-dimension mean and standard deviation;
    the padding row is zero. Raises DataError when the vectors are not ``dim``-dimensional."""
    path = data_file(path)
    vectors = _npy_vectors(path) if path.suffix == ".npy" else _text_vectors(path)
    found_dim = len(next(iter(vectors.values())))
    if found_dim != dim:
        raise DataError(path, f"the vectors have {found_dim} dimensions: set model.embedding_dim={found_dim}")
    matrix = np.stack(list(vectors.values()))
    rng = np.random.default_rng(seed)
    embedding = rng.normal(matrix.mean(axis=0), matrix.std(axis=0) + 1e-12, size=(len(vocabulary), dim))
    embedding[0] = 0.0
    lowered = {}
    for word, vector in vectors.items():  # the first of the words that differ only in case
        lowered.setdefault(word.lower(), vector)
    found = 0
    for index, word in enumerate(vocabulary[2:], start=2):
        vector = vectors.get(word, lowered.get(word.lower()))
        if vector is not None:
            embedding[index], found = vector, found + 1
    return embedding, found / max(len(vocabulary) - 2, 1)
