"""The data generators selectable as ``data=<name>``, and the one function that builds splits."""

from collections.abc import Callable
from typing import NamedTuple

from src.data.dataset import DataSplits, SequenceDataset, split_dataset
from src.data.parity import parity_dataset


class Generator(NamedTuple):
    """A seeded generator ``make(num_sequences, seed, **options)`` and its number of classes."""

    make: Callable[..., SequenceDataset]
    num_classes: int


GENERATORS: dict[str, Generator] = {
    "parity": Generator(parity_dataset, num_classes=2),
}


def build_splits(
    name: str, train_size: int, val_size: int, test_size: int, seed: int, **options
) -> DataSplits:
    """Generate the named task with ``seed`` and cut it into train/validation/test splits.

    ``options`` are the generator's own settings (for parity: ``length``).
    """
    if name not in GENERATORS:
        raise ValueError(f"unknown data generator {name!r}; known: {sorted(GENERATORS)}")
    generator = GENERATORS[name]
    dataset = generator.make(train_size + val_size + test_size, seed=seed, **options)
    train, validation, test = split_dataset(dataset, train_size, val_size, test_size)
    return DataSplits(train, validation, test, dataset.inputs.shape[2], generator.num_classes)
