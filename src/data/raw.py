"""Data as read, before anything is padded or encoded: the lowest layer of ``seqlab.data``."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqlab.data.errors import DataError

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class RawSplit:
    """One split as read: sequences (each (length,) tokens or (length, channels) values),
    their labels as found in the file, the file and the line each came from."""

    sequences: Sequence[np.ndarray]
    labels: Sequence
    path: str
    lines: Sequence[int]

    def take(self, index: np.ndarray) -> "RawSplit":
        """The examples at ``index``."""
        return RawSplit(
            [self.sequences[i] for i in index],
            [self.labels[i] for i in index],
            self.path,
            [self.lines[i] for i in index],
        )


def check_channels(splits: dict[str, RawSplit]) -> None:
    """Raise DataError naming the file and line of the first series whose channels differ from
    the training split's first series (splits read from different files must agree)."""
    first = np.asarray(splits["train"].sequences[0])
    for part in splits.values():
        for sequence, line in zip(part.sequences, part.lines, strict=True):
            if np.ndim(sequence) > 1 and np.shape(sequence)[1] != first.shape[1]:
                raise DataError(
                    part.path, f"{np.shape(sequence)[1]} channels, the training split has {first.shape[1]}", line
                )


def hold_out(raw: RawSplit, fraction: float, seed: int, name: str) -> tuple[RawSplit, RawSplit]:
    """Split off a seeded random ``fraction`` of ``raw`` (at least one example) as split ``name``."""
    order = np.random.default_rng(seed).permutation(len(raw.labels))
    count = max(1, round(fraction * len(order)))
    if count >= len(order):
        raise DataError(raw.path, f"too few examples ({len(order)}) to hold out a {name} split")
    return raw.take(np.sort(order[count:])), raw.take(np.sort(order[:count]))
