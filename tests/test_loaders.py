"""Loaders of real files: CSV/TSV texts, UCR .tsv and UEA .ts series — read against a plain
reference reading, refused with file and line when malformed, and trained on end to end."""

import csv
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from seqlab.data.errors import DataError
from seqlab.data.missing import handle_missing
from seqlab.data.raw import RawSplit, hold_out
from seqlab.data.registry import build_splits
from seqlab.data.sentiment import sentiment_texts
from seqlab.data.text import Vocabulary, tokenize
from seqlab.data.ucr import read_uea_ts
from seqlab.experiments.classify import predict_file, predict_texts
from seqlab.experiments.config.validation import ConfigError, validate
from seqlab.experiments.encoding import encode_texts
from seqlab.experiments.tracking.store import use_tracking_store
from seqlab.experiments.training.runner import train
from tests.conftest import compose_config

TEXT_OPTIONS = dict(lowercase=True, punctuation="split", ngrams=1, min_freq=1, max_size=None, max_len=None)


def load_text(path=None, **options):
    settings = (
        dict(
            train_path=None,
            validation_path=None,
            test_path=None,
            format="csv",
            encoding="utf-8",
            text_column="text",
            label_column="label",
            split_column=None,
            sep=None,
            val_fraction=0.2,
            test_fraction=0.2,
            seed=0,
        )
        | TEXT_OPTIONS
        | options
    )
    return build_splits("text_table", path=path and str(path), **settings)


def load_archive(train_path, test_path, **options):
    settings = (
        dict(
            validation_path=None,
            val_fraction=0.25,
            seed=0,
            normalize="none",
            max_len=None,
            missing="refuse",
            encoding="utf-8",
        )
        | options
    )
    return build_splits("archive", train_path=str(train_path), test_path=str(test_path), **settings)


def decoded(splits, part):
    return [
        [splits.vocabulary[t] for t, m in zip(row, mask, strict=True) if m]
        for row, mask in zip(part.inputs, part.mask, strict=True)
    ]


