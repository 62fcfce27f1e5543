"""The generators: seeded, balanced, labelled as documented (checked directly, not by a model)."""

import re

import numpy as np
import pytest

from seqlab.data.dataset import SequenceDataset
from seqlab.data.padding import pad_sequences
from seqlab.data.reber import SYMBOLS, is_embedded_reber, is_reber, reber_string
from seqlab.data.registry import SOURCES, build_splits
from seqlab.data.sentiment import NEGATIVE, POSITIVE
from seqlab.data.series import CONTROL_PATTERNS, SHAPES

SIZES = {"train_size": 900, "val_size": 50, "test_size": 50}
OPTIONS = {
    "parity": {"min_len": 3, "max_len": 12},
    "majority": {"min_len": 4, "max_len": 11, "num_symbols": 3},
    "first_symbol": {"min_len": 5, "max_len": 20, "num_symbols": 3, "num_distractors": 4},
    "reber": {"max_len": 25},
    "sines": {"length": 40, "num_classes": 3, "noise_std": 0.1},
    "shapes": {"length": 64, "channels": 2, "noise_std": 0.05},
    "control_charts": {"length": 60, "channels": 3, "noise_std": 2.0},
    "sentiment": {
        "min_fillers": 0,
        "max_fillers": 5,
        "negation_rate": 0.5,
        "label_noise": 0.0,
        "lowercase": True,
        "punctuation": "split",
        "ngrams": 1,
        "min_freq": 1,
        "max_size": None,
        "max_len": None,
    },
}
assert set(OPTIONS) == set(SOURCES) - {"text_table", "archive", "ucr"}, "every generator is tested"


def build(name: str, seed: int):
    return build_splits(name, seed=seed, **SIZES, **OPTIONS[name])


def tokens_of(part: SequenceDataset, splits) -> list[list[str]]:
    """The symbols of each sequence, padding dropped."""
    return [
        [splits.vocabulary[t] for t, m in zip(row, mask, strict=True) if m]
        for row, mask in zip(part.inputs, part.mask, strict=True)
    ]


@pytest.mark.parametrize("name", list(OPTIONS))
def test_same_seed_same_arrays_other_seed_other_arrays(name):
    a, b, c = build(name, 1), build(name, 1), build(name, 2)
    for split in ("train", "validation", "test"):
        for field in ("inputs", "mask", "labels"):
            np.testing.assert_array_equal(getattr(a.split(split), field), getattr(b.split(split), field))
    assert not np.array_equal(a.train.inputs, c.train.inputs)


@pytest.mark.parametrize("name", list(OPTIONS))
def test_classes_are_balanced_within_five_percent(name):
    splits = build(name, 3)
    shares = np.bincount(splits.train.labels, minlength=splits.num_classes) / len(splits.train)
    assert np.abs(shares - 1 / splits.num_classes).max() < 0.05, dict(zip(splits.label_names, shares, strict=True))


def test_parity_label_is_the_parity_of_the_real_bits():
    splits = build("parity", 4)
    lengths = splits.train.mask.sum(axis=1)
    assert lengths.min() == 3 and lengths.max() == 12
    for symbols, label in zip(tokens_of(splits.train, splits), splits.train.labels, strict=True):
        assert symbols.count("1") % 2 == label


def test_majority_label_is_the_strictly_most_frequent_symbol():
    splits = build("majority", 4)
    for symbols, label in zip(tokens_of(splits.train, splits), splits.train.labels, strict=True):
        counts = {s: symbols.count(s) for s in ("s0", "s1", "s2")}
        top = max(counts.values())
        assert [s for s, c in counts.items() if c == top] == [splits.label_names[label]]


def test_first_symbol_label_is_the_key_at_step_zero_then_only_distractors():
    splits = build("first_symbol", 4)
    for symbols, label in zip(tokens_of(splits.train, splits), splits.train.labels, strict=True):
        assert symbols[0] == splits.label_names[label]
        assert all(s.startswith("d") for s in symbols[1:])


def test_reber_labels_follow_the_grammar():
    splits = build("reber", 4)
    strings = ["".join(s) for s in tokens_of(splits.train, splits)]
    labels = splits.train.labels
    assert all(is_embedded_reber(s) == bool(y) for s, y in zip(strings, labels, strict=True))
    assert max(map(len, strings)) <= 25
    rng = np.random.default_rng(0)
    assert all(is_reber(reber_string(rng)) for _ in range(100))
    assert is_embedded_reber("BTBTXSETE") and not is_embedded_reber("BTBTXSEPE")
    assert set("".join(strings)) <= set(SYMBOLS)


