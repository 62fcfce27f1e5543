"""weights.pkl: a round trip of NumPy arrays, and a refusal of anything that could run code."""

import errno
import os
import pickle

import numpy as np
import pytest

from seqlab.experiments.training.checkpoints import load_checkpoint
from seqlab.models.weights import UnsafeWeightsError, load_pickle, load_weights, save_pickle, save_weights


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_weights_round_trip(tmp_path):
    weights = {"out_W": np.arange(6.0).reshape(2, 3), "out_b": np.zeros(3, dtype=np.float32)}
    save_weights(weights, tmp_path / "weights.pkl")
    loaded = load_weights(tmp_path / "weights.pkl")
    assert set(loaded) == set(weights)
    for name in weights:
        np.testing.assert_array_equal(loaded[name], weights[name])
        assert loaded[name].dtype == weights[name].dtype


def test_a_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps({"out_W": RunsCode(marker)}))
    with pytest.raises(UnsafeWeightsError, match=r"refusing to load (posix|os)\.system"):
        load_weights(path)
    assert not marker.exists()


def test_a_pickle_of_something_else_is_refused(tmp_path):
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(["not", "a", "dict"]))
    with pytest.raises(UnsafeWeightsError, match="expected a dict of NumPy arrays"):
        load_weights(path)


def test_a_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.pkl"
    path.write_bytes(pickle.dumps({"run_id": "x", "model_state": {"params": RunsCode(marker)}}))
    with pytest.raises(UnsafeWeightsError, match=r"refusing to load (posix|os)\.system"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_failed_write_leaves_the_previous_file_and_no_temporary_one(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pkl"
    save_pickle({"epoch": 1}, path)

    def disk_full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_pickle({"epoch": 2}, path)
    assert load_pickle(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pkl"]
