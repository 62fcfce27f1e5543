"""Optimisers as PyTensor update lists, applied inside the one compiled train function.

Each optimiser takes the shared parameters, their gradients and its hyper-parameters as
shared variables (so one compiled function serves every value of a sweep) and returns the
``(shared_variable, new_value)`` pairs for ``pytensor.function(updates=...)``.
"""

from collections.abc import Callable, Sequence

from pytensor.compile.sharedvalue import SharedVariable
from pytensor.tensor.variable import TensorVariable

Updates = list[tuple[SharedVariable, TensorVariable]]


def sgd(
    params: Sequence[SharedVariable], grads: Sequence[TensorVariable], lr: SharedVariable
) -> Updates:
    """Plain stochastic gradient descent: ``p ← p − lr · g``."""
    return [(p, p - lr * g) for p, g in zip(params, grads, strict=True)]


OPTIMIZERS: dict[str, Callable[..., Updates]] = {"sgd": sgd}
