"""The default experiment end to end: it learns, MLflow holds everything, runs are reproducible."""

from pathlib import Path

import mlflow
import numpy as np
import pytensor
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from seqlab.data.errors import DataError
from seqlab.experiments.classify import predict_split
from seqlab.experiments.tracking.logged_runs import WEIGHTS_ARTIFACT
from seqlab.experiments.tracking.run_inputs import flatten_config
from seqlab.experiments.tracking.store import use_tracking_store
from seqlab.experiments.training.builders import load_data
from seqlab.experiments.training.checkpoints import checkpoint_path, load_checkpoint
from seqlab.experiments.training.progress import Progress
from seqlab.experiments.training.runner import TrainingDiverged, train
from seqlab.models.classifier import SequenceClassifier, TrainStep
from seqlab.models.weights import load_weights
from tests.conftest import compose_config


def metric_history(run_id: str, key: str) -> list[tuple[int, float]]:
    history = MlflowClient().get_metric_history(run_id, key)
    return sorted((m.step, m.value) for m in history)


def test_default_experiment_learns_parity(default_run, store):
    assert default_run["metrics"]["test_accuracy"] >= 0.95
    mlflow.set_tracking_uri(store["uri"])
    train_accuracy = metric_history(default_run["metrics"]["run_id"], "train_accuracy")
    assert train_accuracy[0][1] < 0.7 < 0.95 < train_accuracy[-1][1], "measured while it learns"


def test_run_is_recorded_in_mlflow(default_run, store):
    cfg, run_id = default_run["cfg"], default_run["metrics"]["run_id"]
    mlflow.set_tracking_uri(store["uri"])
    runs = mlflow.search_runs(experiment_names=[cfg.tracking.experiment_name])
    row = runs.set_index("run_id").loc[run_id]
    assert row["status"] == "FINISHED"
    expected_params = flatten_config(cfg)
    assert {"model.hidden_size", "optimizer.lr", "data.max_len", "trainer.epochs"} <= set(expected_params)
    for key, value in expected_params.items():
        assert row[f"params.{key}"] == str(value), key
    assert row["metrics.test_accuracy"] == default_run["metrics"]["test_accuracy"]
    assert row["tags.git_commit"] and row["tags.pytensor_version"] and row["tags.numpy_version"]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        steps = [step for step, _ in metric_history(run_id, key)]
        assert steps == list(range(1, cfg.trainer.epochs + 1)), key
    assert row["tags.git_dirty"] in ("true", "false") and row["tags.pytensor_blas_ldflags"]
    assert "threads" in row["tags.blas_libraries"]
    artifacts = {a.path for a in MlflowClient().list_artifacts(run_id)}
    assert {WEIGHTS_ARTIFACT, "config.yaml", "environment.txt", "dataset.json"} <= artifacts
    environment = mlflow.artifacts.load_text(f"runs:/{run_id}/environment.txt")
    assert f"pytensor=={pytensor.__version__}" in environment.splitlines()
    logged = OmegaConf.load(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="config.yaml"))
    assert logged == OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    (data,) = MlflowClient().get_run(run_id).inputs.dataset_inputs  # MLflow's dataset API, for its UI
    assert (data.dataset.name, data.dataset.source_type) == ("parity", "code")
    assert data.dataset.digest == row["params.dataset.hash"][:32]
    assert [(tag.key, tag.value) for tag in data.tags] == [("mlflow.data.context", "all splits")]


def test_artifacts_stay_in_the_store(default_run, store):
    run = MlflowClient(store["uri"]).get_run(default_run["metrics"]["run_id"])
    assert run.info.artifact_uri.startswith("file://" + store["artifact_root"])


def test_logged_weights_reproduce_the_test_accuracy(default_run, store):
    run_id = default_run["metrics"]["run_id"]
    use_tracking_store(OmegaConf.create({"uri": store["uri"]}))
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=WEIGHTS_ARTIFACT)
    weights = load_weights(path)
    assert set(weights) == {"rnn0_fwd_W", "rnn0_fwd_U", "rnn0_fwd_b", "out_W", "out_b"}
    table = predict_split(run_id, "test", batch_size=128)
    accuracy = (table["label"] == table["prediction"]).mean()
    assert accuracy == default_run["metrics"]["test_accuracy"]
    np.testing.assert_allclose(table.filter(like="proba_").sum(axis=1), 1, rtol=1e-5)


def test_same_seed_gives_identical_losses(default_run, store_overrides):
    again = train(compose_config(store_overrides + ["trainer.progress=false"]))
    first = default_run["metrics"]["run_id"]
    for key in ("train_loss", "val_loss"):
        assert metric_history(again["run_id"], key) == metric_history(first, key)


def interrupt_in_second_epoch(monkeypatch) -> None:
    """Make the 130th train step (epoch 2 of the default experiment) raise KeyboardInterrupt."""
    original, steps = SequenceClassifier.train_batch, []

    def train_batch(self, batch):
        steps.append(1)
        if len(steps) == 130:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(SequenceClassifier, "train_batch", train_batch)


