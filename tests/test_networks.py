"""The recurrent networks: gradients against finite differences, outputs against NumPy,
masking and padding, dropout, initialisation."""

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytensor.tensor.blas import Dot22, Dot22Scalar
from pytensor.tensor.math import Sum

from seqlab.data.dataset import SequenceDataset
from seqlab.experiments.config.model import model_options
from seqlab.experiments.training.builders import class_weights, default_network_spec, default_optimizer_spec
from seqlab.experiments.training.runner import evaluate
from seqlab.models import fused_conv
from seqlab.models.cells import lstm, lstm_kernels
from seqlab.models.classifier import SequenceClassifier
from seqlab.models.dropout import Dropout
from seqlab.models.fused import FusedRecurrence, FusedRecurrenceGrad
from seqlab.models.fused_conv import ConvNorm
from seqlab.models.initializers import glorot_uniform, orthogonal
from seqlab.models.losses import cross_entropy, training_loss
from seqlab.models.network import NetworkSpec, count_parameters, init_network_params, network_logits, param_shapes
from seqlab.models.numpy_matmul import NumpyMatmul, numpy_affine
from tests.reference import batch_norm_numpy, conv1d_numpy, log_softmax_numpy, network_logits_numpy

BATCH, TIME, FEATURES, HIDDEN, CLASSES, VOCAB = 4, 6, 3, 4, 3, 5
IMPLEMENTATIONS = ("fused", "scan")

# Every cell and every pooling, stacked and bidirectional, the convolution branch and a strided
# convolution front-end, plus a token/embedding network.
VARIANTS = {
    "elman-2x-bidir-max-fcn-branch": dict(
        model="elman",
        hidden_size=HIDDEN,
        num_layers=2,
        bidirectional=True,
        pooling="max",
        conv={"filters": [3, 2], "kernels": [5, 3], "layout": "branch"},
    ),
    "lstm-2x-bidir-mean": dict(model="lstm", hidden_size=HIDDEN, num_layers=2, bidirectional=True, pooling="mean"),
    "gru-2x-bidir-attention": dict(
        model="gru", hidden_size=HIDDEN, num_layers=2, bidirectional=True, pooling="attention", attention_size=3
    ),
    "gru-residual-conv-frontend-stride-dilation": dict(
        model="gru",
        hidden_size=HIDDEN,
        conv={
            "filters": [3, 3],
            "kernels": [3, 3],
            "strides": [2, 1],
            "dilations": [1, 2],
            "residual": True,
            "layout": "frontend",
        },
        pooling="mean",
    ),
    "elman-relu-tokens": dict(
        model="elman", activation="relu", hidden_size=HIDDEN, vocab_size=VOCAB, embedding_dim=3, pooling="last"
    ),
    "cnn-series-widths-1-4": dict(model="cnn", filters=2, widths=[1, 4]),
    "cnn-tokens-widths-2-3": dict(model="cnn", filters=2, widths=[2, 3], vocab_size=VOCAB, embedding_dim=3),
    "bag-bigrams-hidden": dict(model="bag", bigram_buckets=7, hidden_size=3, vocab_size=VOCAB, embedding_dim=3),
}
# Options that make an encoder small enough for finite differences (one registered elsewhere is
# tested with its defaults).
SMALL = {
    "rnn": {"hidden_size": HIDDEN},
    "fcn": {"conv": {"filters": [3, 2], "kernels": [5, 3]}},
    "resnet": {"conv": {"filters": [3, 2], "kernels": [3, 1, 3]}},
}


def network_specs() -> dict[str, NetworkSpec]:
    """``VARIANTS``, and one small network of every option of the model group that none of
    them uses (an encoder, or a cell registered since): the tests below run on every
    registered cell and encoder."""
    covered = {variant["model"] for variant in VARIANTS.values()}
    generated = {
        f"{option}-small": {"model": option, **SMALL.get(encoder.name, {})}
        for option, (encoder, _) in model_options().items()
        if option not in covered
    }
    return {
        name: default_network_spec(CLASSES, 0 if "vocab_size" in options else FEATURES, **options)
        for name, options in (VARIANTS | generated).items()
    }


SPECS = network_specs()


def with_implementation(spec: NetworkSpec, implementation: str | None) -> NetworkSpec:
    """``spec`` on the fused or the scan path (None: a network without recurrent layers)."""
    if implementation is None:
        return spec
    return dataclasses.replace(spec, options=dataclasses.replace(spec.options, implementation=implementation))


def implementations(name: str) -> tuple[str | None, ...]:
    """The paths a network can take: fused and scan where it has recurrent layers."""
    return IMPLEMENTATIONS if hasattr(SPECS[name].options, "implementation") else (None,)


