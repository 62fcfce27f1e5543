"""The cache of rewritten graphs: a function made from a cached graph computes and updates what a
fresh compile of its own graph does, and a graph that differs never gets another graph's entry."""

import logging
import os
import subprocess
import sys

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.scalar.basic import Composite

from seqlab.experiments.training.builders import default_network_spec, default_optimizer_spec
from seqlab.models import compiling
from seqlab.models.classifier import SequenceClassifier
from seqlab.models.compiling import COMPILE_MODE, compile_function
from seqlab.models.network import init_network_params
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def graph_cache(tmp_path, monkeypatch):
    """An empty cache of rewritten graphs for this test; ``graph_cache(name)`` moves it to a
    new empty folder."""

    def use(name: str = "graphs"):
        folder = tmp_path / name
        monkeypatch.setattr(compiling, "rewritten_graphs_dir", lambda: folder)
        return folder

    use()
    return use


def classifier(model: str, dtype: str, seed: int) -> SequenceClassifier:
    """A small two-layer classifier with dropout (a random generator among its shared variables)."""
    spec = default_network_spec(3, 4, model=model, hidden_size=5, num_layers=2, dropout=0.3)
    optimizer = default_optimizer_spec("adam", lr=0.05, clip_norm=1.0)
    return SequenceClassifier(spec, init_network_params(spec, seed=seed), optimizer, dtype=dtype, seed=seed)


def train(model: SequenceClassifier, steps: int = 3) -> list[list[float]]:
    """``steps`` train steps on fixed random batches; their outputs."""
    rng = np.random.default_rng(7)
    outputs = []
    for _ in range(steps):
        inputs, mask = rng.normal(size=(6, 5, 4)).astype(model.dtype), np.ones((6, 5), dtype=model.dtype)
        outputs.append([float(v) for v in model.train_step(inputs, mask, rng.integers(0, 3, size=6).astype("int32"))])
    return outputs


def fused_inner_graphs(model: SequenceClassifier) -> list[str]:
    """The inner graph of every fused element-wise Op (``Composite``) of ``model``'s train step,
    node by node: what decides their C code."""
    nodes = model.train_step.maker.fgraph.toposort()
    return [
        str(node.op.scalar_op.fgraph.toposort())
        for node in nodes
        if isinstance(getattr(node.op, "scalar_op", None), Composite)
    ]


WRITER = """
import pathlib, sys
from seqlab.engine import set_float_dtype
from seqlab.models import compiling
compiling.rewritten_graphs_dir = lambda: pathlib.Path(sys.argv[1])
from tests.test_compiling import classifier
set_float_dtype(sys.argv[3])
_ = classifier(sys.argv[2], sys.argv[3], seed=0).train_step
"""


@pytest.mark.parametrize(("model", "dtype"), [("elman", "float64"), ("lstm", "float32")])
def test_a_train_step_from_the_cache_trains_its_own_weights_as_a_fresh_compile_does(
    model, dtype, graph_cache, caplog, monkeypatch
):
    # Written by another process (with another hash seed and compile history), read by this one;
    # floatX, part of the key, is the model's dtype in both, as in a run.
    monkeypatch.setattr(pytensor.config, "floatX", dtype)
    env = os.environ | {"PYTHONHASHSEED": "0"}
    writer = [sys.executable, "-c", WRITER, graph_cache(), model, dtype]
    subprocess.run(writer, cwd=PROJECT_ROOT, env=env, check=True, timeout=600)
    assert len(list(graph_cache().glob("train_step-*.pkl"))) == 1
    caplog.set_level(logging.DEBUG, logger=compiling.__name__)
    bystander = classifier(model, dtype, seed=2)
    _ = bystander.train_step
    untouched = bystander.get_weights()
    cached = classifier(model, dtype, seed=1)  # other weights: the same graph
    trained_from_cache = train(cached)
    assert caplog.text.count("train_step: rewritten graph from") == 2
    graph_cache("empty")
    fresh = classifier(model, dtype, seed=1)
    assert train(fresh) == trained_from_cache
    # A miss makes its function as the hits do, so that they share every C module.
    assert fused_inner_graphs(fresh) == fused_inner_graphs(cached)
    for name, value in fresh.get_weights().items():
        np.testing.assert_array_equal(cached.get_weights()[name], value)
        assert not np.array_equal(value, classifier(model, dtype, seed=1).get_weights()[name]), name
        np.testing.assert_array_equal(bystander.get_weights()[name], untouched[name])


def test_graphs_that_differ_in_a_constant_or_a_dtype_get_entries_of_their_own(graph_cache):
    x = pt.vector("x", dtype="float64")
    results = {}
    for dtype in ("float64", "float32"):
        for constant in (2.0, 3.0):
            w = pytensor.shared(np.ones(3, dtype=dtype), name="w")
            f = compile_function([x], (x * w + constant).astype(dtype), COMPILE_MODE, "probe", updates=[(w, w + 1)])
            results[dtype, constant] = f(np.arange(3.0).astype(x.dtype)), w.get_value()
    assert len(list(graph_cache().glob("probe-*.pkl"))) == 4
    for (dtype, constant), (value, updated) in results.items():
        assert value.dtype == dtype and updated.dtype == dtype
        np.testing.assert_array_equal(value, np.arange(3.0) + constant)
        np.testing.assert_array_equal(updated, 2.0)


def test_a_damaged_entry_is_rewritten_again(graph_cache, caplog):
    x = pt.vector("x", dtype="float64")
    w = pytensor.shared(np.ones(3), name="w")
    _ = compile_function([x], x * w, COMPILE_MODE, "probe")
    (entry,) = graph_cache().glob("probe-*.pkl")
    entry.write_bytes(entry.read_bytes()[:100])
    w.set_value(np.full(3, 4.0))
    f = compile_function([x], x * w, COMPILE_MODE, "probe")
    assert f"the cached rewritten graph {entry} cannot be read" in caplog.text
    np.testing.assert_array_equal(f(np.ones(3)), 4.0)
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger=compiling.__name__)
    np.testing.assert_array_equal(compile_function([x], x * w, COMPILE_MODE, "probe")(np.ones(3)), 4.0)
    assert "probe: rewritten graph from" in caplog.text
