"""Parity of a bit sequence: the label is 1 when the sequence holds an odd number of ones.

Every bit matters to the label, so no model can solve it without carrying state along the
whole sequence — the classic first test of a recurrent network.
"""

import numpy as np

from src.data.dataset import SequenceDataset, Task


def parity_task(num_sequences: int, seed: int, length: int) -> Task:
    """Draw ``num_sequences`` uniform random bit strings of ``length`` bits.

    Returns tokens (num_sequences, length) in {0, 1}, a full mask, labels ``sum(bits) % 2``;
    the same seed always gives the same arrays.
    """
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(num_sequences, length)).astype(np.int32)
    labels = (bits.sum(axis=1) % 2).astype(np.int32)
    dataset = SequenceDataset(bits, np.ones((num_sequences, length)), labels)
    return Task(dataset, num_classes=2, vocab_size=2)
