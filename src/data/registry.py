"""The data sources selectable as ``data=<name>``, and the one function that builds splits."""

from collections.abc import Callable

from seqlab.data.assemble import RawSplit
from seqlab.data.dataset import DataSplits, Task, split_dataset
from seqlab.data.first_symbol import first_symbol_task
from seqlab.data.majority import majority_task
from seqlab.data.parity import parity_task
from seqlab.data.reber import reber_task
from seqlab.data.sentiment import sentiment_texts
from seqlab.data.series import control_chart_task, shapes_task, sines_task
from seqlab.data.text_splits import text_splits
from seqlab.data.text_table import load_text_table
from seqlab.data.ucr import load_archive

# Seeded generators of token or real-valued sequences: (num_sequences, seed, **options) -> Task.
GENERATORS: dict[str, Callable[..., Task]] = {
    "parity": parity_task,
    "majority": majority_task,
    "first_symbol": first_symbol_task,
    "reber": reber_task,
    "sines": sines_task,
    "shapes": shapes_task,
    "control_charts": control_chart_task,
}
# Seeded generators of texts: (num_texts, seed, **options) -> (texts, labels).
TEXT_GENERATORS: dict[str, Callable[..., tuple[list[str], list[str]]]] = {
    "sentiment": sentiment_texts,
}
# Loaders of files: (**options) -> DataSplits.
LOADERS: dict[str, Callable[..., DataSplits]] = {
    "text_table": load_text_table,
    "archive": load_archive,
}
SOURCES = (*GENERATORS, *TEXT_GENERATORS, *LOADERS)
TEXT_OPTIONS = ("lowercase", "punctuation", "min_freq", "max_size", "max_len")


def _cut(items: list, sizes: tuple[int, int, int]) -> list[list]:
    ends = [sum(sizes[: i + 1]) for i in range(3)]
    return [items[start:end] for start, end in zip([0, *ends[:2]], ends, strict=True)]


def build_splits(name: str, **options) -> DataSplits:
    """Build the splits of source ``name`` from its config ``options``.

    Generators take ``train_size``, ``val_size``, ``test_size`` and ``seed`` (one seeded draw,
    cut in that order) plus their own options; loaders take theirs.
    """
    if name in LOADERS:
        return LOADERS[name](**options)
    if name not in GENERATORS and name not in TEXT_GENERATORS:
        raise ValueError(f"unknown data source {name!r}; known: {sorted(SOURCES)}")
    sizes = (options.pop("train_size"), options.pop("val_size"), options.pop("test_size"))
    seed = options.pop("seed")
    if name in GENERATORS:
        task = GENERATORS[name](sum(sizes), seed=seed, **options)
        train, validation, test = split_dataset(task.dataset, *sizes)
        return DataSplits(train, validation, test, task.label_names, task.vocab_size, task.vocabulary)
    text_options = {key: options.pop(key) for key in TEXT_OPTIONS}
    texts, labels = TEXT_GENERATORS[name](sum(sizes), seed=seed, **options)
    source = f"<generated {name} texts>"
    raw = {
        split: RawSplit(t, lab, source, list(range(start + 1, start + len(t) + 1)))
        for split, t, lab, start in zip(
            ("train", "validation", "test"), _cut(texts, sizes), _cut(labels, sizes),
            (0, sizes[0], sizes[0] + sizes[1]), strict=True,
        )
    }  # fmt: skip
    return text_splits(raw, **text_options)