def write_csv(path, rows, header=("text", "label", "split")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


ROWS = [
    ("Great, really great!", "pos", "train"),
    ("Mauvais, très mauvais…", "neg", "train"),
    ('She said "fine, fine", then left', "pos", "train"),
    ("Naïve plot; dull", "neg", "train"),
    ("great fun", "pos", "validation"),
    ("très dull", "neg", "validation"),
    ("fine, great", "pos", "test"),
    ("mauvais", "neg", "test"),
]


def test_csv_with_quoted_commas_and_non_ascii_matches_a_plain_reading(tmp_path):
    path = write_csv(tmp_path / "reviews.csv", ROWS)
    splits = load_text(path, split_column="split")
    with open(path, newline="", encoding="utf-8") as f:
        reference = list(csv.DictReader(f))
    for name in ("train", "validation", "test"):
        rows = [r for r in reference if r["split"] == name]
        expected = [[t if t in splits.vocabulary else "<unk>" for t in tokenize(r["text"])] for r in rows]
        assert decoded(splits, splits.split(name)) == expected
        assert [splits.label_names[y] for y in splits.split(name).labels] == [r["label"] for r in rows]
    assert {"très", "mauvais", "…", '"', "naïve"} <= set(splits.vocabulary)
    assert "left" in splits.vocabulary and "fun" not in splits.vocabulary  # train split only


def with_word_ngrams(tokens, n):
    """The reference: each run of 2..n consecutive tokens, joined by a space, after the words."""
    return tokens + [" ".join(tokens[i : i + k]) for k in range(2, n + 1) for i in range(len(tokens) - k + 1)]


@pytest.mark.parametrize("n", [2, 3])
def test_ngrams_follow_each_text_as_tokens_with_ids_from_the_training_split(tmp_path, n):
    path = write_csv(tmp_path / "reviews.csv", ROWS)
    words, splits = load_text(path, split_column="split"), load_text(path, split_column="split", ngrams=n)
    train_grams = {g for text, _, split in ROWS if split == "train" for g in with_word_ngrams(tokenize(text), n)}
    assert set(splits.vocabulary) == train_grams | {"<pad>", "<unk>"}
    assert set(words.vocabulary) < set(splits.vocabulary)
    for name in ("train", "validation", "test"):
        rows = [with_word_ngrams(tokenize(text), n) for text, _, split in ROWS if split == name]
        assert decoded(splits, splits.split(name)) == [[t if t in train_grams else "<unk>" for t in r] for r in rows]
    assert ", great" not in splits.vocabulary, "a bigram seen in the test split only is unknown"


def test_new_texts_get_the_ngrams_of_the_run_that_learned_them():
    vocabulary = ("<pad>", "<unk>", "not", "bad", "not bad", "bad at")
    config = OmegaConf.create({"data": {"lowercase": True, "punctuation": "split", "ngrams": 2, "max_len": None}})
    run = type("Run", (), {"vocabulary": vocabulary, "config": config, "input_kind": "text"})()
    encoded = encode_texts(["Not bad at all", "bad"], run)
    expected = [["not", "bad", "<unk>", "<unk>", "not bad", "bad at", "<unk>"], ["bad"]]
    ids = [Vocabulary(vocabulary).encode(tokens) for tokens in expected]
    assert encoded.inputs[0].tolist() == ids[0] and encoded.inputs[1, :1].tolist() == ids[1]
    assert encoded.mask.sum(axis=1).tolist() == [7, 1]


def test_tsv_without_split_column_holds_out_seeded_shares(tmp_path):
    texts, labels = sentiment_texts(100, seed=0, min_fillers=0, max_fillers=2, negation_rate=0.5, label_noise=0)
    path = tmp_path / "texts.tsv"
    rows = "".join(f"{t}\t{y}\n" for t, y in zip(texts, labels, strict=True))
    path.write_text("text\tlabel\n" + rows, encoding="utf-8")
    a, b = load_text(path), load_text(path)
    assert (len(a.train), len(a.validation), len(a.test)) == (60, 20, 20)
    np.testing.assert_array_equal(a.test.inputs, b.test.inputs)


def write_ucr(path, series, labels):
    width = max(map(len, series))
    lines = [
        "\t".join([str(label), *[f"{v:.6f}" for v in s], *["NaN"] * (width - len(s))])
        for s, label in zip(series, labels, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_ts(path, cases, labels, header=None):
    header = header or [
        "@problemName toy",
        "@timeStamps false",
        "@missing false",
        "@univariate false",
        "@dimensions 2",
        "@equalLength false",
        f"@classLabel true {' '.join(sorted(set(labels)))}",
        "@data",
    ]
    body = [
        ":".join(",".join(f"{v:.6f}" for v in dim) for dim in case) + f":{label}"
        for case, label in zip(cases, labels, strict=True)
    ]
    path.write_text("# a comment\n" + "\n".join(header + body) + "\n")
    return path


def random_series(rng, count, channels, classes):
    labels = [classes[i % len(classes)] for i in range(count)]
    cases = [rng.normal(classes.index(label), 0.1, size=(channels, rng.integers(5, 12))) for label in labels]
    return cases, labels


def test_ucr_tsv_matches_a_plain_reading(tmp_path):
    rng = np.random.default_rng(0)
    cases, labels = random_series(rng, 12, 1, ["-1", "1"])
    series = [c[0] for c in cases]
    train = write_ucr(tmp_path / "Toy_TRAIN.tsv", series[:8], labels[:8])
    test = write_ucr(tmp_path / "Toy_TEST.tsv", series[8:], labels[8:])
    splits = load_archive(train, test)
    assert splits.label_names == ("-1", "1") and splits.num_features == 1
    reference = [[float(v) for v in line.split("\t")[1:] if v != "NaN"] for line in test.read_text().splitlines()]
    for row, mask, expected in zip(splits.test.inputs, splits.test.mask, reference, strict=True):
        np.testing.assert_allclose(row[mask > 0, 0], expected)
        assert mask.sum() == len(expected)


def test_multivariate_unequal_length_ts_matches_a_plain_reading(tmp_path):
    rng = np.random.default_rng(1)
    cases, labels = random_series(rng, 12, 2, ["a", "b", "c"])
    train = write_ts(tmp_path / "Toy_TRAIN.ts", cases[:9], labels[:9])
    test = write_ts(tmp_path / "Toy_TEST.ts", cases[9:], labels[9:])
    splits = load_archive(train, test)
    assert splits.num_features == 2 and splits.label_names == ("a", "b", "c")
    for row, mask, case in zip(splits.test.inputs, splits.test.mask, cases[9:], strict=True):
        np.testing.assert_allclose(row[mask > 0], np.round(case.T, 6))
    assert [splits.label_names[y] for y in splits.test.labels] == labels[9:]


def test_dataset_normalisation_uses_training_statistics_only(tmp_path):
    rng = np.random.default_rng(2)
    cases, labels = random_series(rng, 16, 2, ["a", "b"])
    train = write_ts(tmp_path / "N_TRAIN.ts", cases[:12], labels[:12])
    test = write_ts(tmp_path / "N_TEST.ts", [c + 100 for c in cases[12:]], labels[12:])
    splits = load_archive(train, test, normalize="dataset", val_fraction=0.25)
    steps = splits.train.inputs[splits.train.mask > 0]
    assert np.abs(steps.mean(axis=0)).max() < 0.5  # train ~ centred (validation held out)
    assert splits.test.inputs[splits.test.mask > 0].mean() > 10  # test shifted, not re-centred
    per_series = load_archive(train, test, normalize="series")
    row = per_series.test.inputs[0][per_series.test.mask[0] > 0]
    np.testing.assert_allclose(row.mean(axis=0), 0, atol=1e-12)


def malformed_cases(tmp_path):
    ts_header = ["@problemName bad", "@univariate true", "@classLabel true a b", "@data"]
    good_ucr = write_ucr(tmp_path / "ok.tsv", [np.ones(3), np.zeros(3)], ["1", "2"])
    return {
        "missing file": (lambda: load_text(tmp_path / "absent.csv"), "absent.csv: no such file"),
        "missing column": (
            lambda: load_text(write_csv(tmp_path / "c.csv", ROWS, header=("txt", "label", "split"))),
            "c.csv:1: data.format=csv expects a header row with the column 'text' "
            "(the header has ['txt', 'label', 'split'])",
        ),
        "ragged row": (
            lambda: load_text(_write(tmp_path / "r.csv", "text,label\na,pos\nb,neg,extra\nc,pos\n")),
            "r.csv:3: row has 3 fields, expected 2",
        ),
        "non-numeric value": (
            lambda: load_archive(_write(tmp_path / "n.tsv", "1\t0.5\t0.1\n2\t0.3\tabc\n"), good_ucr),
            "n.tsv:2: value 2: 'abc' is not a number",
        ),
        "ts header contradicts data": (
            lambda: load_archive(write_ts(tmp_path / "h.ts", [np.ones((2, 3))], ["a"], header=ts_header), good_ucr),
            "h.ts:3: @univariate true but the data has 2 dimensions",
        ),
        "ts label not declared": (
            lambda: load_archive(write_ts(tmp_path / "l.ts", [np.ones((1, 3))], ["z"], header=ts_header), good_ucr),
            "l.ts:6: label 'z' is not among @classLabel ['a', 'b']",
        ),
        "empty split": (
            lambda: load_text(write_csv(tmp_path / "e.csv", [r for r in ROWS if r[2] != "test"]), split_column="split"),
            "e.csv: the test split is empty",
        ),
        "label seen only in test": (
            lambda: load_text(
                write_csv(tmp_path / "t.csv", ROWS + [("odd one", "neutral", "test")]), split_column="split"
            ),
            "t.csv:10: label 'neutral' does not occur in the training split",
        ),
        "label only in test, after a multi-line text": (
            lambda: load_text(
                write_csv(tmp_path / "m.csv", ROWS[:6] + [("two\nlines", "pos", "test"), ("x", "neutral", "test")]),
                split_column="split",
            ),
            "m.csv:10: label 'neutral' does not occur in the training split",
        ),
        "unknown split name": (
            lambda: load_text(write_csv(tmp_path / "s.csv", ROWS + [("x", "pos", "holdout")]), split_column="split"),
            "s.csv:10: split 'holdout' is not one of",
        ),
        "interior NaN": (
            lambda: load_archive(_write(tmp_path / "i.tsv", "1\t0.5\tNaN\t0.1\n"), good_ucr),
            "i.tsv:1: missing value (NaN) at step 2, channel 1 (1 series have one); set data.missing=drop",
        ),
        "invalid UTF-8 in a .ts": (
            lambda: load_archive(_write_bytes(tmp_path / "u.ts", TS_HEADER + b"0.1,0.2:a\n0.3,\xff0.4:b\n"), good_ucr),
            f"u.ts:6: not utf-8 text: byte 0xff at byte offset {len(TS_HEADER) + 14} (column 5 of the line)",
        ),
        "invalid UTF-8 in a CSV": (
            lambda: load_text(_write_bytes(tmp_path / "u.csv", b"text,label\n" + b"fine,pos\n" * 7 + b"caf\xe9,neg\n")),
            "u.csv:9: not utf-8 text: byte 0xe9 at byte offset 77 (column 4 of the line)",
        ),
        "a header number that is not one": (
            lambda: load_archive(
                _write_bytes(
                    tmp_path / "w.ts", TS_HEADER.replace(b"@data", b"@seriesLength twenty\n@data") + b"1,2:a\n"
                ),
                good_ucr,
            ),
            "w.ts:4: @seriesLength 'twenty' is not a whole number",
        ),
        "a .ts with no cases": (
            lambda: load_archive(_write_bytes(tmp_path / "z.ts", TS_HEADER), good_ucr),
            "z.ts:4: no cases after @data",
        ),
        "a folder as data path": (
            lambda: load_archive(tmp_path, good_ucr),
            f"{tmp_path}: is a folder; give the path of a data file in it",
        ),
    }


TS_HEADER = b"@problemName bad\n@univariate true\n@classLabel true a b\n@data\n"


def _write_bytes(path, data):
    path.write_bytes(data)
    return path


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "case",
    [
        "missing file",
        "missing column",
        "ragged row",
        "non-numeric value",
        "ts header contradicts data",
        "ts label not declared",
        "empty split",
        "label seen only in test",
        "label only in test, after a multi-line text",
        "unknown split name",
        "interior NaN",
        "invalid UTF-8 in a .ts",
        "invalid UTF-8 in a CSV",
        "a header number that is not one",
        "a .ts with no cases",
        "a folder as data path",
    ],
)
def test_malformed_input_names_file_line_and_problem(case, tmp_path):
    load, message = malformed_cases(tmp_path)[case]
    with pytest.raises(DataError) as error:
        load()
    assert message in str(error.value)
    assert error.value.__cause__ is None or "pandas" not in type(error.value.__cause__).__module__


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    """A CSV of sentiment texts, a UCR .tsv pair and a multivariate unequal-length .ts pair."""
    root = tmp_path_factory.mktemp("files")
    texts, labels = sentiment_texts(900, seed=7, min_fillers=0, max_fillers=3, negation_rate=0.0, label_noise=0)
    write_csv(root / "reviews.csv", [(t, y, "") for t, y in zip(texts, labels, strict=True)])
    rng = np.random.default_rng(7)
    files = {"csv": root / "reviews.csv"}
    for kind, channels in (("tsv", 1), ("ts", 2)):
        cases, classes = random_series(rng, 400, channels, ["up", "flat", "down"])
        slopes = {"up": 1, "flat": 0, "down": -1}
        cases = [c + np.linspace(0, slopes[y], c.shape[1]) for c, y in zip(cases, classes, strict=True)]
        writer = (lambda p, c, y: write_ucr(p, [x[0] for x in c], y)) if kind == "tsv" else write_ts
        files[f"{kind}_train"] = writer(root / f"S_TRAIN.{kind}", cases[:300], classes[:300])
        files[f"{kind}_test"] = writer(root / f"S_TEST.{kind}", cases[300:], classes[300:])
    return files


END_TO_END = {
    "toy-majority": ["data=majority", "data.train_size=600", "data.val_size=100", "data.test_size=200"],
    "text-sentiment": ["data=sentiment", "data.train_size=800", "data.val_size=100", "data.test_size=200"],
    # An Elman RNN is near chance on shapes over 64 steps (0.34-0.48 over seeds on an AVX-512 Xeon):
    # the loader is under test here, so the series learn through a GRU (0.985-1.0).
    "series-shapes": ["data=shapes", "data.train_size=400", "data.val_size=100", "data.test_size=200", "model=gru"],
    "csv": ["data=text_table", "data.path={csv}"],
    "ucr-tsv": ["data=archive", "data.train_path={tsv_train}", "data.test_path={tsv_test}"],
    "uea-ts": ["data=archive", "data.train_path={ts_train}", "data.test_path={ts_test}"],
}


@pytest.mark.slow
@pytest.mark.parametrize("source", list(END_TO_END))
def test_training_beats_the_majority_baseline(source, data_files, store_overrides):
    overrides = [o.format(**{k: str(v) for k, v in data_files.items()}) for o in END_TO_END[source]]
    cfg = compose_config(
        store_overrides
        + overrides
        + [
            "trainer.epochs=12",
            "trainer.progress=false",
            "optimizer=adam",
            "optimizer.lr=0.01",
        ]
    )
    metrics = train(cfg)
    splits = build_splits(**{k: v for k, v in dict(cfg.data).items()})
    baseline = np.bincount(splits.test.labels).max() / len(splits.test)
    assert metrics["test_accuracy"] >= baseline + 0.2, (metrics["test_accuracy"], baseline)
    if source in ("ucr-tsv", "uea-ts"):  # each file is a dataset input of the run, by content digest
        inputs = MlflowClient().get_run(metrics["run_id"]).inputs.dataset_inputs
        found = {(i.dataset.name, i.dataset.digest, i.tags[0].value) for i in inputs}
        files = {"train": cfg.data.train_path, "test": cfg.data.test_path}
        assert found == {
            (Path(p).stem, hashlib.sha256(Path(p).read_bytes()).hexdigest()[:32], c) for c, p in files.items()
        }


@pytest.mark.slow
def test_predict_maps_new_texts_through_the_logged_vocabulary(data_files, store, store_overrides, tmp_path):
    cfg = compose_config(
        store_overrides
        + [
            "data=sentiment",
            "data.negation_rate=0.0",
            "data.train_size=600",
            "data.val_size=100",
            "data.test_size=100",
            "trainer.epochs=8",
            "trainer.progress=false",
            "optimizer=adam",
            "optimizer.lr=0.01",
        ]
    )
    run_id = train(cfg)["run_id"]
    use_tracking_store(OmegaConf.create({"uri": store["uri"]}))
    table = predict_texts(run_id, ["The plot was great.", "this film is DULL", "zzz unknown words"], 16)
    assert list(table["predicted_name"][:2]) == ["positive", "negative"]
    assert table.filter(like="proba_").columns.tolist() == ["proba_negative", "proba_positive"]
    lines = tmp_path / "reviews.txt"
    lines.write_text("The plot was great.\n\nthis film is DULL\n")
    from_file = predict_file(run_id, str(lines), 16)
    assert from_file["line"].tolist() == [1, 3], "blank lines are skipped, lines keep their numbers"
    assert from_file["predicted_name"].tolist() == ["positive", "negative"]


@pytest.mark.parametrize(
    ("split", "value", "message"),
    [
        ("TRAIN", "NaN", r"S_TRAIN.tsv:2: missing value \(NaN\) at step 3, channel 1"),
        ("TEST", "?", r"S_TEST.tsv:2: missing value \(NaN\) at step 3, channel 1"),
        ("TRAIN", "inf", r"S_TRAIN.tsv:2: inf at step 3: series must be finite"),
        ("TEST", "-inf", r"S_TEST.tsv:2: -inf at step 3: series must be finite"),
    ],
)
def test_missing_or_infinite_values_are_named_with_file_line_and_step(tmp_path, split, value, message):
    series = {name: [[0.1, 0.2, 0.3, 0.4]] * 6 for name in ("TRAIN", "TEST")}
    rows = {
        name: [f"{label}\t" + "\t".join(map(str, s)) for s, label in zip(series[name], "ababab", strict=True)]
        for name in series
    }
    rows[split][1] = rows[split][1].replace("0.3", value)
    for name in rows:
        (tmp_path / f"S_{name}.tsv").write_text("\n".join(rows[name]) + "\n")
    with pytest.raises(DataError, match=message):
        load_archive(tmp_path / "S_TRAIN.tsv", tmp_path / "S_TEST.tsv")


def test_a_training_split_with_one_class_is_refused(tmp_path):
    for name in ("TRAIN", "TEST"):
        (tmp_path / f"S_{name}.tsv").write_text("".join(f"a\t{i}\t{i + 1}\n" for i in range(6)))
    with pytest.raises(DataError, match=r"S_TRAIN.tsv: the training split has one class only \(\['a'\]\)"):
        load_archive(tmp_path / "S_TRAIN.tsv", tmp_path / "S_TEST.tsv")


def test_splits_with_different_channels_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    train = write_ts(tmp_path / "S_TRAIN.ts", *random_series(rng, 8, 2, ["a", "b"]))
    header = [
        "@problemName toy",
        "@timeStamps false",
        "@missing false",
        "@univariate true",
        "@dimensions 1",
        "@equalLength false",
        "@classLabel true a b",
        "@data",
    ]
    test = write_ts(tmp_path / "S_TEST.ts", *random_series(rng, 4, 1, ["a", "b"]), header=header)
    for normalize in ("dataset", "none"):
        with pytest.raises(DataError, match=r"S_TEST.ts:10: 1 channels, the training split has 2"):
            load_archive(train, test, normalize=normalize)


def test_missing_values_are_refused_dropped_or_filled_as_data_missing_says(tmp_path):
    # A .ts file writes a missing value as '?': in a case's middle, at its start, in its other channel.
    lines = ["1,2,3,4:1,1,1,1:a", "1,?,?,4:2,2,2,2:b", "?,0,1,2:3,3,3,3:a", "4,3,2,1:1,2,?,4:b"]
    lines += [f"{i},{i},{i},{i}:0,0,0,0:{'ab'[i % 2]}" for i in range(8)]
    header = "@problemName m\n@missing true\n@univariate false\n@dimensions 2\n@classLabel true a b\n@data\n"
    train = _write(tmp_path / "M_TRAIN.ts", header + "\n".join(lines) + "\n")
    test = _write(tmp_path / "M_TEST.ts", header + "\n".join(lines[4:]) + "\n")
    with pytest.raises(DataError, match=r"M_TRAIN.ts:8: missing value \(NaN\) at step 2, channel 1 \(3 series have"):
        load_archive(train, test, val_fraction=0.1)
    dropped = load_archive(train, test, val_fraction=0.1, missing="drop")
    assert len(dropped.train) + len(dropped.validation) == len(lines) - 3
    filled = handle_missing(read_uea_ts(train), "fill")  # linear inside a series, the nearest value at its ends
    np.testing.assert_allclose(filled.sequences[1], [[1, 2], [2, 2], [3, 2], [4, 2]])
    np.testing.assert_allclose(filled.sequences[2], [[0, 3], [0, 3], [1, 3], [2, 3]])
    np.testing.assert_allclose(filled.sequences[3], [[4, 1], [3, 2], [2, 3], [1, 4]])
    assert len(load_archive(train, test, val_fraction=0.1, missing="fill").train) == len(lines) - 2  # one per class


def test_validation_and_test_shares_that_leave_no_training_data_are_refused():
    cfg = compose_config(
        ["data=text_table", "data.path=reviews.csv", "data.val_fraction=0.5", "data.test_fraction=0.6"]
    )
    with pytest.raises(ConfigError, match=r"data.test_fraction=0.6: with val_fraction 0.5: sums to 1.1"):
        validate(cfg)


def test_held_out_splits_keep_every_class_share_within_one_example():
    labels = ["a"] * 23 + ["b"] * 9 + ["c"] * 4 + ["d"] * 2  # imbalanced, as published sets are
    raw = RawSplit([np.zeros((3, 1))] * len(labels), labels, "small.tsv", list(range(1, len(labels) + 1)))
    counts = Counter(labels)
    for seed in range(50):
        rest, held = hold_out(raw, 0.25, seed, "validation")
        assert sorted(rest.lines + held.lines) == raw.lines, "every example in exactly one part"
        for label, count in counts.items():
            assert abs(Counter(held.labels)[label] - 0.25 * count) <= 1, (seed, label)
            assert abs(Counter(rest.labels)[label] - 0.75 * count) <= 1, (seed, label)
    with pytest.raises(DataError, match=r"small.tsv: class 'd' has 2 example\(s\): holding out 0.8 of them"):
        hold_out(raw, 0.8, 0, "validation")


def test_every_text_format_loads_to_the_same_arrays(tmp_path):
    rows = [(text.replace("…", "..."), label, split) for text, label, split in ROWS]  # all latin-1 text
    splits = {split: [(t, y) for t, y, s in rows if s == split] for split in ("train", "validation", "test")}
    reference = load_text(write_csv(tmp_path / "all.csv", rows), split_column="split")
    tsv = tmp_path / "all.tsv"
    tsv.write_text("text\tlabel\tsplit\n" + "".join(f"{t}\t{y}\t{s}\n" for t, y, s in rows), encoding="utf-8")
    layouts = {"tsv": lambda: load_text(tsv, split_column="split")}
    line_formats = {
        "lines": lambda t, y: f"{y} {t}",
        "fasttext": lambda t, y: f"__label__{y} {t}",
        "latin-1": lambda t, y: f"{y}\t{t}",
    }
    for name, line in line_formats.items():
        encoding = "latin-1" if name == "latin-1" else "utf-8"
        for split, pairs in splits.items():
            text = "\n".join(line(t, y) for t, y in pairs) + "\n"
            (tmp_path / f"{name}.{split}.txt").write_bytes(text.encode(encoding))
        files = {f"{split}_path": tmp_path / f"{name}.{split}.txt" for split in splits}
        options = {"format": "lines" if name == "latin-1" else name, "encoding": encoding}
        layouts[name] = lambda files=files, options=options, name=name: load_text(
            **files, **options, sep="\t" if name == "latin-1" else None
        )
    for split in splits:
        write_csv(tmp_path / f"{split}.csv", splits[split], header=("text", "label"))
    layouts["csv files"] = lambda: load_text(**{f"{s}_path": tmp_path / f"{s}.csv" for s in splits})
    for name, load in layouts.items():
        loaded = load()
        assert loaded.vocabulary == reference.vocabulary, name
        for part in ("train", "validation", "test"):
            np.testing.assert_array_equal(loaded.split(part).inputs, reference.split(part).inputs, err_msg=name)
            np.testing.assert_array_equal(loaded.split(part).labels, reference.split(part).labels, err_msg=name)

    # The latin-1 files without data.encoding: the first byte that is no UTF-8, by line and offset.
    latin = tmp_path / "latin-1.train.txt"
    data = latin.read_bytes()
    offset = next(i for i, byte in enumerate(data) if byte >= 0x80)  # é, è, ï: one byte each in latin-1
    line = data[:offset].count(b"\n") + 1
    bad = rf"latin-1.train.txt:{line}: not utf-8 text: byte 0x{data[offset]:02x} at byte offset {offset}"
    with pytest.raises(DataError, match=bad):
        load_text(train_path=latin, test_path=tmp_path / "latin-1.test.txt", format="lines")
    # A file in another format than data.format names both.
    with pytest.raises(
        DataError,
        match=r"fasttext.train.txt:1: data.format=lines expects 'label<sep>text' lines with "
        r"no header; it looks like fasttext \(set data.format=fasttext\)",
    ):
        load_text(train_path=tmp_path / "fasttext.train.txt", test_path=tmp_path / "fasttext.test.txt", format="lines")
    with pytest.raises(
        DataError,
        match=r"lines.train.txt:3: data.format=csv expects a CSV/TSV table with a header row \(row has 3 fields, "
        r"expected 2\); it looks like lines \(set data.format=lines\)",
    ):
        load_text(train_path=tmp_path / "lines.train.txt", test_path=tmp_path / "lines.test.txt")


def test_a_missing_validation_file_is_held_out_of_train(tmp_path):
    texts, labels = sentiment_texts(200, seed=1, min_fillers=0, max_fillers=2, negation_rate=0.0, label_noise=0)
    (tmp_path / "train.txt").write_text("".join(f"{y} {t}\n" for t, y in zip(texts[:150], labels[:150], strict=True)))
    (tmp_path / "test.txt").write_text("".join(f"{y} {t}\n" for t, y in zip(texts[150:], labels[150:], strict=True)))
    loaded = load_text(train_path=tmp_path / "train.txt", test_path=tmp_path / "test.txt", format="lines")
    assert (len(loaded.train), len(loaded.validation), len(loaded.test)) == (120, 30, 50)  # val_fraction 0.2


@pytest.mark.slow
def test_val_fraction_0_trains_on_all_of_train_and_selects_on_the_training_loss(data_files, store_overrides):
    # As most published UCR results do: no validation split, the epoch chosen on the training loss.
    data = ["data=archive", f"data.train_path={data_files['tsv_train']}", f"data.test_path={data_files['tsv_test']}"]
    common = store_overrides + data + ["data.val_fraction=0", "trainer.epochs=3", "trainer.progress=false"]
    with pytest.raises(ConfigError, match=r"trainer.monitor=val_loss: the data has no validation split"):
        train(compose_config(common))
    metrics = train(compose_config(common + ["trainer.monitor=train_loss"]))
    run = MlflowClient().get_run(metrics["run_id"])
    assert run.data.params["dataset.train_size"] == "300" and run.data.params["dataset.validation_size"] == "0"
    assert "val_loss" not in run.data.metrics and "best_train_loss" in run.data.metrics
    history = [m.value for m in MlflowClient().get_metric_history(metrics["run_id"], "train_loss")]
    assert run.data.metrics["best_train_loss"] == min(history)


def test_a_line_is_cut_at_newlines_only_never_at_a_code_page_byte_read_as_nel(tmp_path):
    path = tmp_path / "subj.all"
    lines = [b"0 a plain line .", b"1 his questions are worth asking . \x85 and bowling", b"0 plain", b"1 two"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    for fold in (0, 1):
        splits = load_text(path, format="lines", encoding="latin-1", val_fraction=0, folds=2, fold=fold)
        assert len(splits.train) + len(splits.test) == 4, "four lines, four texts"
        assert splits.label_names == ("0", "1"), "no line 'and bowling' with a label 'and'"
        if "bowling" in splits.vocabulary:
            assert "asking" in splits.vocabulary, "one text: the words on both sides of the byte"


def test_a_record_without_text_is_refused_or_dropped_as_data_empty_texts_says(tmp_path, caplog):
    path = tmp_path / "custrev.all"
    path.write_text("".join(f"{i % 2} sentence number {i} .\n" for i in range(20)) + "0 \n1 last one .\n0\n")
    with pytest.raises(DataError, match=r"custrev.all:21: no text after the label '0' \(2 such records; data.empty"):
        load_text(path, format="lines")
    splits = load_text(path, format="lines", empty_texts="drop")
    assert len(splits.train) + len(splits.validation) + len(splits.test) == 21
    assert "2 record(s) without text left out (data.empty_texts=drop), at lines [21, 23]" in caplog.text


@pytest.mark.parametrize("separator", [",", "   "])
def test_the_old_ucr_txt_format_matches_a_plain_reading(tmp_path, separator):
    rng = np.random.default_rng(1)
    series = [rng.normal(size=9) for _ in range(12)]
    labels = [1, 2] * 6

    def write(path, rows, classes):
        lines = [separator.join(f"{v:.7e}" for v in (float(y), *s)) for s, y in zip(rows, classes, strict=True)]
        path.write_text("\n".join(lines) + "\n")
        return path

    train = write(tmp_path / "Coffee_TRAIN.txt", series[:8], labels[:8])
    test = write(tmp_path / "Coffee_TEST.txt", series[8:], labels[8:])
    splits = load_archive(train, test, val_fraction=0)
    assert splits.label_names == ("1", "2"), "1.0000000e+00 is the label 1, as in the 2018 files"
    np.testing.assert_allclose(splits.test.inputs[:, :, 0], np.array(series[8:]), rtol=1e-7)
    assert [splits.label_names[y] for y in splits.test.labels] == ["1", "2", "1", "2"]
