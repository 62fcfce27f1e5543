"""Parity of a bit sequence: the label is 1 ('odd') when the sequence holds an odd number of ones.

Every bit matters to the label, so no model can solve it without carrying state along the
whole sequence — the classic first test of a recurrent network.
"""

import numpy as np

from seqlab.data.dataset import Task
from seqlab.data.toy import draw_lengths, symbol_task


def parity_task(num_sequences: int, seed: int, min_len: int, max_len: int) -> Task:
    """Uniform random bit strings with lengths in [min_len, max_len].

    Tokens: 1 for a 0 bit, 2 for a 1 bit (0 is padding). Label: number of ones % 2.
    """
    rng = np.random.default_rng(seed)
    lengths = draw_lengths(rng, num_sequences, min_len, max_len)
    bits = [rng.integers(0, 2, size=length) for length in lengths]
    labels = [b.sum() % 2 for b in bits]
    return symbol_task(bits, labels, symbols=("0", "1"), label_names=("even", "odd"))
