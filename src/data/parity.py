"""Parity of a bit sequence: the label is 1 when the sequence holds an odd number of ones.

Every bit matters to the label, so no model can solve it without carrying state along the
whole sequence — the classic first test of a recurrent network.
"""

import numpy as np

from src.data.dataset import SequenceDataset, one_hot


def parity_dataset(num_sequences: int, length: int, seed: int) -> SequenceDataset:
    """Draw ``num_sequences`` uniform random bit strings of ``length`` bits.

    Returns a dataset with one-hot inputs (num_sequences, length, 2), a full mask and
    labels ``sum(bits) % 2``; the same seed always gives the same arrays.
    """
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(num_sequences, length))
    labels = (bits.sum(axis=1) % 2).astype(np.int32)
    return SequenceDataset(
        inputs=one_hot(bits, 2), mask=np.ones((num_sequences, length)), labels=labels
    )
