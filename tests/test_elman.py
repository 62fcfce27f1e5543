"""The Elman RNN graph: gradients against finite differences, outputs against NumPy, masking."""

import numpy as np
import pytensor
import pytest

from src.models.backend import COMPILE_MODE
from src.models.classifier import SequenceClassifier
from src.models.elman import init_elman_params
from tests.reference import elman_logits_numpy, log_softmax_numpy

BATCH, TIME, FEATURES, HIDDEN, CLASSES = 4, 6, 3, 5, 3


def random_batch(seed: int, time: int = TIME):
    """Random inputs (batch, time, features), a mask of random lengths (>= 1) and labels."""
    rng = np.random.default_rng(seed)
    inputs = rng.standard_normal((BATCH, time, FEATURES))
    lengths = rng.integers(1, time + 1, size=BATCH)
    mask = (np.arange(time)[None, :] < lengths[:, None]).astype("float64")
    labels = rng.integers(0, CLASSES, size=BATCH).astype("int32")
    return inputs * mask[:, :, None], mask, labels


@pytest.fixture(scope="module")
def model() -> SequenceClassifier:
    params = init_elman_params(FEATURES, HIDDEN, CLASSES, init_std=0.5, seed=3)
    return SequenceClassifier(params, hyperparams={"lr": 0.1}, dtype="float64")


@pytest.fixture(scope="module")
def loss_and_grads(model):
    """Compiled ``(inputs, mask, labels) -> [loss, *grads]`` of the float64 model."""
    params = list(model.params.values())
    outputs = [model.loss, *pytensor.grad(model.loss, params)]
    return pytensor.function([model.inputs, model.mask, model.labels], outputs, mode=COMPILE_MODE)


def test_gradient_matches_finite_differences(model, loss_and_grads):
    inputs, mask, labels = random_batch(seed=0)
    assert mask.min() == 0, "the check should cover padded steps"
    _, *grads = loss_and_grads(inputs, mask, labels)
    eps = 1e-6
    for (name, shared), grad in zip(model.params.items(), grads, strict=True):
        value = shared.get_value()
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            losses = []
            for step in (eps, -eps):
                bumped = value.copy()
                bumped[index] += step
                shared.set_value(bumped)
                losses.append(loss_and_grads(inputs, mask, labels)[0])
            numeric[index] = (losses[0] - losses[1]) / (2 * eps)
        shared.set_value(value)
        relative = np.linalg.norm(grad - numeric) / (np.linalg.norm(grad) + np.linalg.norm(numeric))
        assert relative < 1e-6, f"{name}: relative error {relative:.2e}"
        assert np.linalg.norm(numeric) > 0, f"{name}: the check saw no gradient at all"


def test_forward_matches_numpy_reference(model):
    inputs, mask, _ = random_batch(seed=1)
    expected = log_softmax_numpy(elman_logits_numpy(model.get_weights(), inputs, mask))
    np.testing.assert_allclose(model.log_proba(inputs, mask), expected, rtol=0, atol=1e-10)


def test_padding_with_masked_steps_changes_nothing(model):
    inputs, mask, _ = random_batch(seed=2)
    padded_inputs = np.concatenate([inputs, np.ones((BATCH, 4, FEATURES))], axis=1)
    padded_mask = np.concatenate([mask, np.zeros((BATCH, 4))], axis=1)
    np.testing.assert_allclose(
        model.log_proba(padded_inputs, padded_mask), model.log_proba(inputs, mask), atol=1e-12
    )


def test_initialisation_is_seeded():
    a = init_elman_params(FEATURES, HIDDEN, CLASSES, init_std=0.1, seed=[7, 1])
    b = init_elman_params(FEATURES, HIDDEN, CLASSES, init_std=0.1, seed=[7, 1])
    c = init_elman_params(FEATURES, HIDDEN, CLASSES, init_std=0.1, seed=[8, 1])
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["Whh"], c["Whh"])
