"""Loading texts and labels as they are published: a CSV/TSV table (with pandas), ``label<sep>text``
lines, or fastText's ``__label__<label> text`` lines; one file with a split column or split at
random, or one file per split (a missing validation file is held out of train)."""

import csv
import io
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from seqlab.data.dataset import DataSplits
from seqlab.data.errors import DataError
from seqlab.data.files import data_file, file_lines, read_text
from seqlab.data.raw import RawSplit, cross_validation, hold_out
from seqlab.data.text_splits import text_splits

log = logging.getLogger(__name__)

SPLIT_NAMES = {"train": "train", "validation": "validation", "val": "validation", "dev": "validation", "test": "test"}


# Names ``data.sep`` may give a separator by (a tab is hard to type on a command line).
SEPARATOR_NAMES = {"tab": "\t", "\\t": "\t"}


def named_separator(sep: str | None) -> str | None:
    """``data.sep`` as the character it names (``tab`` and ``\\t`` are a tab)."""
    return SEPARATOR_NAMES.get(sep, sep) if sep is not None else None


def separator(path: Path, sep: str | None) -> str:
    """``sep`` if given (``named_separator``), else a tab for .tsv/.tab files and a comma otherwise."""
    return named_separator(sep) or ("\t" if path.suffix.lower() in (".tsv", ".tab") else ",")


@contextmanager
def unlimited_fields() -> Iterator[None]:
    """Let Python's csv module read fields of any length while the block runs (its default
    limit, 128 KiB, is shorter than many documents)."""
    limit = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(limit)


