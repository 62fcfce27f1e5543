"""An encoder is one unit: registering one ``Encoder`` makes a new network configurable,
trainable, logged and servable; the FCN and ResNet baselines train on an archive; a series
network that convolves first serves its own kind of input."""

import json
from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
import pytensor.tensor as pt
import pytest
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from seqlab.experiments.classify import RunClassifier, predict_split, predict_texts
from seqlab.experiments.config.legacy import upgrade_overrides
from seqlab.experiments.config.model import model_schema
from seqlab.experiments.config.validation import ConfigError, validate
from seqlab.experiments.tracking.logged_runs import INPUTS_ARTIFACT, download_model_files, load_run, read_logged_run
from seqlab.experiments.tracking.run_inputs import CONFIG_ARTIFACT
from seqlab.experiments.training.runner import train
from seqlab.fields import positive
from seqlab.models.blocks.base import Block
from seqlab.models.encoders import ENCODERS, register_encoder
from seqlab.models.encoders.base import Encoder
from tests.conftest import compose_config
from tests.test_loaders import random_series, write_ts, write_ucr
from tests.test_mlflow_model import assert_same_predictions, logged_model

# The toy encoder of docs/configuration.md ("Adding an encoder"): a dense layer over the mean of
# the inputs over their real steps.


@dataclass
class MeanDense(Block):
    """tanh(mean_t(x) W + b): (batch, time, features) -> (batch, units)."""

    units: int
    prefix: str = "dense_"

    def init(self, rng, in_features):
        return {"W": 0.1 * rng.standard_normal((in_features, self.units)), "b": np.zeros(self.units)}, self.units

    def apply(self, params, x, mask, ctx):
        m = mask[:, :, None]
        return pt.tanh((x * m).sum(axis=1) / m.sum(axis=1) @ params["W"] + params["b"]), None


@dataclass(frozen=True)
class MeanDenseOptions:
    units: int = positive(8)


TOY = Encoder(
    name="mean_dense",
    title="mean-dense",
    blocks=lambda spec: [MeanDense(spec.options.units)],
    options=MeanDenseOptions,
    token_inputs=False,
)


@pytest.fixture(scope="module")
def toy_encoder():
    """TOY registered, with its config (what conf/model/mean_dense.yaml would be)."""
    register_encoder(TOY)
    ConfigStore.instance().store(group="model", name=TOY.name, node=model_schema(TOY))
    yield
    ENCODERS.pop(TOY.name)


@pytest.fixture(scope="module")
def two_class_series(tmp_path_factory):
    """A UCR pair of two-class series told apart by their level (10 + 5 * class)."""
    folder = tmp_path_factory.mktemp("levels")
    cases, labels = random_series(np.random.default_rng(5), 120, 1, ["low", "high"])
    series = [10 + 5 * c[0] for c in cases]
    train_file = write_ucr(folder / "L_TRAIN.tsv", series[:80], labels[:80])
    test_file = write_ucr(folder / "L_TEST.tsv", series[80:], labels[80:])
    return {"files": [f"data.train_path={train_file}", f"data.test_path={test_file}"], "test": series[80:]}


@pytest.mark.slow
def test_a_registered_encoder_trains_logs_and_serves_from_its_logged_model(
    toy_encoder, two_class_series, store, store_overrides
):
    cfg = compose_config(
        store_overrides
        + ["model=mean_dense", "model.units=4", "data=archive", *two_class_series["files"]]
        + ["optimizer=adam", "optimizer.lr=0.05", "trainer.epochs=15", "trainer.progress=false"]
    )
    metrics = train(cfg)
    assert metrics["test_accuracy"] >= 0.9, "the toy encoder learns the levels"
    run = mlflow.get_run(metrics["run_id"])
    assert run.data.params["model.encoder"] == "mean_dense"
    assert run.data.params["model.units"] == "4"
    model = logged_model(store, metrics["run_id"])
    table = model.predict(pd.DataFrame({"sequence": [list(s) for s in two_class_series["test"]]}))
    assert_same_predictions(table, predict_split(metrics["run_id"], "test", batch_size=500))


def test_a_registered_encoder_is_refused_where_it_lacks_something(toy_encoder, store_overrides):
    with pytest.raises(ConfigError, match="the mean-dense encoder reads real-valued series, but data=parity gives"):
        train(compose_config(store_overrides + ["model=mean_dense", "data=parity", "trainer.progress=false"]))
    with pytest.raises(ConfigError, match=r"model.units=0: must be > 0"):
        validate(compose_config(["model=mean_dense", "model.units=0"]))
    with pytest.raises(Exception, match="hidden_size"):  # a recurrent option it does not have
        compose_config(["model=mean_dense", "model.hidden_size=8"])


