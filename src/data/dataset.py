"""Padded, masked sequence datasets and their minibatches."""

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from seqlab.data.normalize import Normalizer  # which imports this module


@dataclass(frozen=True)
class SequenceDataset:
    """A set of padded sequences with their labels.

    inputs: (batch, time, features) floats, or (batch, time) int32 tokens; zero on padded steps.
    mask: (batch, time) float array, 1 on real steps and 0 on padding (padding at the end).
    labels: (batch,) int32 class indices.
    """

    inputs: np.ndarray
    mask: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        n, t = self.inputs.shape[:2]
        if self.mask.shape != (n, t) or self.labels.shape != (n,):
            raise ValueError(
                f"inconsistent shapes: inputs {self.inputs.shape}, mask {self.mask.shape}, labels {self.labels.shape}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray | slice) -> "SequenceDataset":
        """Return the sequences at ``index`` (an index array or a slice)."""
        return SequenceDataset(self.inputs[index], self.mask[index], self.labels[index])

    @property
    def uses_tokens(self) -> bool:
        return self.inputs.ndim == 2

    def astype(self, dtype: str) -> "SequenceDataset":
        """Return a copy whose mask and real-valued inputs are ``dtype`` (tokens, labels stay int32)."""
        inputs = self.inputs if self.uses_tokens else self.inputs.astype(dtype)
        return SequenceDataset(inputs, self.mask.astype(dtype), self.labels)

    def one_hot(self, vocab_size: int) -> "SequenceDataset":
        """Return a copy whose token inputs are one-hot vectors (batch, time, vocab_size)."""
        return SequenceDataset(one_hot(self.inputs, vocab_size) * self.mask[:, :, None], self.mask, self.labels)

    def batches(
        self,
        batch_size: int,
        rng: np.random.Generator | None = None,
        bucket_by_length: bool = False,
    ) -> Iterator["SequenceDataset"]:
        """Yield minibatches of at most ``batch_size``, each cut to its longest sequence.

        Shuffled by ``rng`` when given. With ``bucket_by_length`` each batch holds sequences of
        similar length (batches still come in a shuffled order), so little padding is computed.
        """
        order = rng.permutation(len(self)) if rng is not None else np.arange(len(self))
        if bucket_by_length:
            order = order[np.argsort(self.mask.sum(axis=1)[order], kind="stable")]
        batches = [order[start : start + batch_size] for start in range(0, len(self), batch_size)]
        if bucket_by_length and rng is not None:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        for index in batches:
            yield self.subset(index).trimmed()

    def trimmed(self) -> "SequenceDataset":
        """The same sequences without the padding steps that no sequence uses."""
        longest = int(self.mask.sum(axis=1).max())
        return SequenceDataset(self.inputs[:, :longest], self.mask[:, :longest], self.labels)


@dataclass(frozen=True)
class Task:
    """What a generator makes: the sequences, the class names (index order), and for token
    inputs the token of each id (id 0 is padding); None for real-valued inputs."""

    dataset: SequenceDataset
    label_names: tuple[str, ...]
    vocabulary: tuple[str, ...] | None = None

    @property
    def vocab_size(self) -> int | None:
        return None if self.vocabulary is None else len(self.vocabulary)


# What the raw inputs of a data set are: texts (tokenized), symbol sequences, real-valued series.
INPUT_KINDS = ("text", "symbols", "series")


@dataclass(frozen=True)
class DataSplits:
    """Train, validation and test sets of one task, with what a model and predict need.

    label_names: the original label of each class index. input_kind: what the raw inputs are
    (``INPUT_KINDS``), so that new inputs can be encoded alike. vocab_size is set when inputs
    are int tokens (vocabulary: the token of each id); num_features when inputs are
    real-valued. normalizer: how loaded series were normalised (a ``Normalizer``).
    """

    train: SequenceDataset
    validation: SequenceDataset
    test: SequenceDataset
    label_names: tuple[str, ...]
    input_kind: str
    vocab_size: int | None = None
    vocabulary: tuple[str, ...] | None = None
    normalizer: "Normalizer | None" = None

    def __post_init__(self) -> None:
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind={self.input_kind!r}: must be one of {INPUT_KINDS}")

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def split(self, name: str) -> SequenceDataset:
        """The split called 'train', 'validation' or 'test'."""
        return {"train": self.train, "validation": self.validation, "test": self.test}[name]

    @property
    def num_features(self) -> int | None:
        return None if self.train.uses_tokens else self.train.inputs.shape[2]

    def _map(self, change, **replaced) -> "DataSplits":
        return dataclasses.replace(
            self,
            train=change(self.train),
            validation=change(self.validation),
            test=change(self.test),
            **replaced,
        )

    def astype(self, dtype: str) -> "DataSplits":
        """Return the splits with masks and real-valued inputs cast to ``dtype``."""
        return self._map(lambda d: d.astype(dtype))

    def one_hot(self) -> "DataSplits":
        """Return token splits as real-valued one-hot inputs (batch, time, vocab_size)."""
        return self._map(lambda d: d.one_hot(self.vocab_size), vocab_size=None, vocabulary=None)


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
