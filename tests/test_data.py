"""The parity generator and the splits built from it."""

import numpy as np
import pytest

from src.data.parity import parity_dataset
from src.data.registry import build_splits


def test_parity_label_is_the_parity_of_the_bits():
    data = parity_dataset(300, length=9, seed=4)
    bits = data.inputs.argmax(axis=2)
    np.testing.assert_array_equal(data.inputs.sum(axis=2), 1)  # one-hot
    np.testing.assert_array_equal(data.labels, bits.sum(axis=1) % 2)
    assert data.mask.shape == (300, 9) and data.mask.min() == 1
    assert abs(data.labels.mean() - 0.5) < 0.1


def test_parity_is_seeded():
    a, b, c = (parity_dataset(50, length=6, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.inputs, b.inputs)
    assert not np.array_equal(a.inputs, c.inputs)


def test_splits_are_consecutive_parts_of_one_seeded_draw():
    splits = build_splits("parity", 30, 20, 10, seed=5, length=12)
    whole = parity_dataset(60, length=12, seed=5)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (30, 20, 10)
    assert (splits.num_features, splits.num_classes) == (2, 2)
    np.testing.assert_array_equal(splits.train.inputs, whole.inputs[:30])
    np.testing.assert_array_equal(splits.validation.labels, whole.labels[30:50])
    np.testing.assert_array_equal(splits.test.inputs, whole.inputs[50:])


def test_minibatches_cover_every_sequence_once():
    data = parity_dataset(23, length=4, seed=0)
    batches = list(data.batches(5, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([b.inputs.reshape(len(b), -1) for b in batches])
    assert sorted(map(bytes, seen)) == sorted(map(bytes, data.inputs.reshape(23, -1)))


def test_unknown_generator_is_named():
    with pytest.raises(ValueError, match="'nope'"):
        build_splits("nope", 1, 1, 1, seed=0)
