"""The MLflow pyfunc model each run logs: raw sequences in, the run's own predictions out."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from seqlab.data.errors import DataError
from seqlab.data.registry import build_splits
from seqlab.experiments.classify import predict_split
from seqlab.experiments.encoding import encode
from seqlab.experiments.tracking.logged_runs import INPUTS_ARTIFACT, download_model_files, load_run, read_logged_run
from seqlab.experiments.tracking.run_inputs import CONFIG_ARTIFACT
from seqlab.experiments.tracking.store import use_tracking_store
from seqlab.experiments.training.runner import train
from tests.conftest import compose_config
from tests.test_loaders import random_series, write_ucr


def logged_model(store: dict, run_id: str):
    use_tracking_store(OmegaConf.create({"uri": store["uri"]}))
    return mlflow.pyfunc.load_model(f"runs:/{run_id}/model")


def assert_same_predictions(table: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(table["predicted_name"]) == list(expected["predicted_name"])
    probabilities = expected.filter(like="proba_").columns
    np.testing.assert_allclose(table[probabilities], expected[probabilities], rtol=1e-5)


def test_the_model_classifies_raw_symbol_sequences_like_the_run(default_run, store):
    run_id = default_run["metrics"]["run_id"]
    model = logged_model(store, run_id)
    expected = predict_split(run_id, "test", batch_size=500)
    splits = build_splits(**OmegaConf.to_container(default_run["cfg"].data, resolve=True))
    raw = [
        [splits.vocabulary[token] for token, real in zip(row, mask, strict=True) if real]
        for row, mask in zip(splits.test.inputs, splits.test.mask, strict=True)
    ]
    assert model.metadata.signature.inputs.input_names() == ["sequence"]
    assert_same_predictions(model.predict(pd.DataFrame({"sequence": raw})), expected)
    classifier = model.unwrap_python_model().classifier
    compiled = classifier._model
    assert_same_predictions(model.predict(pd.DataFrame({"sequence": raw[:10]})), expected[:10])
    assert classifier._model is compiled, "the model is built and compiled once, not per call"
    with pytest.raises(Exception, match="sequence"):
        model.predict(pd.DataFrame({"text": ["1 0 1"]}))


@pytest.mark.slow
def test_the_model_normalises_raw_series_with_the_training_statistics(store, store_overrides, tmp_path):
    cases, labels = random_series(np.random.default_rng(3), 120, 1, ["up", "down"])
    series = [10 + 5 * c[0] for c in cases]  # far from zero mean and unit spread
    train_file = write_ucr(tmp_path / "S_TRAIN.tsv", series[:80], labels[:80])
    test_file = write_ucr(tmp_path / "S_TEST.tsv", series[80:], labels[80:])
    run_id = train(
        compose_config(
            store_overrides
            + [
                "data=archive",
                f"data.train_path={train_file}",
                f"data.test_path={test_file}",
                "data.normalize=dataset",
                "trainer.epochs=3",
                "trainer.progress=false",
            ]
        )
    )["run_id"]
    model = logged_model(store, run_id)
    table = model.predict(pd.DataFrame({"sequence": [list(s) for s in series[80:]]}))
    assert_same_predictions(table, predict_split(run_id, "test", batch_size=500))


def test_symbol_sequences_longer_than_the_generated_ones_are_not_cut(default_run, store):
    use_tracking_store(OmegaConf.create({"uri": store["uri"]}))
    run = load_run(default_run["metrics"]["run_id"])
    assert run.config.data.max_len == 8
    dataset = encode([["1", "0"] * 6, ["1"]], run)
    assert dataset.mask.sum(axis=1).tolist() == [12, 1]
    with pytest.raises(DataError, match=r"sequence 0: unknown symbols \['2'\]"):
        encode([["2"]], run)


def test_a_run_logged_before_inputs_json_and_newer_settings_still_loads(default_run, store, tmp_path):
    use_tracking_store(OmegaConf.create({"uri": store["uri"]}))
    folder = download_model_files(default_run["metrics"]["run_id"], tmp_path)
    (folder / INPUTS_ARTIFACT).unlink()
    config = OmegaConf.load(folder / CONFIG_ARTIFACT)
    del config.trainer["max_input_gb"]  # a setting added after the run was logged
    OmegaConf.save(config, folder / CONFIG_ARTIFACT)
    run = read_logged_run(folder)
    assert run.input_kind == "symbols"
    assert run.config.trainer.max_input_gb == 4.0