def random_batch(spec: NetworkSpec, seed: int, time: int = TIME):
    """Inputs (features or tokens), a right-padded mask of random lengths in [1, time], labels."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, time + 1, size=BATCH)
    lengths[0] = time  # one full-length sequence, one of length 1
    lengths[1] = 1
    mask = (np.arange(time)[None, :] < lengths[:, None]).astype("float64")
    if spec.vocab_size is not None:
        inputs = (rng.integers(1, spec.vocab_size, size=(BATCH, time)) * mask).astype("int32")
    else:
        inputs = rng.standard_normal((BATCH, time, FEATURES)) * mask[:, :, None]
    labels = rng.integers(0, CLASSES, size=BATCH).astype("int32")
    return inputs, mask, labels


def make_model(spec: NetworkSpec, mode: str = "CVM") -> SequenceClassifier:
    params = init_network_params(spec, seed=3)
    rng = np.random.default_rng(7)
    for name in params:  # batch norm as after some training, not the identity it starts as
        if name.endswith(("_gamma", "_var")):
            params[name] = rng.uniform(0.5, 2.0, params[name].shape)
        elif name.endswith(("_beta", "_mean")):
            params[name] = rng.normal(0.0, 0.5, params[name].shape)
    return SequenceClassifier(spec, params, default_optimizer_spec(), dtype="float64", mode=mode)


@pytest.fixture(
    scope="module",
    params=[(name, impl) for name in SPECS for impl in implementations(name)],
    ids=[f"{name}-{impl}" if impl else name for name in SPECS for impl in implementations(name)],
)
def spec(request) -> NetworkSpec:
    name, implementation = request.param
    return with_implementation(SPECS[name], implementation)


@pytest.fixture(scope="module")
def model(spec) -> SequenceClassifier:
    """A float64 classifier on the C backend, compiled once per spec."""
    return make_model(spec)


def assert_gradients_match_finite_differences(f, params: dict, args, samples: int = 8) -> None:
    """Check ``f(*args) -> [loss, *gradients of params, ...]`` against central differences of
    the loss, at up to ``samples`` random elements of each parameter (shared variables by name)."""
    grads = f(*args)[1 : 1 + len(params)]
    rng = np.random.default_rng(1)
    eps = 1e-6
    for (name, shared), grad in zip(params.items(), grads, strict=True):
        value = shared.get_value()
        sampled = [
            np.unravel_index(flat, value.shape)
            for flat in rng.choice(value.size, size=min(value.size, samples), replace=False)
        ]
        numeric = []
        for index in sampled:
            losses = []
            for step in (eps, -eps):
                bumped = value.copy()
                bumped[index] += step
                shared.set_value(bumped)
                losses.append(f(*args)[0])
            shared.set_value(value)
            numeric.append((losses[0] - losses[1]) / (2 * eps))
        analytic = np.array([grad[index] for index in sampled])
        numeric = np.array(numeric)
        error = np.linalg.norm(analytic - numeric) / (np.linalg.norm(analytic) + np.linalg.norm(numeric))
        assert error < 1e-6, f"{name}: relative error {error:.2e} ({analytic} vs {numeric})"
    assert all(np.abs(g).max() > 0 for g in grads), "every parameter should get a gradient"


def test_gradient_matches_finite_differences(spec):
    # The gradient graph is checked in FAST_COMPILE (the graph, not the C kernels, is under
    # test here; the forward test below and the training tests run the C backend).
    model = make_model(spec, mode="FAST_COMPILE")
    f = pytensor.function(
        [model.inputs, model.mask, model.labels],
        [model.loss, *pytensor.grad(model.loss, list(model.params.values()))],
        mode="FAST_COMPILE",
    )
    assert_gradients_match_finite_differences(f, model.params, random_batch(spec, seed=0))


def test_forward_matches_numpy_reference(spec, model):
    inputs, mask, _ = random_batch(spec, seed=1)
    expected = log_softmax_numpy(network_logits_numpy(spec, model.get_weights(), inputs, mask))
    np.testing.assert_allclose(model.log_proba(inputs, mask), expected, rtol=0, atol=1e-10)


def test_padding_with_masked_steps_changes_nothing(spec, model):
    inputs, mask, _ = random_batch(spec, seed=2)
    extra = 3
    padding = np.ones((BATCH, extra), dtype=inputs.dtype)
    padded_inputs = np.concatenate(
        [inputs, padding if spec.vocab_size else padding[:, :, None].repeat(FEATURES, 2)], axis=1
    )
    padded_mask = np.concatenate([mask, np.zeros((BATCH, extra))], axis=1)
    np.testing.assert_allclose(model.log_proba(padded_inputs, padded_mask), model.log_proba(inputs, mask), atol=1e-12)


@pytest.mark.parametrize("name", [name for name in SPECS if implementations(name) == IMPLEMENTATIONS])
def test_fused_matches_scan_in_values_and_gradients(name):
    models = [make_model(with_implementation(SPECS[name], i), mode="FAST_COMPILE") for i in IMPLEMENTATIONS]
    inputs, mask, labels = random_batch(SPECS[name], seed=5, time=9)
    results = [loss_and_gradients(model, (inputs, mask, labels)) for model in models]
    for fused, scanned in zip(*results, strict=True):
        np.testing.assert_allclose(fused, scanned, rtol=1e-10, atol=1e-12)


def loss_and_gradients(model: SequenceClassifier, batch) -> list[np.ndarray]:
    params = list(model.params.values())
    f = pytensor.function(
        [model.inputs, model.mask, model.labels],
        [model.logits, *pytensor.grad(model.loss, params)],
        mode="FAST_COMPILE",
    )
    return f(*batch)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_the_dimension_shuffle_reads_each_channel_as_one_step_of_its_values_over_time(implementation):
    # LSTM-FCN's dimension shuffle: the network on series (batch, time, channels) is the same
    # network without it on the transposed series, channels steps of time features, in values
    # and gradients; with the convolution branch beside it, its gradient against finite differences.
    options = dict(model="lstm", hidden_size=HIDDEN, implementation=implementation)
    shuffled = make_model(
        default_network_spec(CLASSES, FEATURES, steps=TIME, dimension_shuffle=True, **options), mode="FAST_COMPILE"
    )
    plain = make_model(default_network_spec(CLASSES, TIME, **options), mode="FAST_COMPILE")
    assert param_shapes(shuffled.spec) == param_shapes(plain.spec)
    assert param_shapes(shuffled.spec)["rnn0_fwd_W"] == (TIME, 4 * HIDDEN)
    rng = np.random.default_rng(4)
    inputs, labels = rng.standard_normal((BATCH, TIME, FEATURES)), rng.integers(0, CLASSES, BATCH).astype("int32")
    got = loss_and_gradients(shuffled, (inputs, np.ones((BATCH, TIME)), labels))
    want = loss_and_gradients(plain, (inputs.transpose(0, 2, 1), np.ones((BATCH, FEATURES)), labels))
    for value, expected in zip(got, want, strict=True):
        np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-14)

    branch = default_network_spec(
        CLASSES, FEATURES, steps=TIME, dimension_shuffle=True, conv={"filters": [3], "kernels": [3]}, **options
    )
    model = make_model(branch, mode="FAST_COMPILE")
    f = pytensor.function(
        [model.inputs, model.mask, model.labels],
        [model.loss, *pytensor.grad(model.loss, list(model.params.values()))],
        mode="FAST_COMPILE",
    )
    assert_gradients_match_finite_differences(f, model.params, (inputs, np.ones((BATCH, TIME)), labels))


def test_float32_lstm_kernels_match_the_float64_scan_reference():
    # float32 LSTMs run compiled kernels (seqlab.models.cells.lstm_kernels: the whole time loop,
    # with an approximate tanh) in the fused Ops; the reference is the float64 scan. Two
    # bidirectional layers; padded rows, a step padded in every sequence and a gap inside
    # sequences (the states carry over it) are included.
    spec = SPECS["lstm-2x-bidir-mean"]
    weights = init_network_params(spec, seed=3)
    inputs, mask, labels = random_batch(spec, seed=6, time=9)
    mask[:, -1] = 0
    mask[0, 3] = mask[2, 1] = 0
    results = []
    for dtype, implementation in (("float32", "fused"), ("float64", "scan")):
        model = SequenceClassifier(
            with_implementation(spec, implementation),
            {k: v.astype(dtype) for k, v in weights.items()},
            dtype=dtype,
        )
        results.append(loss_and_gradients(model, (inputs.astype(dtype), mask.astype(dtype), labels)))
    for single, double in zip(*results, strict=True):
        assert single.dtype == np.float32
        np.testing.assert_allclose(single, double, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("batch", [1, 5])
def test_the_compiled_lstm_time_loop_matches_the_loop_over_step_kernels(batch):
    # The whole float32 time loop (its products on NumPy's BLAS, called from compiled code) is
    # what the float32 test above and training run; the Python loop over the same step
    # kernels is the fallback for NumPy builds without that BLAS. Same kernels, same products:
    # equal up to the BLAS's choice of summation order (a vector product at batch 1).
    assert lstm_kernels.numpy_blas_linked(), "NumPy's wheel ships scipy-openblas64: the compiled loop must run here"
    rng = np.random.default_rng(batch)
    steps, hidden = 7, 8
    xw = rng.standard_normal((steps, batch, 4 * hidden)).astype("float32")
    U = (0.5 * rng.standard_normal((hidden, 4 * hidden))).astype("float32")
    mask = np.ones((steps, batch), "float32")
    mask[-2:, 0] = 0  # a shorter sequence
    mask[3] = 0  # a step padded in every sequence
    g_hs = rng.standard_normal((steps, batch, hidden)).astype("float32")
    options = lstm.LSTMOptions()
    results = []
    for whole_loop in (True, False):
        hs, cache = lstm.forward(xw, mask, U, options, whole_loop=whole_loop)
        results.append((hs, cache, *lstm.backward(xw, mask, U, hs, cache, g_hs, options, whole_loop=whole_loop)))
    for compiled, stepwise in zip(*results, strict=True):
        assert compiled.dtype == np.float32
        np.testing.assert_allclose(compiled, stepwise, rtol=1e-5, atol=1e-6)
    hs = results[0][0]
    np.testing.assert_array_equal(hs[3], hs[2], err_msg="a padded step carries the state over")
    np.testing.assert_array_equal(hs[-1, 0], hs[-3, 0])


@given(st.floats(-20, 20, width=32))
def test_the_kernels_tanh_is_within_float32_rounding(x):
    exact = np.tanh(np.float64(x))
    assert abs(float(lstm_kernels._tanh(np.float32(x))) - exact) <= 3e-7 * max(abs(exact), 1e-3)


def test_the_kernels_carry_nan_through_so_that_a_diverged_run_is_caught():
    # fastmath without its no-NaN/no-inf assumptions: a clamp could otherwise turn NaN into 1.
    assert np.isnan(lstm_kernels._tanh(np.float32("nan")))
    rng = np.random.default_rng(0)
    xw, mask = rng.standard_normal((3, 2, 8)).astype("float32"), np.ones((3, 2), "float32")
    U = rng.standard_normal((2, 8)).astype("float32")
    U[0, 5] = np.nan  # one diverged recurrent weight (into gate g of unit 1; 0 * NaN is NaN)
    hs, cache = lstm.forward(xw, mask, U, lstm.LSTMOptions())
    assert np.isnan(hs[0, :, 1]).all() and np.isnan(hs[1:]).all(), "unit 1 at once, then every unit"
    g_xw, g_U = lstm.backward(xw, mask, U, hs, cache, np.ones_like(hs), lstm.LSTMOptions())
    assert np.isnan(g_xw[:-1]).any() and np.isnan(g_U).any()


def test_a_compiled_train_step_runs_each_fused_recurrence_and_matrix_product_once():
    spec = default_network_spec(3, 4, model="lstm", hidden_size=5, bidirectional=True, num_layers=2)
    model = SequenceClassifier(spec, init_network_params(spec, seed=0), default_optimizer_spec())
    nodes = model.train_step.maker.fgraph.toposort()
    ops = [type(node.op) for node in nodes]
    assert ops.count(FusedRecurrence) == 4, "one forward pass per layer and direction"
    assert ops.count(FusedRecurrenceGrad) == 4
    # The gradient-clipping norm and the update share each weight gradient's product.
    products = [tuple(node.inputs[:2]) for node in nodes if isinstance(node.op, Dot22 | Dot22Scalar | NumpyMatmul)]
    assert products and len(products) == len(set(products))
    # The recurrent biases' gradients are rows of their input projections' weight gradient
    # products (``numpy_affine``): the only sum over rows is the output layer's bias's.
    sums_over_rows = [node for node in nodes if isinstance(node.op, Sum) and node.op.axis == (0,)]
    assert len(sums_over_rows) == 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_affine_product_adds_its_bias_inside_the_product_with_numpys_gradients(dtype):
    rng = np.random.default_rng(3)
    x_value, W_value, b_value, g_value = (
        rng.standard_normal(shape).astype(dtype) for shape in ((7, 3), (3, 5), (5,), (7, 5))
    )
    x, W, b = pt.matrix("x", dtype=dtype), pt.matrix("W", dtype=dtype), pt.vector("b", dtype=dtype)
    y = numpy_affine(x, W, b)
    f = pytensor.function([x, W, b], [y, *pytensor.grad((y * g_value).sum(), [x, W, b])], mode="FAST_COMPILE")
    y_out, g_x, g_W, g_b = f(x_value, W_value, b_value)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    expected = [x_value @ W_value + b_value, g_value @ W_value.T, x_value.T @ g_value, g_value.sum(axis=0)]
    for out, reference in zip((y_out, g_x, g_W, g_b), expected, strict=True):
        assert out.dtype == dtype
        np.testing.assert_allclose(out, reference, rtol=rtol, atol=rtol)


def test_a_sweep_over_hyper_parameters_compiles_its_train_step_once():
    # Every number a sweep varies is a shared variable: new values reuse the compiled modules.
    def compile_train_step(dropout: float, hyperparams: dict[str, float]) -> None:
        spec = default_network_spec(3, 4, model="elman", hidden_size=5, num_layers=2, dropout=dropout)
        warmup = hyperparams.pop("warmup_epochs")
        schedule = {"name": "cosine", "warmup_epochs": warmup}
        optimizer = default_optimizer_spec("sgd", nesterov=True, schedule=schedule, **hyperparams)
        _ = SequenceClassifier(spec, init_network_params(spec, seed=0), optimizer, dtype="float32").train_step

    def compiled_modules() -> set[str]:
        return {path.name for path in Path(pytensor.config.compiledir).glob("tmp*")}

    compile_train_step(0.1, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, "clip_norm": 0.0, "warmup_epochs": 0.0})
    before = compiled_modules()
    # Values new to the compile cache on every run: a number baked into the graph would need a
    # module of its own even when the cache is warm from earlier runs.
    new = [float(v) for v in np.random.default_rng().uniform(0.1, 0.5, size=5)]
    compile_train_step(
        new[0], {"lr": new[1], "momentum": new[2], "weight_decay": new[3], "clip_norm": 5.0, "warmup_epochs": new[4]}
    )
    assert compiled_modules() == before


def test_dropout_is_inverted_seeded_and_uses_its_rate():
    x = pt.matrix("x", dtype="float64")
    outputs = []
    for seed in (5, 5, 6):
        dropout = Dropout({"between": 0.25}, seed=seed, dtype="float64")
        f = pytensor.function([x], dropout(x, "between"), updates=dropout.updates, mode="FAST_COMPILE")
        outputs.append(f(np.ones((200, 200))))
    first = outputs[0]
    assert set(np.unique(first)) == {0.0, 1 / 0.75}
    assert abs((first == 0).mean() - 0.25) < 0.01
    np.testing.assert_array_equal(first, outputs[1])
    assert not np.array_equal(first, outputs[2])
    dropout.rates["between"].set_value(0.0)
    np.testing.assert_array_equal(f(np.ones((3, 3))), np.ones((3, 3)))


@pytest.mark.parametrize("where", ["dropout", "input_dropout", "output_dropout"])
def test_dropout_acts_in_training_only(where):
    options = {"model": "elman", "hidden_size": HIDDEN, "num_layers": 2}
    plain_spec = default_network_spec(CLASSES, FEATURES, **options)
    spec = default_network_spec(CLASSES, FEATURES, **options, **{where: 0.5})
    model, plain = (make_model(s, mode="FAST_COMPILE") for s in (spec, plain_spec))
    inputs, mask, labels = random_batch(spec, seed=4)
    np.testing.assert_allclose(model.log_proba(inputs, mask), plain.log_proba(inputs, mask))
    for m in (model, plain):  # train steps that leave the weights as they are
        m.optimizer.hyper["lr"].set_value(0.0)
    with_dropout = [float(model.train_step(inputs, mask, labels)[0]) for _ in range(2)]
    without = [float(plain.train_step(inputs, mask, labels)[0]) for _ in range(2)]
    assert (
        without[0]
        == without[1]
        == pytest.approx(evaluate(plain, SequenceDataset(inputs, mask, labels), 8, "x")["x_loss"])
    )
    assert with_dropout[0] != pytest.approx(without[0])
    assert with_dropout[0] != with_dropout[1], "each step draws new masks"


def test_initialisers():
    rng = np.random.default_rng(0)
    recurrent = orthogonal(rng, 6, 6, 4, std=0.0)
    for block in np.split(recurrent, 4, axis=1):
        np.testing.assert_allclose(block.T @ block, np.eye(6), atol=1e-12)
    weights = glorot_uniform(rng, 10, 30, 1, std=0.0)
    assert np.abs(weights).max() <= np.sqrt(6 / 40) and weights.std() > 0.1


def test_parameters_shapes_and_gate_biases():
    spec = default_network_spec(
        CLASSES, model="lstm", hidden_size=HIDDEN, vocab_size=VOCAB, embedding_dim=3, padding_id=0, forget_bias=2.0
    )
    params = init_network_params(spec, seed=0)
    assert set(params) == {"embedding", "rnn0_fwd_W", "rnn0_fwd_U", "rnn0_fwd_b", "out_W", "out_b"}
    np.testing.assert_array_equal(params["embedding"][0], 0)
    np.testing.assert_array_equal(params["rnn0_fwd_b"][HIDDEN : 2 * HIDDEN], 2.0)
    np.testing.assert_array_equal(np.delete(params["rnn0_fwd_b"], np.s_[HIDDEN : 2 * HIDDEN]), 0)
    lstm_size = 4 * HIDDEN * (3 + HIDDEN + 1)
    assert count_parameters(params) == VOCAB * 3 + lstm_size + HIDDEN * CLASSES + CLASSES
    seeded = [init_network_params(spec, seed=[7, 1])["rnn0_fwd_U"] for _ in range(2)]
    np.testing.assert_array_equal(*seeded)
    assert not np.array_equal(seeded[0], init_network_params(spec, seed=[8, 1])["rnn0_fwd_U"])


def test_label_smoothing_and_class_weights_match_numpy_and_finite_differences():
    logits, labels = pt.dmatrix("logits"), pt.ivector("labels")
    smoothing, weights = 0.1, np.array([0.5, 2.0, 1.0])

    def constant(value):  # float64 whatever floatX an earlier test left
        return pt.as_tensor_variable(np.asarray(value, dtype="float64"))

    loss = training_loss(logits, labels, constant(smoothing), constant(weights))
    value = pytensor.function([logits, labels], loss, mode="CVM")
    gradient = pytensor.function([logits, labels], pytensor.grad(loss, logits), mode="CVM")
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((5, CLASSES)), np.array([0, 1, 2, 1, 0], dtype="int32")
    targets = (1 - smoothing) * np.eye(CLASSES)[y] + smoothing / CLASSES
    per_sequence = -(targets * log_softmax_numpy(x)).sum(axis=1)
    assert value(x, y) == pytest.approx((weights[y] * per_sequence).sum() / weights[y].sum(), rel=1e-12)
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = 1e-6
        numeric[index] = (value(x + step, y) - value(x - step, y)) / 2e-6
    np.testing.assert_allclose(gradient(x, y), numeric, rtol=1e-6, atol=1e-9)
    plain = training_loss(logits, labels, constant(0.0), constant(np.ones(CLASSES)))
    plain_value = pytensor.function([logits, labels], plain, mode="CVM")(x, y)
    assert plain_value == pytest.approx(-log_softmax_numpy(x)[range(5), y].mean(), rel=1e-12)


def test_balanced_class_weights_give_every_class_the_same_total_weight():
    labels = np.array([0] * 6 + [1] * 3 + [2] * 1, dtype="int32")
    splits = SimpleNamespace(train=SequenceDataset(np.zeros((10, 2, 1)), np.ones((10, 2)), labels), num_classes=3)
    weights = class_weights("balanced", splits)
    np.testing.assert_allclose(weights, [10 / 18, 10 / 9, 10 / 3])
    np.testing.assert_allclose(np.bincount(labels) * weights, [10 / 3] * 3)
    assert class_weights("none", splits) is None


def without_training_gradient(spec: NetworkSpec) -> tuple[str, ...]:
    """Parameters a training graph gives no gradient: batch norm's running statistics, and the
    convolution biases, which subtracting the batch mean cancels."""
    biases = [name.removesuffix("mean") + "b" for name in spec.running_stats if name.endswith("_mean")]
    return (*spec.running_stats, *biases)


def test_batch_norm_trains_on_the_batch_statistics_of_real_steps_and_tracks_them():
    spec = SPECS["elman-2x-bidir-max-fcn-branch"]
    model = make_model(spec, mode="FAST_COMPILE")
    statistics: list = []
    logits = network_logits(spec, model.params, model.inputs, model.mask, None, statistics)
    loss = cross_entropy(logits, model.labels)
    trained = {name: p for name, p in model.params.items() if name.startswith("conv")}
    trained = {name: p for name, p in trained.items() if name not in without_training_gradient(spec)}
    f = pytensor.function(
        [model.inputs, model.mask, model.labels],
        [loss, *pytensor.grad(loss, list(trained.values())), *(s.update()[1] for s in statistics)],
        mode="FAST_COMPILE",
    )
    inputs, mask, labels = random_batch(spec, seed=5)
    running = f(inputs, mask, labels)[1 + len(trained) :]
    # The first block's running statistics move towards its batch statistics over real steps.
    weights = {name: p.get_value() for name, p in model.params.items()}
    y, y_mask = conv1d_numpy(inputs, mask, weights["conv0_W"], weights["conv0_b"], 5, 1)
    real = y[y_mask > 0]
    momentum = spec.options.conv.momentum
    np.testing.assert_allclose(running[0], (1 - momentum) * weights["conv0_mean"] + momentum * real.mean(axis=0))
    np.testing.assert_allclose(running[1], (1 - momentum) * weights["conv0_var"] + momentum * real.var(axis=0))
    # Gradients of the training graph (batch statistics) against central differences.
    assert_gradients_match_finite_differences(f, trained, (inputs, mask, labels))


@pytest.mark.parametrize("batch_size", [BATCH, 3], ids=["one-batch", "batches-of-3"])
def test_recomputed_norm_statistics_are_the_training_data_statistics_of_the_current_weights(batch_size):
    # Precise BN: the running statistics become the training data's own under the kept weights;
    # in one batch exactly its statistics over real steps, in several the sequence-weighted
    # mean of each batch's. Checked on the first block, whose inputs no other statistic changes.
    spec = SPECS["elman-2x-bidir-max-fcn-branch"]
    model = make_model(spec, mode="FAST_COMPILE")
    inputs, mask, labels = random_batch(spec, seed=6)
    before = model.get_weights()
    model.recompute_norm_statistics(SequenceDataset(inputs, mask, labels), batch_size)
    after = model.get_weights()
    expected = {"conv0_mean": 0.0, "conv0_var": 0.0}
    for start in range(0, BATCH, batch_size):
        part = slice(start, start + batch_size)
        y, y_mask = conv1d_numpy(inputs[part], mask[part], before["conv0_W"], before["conv0_b"], 5, 1)
        real = y[y_mask > 0]
        share = len(inputs[part]) / BATCH
        expected["conv0_mean"] += share * real.mean(axis=0)
        expected["conv0_var"] += share * real.var(axis=0)
    for name, value in expected.items():
        np.testing.assert_allclose(after[name], value, rtol=1e-10, atol=1e-12)
    changed = {name for name in before if not np.array_equal(before[name], after[name])}
    assert changed == set(spec.running_stats), "only the running statistics change"


def test_variational_and_recurrent_dropout_masks_match_numpy_draws():
    """With ``variational`` a sequence's mask is drawn once for all its steps; the recurrent
    place drops elements of U. The masks are the generator's uniform draws in call order."""
    x, U = pt.tensor3("x", dtype="float64"), pt.matrix("U", dtype="float64")
    dropout = Dropout({"input": 0.3, "recurrent": 0.5}, seed=11, dtype="float64", variational=True)
    f = pytensor.function([x, U], [dropout(x, "input", time_axis=1), dropout(U, "recurrent")], mode="FAST_COMPILE")
    rng = np.random.default_rng(2)
    xs, Us = rng.standard_normal((BATCH, TIME, FEATURES)), rng.standard_normal((HIDDEN, 4 * HIDDEN))
    dropped_x, dropped_U = f(xs, Us)
    draws = np.random.default_rng(11)
    keep_x = draws.uniform(size=(BATCH, 1, FEATURES)) >= 0.3
    keep_U = draws.uniform(size=Us.shape) >= 0.5
    np.testing.assert_allclose(dropped_x, xs * keep_x / 0.7, rtol=1e-15)
    np.testing.assert_allclose(dropped_U, Us * keep_U / 0.5, rtol=1e-15)
    assert 0 < keep_x.mean() < 1 and 0 < keep_U.mean() < 1


