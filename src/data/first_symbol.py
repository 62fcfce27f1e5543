"""First symbol: the label is the first symbol of a long sequence of distractors.

As in Hochreiter & Schmidhuber's (1997) long-time-lag experiments: step 0 holds one of
``num_symbols`` key symbols (the label), every later step one of ``num_distractors`` other
symbols drawn at random. The network must keep one piece of information across ``length``
steps while ignoring the distractors — a long-range dependency that plain Elman RNNs trained by
gradient descent fail at and gated cells (LSTM, GRU) solve.
"""

import numpy as np

from src.data.dataset import SequenceDataset, Task


def first_symbol_task(
    num_sequences: int, seed: int, length: int, num_symbols: int, num_distractors: int
) -> Task:
    """Tokens (num_sequences, length): step 0 in [0, num_symbols) is the label, later steps
    in [num_symbols, num_symbols + num_distractors)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_symbols, size=num_sequences).astype(np.int32)
    tokens = rng.integers(
        num_symbols, num_symbols + num_distractors, size=(num_sequences, length)
    ).astype(np.int32)
    tokens[:, 0] = labels
    dataset = SequenceDataset(tokens, np.ones((num_sequences, length)), labels)
    return Task(dataset, num_classes=num_symbols, vocab_size=num_symbols + num_distractors)
