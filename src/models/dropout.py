"""Inverted dropout drawn from one seeded PyTensor random stream."""

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable


class Dropout:
    """Zero each element with probability ``rate`` and scale the rest by ``1 / (1 - rate)``.

    ``rate`` is a shared variable (changing it never recompiles). Every call draws from the same
    seeded generator; ``updates`` advances it so each training step gets fresh masks.
    """

    def __init__(self, rate: float, seed: int | list[int], dtype: str):
        self.rate = pytensor.shared(np.asarray(rate, dtype=dtype), name="dropout_rate")
        self.rng = pt.random.shared_rng(np.random.default_rng(seed), name="dropout_rng")
        self._state = self.rng

    def __call__(self, x: TensorVariable) -> TensorVariable:
        self._state, uniform = self._state.uniform(size=x.shape, dtype=x.dtype)
        keep = pt.cast(uniform >= self.rate, x.dtype)
        return x * keep / (1 - self.rate)

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
