"""Each optimiser, from its config file, against a NumPy reference of its update rule."""

import numpy as np
import pytensor
import pytest

from seqlab.data.dataset import DataSplits, SequenceDataset
from seqlab.experiments.training.builders import optimizer_spec
from seqlab.models.optimizers import Optimizer
from tests.conftest import compose_config
from tests.reference import NumpyOptimizer

STEPS = 6
RNG = np.random.default_rng(0)
A, Y = RNG.standard_normal((5, 3)), RNG.standard_normal(5)
C = RNG.standard_normal((2, 3))
START = {"w": RNG.standard_normal(3), "B": RNG.standard_normal((2, 3))}


def numpy_grads(params: dict) -> dict:
    """Gradients of ``0.5·|A w − Y|² + 0.5·|B − C|²`` (a convex problem)."""
    return {"w": A.T @ (A @ params["w"] - Y), "B": params["B"] - C}


def splits_of(num_train: int) -> DataSplits:
    empty = SequenceDataset(np.zeros((num_train, 1, 1)), np.ones((num_train, 1)), np.zeros(num_train, "int32"))
    return DataSplits(empty, empty, empty, label_names=("a", "b"), input_kind="series")


CASES = {
    "sgd": ["optimizer=sgd"],
    "momentum": ["optimizer=momentum"],
    "nesterov": ["optimizer=nesterov", "optimizer.weight_decay=0.1"],
    "adagrad": ["optimizer=adagrad", "optimizer.lr=0.3"],
    "rmsprop": ["optimizer=rmsprop", "optimizer.lr=0.01"],
    "adadelta": ["optimizer=adadelta"],
    "adam": ["optimizer=adam", "optimizer.lr=0.05", "optimizer.weight_decay=0.01"],
    "adamw": ["optimizer=adamw", "optimizer.lr=0.05"],
    "clipped": ["optimizer=sgd", "optimizer.clip_norm=0.5"],
    "step-schedule": [
        "optimizer=sgd",
        "optimizer.schedule.name=step",
        "optimizer.schedule.step_epochs=1",
        "optimizer.schedule.gamma=0.5",
    ],
    "cosine-warmup": ["optimizer=momentum", "optimizer.schedule.name=cosine", "optimizer.schedule.warmup_epochs=1"],
}


@pytest.mark.parametrize("overrides", list(CASES.values()), ids=list(CASES))
def test_optimizer_matches_numpy_reference_step_by_step(overrides):
    cfg = compose_config(overrides + ["trainer.epochs=3", "trainer.batch_size=2"])
    spec = optimizer_spec(cfg, splits_of(num_train=4))  # 2 steps per epoch, 3 epochs
    params = {k: pytensor.shared(v.copy(), name=k) for k, v in START.items()}
    loss = 0.5 * ((A @ params["w"] - Y) ** 2).sum() + 0.5 * ((params["B"] - C) ** 2).sum()
    optimizer = Optimizer(spec, "float64")
    updates, lr = optimizer.updates(list(params.values()), pytensor.grad(loss, list(params.values())))
    step = pytensor.function([], lr, updates=updates, mode="FAST_COMPILE")
    reference = NumpyOptimizer(spec.name, dict(optimizer_hyper(optimizer)), spec.nesterov, spec.schedule)
    expected = {k: v.copy() for k, v in START.items()}
    for number in range(STEPS):
        expected_lr = reference.learning_rate()
        expected = reference.step(expected, numpy_grads(expected))
        assert step() == pytest.approx(expected_lr, rel=1e-12), f"lr at step {number}"
        for k in params:
            np.testing.assert_allclose(params[k].get_value(), expected[k], rtol=1e-10, atol=1e-12)
    assert not np.allclose(params["w"].get_value(), START["w"]), "the optimiser must move"


def optimizer_hyper(optimizer: Optimizer) -> dict[str, float]:
    return {name: float(shared.get_value()) for name, shared in optimizer.hyper.items()}


def test_schedules_follow_their_formula():
    cfg = compose_config(["optimizer.schedule.name=cosine", "trainer.epochs=4", "trainer.batch_size=5"])
    spec = optimizer_spec(cfg, splits_of(num_train=10))
    assert spec.hyperparams["steps_per_epoch"] == 2 and spec.hyperparams["total_epochs"] == 4
    reference = NumpyOptimizer("sgd", spec.hyperparams | {"momentum": 0.0}, schedule="cosine")
    rates = []
    for _ in range(8):
        rates.append(reference.learning_rate())
        reference.steps_done += 1
    lr = spec.hyperparams["lr"]
    np.testing.assert_allclose(rates[0], lr)
    np.testing.assert_allclose(rates[4], lr / 2)  # half-way through 4 epochs
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))