def diverge(monkeypatch) -> None:
    monkeypatch.setattr(SequenceClassifier, "train_batch", lambda self, batch: TrainStep(float("nan"), 0.5, 0.1))


@pytest.mark.parametrize(
    ("stop", "error", "status"),
    [(diverge, TrainingDiverged, "FAILED"), (interrupt_in_second_epoch, KeyboardInterrupt, "KILLED")],
    ids=["nan-loss", "ctrl-c"],
)
def test_a_stopped_run_is_not_left_running(stop, error, status, store, store_overrides, monkeypatch):
    stop(monkeypatch)
    cfg = compose_config(store_overrides + ["trainer.progress=false", f"tracking.run_name={status}"])
    with pytest.raises(error):
        train(cfg)
    mlflow.set_tracking_uri(store["uri"])
    runs = mlflow.search_runs(
        experiment_names=[cfg.tracking.experiment_name],
        filter_string=f"tags.mlflow.runName = '{status}'",
    )
    assert list(runs["status"]) == [status]
    assert "config.yaml" in {a.path for a in MlflowClient().list_artifacts(runs.run_id[0])}
    if status == "KILLED":
        checkpoint = load_checkpoint(checkpoint_path(cfg.trainer.checkpoint_dir, runs.run_id[0]))
        assert checkpoint.progress.epoch == 1, "the interrupted run keeps its checkpoint"


def test_nan_loss_error_names_the_epoch_and_the_learning_rate(store_overrides, monkeypatch):
    monkeypatch.setattr(SequenceClassifier, "train_batch", lambda self, batch: TrainStep(float("nan"), 0.5, 0.3))
    cfg = compose_config(store_overrides + ["trainer.progress=false", "optimizer.lr=0.3"])
    with pytest.raises(TrainingDiverged, match=r"epoch 1, batch 1; .*optimizer.lr \(now 0.3\)"):
        train(cfg)


def test_reduce_on_plateau_lowers_the_rate_when_the_monitor_stalls(store_overrides):
    # A rate too high to settle at: val_loss stalls and the rate halves after each 2 flat epochs.
    schedule = [
        "optimizer.schedule.name=plateau",
        "optimizer.schedule.patience_epochs=2",
        "optimizer.schedule.gamma=0.5",
    ]
    cfg = compose_config(
        store_overrides
        + schedule
        + ["optimizer.lr=2.0", "optimizer.schedule.min_lr=0.3", "trainer.epochs=12"]
        + ["trainer.progress=false", "data.train_size=400"]
        + ["trainer.class_weights=balanced", "trainer.label_smoothing=0.1"]  # the training loss's options, wired
    )
    run_id = train(cfg)["run_id"]
    val_loss = [value for _, value in metric_history(run_id, "val_loss")]
    lr = [value for _, value in metric_history(run_id, "lr")]
    progress, expected = Progress(), []
    for epoch, loss in enumerate(val_loss, start=1):  # the rule, replayed on the logged losses
        expected.append(2.0 * progress.lr_scale)
        progress.record(epoch, {"val_loss": loss}, {}, "val_loss")
        progress.reduce_on_plateau(2, 0.5, 0.3 / 2.0)
    assert lr == pytest.approx(expected)
    assert min(lr) < 2.0 and min(lr) >= 0.3, "it was reduced, never below min_lr"


def test_pretrained_vectors_start_the_embedding_and_stay_when_frozen(store_overrides, tmp_path):
    vectors = {"the": [0.1, -0.2, 0.3, 0.4], "Acting": [1.0, 0.5, -0.5, 2.0], "plot": [-1.0, 0.0, 0.25, 0.5]}
    vectors["never-in-the-data"] = [9.0, 9.0, 9.0, 9.0]
    path = tmp_path / "glove.4d.txt"
    path.write_text("".join(f"{word} {' '.join(map(str, v))}\n" for word, v in vectors.items()))
    common = store_overrides + ["data=sentiment", "data.train_size=300", "data.val_size=60", "data.test_size=60"]
    common += [f"model.embedding_vectors={path}", "trainer.epochs=2", "trainer.progress=false"]
    with pytest.raises(DataError, match=r"glove.4d.txt: the vectors have 4 dimensions: set model.embedding_dim=4"):
        train(compose_config(common + ["model.embedding_dim=5"]))
    cfg = compose_config(common + ["model.embedding_dim=4", "model.embedding_freeze=true"])
    run_id = train(cfg)["run_id"]
    vocabulary = list(load_data(cfg).vocabulary)
    embedding = load_weights(Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=WEIGHTS_ARTIFACT)))[
        "embedding"
    ]
    for word, token in [("the", "the"), ("Acting", "acting"), ("plot", "plot")]:  # "acting" by its lower case
        np.testing.assert_allclose(embedding[vocabulary.index(token)], vectors[word], rtol=1e-6)
    assert not embedding[0].any(), "padding stays zero"
    coverage = MlflowClient().get_run(run_id).data.metrics["embedding_coverage"]
    assert coverage == pytest.approx(3 / (len(vocabulary) - 2))