def test_sentiment_label_is_adjective_polarity_flipped_by_negation():
    splits = build("sentiment", 4)
    for words, label in zip(tokens_of(splits.train, splits), splits.train.labels, strict=True):
        adjective = next(w for w in words if w in POSITIVE + NEGATIVE)
        negated = words[words.index(adjective) - 1] == "not"
        positive = (adjective in POSITIVE) != negated
        assert splits.label_names[label] == ("positive" if positive else "negative")


def test_sentiment_is_not_solved_by_word_counts():
    """A linear least-squares fit on word counts stays near chance: the label is an XOR."""
    splits = build("sentiment", 5)

    def counts(part):
        bag = np.zeros((len(part), splits.vocab_size))
        for row, (tokens, mask) in enumerate(zip(part.inputs, part.mask, strict=True)):
            np.add.at(bag[row], tokens[mask > 0], 1)
        return np.hstack([bag, np.ones((len(part), 1))])

    weights, *_ = np.linalg.lstsq(counts(splits.train), splits.train.labels * 2.0 - 1, rcond=None)
    accuracy = np.mean((counts(splits.test) @ weights > 0) == splits.test.labels)
    assert accuracy < 0.7


def test_sines_label_is_the_dominant_frequency():
    splits = build("sines", 4)
    spectrum = np.abs(np.fft.rfft(splits.train.inputs[:, :, 0], axis=1))
    cycles = spectrum[:, 1:].argmax(axis=1) + 1
    names = np.array(splits.label_names)[splits.train.labels]
    assert all(name == f"{c}_cycles" for name, c in zip(names, cycles, strict=True))


def test_shapes_and_control_charts_show_their_class():
    shapes = build("shapes", 4)
    assert shapes.label_names == SHAPES and shapes.num_features == 2
    values = shapes.train.inputs
    square = values[shapes.train.labels == SHAPES.index("square")]
    assert np.mean(np.abs(np.abs(square) - 1) < 0.2) > 0.9  # mostly at ±1
    charts = build("control_charts", 4)
    assert charts.label_names == CONTROL_PATTERNS and charts.num_features == 3
    first, last = charts.train.inputs[:, :10].mean(axis=1), charts.train.inputs[:, -10:].mean(axis=1)
    change = (last - first).mean(axis=1)
    for pattern, sign in [
        ("increasing_trend", 1),
        ("decreasing_trend", -1),
        ("upward_shift", 1),
        ("downward_shift", -1),
    ]:
        assert np.all(np.sign(change[charts.train.labels == CONTROL_PATTERNS.index(pattern)]) == sign), pattern


def test_padding_masks_and_never_truncates_silently(caplog):
    padded, mask = pad_sequences([np.array([1, 2, 3]), np.array([4])])
    np.testing.assert_array_equal(padded, [[1, 2, 3], [4, 0, 0]])
    np.testing.assert_array_equal(mask, [[1, 1, 1], [1, 0, 0]])
    with caplog.at_level("WARNING"):
        padded, _ = pad_sequences([np.arange(5), np.arange(2), np.arange(9)], max_len=4, source="x.csv")
    assert padded.shape == (3, 4)
    assert re.search(r"x.csv: 2 of 3 sequences are longer than max_len=4", caplog.text)


@pytest.mark.parametrize("bucket", [False, True])
def test_batches_cover_every_sequence_once_cut_to_their_longest(bucket):
    data = build("majority", 6).train  # lengths 4..11
    batches = list(data.batches(32, np.random.default_rng(0), bucket_by_length=bucket))
    again = list(data.batches(32, np.random.default_rng(0), bucket_by_length=bucket))
    assert sum(len(b) for b in batches) == len(data)
    assert all(np.array_equal(a.inputs, b.inputs) for a, b in zip(batches, again, strict=True))
    assert all(b.mask[:, -1].max() == 1 for b in batches)  # no all-padding column
    rows = sorted(bytes(r[m > 0]) for b in batches for r, m in zip(b.inputs, b.mask, strict=True))
    assert rows == sorted(bytes(r[m > 0]) for r, m in zip(data.inputs, data.mask, strict=True))
    padding = sum((1 - b.mask).sum() for b in batches)
    if bucket:
        unbucketed = sum((1 - b.mask).sum() for b in data.batches(32, np.random.default_rng(0)))
        assert padding < unbucketed / 3


def test_unknown_source_is_named():
    with pytest.raises(ValueError, match="'nope'"):
        build_splits("nope", seed=0)


@pytest.mark.parametrize(
    "name, kind",
    [("parity", "symbols"), ("reber", "symbols"), ("sines", "series"), ("shapes", "series"), ("sentiment", "text")],
)
def test_every_source_says_what_its_raw_inputs_are(name, kind):
    assert build(name, seed=0).input_kind == kind
