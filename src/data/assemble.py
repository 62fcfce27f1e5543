"""Turning per-split lists of raw sequences and labels (from files or text) into DataSplits."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqlab.data.dataset import DataSplits, SequenceDataset
from seqlab.data.errors import DataError
from seqlab.data.labels import LabelEncoder
from seqlab.data.padding import pad_sequences

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


def hold_out(
    raw: RawSplit, fraction: float, seed: int, name: str
) -> tuple[RawSplit, RawSplit]:
    """Split off a seeded random ``fraction`` of ``raw`` (at least one example) as split ``name``."""
    order = np.random.default_rng(seed).permutation(len(raw.labels))
    count = max(1, round(fraction * len(order)))
    if count >= len(order):
        raise DataError(raw.path, f"too few examples ({len(order)}) to hold out a {name} split")
    return raw.take(np.sort(order[count:])), raw.take(np.sort(order[:count]))


def assemble(
    raw: dict[str, RawSplit],
    max_len: int | None = None,
    vocabulary: tuple[str, ...] | None = None,
) -> DataSplits:
    """Pad every split, map labels to class indices fitted on train, and check each split.

    Raises DataError naming the file for an empty split, and the file and line for an empty
    sequence or a label that the training split does not have.
    """
    for name in SPLITS:
        if len(raw[name].labels) == 0:
            raise DataError(raw[name].path, f"the {name} split is empty")
        for sequence, line in zip(raw[name].sequences, raw[name].lines, strict=True):
            if len(sequence) == 0:
                raise DataError(raw[name].path, "empty sequence (no tokens or values)", line)
    encoder = LabelEncoder.fit(raw["train"].labels)
    datasets = {}
    for name in SPLITS:
        part = raw[name]
        inputs, mask = pad_sequences(part.sequences, max_len, source=f"{part.path} ({name})")
        labels = encoder.encode(part.labels, part.path, part.lines)
        datasets[name] = SequenceDataset(inputs, mask, labels)
    return DataSplits(
        **datasets,
        label_names=encoder.names,
        vocab_size=len(vocabulary) if vocabulary is not None else None,
        vocabulary=vocabulary,
    )
