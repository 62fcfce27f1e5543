"""New inputs to classify, read from a file for ``seqlab predict input=<file>``: each sequence
with the line it came from (so that a bad one is named by file and line), and its label when
the file carries one.

- text: one text per line (blank lines skipped);
- symbols: one sequence per line, symbols separated by tabs (``.tsv``), commas (``.csv``) or
  white space;
- series: a ``.ts`` (sktime/UEA) or ``.tsv`` (UCR 2018) archive file, labels included, as
  training reads them; any other file one univariate series per line, values separated by
  commas or white space (``?`` or ``nan`` for a missing value).
"""

import re
from pathlib import Path

import numpy as np

from seqlab.data.errors import DataError
from seqlab.data.files import file_lines, read_text
from seqlab.data.raw import RawSplit
from seqlab.data.ucr import number, read_ucr_tsv, read_uea_ts

_SEPARATORS = {".tsv": "\t", ".csv": ","}


def _lines(path: Path, encoding: str) -> list[tuple[int, str]]:
    """The non-blank lines of ``path`` with their numbers (from 1)."""
    lines = enumerate(file_lines(read_text(path, encoding)), start=1)
    return [(number, text.strip()) for number, text in lines if text.strip()]


def _fields(path: Path | None, text: str) -> list[str]:
    """The fields of a line: split at the file type's separator, or (``path`` None, or another
    file type) at commas and white space."""
    separator = _SEPARATORS.get(path.suffix.lower()) if path is not None else None
    fields = text.split(separator) if separator else re.split(r"[\s,]+", text)
    return [field.strip() for field in fields if field.strip()]


def read_inputs(path: str | Path, kind: str, encoding: str = "utf-8") -> RawSplit:
    """The sequences of ``path`` as a run of input ``kind`` (text, symbols, series) reads them:
    texts as strings, symbol sequences as lists of strings, series as (length, channels)
    arrays; labels as found (None where the file has none). DataError names the file and line
    of anything unreadable, and a file with no sequence."""
    path = Path(path)
    if kind == "series" and path.suffix.lower() in (".ts", ".tsv"):
        return (read_uea_ts if path.suffix.lower() == ".ts" else read_ucr_tsv)(path, encoding)
    lines = _lines(path, encoding)
    if not lines:
        raise DataError(path, "no sequence in the file")
    if kind == "text":
        sequences = [text for _, text in lines]
    elif kind == "symbols":
        sequences = [_fields(path, text) for _, text in lines]
    else:
        sequences = [
            np.array([number(v, path, line, f"value {i + 1}") for i, v in enumerate(_fields(None, text))])[:, None]
            for line, text in lines
        ]
    return RawSplit(sequences, [None] * len(lines), str(path), [line for line, _ in lines])
