"""Mapping labels of any type (strings, ints) to class indices, fitted on the training split."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqlab.data.errors import DataError


@dataclass(frozen=True)
class LabelEncoder:
    """Class names in index order; ``names[i]`` is the original label of class ``i``."""

    names: tuple[str, ...]

    @classmethod
    def fit(cls, labels: Sequence) -> "LabelEncoder":
        """Classes are the distinct training labels, sorted (numerically when all are numbers)."""
        distinct = set(labels)
        try:
            ordered = sorted(distinct, key=float)
        except (TypeError, ValueError):
            ordered = sorted(distinct, key=str)
        return cls(tuple(str(label) for label in ordered))

    def encode(self, labels: Sequence, path: str, lines: Sequence[int] | None = None) -> np.ndarray:
        """Class indices (int32) of ``labels``; a label unknown to the training split is a
        DataError naming ``path`` and the label's line (``lines[i]`` for ``labels[i]``)."""
        index = {name: i for i, name in enumerate(self.names)}
        encoded = np.empty(len(labels), dtype=np.int32)
        for i, label in enumerate(labels):
            if str(label) not in index:
                raise DataError(
                    path,
                    f"label {label!r} does not occur in the training split (training labels: {list(self.names)})",
                    line=lines[i] if lines is not None else None,
                )
            encoded[i] = index[str(label)]
        return encoded
