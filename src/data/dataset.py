"""Padded, masked sequence datasets and their minibatches."""

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SequenceDataset:
    """A set of padded sequences with their labels.

    inputs: (batch, time, features) float array, zero on padded steps.
    mask: (batch, time) float array, 1 on real steps and 0 on padding.
    labels: (batch,) int32 class indices.
    """

    inputs: np.ndarray
    mask: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        n, t, _ = self.inputs.shape
        if self.mask.shape != (n, t) or self.labels.shape != (n,):
            raise ValueError(
                f"inconsistent shapes: inputs {self.inputs.shape}, mask {self.mask.shape}, "
                f"labels {self.labels.shape}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray | slice) -> "SequenceDataset":
        """Return the sequences at ``index`` (an index array or a slice)."""
        return SequenceDataset(self.inputs[index], self.mask[index], self.labels[index])

    def astype(self, dtype: str) -> "SequenceDataset":
        """Return a copy whose inputs and mask are ``dtype`` (labels stay int32)."""
        return SequenceDataset(self.inputs.astype(dtype), self.mask.astype(dtype), self.labels)

    def batches(
        self, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator["SequenceDataset"]:
        """Yield minibatches of at most ``batch_size``; shuffled by ``rng`` when given."""
        order = rng.permutation(len(self)) if rng is not None else np.arange(len(self))
        for start in range(0, len(self), batch_size):
            yield self.subset(order[start : start + batch_size])


@dataclass(frozen=True)
class DataSplits:
    """Train, validation and test sets of one task, with the sizes a model needs."""

    train: SequenceDataset
    validation: SequenceDataset
    test: SequenceDataset
    num_features: int
    num_classes: int

    def astype(self, dtype: str) -> "DataSplits":
        """Return the splits with inputs and masks cast to ``dtype``."""
        return DataSplits(
            self.train.astype(dtype),
            self.validation.astype(dtype),
            self.test.astype(dtype),
            self.num_features,
            self.num_classes,
        )


def one_hot(symbols: np.ndarray, num_symbols: int) -> np.ndarray:
    """Encode integer symbols (batch, time) as float64 one-hot vectors (batch, time, num_symbols)."""
    return np.eye(num_symbols)[symbols]


def split_dataset(
    dataset: SequenceDataset, train_size: int, val_size: int, test_size: int
) -> tuple[SequenceDataset, SequenceDataset, SequenceDataset]:
    """Cut ``dataset`` into consecutive train, validation and test parts of the given sizes."""
    needed = train_size + val_size + test_size
    if len(dataset) < needed:
        raise ValueError(f"dataset has {len(dataset)} sequences, the splits need {needed}")
    ends = np.cumsum([train_size, val_size, test_size])
    return (
        dataset.subset(slice(0, ends[0])),
        dataset.subset(slice(ends[0], ends[1])),
        dataset.subset(slice(ends[1], ends[2])),
    )
