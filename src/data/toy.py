"""Helpers shared by the toy generators: sequence lengths and symbol vocabularies."""

import numpy as np

from seqlab.data.dataset import SequenceDataset, Task
from seqlab.data.padding import pad_sequences
from seqlab.data.text import PAD


def draw_lengths(rng: np.random.Generator, count: int, min_len: int, max_len: int) -> np.ndarray:
    """``count`` lengths uniform in [min_len, max_len] (all equal when min_len == max_len)."""
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    return rng.integers(min_len, max_len + 1, size=count)


def symbol_task(sequences: list[np.ndarray], labels, symbols: tuple[str, ...], label_names: tuple[str, ...]) -> Task:
    """A token task from symbol indices (0-based, one array per sequence): ids are shifted by
    one so that id 0 is padding."""
    tokens, mask = pad_sequences([np.asarray(s, dtype=np.int32) + 1 for s in sequences])
    dataset = SequenceDataset(tokens * mask.astype(np.int32), mask, np.asarray(labels, np.int32))
    return Task(dataset, label_names, vocabulary=(PAD, *symbols))
