"""Majority: the label is the symbol that occurs most often in the sequence (a counting task)."""

import numpy as np

from seqlab.data.dataset import Task
from seqlab.data.toy import draw_lengths, symbol_task


def majority_task(num_sequences: int, seed: int, min_len: int, max_len: int, num_symbols: int) -> Task:
    """Random symbols in [0, num_symbols) with lengths in [min_len, max_len]; label = the most
    frequent symbol. The label is drawn first and random other symbols are turned into it
    until it is the strict plurality, so classes are balanced and there are no ties."""
    rng = np.random.default_rng(seed)
    lengths = draw_lengths(rng, num_sequences, min_len, max_len)
    labels = rng.integers(0, num_symbols, size=num_sequences)
    sequences = []
    for length, label in zip(lengths, labels, strict=True):
        symbols = rng.integers(0, num_symbols, size=length)
        while not _is_strict_majority(symbols, label, num_symbols):
            symbols[rng.choice(np.flatnonzero(symbols != label))] = label
        sequences.append(symbols)
    names = tuple(f"s{i}" for i in range(num_symbols))
    return symbol_task(sequences, labels, symbols=names, label_names=names)


def _is_strict_majority(symbols: np.ndarray, label: int, num_symbols: int) -> bool:
    counts = np.bincount(symbols, minlength=num_symbols)
    return bool(counts[label] > np.delete(counts, label).max())
