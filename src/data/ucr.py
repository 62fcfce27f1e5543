"""Loading time-series archives: the UCR 2018 ``.tsv`` format and the sktime/UEA ``.ts`` format.

Both use the archive's own TRAIN/TEST files; a seeded share of TRAIN becomes the validation
split, and normalisation statistics come from the training split only.
"""

import dataclasses
from pathlib import Path

import numpy as np

from seqlab.data.assemble import assemble
from seqlab.data.dataset import DataSplits
from seqlab.data.errors import DataError
from seqlab.data.normalize import normalize_splits
from seqlab.data.raw import RawSplit, check_channels, hold_out
from seqlab.data.text_table import read_table


def _number(text: str, path, line: int, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(path, f"{what}: {text!r} is not a number", line) from None


def read_ucr_tsv(path: str | Path) -> RawSplit:
    """One UCR 2018 file: per row the label, then the values; variable-length series are
    padded with NaN at the end, which is cut off. Sequences are (length, 1)."""
    table = read_table(path, sep="\t", header=None)
    sequences, labels = [], []
    for row_number, row in enumerate(table.itertuples(index=False)):
        line = row_number + 1
        label, *cells = (str(cell).strip() for cell in row)
        values = np.array([_number(c, path, line, f"value {i + 1}") if c else np.nan for i, c in enumerate(cells)])
        real = np.flatnonzero(~np.isnan(values))
        if len(real) == 0:
            raise DataError(path, "the series has no values", line)
        if len(real) != real[-1] + 1:
            raise DataError(path, "missing value (NaN) inside the series; only trailing NaN padding is allowed", line)
        sequences.append(values[: real[-1] + 1, None])
        labels.append(label)
    return RawSplit(sequences, labels, str(path), list(range(1, len(labels) + 1)))


def read_uea_ts(path: str | Path) -> RawSplit:
    """One sktime/UEA ``.ts`` file: ``@`` header lines, then after ``@data`` one case per line,
    ``dim1 values : dim2 values : ... : label``. The data must agree with the header
    (@univariate/@dimensions, @equalLength, @seriesLength, @classLabel). Sequences are
    (length, dimensions)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file")
    header: dict[str, tuple[int, str]] = {}
    sequences, labels, lines = [], [], []
    in_data = False
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
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
            [_number(v, path, line, f"dimension {d + 1}") for v in dim.split(",")] for d, dim in enumerate(dimensions)
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
    _check_header(path, header, sequences, labels, lines)
    return RawSplit(sequences, labels, str(path), lines)


def _check_header(path, header, sequences, labels, lines) -> None:
    """Raise DataError where the data contradicts what the header declares."""
    dims = sequences[0].shape[1] if sequences else 0
    if "univariate" in header:
        line, value = header["univariate"]
        if (value.lower() == "true") != (dims == 1):
            raise DataError(path, f"@univariate {value} but the data has {dims} dimensions", line)
    if "dimensions" in header:
        line, value = header["dimensions"]
        if int(value) != dims:
            raise DataError(path, f"@dimensions {value} but the data has {dims}", line)
    lengths = {len(s) for s in sequences}
    if "equallength" in header:
        line, value = header["equallength"]
        if value.lower() == "true" and len(lengths) > 1:
            raise DataError(path, f"@equalLength true but series lengths range {min(lengths)}-{max(lengths)}", line)
    if "serieslength" in header and header.get("equallength", (0, "false"))[1].lower() == "true":
        line, value = header["serieslength"]
        if lengths and int(value) not in lengths:
            raise DataError(path, f"@seriesLength {value} but the series have {max(lengths)} steps", line)
    if "classlabel" in header:
        line, value = header["classlabel"]
        flag, *declared = value.split()
        if flag.lower() == "true":
            for label, case_line in zip(labels, lines, strict=True):
                if label not in declared:
                    raise DataError(path, f"label {label!r} is not among @classLabel {declared}", case_line)


READERS = {"tsv": read_ucr_tsv, "ts": read_uea_ts}


def load_archive(
    train_path: str,
    test_path: str,
    val_fraction: float,
    seed: int,
    normalize: str,
    max_len: int | None,
) -> DataSplits:
    """TRAIN and TEST files of one dataset (format from the extension: .tsv UCR, .ts UEA)."""
    parts = []
    for path in (train_path, test_path):
        suffix = Path(path).suffix.lower().lstrip(".")
        if suffix not in READERS:
            raise DataError(path, f"unknown archive format {suffix!r}; expected .tsv (UCR) or .ts (UEA)")
        parts.append(READERS[suffix](path))
    train, validation = hold_out(parts[0], val_fraction, seed, "validation")
    raw = {"train": train, "validation": validation, "test": parts[1]}
    check_channels(raw)
    raw, normalizer = normalize_splits(raw, normalize)
    return dataclasses.replace(assemble(raw, "series", max_len=max_len), normalizer=normalizer)
