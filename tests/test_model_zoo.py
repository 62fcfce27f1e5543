"""Choosing architectures from the config: what trains, and what is refused before compiling."""

import mlflow
import numpy as np
import pytest
from omegaconf import OmegaConf

from seqlab.experiments.classify import predict_split
from seqlab.experiments.config.validation import ConfigError
from seqlab.experiments.tracking.logged_runs import WEIGHTS_ARTIFACT
from seqlab.experiments.tracking.store import use_tracking_store
from seqlab.experiments.training.runner import train
from seqlab.models.weights import load_weights
from tests.conftest import compose_config

# A long-range dependency: the label is the first of 50 symbols, the rest are distractors.
# All three cells start from the seed's recurrent initialisation (N(0, 0.01²)) and train with
# the same optimiser and budget; the gated cells start with their gates biased to keep state.
LONG_DEPENDENCY = [
    "data=first_symbol",
    "data.train_size=1000",
    "data.val_size=200",
    "data.test_size=200",
    "optimizer=adam",
    "optimizer.lr=0.01",
    "trainer.epochs=6",
    "trainer.batch_size=50",
    "trainer.progress=false",
    "model.recurrent_init=normal",
    "model.init_std=0.01",
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "solves"),
    [("lstm model.forget_bias=3", True), ("gru model.update_bias=3", True), ("elman", False)],
    ids=["lstm", "gru", "elman"],
)
def test_gated_cells_solve_a_long_dependency_that_elman_fails(model, solves, store_overrides):
    name, *extra = model.split()
    cfg = compose_config(store_overrides + LONG_DEPENDENCY + [f"model={name}", *extra])
    accuracy = train(cfg)["test_accuracy"]
    if solves:
        assert accuracy >= 0.95
    else:
        assert accuracy < 0.7  # chance is 0.5


@pytest.mark.slow
def test_stacked_bidirectional_lstm_with_every_option_learns(store_overrides):
    cfg = compose_config(
        store_overrides
        + [
            "model=lstm",
            "model.num_layers=2",
            "model.bidirectional=true",
            "model.dropout=0.1",
            "model.embedding_dim=4",
            "model.pooling=mean",
            "model.hidden_size=16",
            "data=first_symbol",
            "data.min_len=10",
            "data.max_len=10",
            "data.num_symbols=3",
            "data.train_size=300",
            "data.val_size=100",
            "data.test_size=100",
            "optimizer=adam",
            "optimizer.lr=0.02",
            "optimizer.clip_norm=5",
            "optimizer.schedule.name=cosine",
            "trainer.epochs=10",
            "trainer.batch_size=20",
            "trainer.progress=false",
        ]
    )
    metrics = train(cfg)
    assert metrics["test_accuracy"] >= 0.9
    run = mlflow.get_run(metrics["run_id"])
    assert int(run.data.params["num_params"]) > 0
    lr_history = mlflow.tracking.MlflowClient().get_metric_history(metrics["run_id"], "lr")
    assert len(lr_history) == 10 and lr_history[-1].value < lr_history[0].value


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["model.name=transformer"],
            "model.name='transformer': must be 'elman'; choose another with model=<elman|lstm|gru>",
        ),
        (["model=lstm", "model.hidden_size=0"], "model.hidden_size=0: must be > 0"),
        (["model.num_layers=-1"], "model.num_layers=-1: must be > 0"),
        (["model.num_layers=2", "model.dropout=1.0"], "model.dropout=1.0: must be in [0.0, 1.0)"),
        (["model.dropout=0.2"], "model.dropout=0.2: acts between layers"),
        (["optimizer=sgd", "optimizer.nesterov=true"], "optimizer.nesterov=True: needs optimizer.momentum > 0"),
        (["optimizer=adam", "optimizer.beta2=1.5"], "optimizer.beta2=1.5: must be in [0.0, 1.0)"),
        (["optimizer.schedule.name=exp"], "optimizer.schedule.name='exp': must be one of"),
        (["data=sines", "model.embedding_dim=8"], "model.embedding_dim=8: an embedding needs token data"),
        (["optimizer.lr=inf"], "optimizer.lr=inf: must be > 0 (and finite)"),
        (["+model.foo=3"], "model.foo=3: unknown key: ElmanModelConfig has no such field"),
        (["tracking.experiment_name=../../x"], "tracking.experiment_name='../../x': must be a plain name"),
        (["data=sentiment", "trainer.max_input_gb=0.001"], "GB (trainer.max_input_gb=0.001); set model.embedding_dim"),
        (["model.hidden_size=50000"], "model.hidden_size=50000: must be at most 8192"),
        (
            ["model.conv.filters=[4]", "model.conv.kernels=[3]", "model.conv.dilations=[1,2]"],
            "model.conv.dilations=[1, 2]: needs [] or one per block of conv.filters [4]",
        ),
        (["model.variational_dropout=true"], "model.variational_dropout=True: shapes the masks of"),
        (["model.conv.filters=[4]", "model.conv.kernels=[4]"], "model.conv.kernels=[4]: must all be odd and >= 1"),
        (["model=resnet", "model.conv.kernels=[3,4]"], "model.conv.kernels=[3, 4]: must all be odd and >= 1"),
        (["model=resnet", "model.conv.filters=[]"], "model.conv.filters=[]: needs at least one entry"),
        (
            ["model=fcn", "model.conv.filters=[]", "model.conv.kernels=[]"],
            "model.conv.filters=[]: needs at least one block",
        ),
        (["trainer.checkpoint_dir=/dev/null/checkpoints"], "checkpoints cannot be written there"),
    ],
)
def test_bad_model_config_is_refused_before_compiling(overrides, message, store, store_overrides):
    mlflow.set_tracking_uri(store["uri"])
    before = len(mlflow.search_runs(search_all_experiments=True))
    with pytest.raises(ConfigError) as error:
        train(compose_config(store_overrides + overrides))
    assert message in str(error.value)
    assert len(mlflow.search_runs(search_all_experiments=True)) == before


@pytest.mark.slow
def test_an_lstm_fcn_learns_series_and_predicts_with_its_running_statistics(store, store_overrides):
    # The LSTM-FCN layout in float32 on the fused path: a convolution branch with batch norm beside
    # the LSTM (residual, the second block dilated), and DropConnect on the LSTM's recurrent weights.
    conv = ["model.conv.filters=[8,8]", "model.conv.kernels=[5,3]", "model.conv.dilations=[1,2]"]
    conv += ["model.conv.residual=true", "model.conv.layout=branch", "model.recurrent_dropout=0.1"]
    data = ["data=shapes", "data.train_size=300", "data.val_size=100", "data.test_size=100", "data.length=40"]
    cfg = compose_config(
        store_overrides
        + conv
        + data
        + ["model=lstm", "model.hidden_size=8", "optimizer=adam", "optimizer.lr=0.01"]
        + ["trainer.epochs=8", "trainer.progress=false"]
    )
    metrics = train(cfg)
    assert metrics["test_accuracy"] >= 0.8  # 4 balanced wave shapes: chance is 0.25
    use_tracking_store(OmegaConf.create({"uri": store["uri"]}))
    weights = load_weights(
        mlflow.artifacts.download_artifacts(run_id=metrics["run_id"], artifact_path=WEIGHTS_ARTIFACT)
    )
    assert not np.allclose(weights["conv0_mean"], 0), "the running statistics were trained and logged"
    table = predict_split(metrics["run_id"], "test", batch_size=64)
    assert (table["label"] == table["prediction"]).mean() == metrics["test_accuracy"]