def test_word_dropout_drops_whole_embedded_tokens_as_numpy_draws_say():
    x = pt.tensor3("x", dtype="float64")
    dropout = Dropout({"word": 0.4}, seed=3, dtype="float64", variational=True)
    f = pytensor.function([x], dropout(x, "word", time_axis=1), mode="FAST_COMPILE")
    xs = np.random.default_rng(4).standard_normal((BATCH, 50, FEATURES))
    keep = np.random.default_rng(3).uniform(size=(BATCH, 50, 1)) >= 0.4
    np.testing.assert_allclose(f(xs), xs * keep / 0.6, rtol=1e-15)
    assert 0.5 < keep.mean() < 0.7


def test_max_norm_rescales_the_output_columns_longer_than_it_after_each_step_as_numpy_does():
    spec = default_network_spec(CLASSES, FEATURES, model="cnn", filters=3, widths=[2], max_norm=0.5)
    params = init_network_params(spec, seed=1)
    params["out_W"][:, 0] *= 0.01  # one class's weights well within the norm: left as they are
    model = SequenceClassifier(
        spec, params, default_optimizer_spec("sgd", lr=0.5), dtype="float64", mode="FAST_COMPILE"
    )
    inputs, mask, labels = random_batch(spec, seed=5)
    names = list(model.params)
    grads = pytensor.function(
        [model.inputs, model.mask, model.labels],
        pytensor.grad(model.loss, list(model.params.values())),
        mode="FAST_COMPILE",
    )(inputs, mask, labels)
    expected = {name: params[name] - 0.5 * g for name, g in zip(names, grads, strict=True)}
    norms = np.linalg.norm(expected["out_W"], axis=0)
    assert norms[0] < 0.5 < norms[1:].min(), "one column inside the limit, the others beyond it"
    expected["out_W"] = expected["out_W"] * np.minimum(1, 0.5 / norms)
    model.train_step(inputs, mask, labels)
    for name in names:
        np.testing.assert_allclose(model.params[name].get_value(), expected[name], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(model.params["out_W"].get_value(), axis=0)[1:], 0.5)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_training_graph_gradients_with_every_dropout_kind_batch_norm_and_weighted_smoothed_loss(implementation):
    """The training loss (dropout at every place with fixed masks: no generator updates;
    variational masks; batch statistics in a residual, dilated convolution branch; label
    smoothing and class weights) against central differences, for every trained parameter."""
    spec = default_network_spec(
        CLASSES,
        FEATURES,
        model="lstm",
        hidden_size=HIDDEN,
        num_layers=2,
        input_dropout=0.2,
        dropout=0.3,
        recurrent_dropout=0.25,
        output_dropout=0.2,
        variational_dropout=True,
        conv={"filters": [2], "kernels": [3], "dilations": [2], "residual": True},
        implementation=implementation,
    )
    model = make_model(spec, mode="FAST_COMPILE")
    dropout = Dropout(spec.dropout_rates, seed=4, dtype="float64", variational=True)
    logits = network_logits(spec, model.params, model.inputs, model.mask, dropout, [])
    weights = pt.as_tensor_variable(np.array([0.5, 2.0, 1.0]))
    loss = training_loss(logits, model.labels, pt.as_tensor_variable(np.float64(0.1)), weights)
    trained = {name: p for name, p in model.params.items() if name not in without_training_gradient(spec)}
    f = pytensor.function(
        [model.inputs, model.mask, model.labels],
        [loss, *pytensor.grad(loss, list(trained.values()))],
        mode="FAST_COMPILE",
    )
    args = random_batch(spec, seed=6)
    assert f(*args)[0] != pytest.approx(evaluate(model, SequenceDataset(*args), 8, "x")["x_loss"])
    assert_gradients_match_finite_differences(f, trained, args)


