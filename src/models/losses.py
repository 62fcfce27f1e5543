"""Classification losses as PyTensor expressions."""

import pytensor.tensor as pt
from pytensor.gradient import disconnected_grad
from pytensor.tensor.variable import TensorVariable


def log_softmax(logits: TensorVariable) -> TensorVariable:
    """Log class probabilities (batch, classes) of logits (batch, classes), computed stably.

    Written out in elementwise ops and reductions, which compile to C: PyTensor's own
    ``log_softmax`` is an OpFromGraph that runs in Python and compiles its inner graph on its
    first call in every process. The shift by the row maximum
    cancels exactly, so no gradient flows through it.
    """
    shifted = logits - disconnected_grad(logits.max(axis=-1, keepdims=True))
    return shifted - pt.log(pt.exp(shifted).sum(axis=-1, keepdims=True))


def cross_entropy(logits: TensorVariable, labels: TensorVariable) -> TensorVariable:
    """Mean categorical cross-entropy of logits (batch, classes) against int labels (batch,)."""
    log_probs = log_softmax(logits)
    return -log_probs[pt.arange(labels.shape[0]), labels].mean()


def training_loss(
    logits: TensorVariable, labels: TensorVariable, smoothing: TensorVariable, class_weights: TensorVariable
) -> TensorVariable:
    """The training objective: cross-entropy against label-smoothed targets, ``1 - ε + ε/K`` on
    the label and ``ε/K`` on each other of the K classes (Szegedy et al. 2016), with each
    sequence weighted by its class's weight and the sum divided by the batch's total weight
    (as PyTorch's weighted ``CrossEntropyLoss``). ``cross_entropy`` when ε = 0 and all
    weights are equal.

    logits: (batch, classes); labels: (batch,) int; smoothing: ε, a scalar in [0, 1);
    class_weights: (classes,).
    """
    log_probs = log_softmax(logits)
    picked = log_probs[pt.arange(labels.shape[0]), labels]
    per_sequence = -(1 - smoothing) * picked - smoothing * log_probs.mean(axis=-1)
    weights = class_weights[labels]
    return (weights * per_sequence).sum() / weights.sum()
