"""Arrays on disk without pickle: a model's weights and a run's checkpoints as safetensors files.

A safetensors file holds named arrays and a header of strings, and loading one runs no code; any
framework's safetensors reader (PyTorch, JAX, NumPy) opens seqlab's weights. Besides flat
weights, a file can hold a *tree*: nested dicts and lists of arrays, numbers, strings and None (a
checkpoint), stored as its arrays under their paths plus the tree's JSON, with each array
replaced by ``{"$array": path, "shape": shape}``, in the header. Saving is atomic: a reader (or a run killed
mid-write) never sees half a file.

Files written before safetensors (``weights.pkl``, ``checkpoint.pkl``) are read once through
``seqlab.models.legacy_pickle``.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save

from seqlab.models import legacy_pickle
from seqlab.paths import write_atomically

TREE_KEY = "seqlab.tree"


class WeightsFileError(ValueError):
    """A weights or checkpoint file that is not what seqlab wrote (the message names it)."""


def save_arrays(arrays: dict[str, np.ndarray], path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write ``arrays`` (name -> array) and the strings ``metadata`` to the safetensors file ``path``."""
    contiguous = {name: np.ascontiguousarray(value) for name, value in arrays.items()}
    write_atomically(save(contiguous, metadata=metadata), path)


def load_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: its arrays by name and its metadata; raise WeightsFileError
    naming ``path`` when it is not one."""
    try:
        with safe_open(str(path), framework="numpy") as f:
            names = f.keys()  # a safe_open is no dict: it cannot be iterated
            return {name: f.get_tensor(name) for name in names}, dict(f.metadata() or {})
    except (SafetensorError, OSError) as error:
        raise WeightsFileError(f"{path}: not a safetensors file written by seqlab ({error})") from None


def save_weights(weights: dict[str, np.ndarray], path: Path) -> None:
    """Write ``weights`` (parameter name -> array) to the safetensors file ``path``."""
    save_arrays({name: np.asarray(value) for name, value in weights.items()}, path, {"format": "seqlab.weights"})


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """Read weights written by ``save_weights`` (or a ``weights.pkl`` of an older run)."""
    if Path(path).suffix == ".pkl":
        weights = legacy_pickle.load(path)
        if not isinstance(weights, dict) or not all(
            isinstance(k, str) and isinstance(v, np.ndarray) for k, v in weights.items()
        ):
            raise WeightsFileError(f"{path}: expected a dict of NumPy arrays by name")
        return weights
    return load_arrays(path)[0]


def _split_tree(tree: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    """``tree`` with each array replaced by ``{"$array": its path}``, the arrays put in ``arrays``."""
    if isinstance(tree, np.ndarray):
        arrays[path] = tree
        return {"$array": path, "shape": list(tree.shape)}  # safetensors reads a 0-d array back as 1-d
    if isinstance(tree, dict):
        return {str(key): _split_tree(value, f"{path}/{key}", arrays) for key, value in tree.items()}
    if isinstance(tree, list | tuple):
        return [_split_tree(value, f"{path}/{i}", arrays) for i, value in enumerate(tree)]
    if isinstance(tree, np.generic):
        return tree.item()
    return tree


def _join_tree(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(tree, dict):
        if set(tree) == {"$array", "shape"}:
            return arrays[tree["$array"]].reshape(tree["shape"])
        return {key: _join_tree(value, arrays) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_join_tree(value, arrays) for value in tree]
    return tree


def save_tree(tree: dict[str, Any], path: Path) -> None:
    """Write ``tree`` (nested dicts and lists of arrays, numbers, strings, None) to ``path``."""
    arrays: dict[str, np.ndarray] = {}
    skeleton = _split_tree(tree, "", arrays)
    save_arrays(arrays, path, {"format": "seqlab.tree", TREE_KEY: json.dumps(skeleton)})


def load_tree(path: Path) -> Any:
    """Read a tree written by ``save_tree`` (lists come back as lists, tuples too), or the
    pickled tree of an older run's ``.pkl`` file."""
    if Path(path).suffix == ".pkl":
        return legacy_pickle.load(path)
    arrays, metadata = load_arrays(path)
    if TREE_KEY not in metadata:
        raise WeightsFileError(f"{path}: a safetensors file without seqlab's tree (not a checkpoint)")
    return _join_tree(json.loads(metadata[TREE_KEY]), arrays)
