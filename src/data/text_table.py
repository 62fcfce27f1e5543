"""Loading a text-classification table (CSV or TSV) with pandas."""

import csv
import io
import re
from pathlib import Path

import pandas as pd

from seqlab.data.dataset import DataSplits
from seqlab.data.errors import DataError
from seqlab.data.files import read_text
from seqlab.data.raw import RawSplit, hold_out
from seqlab.data.text_splits import text_splits

SPLIT_NAMES = {"train": "train", "validation": "validation", "val": "validation", "dev": "validation", "test": "test"}


def separator(path: Path, sep: str | None) -> str:
    """``sep`` if given, else a tab for .tsv/.tab files and a comma otherwise."""
    return sep or ("\t" if path.suffix.lower() in (".tsv", ".tab") else ",")


def read_table(path: str | Path, sep: str | None = None, header: int | None = 0) -> tuple[pd.DataFrame, list[int]]:
    """Read a CSV/TSV file as strings (the separator follows the extension unless given), and
    the file line on which each of its records starts (quoted fields may span several lines).

    Raises DataError naming the file, and the line where it can be told: bytes that are not
    UTF-8 (with their byte offset), a ragged row.
    """
    path = Path(path)
    text, sep = read_text(path), separator(path, sep)
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
    for record in reader:
        if record:  # pandas skips blank lines too
            starts.append(next_start)
        next_start = reader.line_num + 1
    return starts


def load_text_table(
    path: str,
    text_column: str,
    label_column: str,
    split_column: str | None,
    sep: str | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    **text_options,
) -> DataSplits:
    """Texts and labels from ``path``. With ``split_column`` its values (train, validation/val/dev,
    test) give the splits; without it, seeded random ``test_fraction`` and ``val_fraction``
    shares are held out. ``text_options`` go to ``text_splits`` (tokenizer and vocabulary,
    built on the training split only)."""
    table, lines = read_table(path, sep)
    for column in filter(None, (text_column, label_column, split_column)):
        if column not in table.columns:
            raise DataError(path, f"no column {column!r}; the header has {list(table.columns)}", line=1)
    if split_column:
        names = table[split_column].str.strip().str.lower()
        unknown = ~names.isin(SPLIT_NAMES)
        if unknown.any():
            row = int(unknown.to_numpy().nonzero()[0][0])
            raise DataError(
                path, f"split {table[split_column].iloc[row]!r} is not one of {sorted(SPLIT_NAMES)}", lines[row]
            )
        raw = {
            split: RawSplit(
                list(table[text_column][chosen]),
                list(table[label_column][chosen]),
                str(path),
                [lines[i] for i in chosen.to_numpy().nonzero()[0]],
            )
            for split in ("train", "validation", "test")
            for chosen in [names.map(SPLIT_NAMES) == split]
        }
    else:
        everything = RawSplit(list(table[text_column]), list(table[label_column]), str(path), lines)
        rest, test = hold_out(everything, test_fraction, seed, "test")
        train, validation = hold_out(rest, val_fraction / (1 - test_fraction), seed + 1, "validation")
        raw = {"train": train, "validation": validation, "test": test}
    return text_splits(raw, **text_options)
