"""Weights and checkpoints as safetensors: round trips, files other tools read, atomic writes;
the pickles of older runs still load, and a malicious one runs nothing."""

import ast
import errno
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from seqlab.experiments.classify import RunClassifier
from seqlab.experiments.tracking.logged_runs import read_logged_run
from seqlab.experiments.training.checkpoints import load_checkpoint, save_checkpoint
from seqlab.models.legacy_pickle import UnsafePickleError
from seqlab.models.weights import WeightsFileError, load_tree, load_weights, save_tree, save_weights
from seqlab.paths import checkout_root

PREVIOUS_RELEASE = Path(__file__).parent / "fixtures" / "previous_release"


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_weights_round_trip_and_any_safetensors_reader_opens_them(tmp_path):
    weights = {"out_W": np.arange(6.0).reshape(2, 3), "out_b": np.zeros(3, dtype=np.float32)}
    save_weights(weights, tmp_path / "weights.safetensors")
    for loaded in (load_weights(tmp_path / "weights.safetensors"), load_file(tmp_path / "weights.safetensors")):
        assert set(loaded) == set(weights)
        for name in weights:
            np.testing.assert_array_equal(loaded[name], weights[name])
            assert loaded[name].dtype == weights[name].dtype


def test_a_tree_round_trips_with_its_numbers_strings_and_big_integers(tmp_path):
    tree = {
        "params": {"W": np.ones((2, 2), dtype=np.float32)},
        "steps": np.array(3.0),
        "rng": {"bit_generator": "PCG64", "state": {"state": 2**127 + 5, "inc": 7}},
        "metrics": {"val_loss": float("nan"), "epoch": 4},
        "nothing": None,
        "order": [1, "a", np.zeros(2)],
    }
    save_tree(tree, tmp_path / "tree.safetensors")
    loaded = load_tree(tmp_path / "tree.safetensors")
    assert loaded["rng"] == tree["rng"] and loaded["nothing"] is None and loaded["metrics"]["epoch"] == 4
    assert np.isnan(loaded["metrics"]["val_loss"])
    np.testing.assert_array_equal(loaded["params"]["W"], tree["params"]["W"])
    assert loaded["steps"].shape == () and loaded["order"][:2] == [1, "a"]


def test_a_file_that_is_not_safetensors_is_named(tmp_path):
    path = tmp_path / "weights.safetensors"
    path.write_text("not weights\n")
    with pytest.raises(WeightsFileError, match=f"{path}: not a safetensors file"):
        load_weights(path)


def test_a_run_logged_by_the_previous_release_loads_and_predicts_as_it_did():
    run = read_logged_run(PREVIOUS_RELEASE)
    expected = pd.read_csv(PREVIOUS_RELEASE / "predictions.csv")
    table = RunClassifier(run).classify_raw([s.split() for s in expected["sequence"]], 10)
    assert list(table["predicted_name"]) == list(expected["predicted_name"])
    np.testing.assert_allclose(table.filter(like="proba_"), expected.filter(like="proba_"), atol=1e-6)


def test_a_checkpoint_of_the_previous_release_loads_and_saves_as_safetensors(tmp_path):
    old = load_checkpoint(PREVIOUS_RELEASE / "checkpoint.pkl")
    save_checkpoint(old, tmp_path / "checkpoint.safetensors")
    new = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert (new.run_id, new.progress.epoch, new.shuffle_rng) == (old.run_id, 2, old.shuffle_rng)
    assert new.progress.best_metrics == old.progress.best_metrics
    for name, value in old.model_state["optimizer"].items():
        np.testing.assert_array_equal(new.model_state["optimizer"][name], value)


def test_a_malicious_old_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    for name, load in (("weights.pkl", load_weights), ("checkpoint.pkl", load_checkpoint)):
        path = tmp_path / name
        path.write_bytes(pickle.dumps({"run_id": "x", "out_W": RunsCode(marker)}))
        with pytest.raises(UnsafePickleError, match=r"refusing to load (posix|os)\.system"):
            load(path)
    assert not marker.exists()


def test_an_old_pickle_of_something_else_is_refused(tmp_path):
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps(["not", "a", "dict"]))
    with pytest.raises(WeightsFileError, match="expected a dict of NumPy arrays"):
        load_weights(path)


def test_a_failed_write_leaves_the_previous_file_and_no_temporary_one(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.safetensors"
    save_tree({"epoch": 1}, path)

    def disk_full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_tree({"epoch": 2}, path)
    assert load_tree(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.safetensors"]


def test_pickle_is_imported_only_by_the_reader_of_old_runs_and_the_compile_cache():
    # The compile cache's rewritten graphs lie beside the C modules PyTensor loads from there:
    # no file of a run is unpickled but by the restricted reader.
    importers = []
    for path in sorted((checkout_root() / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n.split(".")[0] in ("pickle", "cloudpickle", "dill", "joblib") for n in names):
                importers.append(path.relative_to(checkout_root()).as_posix())
    assert importers == ["src/models/compiling.py", "src/models/legacy_pickle.py"]
