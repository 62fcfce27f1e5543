"""Saving and loading parameters as ``weights.pkl``: a pickled dict of NumPy arrays.

Unpickling can run arbitrary code, so loading goes through an unpickler that admits only what
``save_weights`` writes (dicts of NumPy arrays) and refuses everything else by name.
"""

import pickle
from pathlib import Path

import numpy as np

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}


class UnsafeWeightsError(pickle.UnpicklingError):
    """A weights file asked to load something other than NumPy arrays."""


class _WeightsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafeWeightsError(
                f"{self.source}: refusing to load {module}.{name}; a weights file may only hold "
                "a dict of NumPy arrays"
            )
        return super().find_class(module, name)


def save_weights(weights: dict[str, np.ndarray], path: Path) -> None:
    """Pickle ``weights`` (name -> array) to ``path``."""
    with open(path, "wb") as f:
        pickle.dump({name: np.asarray(value) for name, value in weights.items()}, f)


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """Load a ``weights.pkl`` written by ``save_weights``; raise UnsafeWeightsError on anything else."""
    with open(path, "rb") as f:
        unpickler = _WeightsUnpickler(f)
        unpickler.source = str(path)
        weights = unpickler.load()
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in weights.items()
    ):
        raise UnsafeWeightsError(f"{path}: expected a dict of NumPy arrays by name")
    return weights
