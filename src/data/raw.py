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


def held_out_index(labels: Sequence, fraction: float, seed: int, path: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The positions of a seeded random ``fraction`` of ``labels`` held out as split ``name``,
    stratified by label: each class gives ``fraction`` of its examples, rounded to the nearest
    whole number (so each keeps its share within one example in both parts), and at least one
    example is held out in all (for a ``fraction`` above 0). Returns (the rest, the held-out
    positions), each sorted; a ``fraction`` of 0 holds out nothing.

    Raises DataError naming ``path`` when a class would keep no example in the rest."""
    everything = np.arange(len(labels))
    if fraction == 0:
        return everything, everything[:0]
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=object)
    held = []
    for label in dict.fromkeys(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = math.floor(fraction * len(members) + 0.5)
        if count >= len(members):
            raise DataError(
                path,
                f"class {label!r} has {len(members)} example(s): holding out {fraction:g} of them for the {name} "
                "split leaves none to train on",
            )
        held.append(members[:count])
    held = np.concatenate(held)
    if len(held) == 0:  # a small share of a small set: one example of the largest class
        largest = max(dict.fromkeys(labels), key=lambda label: np.sum(labels == label))
        held = rng.permutation(np.flatnonzero(labels == largest))[:1]
    return np.setdiff1d(everything, held), np.sort(held)


def hold_out(raw: RawSplit, fraction: float, seed: int, name: str) -> tuple[RawSplit, RawSplit]:
    """Split off a seeded, stratified ``fraction`` of ``raw`` as split ``name``
    (``held_out_index``). Returns (the rest, the held-out split), each in file order."""
    rest, held = held_out_index(raw.labels, fraction, seed, raw.path, name)
    return raw.take(rest), raw.take(held)


def fold_index(labels: Sequence, folds: int, fold: int, seed: int, path: str) -> tuple[np.ndarray, np.ndarray]:
    """Stratified ``folds``-fold cross-validation of ``labels``: the positions of the other
    folds and of fold ``fold`` (0-based), each sorted. Every example is in exactly one fold;
    each class's examples are shuffled (seeded by ``seed`` alone, so every fold of one seed
    comes from the same partition) and dealt round the folds in turn, class after class, so
    that every fold holds each class's share within one example and the folds' sizes differ by
    one at most.

    Raises DataError naming ``path`` when there are fewer examples than folds."""
    if len(labels) < folds:
        raise DataError(path, f"{len(labels)} examples cannot make {folds} cross-validation folds (data.folds)")
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=object)
    dealt = np.concatenate([rng.permutation(np.flatnonzero(labels == label)) for label in dict.fromkeys(labels)])
    assigned = np.empty(len(labels), dtype=int)
    assigned[dealt] = np.arange(len(labels)) % folds
    return np.flatnonzero(assigned != fold), np.flatnonzero(assigned == fold)


def fold_splits(
    labels: Sequence, folds: int, fold: int, val_fraction: float, seed: int, path: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The positions of the train, validation and test splits of fold ``fold`` of ``folds``
    (``fold_index``) over ``labels``: that fold is the test split, and a seeded, stratified
    ``val_fraction`` of the others (``held_out_index``) the validation split."""
    rest, test = fold_index(labels, folds, fold, seed, path)
    trained, held = held_out_index(np.asarray(labels, dtype=object)[rest], val_fraction, seed + 1, path, "validation")
    return rest[trained], rest[held], test


def cross_validation(
    raw: dict[str, RawSplit], folds: int, fold: int, val_fraction: float, seed: int
) -> dict[str, RawSplit]:
    """The splits of fold ``fold`` of ``folds`` (``fold_index``) over every example of ``raw``
    (its train, validation and test splits as read, pooled): that fold is the test split, and a
    seeded, stratified ``val_fraction`` of the others is the validation split (``fold_splits``).
    Messages name the pooled examples by their files, joined with ``+``."""
    parts = [raw[name] for name in SPLITS if name in raw]
    pooled = RawSplit(
        [s for p in parts for s in p.sequences],
        [label for p in parts for label in p.labels],
        " + ".join(dict.fromkeys(p.path for p in parts)),
        [line for p in parts for line in p.lines],
    )
    positions = fold_splits(pooled.labels, folds, fold, val_fraction, seed, pooled.path)
    return {name: pooled.take(index) for name, index in zip(SPLITS, positions, strict=True)}
