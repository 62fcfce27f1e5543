"""Fault injection: the malformed inputs, signals and outages a user on a real cluster with real
files meets, each with the message that names its cause and nothing lost. (Earlier rounds'
cases live beside the features they test: test_reliability, test_resume, test_loaders.)"""

import re

import numpy as np
import pytest

from seqlab.data.errors import DataError
from seqlab.experiments.config.validation import ConfigError, validate
from tests.conftest import compose_config
from tests.test_loaders import load_archive, load_text

REVIEWS = ["good fun", "great film", "dull plot", "bad acting", "fine cast", "awful end"] * 4
LABELS = ["pos", "pos", "neg", "neg", "pos", "neg"] * 4


def write_lines(path, rows: list[str]) -> str:
    path.write_text("".join(f"{row}\n" for row in rows))
    return str(path)


@pytest.mark.parametrize(
    ("content", "format", "message"),
    [
        ("text,label\n", "csv", r"header row \(text, label\) and no records: no examples"),
        ("", "lines", r"no lines of text: no examples"),
        ("", "csv", r"the file is empty"),
        ("\n\n", "fasttext", r"no lines of text: no examples"),
    ],
    ids=["header-only csv", "empty lines file", "empty csv", "blank fasttext file"],
)
def test_a_file_without_examples_is_named_as_such(tmp_path, content, format, message):
    path = tmp_path / "train.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_text(path, format=format)


@pytest.mark.parametrize("sep", [None, "\t", "\\t", "tab"], ids=["whitespace", "tab", "backslash-t", "tab-name"])
def test_a_line_without_its_label_is_an_error_never_a_new_class(tmp_path, sep):
    separator = {None: " "}.get(sep, "\t")
    rows = [f"{label}{separator}{text}" for label, text in zip(LABELS, REVIEWS, strict=True)]
    rows[4] = f"{separator}great fine"
    path = write_lines(tmp_path / "reviews.txt", rows)
    with pytest.raises(DataError, match=r"reviews.txt:5: no label before the text 'great fine'"):
        load_text(path, format="lines", sep=sep)
    rows[4] = f"pos{separator}great fine"
    splits = load_text(write_lines(tmp_path / "reviews.txt", rows), format="lines", sep=sep)
    assert splits.label_names == ("neg", "pos")


def test_data_sep_is_validated_and_names_a_tab(tmp_path):
    base = ["data=text_table", f"data.path={tmp_path / 'r.tsv'}", "data.format=lines"]
    for sep in ("tab", "\\t", "'|'"):
        validate(compose_config([*base, f"data.sep={sep}"]))
    with pytest.raises(ConfigError, match=r"data.sep='ab': must be one character, tab"):
        validate(compose_config([*base, "data.sep=ab"]))


def test_a_document_of_a_megabyte_is_read_whole(tmp_path):
    rows = [f"{label} {text}" for label, text in zip(LABELS, REVIEWS, strict=True)]
    rows[0] = "pos " + " ".join(["good"] * 250_000)  # 1.25 MB on one line
    splits = load_text(write_lines(tmp_path / "long.txt", rows), format="lines", max_len=None)
    assert (
        splits.train.inputs.shape[1] == 250_000
        or splits.validation.inputs.shape[1] == 250_000
        or (splits.test.inputs.shape[1] == 250_000)
    )


def test_an_infinite_value_is_named_where_the_file_has_it_before_normalisation(tmp_path):
    rng = np.random.default_rng(0)
    rows = {
        name: [f"{'ab'[i % 2]}\t" + "\t".join(f"{v:.4f}" for v in rng.normal(size=8)) for i in range(12)]
        for name in ("TRAIN", "TEST")
    }
    cells = rows["TRAIN"][9].split("\t")
    cells[6] = "inf"  # line 10, step 6
    rows["TRAIN"][9] = "\t".join(cells)
    for name, lines in rows.items():
        write_lines(tmp_path / f"S_{name}.tsv", lines)
    with pytest.raises(DataError, match=r"S_TRAIN.tsv:10: inf at step 6: series must be finite"):
        load_archive(tmp_path / "S_TRAIN.tsv", tmp_path / "S_TEST.tsv", normalize="dataset")


def test_a_binary_file_is_refused_from_its_first_bytes(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(b"text,label\n" + bytes(range(128, 256)) * 4096)
    with pytest.raises(DataError, match=r"train.csv:2: not utf-8 text: byte 0x80 at byte offset 11"):
        load_text(path)


def test_a_file_larger_than_its_kind_warrants_is_refused_before_it_is_read(tmp_path):
    rows = [f"{label},{text}" for label, text in zip(LABELS, REVIEWS, strict=True)]
    path = write_lines(tmp_path / "big.csv", ["label,text", *rows * 100])
    size = re.escape(f"{(tmp_path / 'big.csv').stat().st_size / 2**20:,.0f}")
    with pytest.raises(DataError, match=rf"big.csv: is {size} MiB, more than data.max_file_mb=0.01 allows"):
        load_text(path, max_file_mb=0.01)
    assert len(load_text(path, max_file_mb=1).train.labels) > 0