@pytest.mark.slow
@pytest.mark.parametrize(("encoder", "filters", "dtype"), [("fcn", "[8,8,8]", "float32"), ("resnet", "[8]", "float64")])
def test_fcn_and_resnet_presets_learn_a_small_ts_archive(encoder, filters, dtype, store_overrides, tmp_path):
    # Multivariate series of unequal lengths (5 to 11 steps), two channels, three classes told apart
    # by their level (so normalised over the data set, not per series).
    cases, labels = random_series(np.random.default_rng(2), 90, 2, ["a", "b", "c"])
    train_file = write_ts(tmp_path / "T_TRAIN.ts", cases[:60], labels[:60])
    test_file = write_ts(tmp_path / "T_TEST.ts", cases[60:], labels[60:])
    metrics = train(
        compose_config(
            store_overrides
            + [f"experiment={encoder}", f"model.conv.filters={filters}", "data=archive"]
            + [f"data.train_path={train_file}", f"data.test_path={test_file}", "data.normalize=dataset"]
            + [f"trainer.dtype={dtype}", "trainer.epochs=12", "trainer.batch_size=8", "trainer.progress=false"]
            + ["data.val_fraction=0", "trainer.monitor=train_loss"]
        )
    )
    assert metrics["test_accuracy"] >= 0.9  # chance is 1/3
    table = predict_split(metrics["run_id"], "test", batch_size=64)
    assert (table["label"] == table["prediction"]).mean() == metrics["test_accuracy"]


def three_channel_archive(folder):
    """A .ts pair of 3-channel series of 6 to 11 steps, told apart by their level."""
    rng = np.random.default_rng(8)
    cases, labels = random_series(rng, 90, 3, ["a", "b"])
    header = [
        "@problemName three",
        "@univariate false",
        "@dimensions 3",
        "@equalLength false",
        "@classLabel true a b",
        "@data",
    ]
    train_file = write_ts(folder / "C_TRAIN.ts", cases[:60], labels[:60], header=header)
    test_file = write_ts(folder / "C_TEST.ts", cases[60:], labels[60:], header=header)
    return [f"data.train_path={train_file}", f"data.test_path={test_file}"], cases[60:]


@pytest.mark.slow
def test_a_series_run_with_a_convolution_front_end_serves_its_own_kind_of_input(store, store_overrides, tmp_path):
    files, test_cases = three_channel_archive(tmp_path)
    conv = ["model.conv.filters=[16]", "model.conv.kernels=[3]", "model.conv.layout=frontend"]
    metrics = train(
        compose_config(
            store_overrides
            + ["model=gru", "model.hidden_size=8", *conv, "data=archive", *files]
            + ["trainer.epochs=3", "trainer.progress=false"]
        )
    )
    run_id = metrics["run_id"]
    expected = predict_split(run_id, "test", batch_size=500)
    assert (expected["label"] == expected["prediction"]).mean() == metrics["test_accuracy"]
    raw = [case.T.tolist() for case in test_cases]  # each step's 3 features
    model = logged_model(store, run_id)
    assert_same_predictions(model.predict(pd.DataFrame({"sequence": raw})), expected)

    # As a run logged before the convolution options were a sub-config and inputs.json held the
    # features: read under the new keys, the features from its first convolution's weights.
    folder = download_model_files(run_id, tmp_path / "logged")
    config = OmegaConf.load(folder / CONFIG_ARTIFACT)
    for key, value in config.model.pop("conv").items():
        config.model[f"conv_{key}"] = value
    OmegaConf.save(config, folder / CONFIG_ARTIFACT)
    (folder / INPUTS_ARTIFACT).write_text(json.dumps({"kind": "series"}))
    old = read_logged_run(folder)
    assert old.input_features == 3
    assert list(old.config.model.conv.filters) == [16] and old.config.model.conv.layout == "frontend"


