"""First symbol: the label is the first symbol of a long sequence of distractors.

As in Hochreiter & Schmidhuber's (1997) long-time-lag experiments: step 0 holds one of
``num_symbols`` key symbols (the label), every later step one of ``num_distractors`` other
symbols drawn at random. The network must keep one piece of information across the whole
sequence while ignoring the distractors — a long-range dependency.
"""

import numpy as np

from seqlab.data.dataset import Task
from seqlab.data.toy import draw_lengths, symbol_task


def first_symbol_task(
    num_sequences: int,
    seed: int,
    min_len: int,
    max_len: int,
    num_symbols: int,
    num_distractors: int,
) -> Task:
    """Symbols 0..num_symbols-1 are keys ('k0' …), the next num_distractors are distractors
    ('d0' …); label = the key at step 0, lengths in [min_len, max_len]."""
    rng = np.random.default_rng(seed)
    lengths = draw_lengths(rng, num_sequences, min_len, max_len)
    labels = rng.integers(0, num_symbols, size=num_sequences)
    sequences = [
        np.concatenate([[label], rng.integers(num_symbols, num_symbols + num_distractors, size=n - 1)])
        for label, n in zip(labels, lengths, strict=True)
    ]
    keys = tuple(f"k{i}" for i in range(num_symbols))
    distractors = tuple(f"d{i}" for i in range(num_distractors))
    return symbol_task(sequences, labels, symbols=keys + distractors, label_names=keys)