def read_table(
    path: str | Path, sep: str | None = None, header: int | None = 0, encoding: str = "utf-8"
) -> tuple[pd.DataFrame, list[int]]:
    """Read a CSV/TSV file as strings (the separator follows the extension unless given), and
    the file line on which each of its records starts (quoted fields may span several lines).

    Raises DataError naming the file, and the line where it can be told: bytes that are not
    text in ``encoding`` (with their byte offset), a ragged row.
    """
    path = Path(path)
    text, sep = read_text(path, encoding), separator(path, sep)
    try:
        table = pd.read_csv(io.StringIO(text), sep=sep, header=header, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as error:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
        if found:
            expected, line, saw = map(int, found.groups())
            raise DataError(path, f"row has {saw} fields, expected {expected}", line) from None
        raise DataError(path, f"cannot parse: {error}") from None
    except pd.errors.EmptyDataError:
        raise DataError(path, "the file is empty") from None
    return table, _record_lines(text, sep)[0 if header is None else header + 1 :]


def _record_lines(text: str, sep: str) -> list[int]:
    """The line on which each CSV record of ``text`` starts."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    starts, next_start = [], 1
    with unlimited_fields():
        for record in reader:
            if record:  # pandas skips blank lines too
                starts.append(next_start)
            next_start = reader.line_num + 1
    return starts


TEXT_FORMATS = ("csv", "lines", "fasttext")
FASTTEXT_LABEL = "__label__"


def guess_format(path: Path, text: str, sep: str | None, columns: tuple[str, str]) -> str | None:
    """The format (``TEXT_FORMATS``) the first line of ``text`` looks like, or None when it is
    unclear: fastText when it starts with ``__label__``, a CSV/TSV table when it is a header
    naming ``columns``, ``label<sep>text`` lines when a word without the table separator is
    followed by more text."""
    first = next((line for line in file_lines(text) if line.strip()), "")
    if first.startswith(FASTTEXT_LABEL):
        return "fasttext"
    table_sep = separator(path, sep)
    with unlimited_fields():
        header = next(csv.reader([first], delimiter=table_sep), [])
    if set(columns) <= {cell.strip() for cell in header}:
        return "csv"
    words = first.split(None, 1)
    return "lines" if len(words) == 2 and table_sep not in words[0] else None


def _format_error(path: Path, text: str, fmt: str, sep: str | None, columns, expected: str, line: int) -> DataError:
    """The error for a file that is not in format ``fmt`` (it expected ``expected``), with the
    format it looks like."""
    seen = guess_format(path, text, sep, columns)
    hint = f"; it looks like {seen} (set data.format={seen})" if seen not in (None, fmt) else ""
    return DataError(path, f"data.format={fmt} expects {expected}{hint}", line)


def _label_and_text(line: str, sep: str | None) -> tuple[str, str]:
    """``label<sep>text`` split at the first ``sep`` (at the first run of whitespace when
    None); a line that starts with the separator has an empty label."""
    line = line.rstrip("\r\n")
    if sep is None and line[:1].isspace():
        return "", line.strip()
    parts = line.split(named_separator(sep), 1)
    return parts[0].strip(), parts[1] if len(parts) > 1 else ""


def _line_records(path: Path, text: str, fmt: str, sep: str | None, columns) -> RawSplit:
    """The texts and labels of a ``lines`` or ``fasttext`` file."""
    texts, labels, lines = [], [], []
    for number, line in enumerate(file_lines(text), start=1):
        if not line.strip():
            continue
        if fmt == "fasttext":
            words = line.split()
            tags = [w for w in words if w.startswith(FASTTEXT_LABEL)]
            if not words[0].startswith(FASTTEXT_LABEL):
                raise _format_error(path, text, fmt, sep, columns, "lines that start with __label__<label>", number)
            if len(tags) > 1:
                raise DataError(
                    path, f"{len(tags)} labels on one line ({tags}): seqlab gives each text one class", number
                )
            label, body = words[0].removeprefix(FASTTEXT_LABEL), " ".join(words[1:])
        else:
            header = not labels and guess_format(path, line, sep, columns) == "csv"  # the first record
            if line.startswith(FASTTEXT_LABEL) or header:
                raise _format_error(path, text, fmt, sep, columns, "'label<sep>text' lines with no header", number)
            label, body = _label_and_text(line, sep)
            if not label:
                raise DataError(
                    path, f"no label before the text {body.strip()[:40]!r} (the line starts with the separator)", number
                )
        texts.append(body.strip())
        labels.append(label)
        lines.append(number)
    if not texts:
        raise DataError(path, "the file has no lines of text: no examples")
    return RawSplit(texts, labels, str(path), lines)


# What is done with a record whose text is empty: refuse the file (naming the line) | drop it (a warning).
EMPTY_TEXT_POLICIES = ("refuse", "drop")


def without_empty_texts(raw: RawSplit, names: list[str] | None, policy: str) -> tuple[RawSplit, list[str] | None]:
    """``raw`` (and each record's split name, when given) without the records whose text is
    empty or blank, by ``policy`` (``EMPTY_TEXT_POLICIES``): ``refuse`` raises DataError naming
    the file, the first such line and its label; ``drop`` leaves them out with a warning that
    counts them and names their lines."""
    empty = [i for i, text in enumerate(raw.sequences) if not str(text).strip()]
    if not empty:
        return raw, names
    first = empty[0]
    if policy == "refuse" or len(empty) == len(raw.labels):
        hint = f" ({len(empty)} such records; data.empty_texts=drop leaves them out)" if policy == "refuse" else ""
        raise DataError(raw.path, f"no text after the label {raw.labels[first]!r}{hint}", raw.lines[first])
    lines = [raw.lines[i] for i in empty]
    log.warning(
        "%s: %d record(s) without text left out (data.empty_texts=drop), at lines %s", raw.path, len(empty), lines
    )
    kept = np.setdiff1d(np.arange(len(raw.labels)), empty)
    return raw.take(kept), None if names is None else [names[i] for i in kept]


def read_texts(
    path: str | Path,
    fmt: str,
    encoding: str,
    sep: str | None,
    text_column: str,
    label_column: str,
    split_column: str | None = None,
    empty_texts: str = "refuse",
) -> tuple[RawSplit, list[str] | None]:
    """The texts and labels of one file in format ``fmt`` (``TEXT_FORMATS``), with each
    record's split name when ``split_column`` is given (CSV only), else None; records without
    text as ``empty_texts`` says (``without_empty_texts``).

    Raises DataError naming the file and line: a missing column, a ragged row, a split name not
    in ``SPLIT_NAMES``, a line not in the format (with the format it looks like)."""
    return without_empty_texts(
        *_records(Path(path), fmt, encoding, sep, text_column, label_column, split_column), empty_texts
    )


def _records(
    path: Path, fmt: str, encoding: str, sep: str | None, text_column: str, label_column: str, split_column: str | None
) -> tuple[RawSplit, list[str] | None]:
    """``read_texts`` with every record, empty or not."""
    columns = (text_column, label_column)
    if fmt != "csv":
        return _line_records(path, read_text(path, encoding), fmt, sep, columns), None
    try:
        table, lines = read_table(path, sep, encoding=encoding)
    except DataError as error:
        text = read_text(path, encoding)
        if error.line is None or guess_format(path, text, sep, columns) == "csv":
            raise
        expected = f"a CSV/TSV table with a header row ({error.problem})"
        raise _format_error(path, text, fmt, sep, columns, expected, error.line) from None
    for column in filter(None, (text_column, label_column, split_column)):
        if column not in table.columns:
            expected = f"a header row with the column {column!r} (the header has {list(table.columns)})"
            raise _format_error(path, read_text(path, encoding), fmt, sep, columns, expected, 1)
    if table.empty:
        raise DataError(path, f"the file has a header row ({', '.join(table.columns)}) and no records: no examples")
    raw = RawSplit(list(table[text_column]), list(table[label_column]), str(path), lines)
    if not split_column:
        return raw, None
    names = table[split_column].str.strip().str.lower()
    unknown = ~names.isin(SPLIT_NAMES)
    if unknown.any():
        row = int(unknown.to_numpy().nonzero()[0][0])
        raise DataError(
            path, f"split {table[split_column].iloc[row]!r} is not one of {sorted(SPLIT_NAMES)}", lines[row]
        )
    return raw, list(names.map(SPLIT_NAMES))


def load_text_table(
    path: str | None,
    train_path: str | None,
    validation_path: str | None,
    test_path: str | None,
    format: str,
    encoding: str,
    text_column: str,
    label_column: str,
    split_column: str | None,
    sep: str | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    folds: int | None = None,
    fold: int = 0,
    empty_texts: str = "refuse",
    max_file_mb: float | None = None,
    **text_options,
) -> DataSplits:
    """Texts and labels in ``format`` (``TEXT_FORMATS``) and ``encoding``: from ``path``, whose
    ``split_column`` (train, validation/val/dev, test) gives the splits, or without one, seeded
    ``test_fraction`` and ``val_fraction`` shares are held out; or from ``train_path`` and
    ``test_path``, with ``validation_path`` when given. A validation split with no examples is
    held out of train (``val_fraction``). Hold-outs are seeded and stratified by label. With
    ``folds``, every text read is pooled and fold ``fold`` is the test split
    (``seqlab.data.raw.cross_validation``). A file larger than ``max_file_mb`` MiB is refused
    before it is read.
    ``text_options`` go to ``text_splits`` (tokenizer and vocabulary, built on the training
    split only)."""

    def read(file: str, split_column: str | None = None) -> tuple[RawSplit, list[str] | None]:
        data_file(file, max_file_mb)
        return read_texts(file, format, encoding, sep, text_column, label_column, split_column, empty_texts)

    if path is None:
        raw = {"train": read(train_path)[0]}
        for split, file in (("validation", validation_path), ("test", test_path)):
            if file:
                raw[split] = read(file)[0]
    else:
        everything, names = read(path, split_column)
        if folds is not None:
            return text_splits(cross_validation({"train": everything}, folds, fold, val_fraction, seed), **text_options)
        if names is None:
            rest, test = hold_out(everything, test_fraction, seed, "test")
            train, validation = hold_out(rest, val_fraction / (1 - test_fraction), seed + 1, "validation")
            return text_splits({"train": train, "validation": validation, "test": test}, **text_options)
        raw = {
            split: everything.take(np.flatnonzero(np.asarray(names) == split))
            for split in ("train", "validation", "test")
        }
    if folds is not None:
        return text_splits(cross_validation(raw, folds, fold, val_fraction, seed), **text_options)
    if "validation" not in raw or not raw["validation"].labels:
        raw["train"], raw["validation"] = hold_out(raw["train"], val_fraction, seed + 1, "validation")
    return text_splits(raw, **text_options)
