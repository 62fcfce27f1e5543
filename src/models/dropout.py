"""Inverted dropout drawn from one seeded PyTensor random stream, at the places of a network
that have a rate: ``input`` (embedded tokens or input values), ``between`` (stacked recurrent
layers) and ``output`` (the pooled summary before the output layer)."""

from collections.abc import Mapping

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable


class Dropout:
    """Zero each element with probability ``rates[where]`` and scale the rest by
    ``1 / (1 - rate)``.

    Each rate is a shared variable (changing it never recompiles). Every call draws from the
    same seeded generator; ``updates`` advances it so each training step gets fresh masks.
    """

    def __init__(self, rates: Mapping[str, float], seed: int | list[int], dtype: str):
        self.rates = {
            where: pytensor.shared(np.asarray(rate, dtype=dtype), name=f"dropout_{where}")
            for where, rate in rates.items()
        }
        self.rng = pt.random.shared_rng(np.random.default_rng(seed), name="dropout_rng")
        self._state = self.rng

    def __call__(self, x: TensorVariable, where: str) -> TensorVariable:
        """``x`` with dropout at rate ``rates[where]``; ``x`` itself where there is no rate."""
        if where not in self.rates:
            return x
        rate = self.rates[where]
        self._state, uniform = self._state.uniform(size=x.shape, dtype=x.dtype)
        keep = pt.cast(uniform >= rate, x.dtype)
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
