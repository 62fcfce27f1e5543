"""The data sources selectable as ``data=<name>``: one registry, one signature.

Every source is ``source(**options) -> DataSplits``, called with its ``data`` config (less
``name``). Generators of token or real-valued sequences and of texts are adapted to it here
(``train_size``, ``val_size``, ``test_size`` and ``seed``: one seeded draw, cut in that order);
file loaders have it already. With ``folds`` (cross-validation), a generator's draw is pooled
and dealt into folds as loaded data is (``seqlab.data.raw.cross_validation``); the validation
split keeps its share of the examples that are not tested, ``val_size / (train_size + val_size)``.
"""

from collections.abc import Callable

from seqlab.data.archives import load_named_archive
from seqlab.data.dataset import DataSplits, Task, split_dataset
from seqlab.data.first_symbol import first_symbol_task
from seqlab.data.majority import majority_task
from seqlab.data.parity import parity_task
from seqlab.data.raw import SPLITS, RawSplit, cross_validation, fold_splits
from seqlab.data.reber import reber_task
from seqlab.data.sentiment import sentiment_texts
from seqlab.data.series import control_chart_task, shapes_task, sines_task
from seqlab.data.text_splits import TEXT_OPTIONS, text_splits
from seqlab.data.text_table import load_text_table
from seqlab.data.ucr import load_archive

Source = Callable[..., DataSplits]


def generated(generator: Callable[..., Task]) -> Source:
    """A source from a generator of sequences, ``(num_sequences, seed, **options) -> Task``."""

    def source(
        train_size: int, val_size: int, test_size: int, seed: int, folds: int | None = None, fold: int = 0, **options
    ) -> DataSplits:
        task = generator(train_size + val_size + test_size, seed=seed, **options)
        if folds is None:
            train, validation, test = split_dataset(task.dataset, train_size, val_size, test_size)
        else:
            share, where = val_size / (train_size + val_size), f"<generated {generator.__name__}>"
            positions = fold_splits(task.dataset.labels, folds, fold, share, seed, where)
            train, validation, test = (task.dataset.subset(index) for index in positions)
        kind = "series" if task.vocabulary is None else "symbols"
        return DataSplits(train, validation, test, task.label_names, kind, task.vocab_size, task.vocabulary)

    return source


def generated_texts(generator: Callable[..., tuple[list[str], list[str]]], name: str) -> Source:
    """A source from a generator of texts, ``(num_texts, seed, **options) -> (texts, labels)``,
    tokenized like loaded texts (``TEXT_OPTIONS``)."""

    def source(
        train_size: int, val_size: int, test_size: int, seed: int, folds: int | None = None, fold: int = 0, **options
    ) -> DataSplits:
        text_options = {key: options.pop(key) for key in TEXT_OPTIONS}
        texts, labels = generator(train_size + val_size + test_size, seed=seed, **options)
        starts = (0, train_size, train_size + val_size)
        ends = (train_size, train_size + val_size, train_size + val_size + test_size)
        raw = {
            split: RawSplit(
                texts[start:end], labels[start:end], f"<generated {name} texts>", list(range(start + 1, end + 1))
            )
            for split, start, end in zip(SPLITS, starts, ends, strict=True)
        }
        if folds is not None:
            raw = cross_validation(raw, folds, fold, val_size / (train_size + val_size), seed)
        return text_splits(raw, **text_options)

    return source


SOURCES: dict[str, Source] = {
    "parity": generated(parity_task),
    "majority": generated(majority_task),
    "first_symbol": generated(first_symbol_task),
    "reber": generated(reber_task),
    "sines": generated(sines_task),
    "shapes": generated(shapes_task),
    "control_charts": generated(control_chart_task),
    "sentiment": generated_texts(sentiment_texts, "sentiment"),
    "text_table": load_text_table,
    "archive": load_archive,
    "ucr": load_named_archive,
}


def build_splits(name: str, source: str | None = None, **options) -> DataSplits:
    """Build the splits of source ``name`` from its config ``options``; a config that names its
    ``source`` apart (``data=ucr``, whose ``name`` is the archive data set's) is read by that
    source, with ``name`` among its options."""
    if source is not None:
        name, options = source, {"name": name, **options}
    if name not in SOURCES:
        raise ValueError(f"unknown data source {name!r}; known: {sorted(SOURCES)}")
    return SOURCES[name](**options)
