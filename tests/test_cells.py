"""A cell is one unit: registering one ``Cell`` makes a new cell type configurable, trainable
through the fused and the scan path, and refused at config time when it lacks what is asked."""

import dataclasses

import numpy as np
import pytensor.tensor as pt
import pytest
from hydra.core.config_store import ConfigStore
from mlflow.tracking import MlflowClient
from pytensor.tensor.math import sigmoid as pt_sigmoid

from seqlab.experiments.config.model import model_schema
from seqlab.experiments.config.validation import ConfigError, validate
from seqlab.experiments.training.runner import train
from seqlab.models.cells import CELLS, register_cell
from seqlab.models.cells.base import Cell, blend, carry, recurrent_weight_grad, reference_sigmoid, step_masks
from seqlab.models.encoders import get_encoder
from tests.conftest import compose_config

# A minimal gated unit: one gate f decides how much of the candidate n replaces the state.
#   f = σ(xw_f + h U_f);  n = tanh(xw_n + h U_n);  h_t = h + f (n - h)


def toy_step(xw_t, m_t, h, U, options):
    H = U.shape[0]
    a = xw_t + h @ U
    f, n = pt_sigmoid(a[:, :H]), pt.tanh(a[:, H:])
    return (carry(m_t, h + f * (n - h), h),)


def toy_reference_step(x, h, W, U, b, options):
    H = h.shape[1]
    a = x @ W + h @ U + b
    f, n = reference_sigmoid(a[:, :H]), np.tanh(a[:, H:])
    return (h + f * (n - h),)


def toy_forward(xw, mask, U, options):
    T, B, H = xw.shape[0], xw.shape[1], U.shape[0]
    hs, cache = np.empty((T, B, H), xw.dtype), np.empty((T, B, 2 * H), xw.dtype)
    h = np.zeros((B, H), xw.dtype)
    for t, m in enumerate(step_masks(mask)):
        a = xw[t] + h @ U
        f, n = 1 / (1 + np.exp(-a[:, :H])), np.tanh(a[:, H:])
        cache[t, :, :H], cache[t, :, H:] = f, n
        h = hs[t] = blend(m, h + f * (n - h), h)
    return hs, cache


def toy_backward(xw, mask, U, hs, cache, g_hs, options):
    T, B, H = hs.shape
    g_xw = np.empty_like(xw)
    gh = np.zeros((B, H), xw.dtype)
    for t, m in reversed(list(enumerate(step_masks(mask)))):
        gh = gh + g_hs[t]
        h_prev = hs[t - 1] if t > 0 else np.zeros((B, H), xw.dtype)
        f, n = cache[t, :, :H], cache[t, :, H:]
        dh = gh if m is None else gh * m
        g_xw[t, :, :H] = dh * (n - h_prev) * f * (1 - f)
        g_xw[t, :, H:] = dh * f * (1 - n * n)
        gh = blend(m, dh * (1 - f) + g_xw[t] @ U.T, gh)
    return g_xw, recurrent_weight_grad(hs[:-1], g_xw[1:])


TOY = Cell(
    name="toy_mgu",
    title="toy MGU",
    num_gates=2,
    num_states=1,
    step=toy_step,
    reference_step=toy_reference_step,
    forward=toy_forward,
    backward=toy_backward,
    cache_width=2,
)
SCAN_ONLY = dataclasses.replace(TOY, name="toy_scan_only", title="scan-only toy", forward=None, backward=None)


@pytest.fixture(scope="module")
def toy_cells():
    """TOY and SCAN_ONLY registered, each with its config (what conf/model/<name>.yaml would be)."""
    for cell in (TOY, SCAN_ONLY):
        register_cell(cell)
        ConfigStore.instance().store(group="model", name=cell.name, node=model_schema(get_encoder("rnn"), cell))
    yield
    for cell in (TOY, SCAN_ONLY):
        CELLS.pop(cell.name)


@pytest.mark.slow
def test_a_registered_cell_trains_through_the_fused_and_the_scan_path_alike(toy_cells, store, store_overrides):
    histories = {}
    for implementation in ("fused", "scan"):
        cfg = compose_config(
            store_overrides
            + [
                "model=toy_mgu",
                f"model.implementation={implementation}",
                "model.hidden_size=8",
                "data=majority",
                "data.train_size=300",
                "trainer.epochs=4",
                "trainer.dtype=float64",
                "optimizer=adam",
                "optimizer.lr=0.02",
                "trainer.progress=false",
            ]
        )
        run_id = train(cfg)["run_id"]
        history = MlflowClient(store["uri"]).get_metric_history(run_id, "train_loss")
        histories[implementation] = np.array([m.value for m in sorted(history, key=lambda m: m.step)])
    np.testing.assert_allclose(histories["fused"], histories["scan"], rtol=1e-9)
    assert histories["fused"][-1] < 0.8 * histories["fused"][0], "the toy cell learns"


def test_a_cell_without_a_fused_implementation_is_refused_at_config_time(toy_cells):
    cfg = compose_config(["model=toy_scan_only"])
    with pytest.raises(
        ConfigError, match="the scan-only toy cell has no fused implementation; use model.implementation=scan"
    ):
        validate(cfg)
    validate(compose_config(["model=toy_scan_only", "model.implementation=scan"]))
