"""The generators and the splits built from them: seeded, balanced, and labelled as documented."""

import numpy as np
import pytest

from src.data.first_symbol import first_symbol_task
from src.data.parity import parity_task
from src.data.registry import build_splits
from src.data.sines import sines_task

GENERATED = {
    "parity": lambda seed: parity_task(600, seed, length=9),
    "first_symbol": lambda seed: first_symbol_task(600, seed, length=20, num_symbols=3, num_distractors=4),
    "sines": lambda seed: sines_task(600, seed, length=30, num_classes=3, noise_std=0.1),
}  # fmt: skip


@pytest.mark.parametrize("name", list(GENERATED))
def test_generators_are_seeded_and_balanced(name):
    a, b, c = (GENERATED[name](seed).dataset for seed in (1, 1, 2))
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.inputs, c.inputs)
    task = GENERATED[name](1)
    shares = np.bincount(a.labels, minlength=task.num_classes) / len(a)
    assert np.abs(shares - 1 / task.num_classes).max() < 0.05
    assert a.mask.min() == 1


def test_parity_label_is_the_parity_of_the_bits():
    data = parity_task(300, seed=4, length=9).dataset
    assert data.inputs.shape == (300, 9) and set(np.unique(data.inputs)) == {0, 1}
    np.testing.assert_array_equal(data.labels, data.inputs.sum(axis=1) % 2)


def test_first_symbol_label_is_the_first_token_and_the_rest_are_distractors():
    task = first_symbol_task(300, seed=4, length=12, num_symbols=3, num_distractors=5)
    tokens = task.dataset.inputs
    np.testing.assert_array_equal(task.dataset.labels, tokens[:, 0])
    assert tokens[:, 1:].min() >= 3 and tokens[:, 1:].max() < 8 and task.vocab_size == 8


def test_sines_label_is_the_dominant_frequency():
    task = sines_task(200, seed=4, length=40, num_classes=3, noise_std=0.1)
    waves = task.dataset.inputs[:, :, 0]
    spectrum = np.abs(np.fft.rfft(waves, axis=1))
    cycles = spectrum[:, 1:].argmax(axis=1) + 1  # cycles per sequence
    np.testing.assert_array_equal(cycles, 2 * (task.dataset.labels + 1))


def test_splits_are_consecutive_parts_of_one_seeded_draw():
    splits = build_splits("parity", 30, 20, 10, seed=5, length=12)
    whole = parity_task(60, seed=5, length=12).dataset
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (30, 20, 10)
    assert (splits.vocab_size, splits.num_classes, splits.num_features) == (2, 2, None)
    np.testing.assert_array_equal(splits.train.inputs, whole.inputs[:30])
    np.testing.assert_array_equal(splits.validation.labels, whole.labels[30:50])
    np.testing.assert_array_equal(splits.test.inputs, whole.inputs[50:])


def test_one_hot_splits_encode_tokens_and_zero_padding():
    splits = build_splits("first_symbol", 5, 1, 1, seed=0, length=4, num_symbols=2, num_distractors=3)
    encoded = splits.one_hot()
    assert encoded.num_features == 5 and encoded.vocab_size is None
    np.testing.assert_array_equal(encoded.train.inputs.argmax(axis=2), splits.train.inputs)
    np.testing.assert_array_equal(encoded.train.inputs.sum(axis=2), 1)


def test_minibatches_cover_every_sequence_once():
    data = parity_task(23, seed=0, length=4).dataset
    batches = list(data.batches(5, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([b.inputs for b in batches])
    assert sorted(map(bytes, seen)) == sorted(map(bytes, data.inputs))


def test_unknown_generator_is_named():
    with pytest.raises(ValueError, match="'nope'"):
        build_splits("nope", 1, 1, 1, seed=0)
