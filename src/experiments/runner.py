"""One training run: config → data → compiled model → epochs → MLflow run with metrics and weights."""

import logging
import math

import mlflow
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.console import Console
from rich.progress import track

from src.data.dataset import DataSplits
from src.experiments.builders import build_classifier, load_data, model_inputs, shuffle_rng
from src.experiments.tracking import log_dataset, log_run_inputs, log_weights, open_experiment
from src.experiments.validation import validate
from src.models.backend import set_float_dtype
from src.models.classifier import SequenceClassifier
from src.models.network import count_parameters

log = logging.getLogger(__name__)
_console = Console(stderr=True)


class TrainingDiverged(RuntimeError):
    """The training loss stopped being a finite number."""


def train_epoch(
    model: SequenceClassifier, splits: DataSplits, cfg: DictConfig, rng, epoch: int
) -> tuple[float, float]:
    """Run one shuffled pass over the training split.

    Returns the mean loss per sequence and the learning rate of the epoch's last step.
    """
    trainer = cfg.trainer
    batches = splits.train.batches(trainer.batch_size, rng, trainer.bucket_by_length)
    total, lr = 0.0, math.nan
    for number, batch in enumerate(
        track(
            batches,
            total=math.ceil(len(splits.train) / trainer.batch_size),
            description=f"epoch {epoch}/{trainer.epochs}",
            disable=not (trainer.progress and _console.is_terminal),
            console=_console,
            transient=True,
        ),
        start=1,
    ):
        loss, lr = model.train_batch(batch)
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"train loss is {loss} at epoch {epoch}, batch {number}; "
                f"try a smaller optimizer.lr (now {cfg.optimizer.lr}) or optimizer.clip_norm"
            )
        total += loss * len(batch)
    return total / len(splits.train), lr


def fit(model: SequenceClassifier, splits: DataSplits, cfg: DictConfig) -> dict[str, float]:
    """Train for ``cfg.trainer.epochs``, logging per-epoch metrics to the active MLflow run.

    Returns the last epoch's ``train_loss``, ``val_loss`` and ``val_accuracy`` (``lr``, the
    learning rate of each epoch's last step, is logged too).
    """
    rng = shuffle_rng(cfg)
    metrics: dict[str, float] = {}
    for epoch in range(1, cfg.trainer.epochs + 1):
        train_loss, lr = train_epoch(model, splits, cfg, rng, epoch)
        val = model.evaluate(splits.validation, cfg.trainer.eval_batch_size)
        metrics = {"train_loss": train_loss, "val_loss": val["loss"], "val_accuracy": val["accuracy"]}
        mlflow.log_metrics(metrics | {"lr": lr}, step=epoch)
        log.info(
            "epoch %d/%d  train_loss=%.4f  val_loss=%.4f  val_accuracy=%.4f",
            epoch, cfg.trainer.epochs, train_loss, val["loss"], val["accuracy"],
        )  # fmt: skip
    return metrics


def _hydra_tags() -> dict[str, str]:
    if not HydraConfig.initialized():
        return {}
    hydra_cfg = HydraConfig.get()
    return {
        "hydra_overrides": " ".join(hydra_cfg.overrides.task),
        "hydra_output_dir": hydra_cfg.runtime.output_dir,
    }


def train(cfg: DictConfig) -> dict[str, float]:
    """Run the experiment ``cfg`` describes and record it as one MLflow run.

    Returns the final metrics (``train_loss``, ``val_loss``, ``val_accuracy``, ``test_loss``,
    ``test_accuracy``) and the ``run_id``. A run that raises is marked FAILED in MLflow, one
    stopped by Ctrl-C KILLED; the metrics of the epochs it finished stay recorded.
    """
    validate(cfg)
    set_float_dtype(cfg.trainer.dtype)
    data = load_data(cfg)
    splits = model_inputs(cfg, data)
    experiment_id = open_experiment(cfg.tracking)
    with mlflow.start_run(experiment_id=experiment_id, run_name=cfg.tracking.run_name) as run:
        log_run_inputs(cfg, _hydra_tags())
        log_dataset(data, cfg.data.name)
        log.info("MLflow run %s in %s", run.info.run_id, mlflow.get_tracking_uri())
        model = build_classifier(cfg, splits)
        mlflow.log_param("num_params", count_parameters(model.get_weights()))
        try:
            metrics = fit(model, splits, cfg)
        except KeyboardInterrupt:
            log.warning("interrupted: run %s marked KILLED", run.info.run_id)
            mlflow.end_run("KILLED")
            raise
        test = model.evaluate(splits.test, cfg.trainer.eval_batch_size)
        metrics |= {"test_loss": test["loss"], "test_accuracy": test["accuracy"]}
        mlflow.log_metrics({"test_loss": test["loss"], "test_accuracy": test["accuracy"]})
        log_weights(model.get_weights())
        log.info("test_loss=%.4f  test_accuracy=%.4f", test["loss"], test["accuracy"])
    return metrics | {"run_id": run.info.run_id}
