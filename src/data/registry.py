"""The data generators selectable as ``data=<name>``, and the one function that builds splits."""

from collections.abc import Callable

from src.data.dataset import DataSplits, Task, split_dataset
from src.data.first_symbol import first_symbol_task
from src.data.parity import parity_task
from src.data.sines import sines_task

GENERATORS: dict[str, Callable[..., Task]] = {
    "parity": parity_task,
    "first_symbol": first_symbol_task,
    "sines": sines_task,
}


def build_splits(
    name: str, train_size: int, val_size: int, test_size: int, seed: int, **options
) -> DataSplits:
    """Generate the named task with ``seed`` and cut it into train/validation/test splits.

    ``options`` are the generator's own settings (for parity: ``length``).
    """
    if name not in GENERATORS:
        raise ValueError(f"unknown data generator {name!r}; known: {sorted(GENERATORS)}")
    task = GENERATORS[name](train_size + val_size + test_size, seed=seed, **options)
    train, validation, test = split_dataset(task.dataset, train_size, val_size, test_size)
    return DataSplits(train, validation, test, task.num_classes, task.vocab_size)
