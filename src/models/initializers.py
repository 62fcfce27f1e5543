"""Weight initialisers, by the names used in ``conf/model`` (``input_init``, ``recurrent_init``).

Gate matrices are fused side by side — ``(fan_in, num_gates * hidden)`` — and each gate's block
is initialised on its own, as if it were a separate matrix.
"""

from collections.abc import Callable

import numpy as np


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int, num_gates: int, std: float):
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) per gate; returns (fan_in, num_gates*fan_out)."""
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=(fan_in, num_gates * fan_out))


def orthogonal(rng: np.random.Generator, fan_in: int, fan_out: int, num_gates: int, std: float):
    """A random orthogonal (fan_in, fan_out) block per gate (QR of a Gaussian, signs fixed)."""
    blocks = []
    for _ in range(num_gates):
        q, r = np.linalg.qr(rng.standard_normal((max(fan_in, fan_out), min(fan_in, fan_out))))
        q *= np.sign(np.diag(r))
        blocks.append(q if fan_in >= fan_out else q.T)
    return np.concatenate(blocks, axis=1)


def normal(rng: np.random.Generator, fan_in: int, fan_out: int, num_gates: int, std: float):
    """N(0, std²) entries (the seed's ``randn * 0.01`` is ``std=0.01``)."""
    return rng.standard_normal((fan_in, num_gates * fan_out)) * std


Initializer = Callable[[np.random.Generator, int, int, int, float], np.ndarray]

INPUT_INITIALIZERS: dict[str, Initializer] = {"glorot_uniform": glorot_uniform, "normal": normal}
RECURRENT_INITIALIZERS: dict[str, Initializer] = {"orthogonal": orthogonal, "normal": normal}


def initializer(name: str, std: float, table: dict[str, Initializer] = INPUT_INITIALIZERS) -> Callable:
    """The initialiser ``name`` of ``table`` with its ``std`` bound: ``(rng, fan_in, fan_out,
    num_gates) -> (fan_in, num_gates * fan_out)``."""
    chosen = table[name]
    return lambda rng, fan_in, fan_out, num_gates=1: chosen(rng, fan_in, fan_out, num_gates, std)
