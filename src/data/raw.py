"""Data as read, before anything is padded or encoded: the lowest layer of ``seqlab.data``."""

import math
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


def check_finite(raw: RawSplit) -> None:
    """Raise DataError naming the file, line, step (and channel), and value of the first NaN or
    infinite value of ``raw``'s (length[, channels]) series; token sequences pass."""
    for sequence, line in zip(raw.sequences, raw.lines, strict=True):
        sequence = np.asarray(sequence)
        if sequence.dtype.kind != "f" or np.isfinite(sequence).all():
            continue
        position = np.argwhere(~np.isfinite(sequence))[0]
        multichannel = sequence.ndim > 1 and sequence.shape[1] > 1
        where = f"step {position[0] + 1}" + (f", channel {position[1] + 1}" if multichannel else "")
        raise DataError(raw.path, f"{sequence[tuple(position)]} at {where}: series must be finite numbers", line)


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
    """Split off a seeded random ``fraction`` of ``raw`` as split ``name``, stratified by label:
    each class gives ``fraction`` of its examples, rounded to the nearest whole number (so each
    keeps its share within one example in both parts), and at least one example is held out in
    all (for a ``fraction`` above 0). Returns (the rest, the held-out split), each in file order.

    A ``fraction`` of 0 holds out nothing: the split is empty.

    Raises DataError when a class would keep no example in the rest."""
    if fraction == 0:
        return raw, raw.take(np.array([], dtype=int))
    rng = np.random.default_rng(seed)
    labels = np.asarray(raw.labels, dtype=object)
    held = []
    for label in dict.fromkeys(raw.labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = math.floor(fraction * len(members) + 0.5)
        if count >= len(members):
            raise DataError(
                raw.path,
                f"class {label!r} has {len(members)} example(s): holding out {fraction:g} of them for the {name} "
                "split leaves none to train on",
            )
        held.append(members[:count])
    held = np.concatenate(held)
    if len(held) == 0:  # a small share of a small set: one example of the largest class
        largest = max(dict.fromkeys(raw.labels), key=lambda label: np.sum(labels == label))
        held = rng.permutation(np.flatnonzero(labels == largest))[:1]
    rest = np.setdiff1d(np.arange(len(labels)), held)
    return raw.take(rest), raw.take(np.sort(held))
