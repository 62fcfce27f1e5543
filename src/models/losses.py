"""Classification losses as PyTensor expressions."""

import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax
from pytensor.tensor.variable import TensorVariable


def cross_entropy(logits: TensorVariable, labels: TensorVariable) -> TensorVariable:
    """Mean categorical cross-entropy of logits (batch, classes) against int labels (batch,)."""
    log_probs = log_softmax(logits, axis=-1)
    return -log_probs[pt.arange(labels.shape[0]), labels].mean()
