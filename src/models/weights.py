"""Saving and loading ``weights.pkl`` and checkpoints: pickles of NumPy arrays in plain containers.

Unpickling can run arbitrary code, so loading goes through an unpickler that admits only what
these files hold (dicts, lists, strings, numbers and NumPy arrays) and refuses everything else
by name. Saving is atomic: a reader (or a run killed mid-write) never sees half a file.
"""

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}


class UnsafeWeightsError(pickle.UnpicklingError):
    """A weights or checkpoint file asked to load something other than arrays and containers."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: Path):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafeWeightsError(
                f"{self.source}: refusing to load {module}.{name}; a weights or checkpoint file "
                "may only hold NumPy arrays, numbers and strings in dicts and lists"
            )
        return super().find_class(module, name)


def save_pickle(obj: Any, path: Path) -> None:
    """Pickle ``obj`` (containers of arrays, numbers, strings) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as f:
            pickle.dump(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk, a signal: no half-written file is left behind
        Path(tmp).unlink(missing_ok=True)
        raise


def load_pickle(path: Path) -> Any:
    """Load a file written by ``save_pickle``; raise UnsafeWeightsError on anything that is not
    a container of arrays, numbers and strings."""
    with open(path, "rb") as f:
        try:
            return _RestrictedUnpickler(f, path).load()
        except UnsafeWeightsError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
            raise UnsafeWeightsError(
                f"{path}: not a file written by seqlab ({type(error).__name__}: {error})"
            ) from None


def save_weights(weights: dict[str, np.ndarray], path: Path) -> None:
    """Pickle ``weights`` (name -> array) to ``path``."""
    save_pickle({name: np.asarray(value) for name, value in weights.items()}, path)


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """Load a ``weights.pkl`` written by ``save_weights``; raise UnsafeWeightsError on anything else."""
    weights = load_pickle(path)
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in weights.items()
    ):
        raise UnsafeWeightsError(f"{path}: expected a dict of NumPy arrays by name")
    return weights