@pytest.mark.slow
def test_the_dimension_shuffle_learns_where_in_a_series_a_bump_is_and_takes_that_length_only(
    store, store_overrides, tmp_path
):
    # 12-step series with a bump in their first or second half: an LSTM that reads the whole
    # series as one step (model.dimension_shuffle) tells them apart.
    rng = np.random.default_rng(6)
    labels = ["early", "late"] * 60
    series = [rng.normal(0, 0.3, 12) + np.repeat(np.eye(2), 6, axis=1)[i % 2] * 2 for i in range(120)]
    train_file = write_ucr(tmp_path / "B_TRAIN.tsv", series[:80], labels[:80])
    test_file = write_ucr(tmp_path / "B_TEST.tsv", series[80:], labels[80:])
    shuffle = ["model=lstm", "model.hidden_size=4", "model.dimension_shuffle=true", "data=archive"]
    settings = ["optimizer=adam", "optimizer.lr=0.05", "trainer.epochs=10", "trainer.progress=false"]
    files = [f"data.train_path={train_file}", f"data.test_path={test_file}"]
    metrics = train(compose_config(store_overrides + shuffle + files + settings))
    assert metrics["test_accuracy"] >= 0.95
    run = load_run(metrics["run_id"])
    assert run.weights["rnn0_fwd_W"].shape == (12, 16)
    expected = predict_split(metrics["run_id"], "test", batch_size=500)
    raw = [list(s) for s in series[80:]]
    assert_same_predictions(logged_model(store, metrics["run_id"]).predict(pd.DataFrame({"sequence": raw})), expected)
    with pytest.raises(ConfigError, match=r"rnn0_fwd_W is \(12, 16\) in the run and \(10, 16\) for inputs of 10 steps"):
        RunClassifier(run).classify_raw([s[:10] for s in raw], batch_size=8)
    cases, labels = random_series(rng, 40, 1, ["a", "b"])
    unequal = [write_ucr(tmp_path / f"U_{part}.tsv", [c[0] for c in cases], labels) for part in ("TRAIN", "TEST")]
    unequal_files = [f"data.train_path={unequal[0]}", f"data.test_path={unequal[1]}"]
    with pytest.raises(
        ConfigError, match="model.dimension_shuffle=true reads each series' values .* series of 5 to 11 steps"
    ):
        train(compose_config(store_overrides + shuffle + settings + unequal_files))
    frontend = ["model.conv.filters=[4]", "model.conv.kernels=[3]", "model.conv.layout=frontend"]
    with pytest.raises(ConfigError, match="model.dimension_shuffle=True: reads the series itself"):
        validate(compose_config(shuffle + files + frontend))


def test_ngrams_appended_to_texts_are_refused_where_they_would_be_read_as_text(store_overrides):
    texts = ["data=sentiment", "data.ngrams=2", "model.embedding_dim=4", "trainer.progress=false"]
    with pytest.raises(ConfigError, match="data.ngrams=2: the n-grams follow each text's words, which the recurrent"):
        train(compose_config(store_overrides + texts + ["model=lstm"]))
    with pytest.raises(ConfigError, match="model.bigram_buckets=1000 would hash pairs of those tokens too"):
        train(compose_config(store_overrides + texts + ["model=bag", "model.bigram_buckets=1000"]))


def test_renamed_keys_on_the_command_line_are_read_under_their_new_names():
    old = ["model.conv_filters=[8]", "+model.conv_kernels=[3]", "model.hidden_size=4", "model.conv_layout=a,b"]
    assert upgrade_overrides(old) == [
        "model.conv.filters=[8]",
        "+model.conv.kernels=[3]",
        "model.hidden_size=4",
        "model.conv.layout=a,b",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["text_cnn", "text_bow"])
def test_the_text_presets_learn_sentiment_and_serve_texts_from_their_logged_model(preset, store, store_overrides):
    metrics = train(
        compose_config(
            store_overrides
            + [f"experiment={preset}", "model.embedding_dim=16", "trainer.epochs=20", "trainer.progress=false"]
            + ["data.train_size=600", "data.val_size=100", "data.test_size=200"]
            + (["model.filters=8"] if preset == "text_cnn" else [])
        )
    )
    assert metrics["test_accuracy"] >= 0.85, "negated opinions: a bag of words alone is near 0.75"
    run = mlflow.get_run(metrics["run_id"])
    assert run.data.params["model.max_norm" if preset == "text_cnn" else "model.word_dropout"] != "None"
    texts = ["the film was not bad at all", "a truly awful , boring plot"]
    expected = predict_texts(metrics["run_id"], texts, batch_size=10)
    assert_same_predictions(logged_model(store, metrics["run_id"]).predict(pd.DataFrame({"text": texts})), expected)
