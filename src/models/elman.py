"""The Elman RNN of the seed: ``h_t = tanh(x_t Wxh + h_{t-1} Whh + bh)``, softmax on the last state.

Parameters follow the classic Theano tutorials: one dict of NumPy arrays (``init_elman_params``)
that becomes shared variables in one place (``SequenceClassifier``); the graph is a function of
those variables (``elman_logits``).
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

PARAM_NAMES = ("Wxh", "Whh", "Why", "bh", "by")


def init_elman_params(
    input_size: int,
    hidden_size: int,
    num_classes: int,
    init_std: float,
    seed: int | list[int],
) -> dict[str, np.ndarray]:
    """Return seeded float64 parameters: weights ~ N(0, init_std²), biases zero.

    Shapes: Wxh (input_size, hidden_size), Whh (hidden_size, hidden_size),
    Why (hidden_size, num_classes), bh (hidden_size,), by (num_classes,).
    """
    rng = np.random.default_rng(seed)
    return {
        "Wxh": rng.standard_normal((input_size, hidden_size)) * init_std,
        "Whh": rng.standard_normal((hidden_size, hidden_size)) * init_std,
        "Why": rng.standard_normal((hidden_size, num_classes)) * init_std,
        "bh": np.zeros(hidden_size),
        "by": np.zeros(num_classes),
    }


def _elman_step(xw_t, m_t, h_prev, Whh):
    h_new = pt.tanh(xw_t + h_prev @ Whh)
    m = m_t[:, None]
    return m * h_new + (1 - m) * h_prev  # padded steps keep the previous state


def elman_logits(
    params: dict[str, TensorVariable], inputs: TensorVariable, mask: TensorVariable
) -> TensorVariable:
    """Build the class scores of a batch.

    inputs: (batch, time, features); mask: (batch, time), 1 on real steps.
    Returns logits (batch, classes) from the hidden state after the last real step.
    The input projection of all steps is one matrix product outside the recurrence.
    """
    xw = inputs @ params["Wxh"] + params["bh"]  # (batch, time, hidden)
    h0 = pt.zeros((inputs.shape[0], params["Whh"].shape[0]), dtype=inputs.dtype)
    states = pytensor.scan(
        _elman_step,
        sequences=[xw.dimshuffle(1, 0, 2), mask.T],
        outputs_info=[h0],
        non_sequences=[params["Whh"]],
        strict=True,
        return_updates=False,
    )
    return states[-1] @ params["Why"] + params["by"]
