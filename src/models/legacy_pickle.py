"""The one reader of pickles left: ``weights.pkl`` and ``checkpoint.pkl`` of runs logged before
seqlab wrote safetensors (``seqlab.models.weights``).

Unpickling can run arbitrary code, so these files go through an unpickler that admits only what
they held (dicts, lists, strings, numbers and NumPy arrays) and refuses everything else by name.
"""

import pickle
from pathlib import Path
from typing import Any

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """An old weights or checkpoint file asked to load something other than arrays and containers."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: Path):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"{self.source}: refusing to load {module}.{name}; a weights or checkpoint file "
                "may only hold NumPy arrays, numbers and strings in dicts and lists"
            )
        return super().find_class(module, name)


def load(path: Path) -> Any:
    """Load an old seqlab pickle; raise UnsafePickleError on anything that is not a container
    of arrays, numbers and strings."""
    with open(path, "rb") as f:
        try:
            return _RestrictedUnpickler(f, path).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
            raise UnsafePickleError(f"{path}: not a file written by seqlab ({type(error).__name__}: {error})") from None