@pytest.mark.parametrize("model", ["gru", "fcn", "resnet", "cnn", "bag"])
def test_a_float32_network_stays_float32_whatever_floatx_says(monkeypatch, model):
    """Every layer (convolution blocks with batch statistics, residual and dilation; every
    dropout kind; attention; the weighted, smoothed loss) builds a float32 training graph with
    float32 updates even when PyTensor's floatX is float64: no constant upcasts it. Likewise
    the convolutional encoders, and the text encoders with word dropout and max-norm."""
    monkeypatch.setattr(pytensor.config, "floatX", "float64")
    text = dict(vocab_size=VOCAB, embedding_dim=3, word_dropout=0.2, output_dropout=0.5, max_norm=3.0)
    spec = (
        default_network_spec(CLASSES, model="cnn", filters=2, widths=[2, 3], **text)
        if model == "cnn"
        else default_network_spec(CLASSES, model="bag", bigram_buckets=7, hidden_size=3, **text)
        if model == "bag"
        else SPECS[f"{model}-small"]
        if model != "gru"
        else default_network_spec(
            CLASSES,
            FEATURES,
            model="gru",
            hidden_size=HIDDEN,
            num_layers=2,
            input_dropout=0.1,
            dropout=0.1,
            recurrent_dropout=0.1,
            output_dropout=0.1,
            variational_dropout=True,
            pooling="attention",
            conv={
                "filters": [3, 2],
                "kernels": [3, 3],
                "strides": [2, 1],
                "dilations": [1, 2],
                "residual": True,
                "layout": "frontend",
            },
        )
    )
    params = init_network_params(spec, seed=0)
    model = SequenceClassifier(
        spec, params, default_optimizer_spec("adam", schedule={"name": "plateau"}), dtype="float32", label_smoothing=0.1
    )
    outputs, updates = model.training_graph()
    outputs = [*outputs, *(new for _, new in updates)]
    upcast = [v for v in pytensor.graph.traversal.ancestors(outputs) if getattr(v.type, "dtype", "") == "float64"]
    assert not upcast, f"float64 in a float32 graph: {upcast[:5]}"


