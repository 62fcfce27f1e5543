"""Padding variable-length sequences into one array with a mask — never truncating silently."""

import logging
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)


def pad_sequences(
    sequences: Sequence[np.ndarray], max_len: int | None = None, source: str = "sequences"
) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad sequences to a common length.

    sequences: each (length,) tokens or (length, channels) values, length >= 1.
    max_len: cut longer sequences to this many steps, with a warning that counts them.
    Returns (batch, time) or (batch, time, channels) with zeros on padding, and the mask
    (batch, time) as float64 (1 on real steps).
    """
    lengths = np.array([len(s) for s in sequences])
    if len(sequences) == 0 or lengths.min() < 1:
        raise ValueError(f"{source}: every sequence needs at least one step")
    if max_len is not None and lengths.max() > max_len:
        log.warning(
            "%s: %d of %d sequences are longer than max_len=%d and were truncated",
            source,
            int((lengths > max_len).sum()),
            len(sequences),
            max_len,
        )
        lengths = np.minimum(lengths, max_len)
    first = np.asarray(sequences[0])
    padded = np.zeros((len(sequences), lengths.max(), *first.shape[1:]), dtype=first.dtype)
    for row, (sequence, length) in enumerate(zip(sequences, lengths, strict=True)):
        padded[row, :length] = sequence[:length]
    mask = (np.arange(lengths.max())[None, :] < lengths[:, None]).astype(np.float64)
    return padded, mask
