"""Inverted dropout drawn from one seeded PyTensor random stream, at the places of a network
that have a rate: ``word`` (whole tokens: every feature of an embedded step at once, as word
dropout in Iyyer et al. 2015), ``input`` (embedded tokens or input values), ``between``
(stacked recurrent layers), ``recurrent`` (the recurrent weights) and ``output`` (the pooled
summary before the output layer).

Masks on sequences are drawn per element by default. With ``variational`` they are drawn once
per sequence and feature and shared by all its time steps (Gal and Ghahramani 2016). The
``recurrent`` place drops elements of each layer's recurrent weight matrix U (DropConnect, Wan
et al. 2013, as in the weight-dropped LSTM of Merity et al. 2018): one mask per training step,
the same at every time step of every sequence of the batch, so the fused recurrences run
unchanged on the dropped weights.
"""

from collections.abc import Mapping

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

PLACES = ("word", "input", "between", "recurrent", "output")
# Places whose masks drop whole steps of a sequence (batch, time, features): one draw per step,
# shared by its features.
WHOLE_STEPS = ("word",)


class Dropout:
    """Zero each element with probability ``rates[where]`` and scale the rest by
    ``1 / (1 - rate)``.

    Each rate is a shared variable (changing it never recompiles). Every call draws from the
    same seeded generator; ``updates`` advances it so each training step gets fresh masks
    (without them, every call of a compiled function reuses the same masks).
    """

    def __init__(self, rates: Mapping[str, float], seed: int | list[int], dtype: str, variational: bool = False):
        unknown = set(rates) - set(PLACES)
        if unknown:
            raise ValueError(f"unknown dropout places {sorted(unknown)}; known: {PLACES}")
        self.rates = {
            where: pytensor.shared(np.asarray(rate, dtype=dtype), name=f"dropout_{where}")
            for where, rate in rates.items()
        }
        self.variational = variational
        self.rng = pt.random.shared_rng(np.random.default_rng(seed), name="dropout_rng")
        self._state = self.rng

    def __call__(self, x: TensorVariable, where: str, time_axis: int | None = None) -> TensorVariable:
        """``x`` with dropout at rate ``rates[where]``; ``x`` itself where there is no rate.

        ``time_axis``: the time axis of a sequence tensor; with ``variational`` its mask is
        drawn with that axis of length 1 and broadcast over it. At a ``WHOLE_STEPS`` place the
        mask is drawn per step (the last axis of length 1), whatever ``variational`` says.
        """
        if where not in self.rates:
            return x
        rate = self.rates[where]
        shape = list(x.shape)
        shared_axis = x.ndim - 1 if where in WHOLE_STEPS else time_axis if self.variational else None
        if shared_axis is not None:
            shape[shared_axis] = 1
        self._state, uniform = self._state.uniform(size=shape, dtype=x.dtype)
        keep = pt.cast(uniform >= rate, x.dtype)
        if shared_axis is not None:
            keep = pt.specify_broadcastable(keep, shared_axis)
        return x * keep / (1 - rate)

    @property
    def updates(self) -> list:
        """The ``(generator, next state)`` update for ``pytensor.function``."""
        return [(self.rng, self._state)] if self._state is not self.rng else []

    def state(self) -> dict:
        """The generator's state (a dict of numbers), to save with a checkpoint."""
        return self.rng.get_value().bit_generator.state

    def load_state(self, state: dict) -> None:
        """Continue the generator from a ``state()``."""
        generator = np.random.default_rng()
        generator.bit_generator.state = state
        self.rng.set_value(generator)