def leaf_blocks(block, prefix: str = ""):
    """``(full prefix, block)`` of every block of the tree that is not a container."""
    children = getattr(block, "blocks", None)
    if children is None:
        yield prefix + block.prefix, block
        return
    for child in children:
        yield from leaf_blocks(child, prefix + block.prefix)


@pytest.mark.parametrize("name", list(SPECS))
def test_every_parameter_belongs_to_exactly_one_block_which_knows_its_shape(name):
    # Each block keeps its parameters under its own prefix, which reaches no other block's, and
    # says their shapes before making them (the memory estimate reads them).
    params = init_network_params(SPECS[name], seed=0)
    assert param_shapes(SPECS[name]) == {param: value.shape for param, value in params.items()}
    prefixes = [prefix for prefix, _ in leaf_blocks(SPECS[name].blocks) if prefix]
    owners = {param: [prefix for prefix in prefixes if param.startswith(prefix)] for param in params}
    assert all(len(found) == 1 for found in owners.values()), owners


def conv_norm_case(dtype: str, kernel: int, stride: int, dilation: int, seed: int = 0):
    """Inputs (batch 3, time 9, channels 2; the last sequence 5 steps long) and a block's
    weights (4 filters) for ``ConvNorm``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 9, 2))
    mask = np.ones((3, 9))
    mask[2, 5:] = 0
    W, b, gamma, beta, mean = (rng.standard_normal(shape) for shape in ((kernel * 2, 4), 4, 4, 4, 4))
    var = rng.uniform(0.5, 2.0, 4)
    return [v.astype(dtype) for v in (x, mask, W, b, gamma, beta, mean, var)]


@pytest.mark.parametrize("training", [True, False], ids=["batch-stats", "running-stats"])
@pytest.mark.parametrize("tail", ["relu", "linear", "residual"])
@pytest.mark.parametrize("geometry", [(3, 1, 1), (5, 2, 1), (3, 1, 2), (1, 2, 1), (4, 3, 2)], ids=str)
def test_fused_conv_block_matches_numpy_and_its_backward_matches_finite_differences(
    geometry, tail, training, monkeypatch
):
    """The fused Conv1D → batch norm (→ + residual → ReLU, or → ReLU) Op against the
    one-step-at-a-time NumPy convolution and batch norm (batch statistics of real steps, or
    the running ones), its batch statistics against NumPy's, and its hand-written backward
    pass against central differences (float64), for every input but the mask; float32 to
    rounding of float64."""
    kernel, stride, dilation = geometry
    # Windows gathered two float64 sequences at a time (chunks of 2 and 1 of the 3; float32 in one
    # chunk), so that the products and the weights' gradient are put together across chunks.
    monkeypatch.setattr(fused_conv, "CHUNK_BYTES", 2 * -(-9 // stride) * kernel * 2 * 8)
    relu, residual = tail != "linear", tail == "residual"
    op = ConvNorm(kernel, stride, dilation, relu, training, residual)
    inputs = conv_norm_case("float64", kernel, stride, dilation)
    x, mask, W, b, gamma, beta, mean, var = inputs
    y, out_mask = conv1d_numpy(x, mask, W, b, kernel, stride, dilation)
    real = y[out_mask > 0]
    stats = (real.mean(axis=0), real.var(axis=0)) if training else (mean, var)
    expected = batch_norm_numpy(y, out_mask, gamma, beta, *stats)
    if residual:  # a shortcut that is not zero on padded steps: they must stay zero
        shortcut = np.random.default_rng(5).standard_normal(expected.shape)
        inputs.append(shortcut)
        expected = expected + shortcut * out_mask[:, :, None]
    expected = np.maximum(expected, 0) if relu else expected
    symbols = [pt.tensor(dtype="float64", shape=(None,) * v.ndim) for v in inputs]
    outputs = op(*symbols)
    outputs = outputs if training else [outputs]
    f = pytensor.function(symbols, outputs, mode="FAST_COMPILE")
    found = f(*inputs)
    np.testing.assert_allclose(found[0], expected, rtol=1e-12, atol=1e-12)
    if training:
        np.testing.assert_allclose(found[1:3], stats, rtol=1e-12)
    # A loss that weighs every output differently, so that no error can cancel out.
    weights = np.random.default_rng(9).standard_normal(found[0].shape)
    loss = (outputs[0] * weights).sum()
    wrt = [s for i, s in enumerate(symbols) if i != 1]
    g = pytensor.function(symbols, pytensor.grad(loss, wrt), mode="FAST_COMPILE")
    analytic = g(*inputs)
    value = pytensor.function(symbols, loss, mode="FAST_COMPILE")
    eps = 1e-6
    for k, (index, grad) in enumerate(zip([i for i in range(len(inputs)) if i != 1], analytic, strict=True)):
        numeric = np.zeros_like(grad)
        for position in np.ndindex(grad.shape):
            plus, minus = [v.copy() for v in inputs], [v.copy() for v in inputs]
            plus[index][position] += eps
            minus[index][position] -= eps
            numeric[position] = (value(*plus) - value(*minus)) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7, err_msg=f"input {index} (#{k})")
    single = [v.astype("float32") for v in inputs]
    symbols32 = [pt.tensor(dtype="float32", shape=(None,) * v.ndim) for v in single]
    out32 = op(*symbols32)
    out32 = out32 if training else [out32]
    loss32 = (out32[0] * weights.astype("float32")).sum()
    grads32 = pytensor.grad(loss32, [s for i, s in enumerate(symbols32) if i != 1])
    g32 = pytensor.function(symbols32, [out32[0], *grads32], mode="FAST_COMPILE")
    for found32, found64 in zip(g32(*single), [found[0], *analytic], strict=True):
        assert found32.dtype == np.float32
        np.testing.assert_allclose(found32, found64, rtol=2e-4, atol=2e-4)
