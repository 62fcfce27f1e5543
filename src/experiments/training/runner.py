"""One training run: config → data → compiled model → epochs → MLflow run with metrics and weights."""

import itertools
import logging
import math
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from rich import progress as rich_progress

from seqlab.data.dataset import DataSplits, SequenceDataset
from seqlab.data.errors import DataError
from seqlab.data.summary import summarize
from seqlab.engine import set_blas_threads, set_float_dtype
from seqlab.experiments import slurm, terminal
from seqlab.experiments.config.optimizer import OptimizerConfig
from seqlab.experiments.config.trainer import TrainerConfig
from seqlab.experiments.config.validation import ConfigError, validate
from seqlab.experiments.metrics import EPOCH_METRICS, confusion, measure, per_class, per_class_metrics
from seqlab.experiments.mlflow_model import MODEL_NAME, log_model
from seqlab.experiments.signals import raise_if_stopped, stop_reason
from seqlab.experiments.tracking.journal import MetricJournal
from seqlab.experiments.tracking.logged_runs import write_model_files
from seqlab.experiments.tracking.queries import killed_runs
from seqlab.experiments.tracking.recorder import RunRecorder
from seqlab.experiments.tracking.run_inputs import CONFIG_ARTIFACT, log_dataset, log_run_inputs
from seqlab.experiments.tracking.secrets import redact
from seqlab.experiments.tracking.store import open_experiment
from seqlab.experiments.training.builders import (
    build_classifier,
    check_memory,
    load_data,
    load_pretrained_embedding,
    model_inputs,
)
from seqlab.experiments.training.checkpoints import (
    TrainingState,
    check_checkpoint_dir,
    checkpoint_path,
    find_checkpoint,
    journal_path,
    load_checkpoint,
    resumed_config,
    run_lock,
)
from seqlab.experiments.training.plots import confusion_matrix, learning_curves, log_figure
from seqlab.experiments.training.progress import Progress
from seqlab.experiments.training.sweep import job_run_name, run_name, sweep_parent
from seqlab.models.classifier import SequenceClassifier, TrainStep
from seqlab.models.network import count_parameters

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The training loss stopped being a finite number."""


def batches_per_epoch(splits: DataSplits, trainer: TrainerConfig) -> int:
    """Minibatches in an epoch: all of the training split's, or ``trainer.limit_batches``."""
    num_batches = math.ceil(len(splits.train) / trainer.batch_size)
    return num_batches if trainer.limit_batches is None else min(num_batches, trainer.limit_batches)


def train_epoch(
    model: SequenceClassifier,
    splits: DataSplits,
    trainer: TrainerConfig,
    lr_setting: float,
    rng,
    epoch: int,
    advance: Callable[[float], None],
) -> TrainStep:
    """Run one shuffled pass over the training split (its first ``trainer.limit_batches``
    minibatches when set); ``lr_setting`` is ``optimizer.lr``, named when the loss diverges;
    ``advance(mean loss so far)`` is called after every batch (the progress bar); a stop
    signal whose exception Python dropped is raised before the next batch.

    Returns the mean loss and accuracy per sequence trained on (each measured by its batch's
    step, before the update) and the learning rate of the epoch's last step.
    """
    num_batches = batches_per_epoch(splits, trainer)
    batches = splits.train.batches(trainer.batch_size, rng, trainer.bucket_by_length)
    total_loss, total_correct, lr, seen = 0.0, 0.0, math.nan, 0
    for number, batch in enumerate(itertools.islice(batches, num_batches), start=1):
        raise_if_stopped()
        loss, accuracy, lr = model.train_batch(batch)
        if number == 1:  # after the compile: what start-up costs (benchmarks.train_step --startup)
            log.debug("epoch %d: first training step done", epoch)
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"train loss is {loss} at epoch {epoch}, batch {number}; "
                f"try a smaller optimizer.lr (now {lr_setting}) or optimizer.clip_norm"
            )
        total_loss += loss * len(batch)
        total_correct += accuracy * len(batch)
        seen += len(batch)
        advance(total_loss / seen)
    return TrainStep(total_loss / seen, total_correct / seen, lr)


def progress_bar(trainer: TrainerConfig) -> rich_progress.Progress:
    """The run's bar on the terminal's console (``seqlab.experiments.terminal``): epoch x/N,
    the batches of the whole run with its elapsed time and ETA, the epoch's running train loss
    and ``status`` (last validation metric, best so far, patience left). Off unless
    ``trainer.progress`` and the console is a terminal."""
    console = terminal.console()
    return rich_progress.Progress(
        rich_progress.TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
        rich_progress.BarColumn(),
        rich_progress.TaskProgressColumn(),
        rich_progress.TimeElapsedColumn(),
        rich_progress.TextColumn("eta"),
        rich_progress.TimeRemainingColumn(),
        rich_progress.TextColumn("train_loss={task.fields[loss]:.4f} {task.fields[status]}"),
        console=console,
        transient=True,
        disable=not (trainer.progress and console.is_terminal),
    )


def bar_status(progress: Progress, trainer: TrainerConfig) -> str:
    """The bar's summary of the epochs so far: the monitor's last value, its best (and the
    epoch of it) and, with early stopping, the epochs of patience left."""
    if not progress.best_metrics:
        return ""
    monitor = trainer.monitor
    status = (
        f"{monitor}={progress.metrics[monitor]:.4f} best={progress.best_metrics[monitor]:.4f}@{progress.best_epoch}"
    )
    if trainer.patience is not None:
        status += f" patience {trainer.patience - progress.epochs_without_improvement()}/{trainer.patience}"
    return status


def evaluate(model: SequenceClassifier, dataset: SequenceDataset, batch_size: int, split: str) -> dict[str, float]:
    """Every metric of the registry (``seqlab.experiments.metrics``) of ``model`` on ``dataset``,
    named ``<split>_<metric>``."""
    return measure(dataset.labels, model.predict_log_proba(dataset, batch_size), split)


def save_progress(run: RunRecorder, state: TrainingState) -> None:
    """Send the epoch metrics ``run`` keeps to its store (or journal), then write the checkpoint
    ``state`` took last, even when sending fails: the checkpoint never gets ahead of the metrics
    but for that failure, whose metrics the journal holds or the error names."""
    try:
        run.flush()
    finally:
        state.write()


def fit(
    model: SequenceClassifier,
    splits: DataSplits,
    trainer: TrainerConfig,
    optimizer: OptimizerConfig,
    state: TrainingState,
    run: RunRecorder,
) -> Progress:
    """Train from ``state`` on for up to ``trainer.epochs``, with per-epoch metrics for ``run``
    and a checkpoint taken after each epoch, both saved every ``trainer.save_every_s`` and when
    training ends, however it ends (``save_progress``); ``optimizer``'s schedule may reduce the
    learning rate on a plateau.

    Stops early once ``trainer.monitor`` has not improved for ``trainer.patience`` epochs.
    Returns the progress: last and best epoch, with the best epoch's weights.
    """
    progress = state.progress
    num_batches = batches_per_epoch(splits, trainer)
    with progress_bar(trainer) as bar:
        task = bar.add_task(
            "train",
            total=trainer.epochs * num_batches,
            completed=progress.epoch * num_batches,
            epoch=progress.epoch + 1,
            epochs=trainer.epochs,
            loss=math.nan,
            status=bar_status(progress, trainer),
        )
        try:
            for epoch in range(progress.epoch + 1, trainer.epochs + 1):
                if trainer.patience is not None and progress.epochs_without_improvement() >= trainer.patience:
                    log.info("early stop: %s has not improved for %d epochs", trainer.monitor, trainer.patience)
                    break  # checked before an epoch: a run resumed after its last epoch stops too
                bar.update(task, epoch=epoch)
                train = train_epoch(
                    model,
                    splits,
                    trainer,
                    optimizer.lr,
                    state.rng,
                    epoch,
                    lambda loss: bar.update(task, advance=1, loss=loss),
                )
                metrics = {"train_loss": train.loss, "train_accuracy": train.accuracy}
                if len(splits.validation):
                    metrics |= evaluate(model, splits.validation, trainer.eval_batch_size, "val")
                run.keep(metrics | {"lr": train.lr}, step=epoch)
                progress.record(epoch, metrics, model.get_weights(), trainer.monitor)
                schedule = optimizer.schedule
                if schedule.name == "plateau" and progress.reduce_on_plateau(
                    schedule.patience_epochs, schedule.gamma, schedule.min_lr / optimizer.lr
                ):
                    model.optimizer.lr_scale.set_value(np.asarray(progress.lr_scale, dtype=model.dtype))
                    log.info(
                        "%s has not improved for %d epochs: lr now %.3g",
                        trainer.monitor,
                        schedule.patience_epochs,
                        optimizer.lr * progress.lr_scale,
                    )
                state.take(model)
                if state.due(trainer.save_every_s):
                    save_progress(run, state)
                run.check_outage()  # after the checkpoint is taken: a stop for an outage keeps this epoch
                bar.update(task, completed=epoch * num_batches, status=bar_status(progress, trainer))
                log.info(
                    "epoch %d/%d  %s", epoch, trainer.epochs, "  ".join(f"{k}={v:.4f}" for k, v in metrics.items())
                )
        finally:  # the last finished epoch, however training ends: last epoch, stop signal, error
            save_progress(run, state)
    return progress


def record_class_results(run: RunRecorder, model: SequenceClassifier, splits: DataSplits, batch_size: int) -> None:
    """Log the per-class metrics of ``model`` (the kept weights) on the validation and test
    splits, as metrics and as ``metrics/<split>_per_class.json`` tables, with their confusion
    matrices as ``metrics/<split>_confusion_matrix.json`` and the test split's drawn."""
    for split, dataset in (("val", splits.validation), ("test", splits.test)):
        if not len(dataset):
            continue
        predictions = model.predict_log_proba(dataset, batch_size).argmax(axis=1)
        classes = per_class(dataset.labels, predictions, splits.label_names)
        run.metrics(per_class_metrics(classes, split))
        run.table(classes.reset_index(), f"metrics/{split}_per_class.json")
        counts = confusion(dataset.labels, predictions, splits.label_names)
        run.table(counts.reset_index(), f"metrics/{split}_confusion_matrix.json")
        if split == "test":
            log_figure(run, confusion_matrix(counts, split), "confusion_matrix")


def _hydra_tags() -> dict[str, str]:
    if not HydraConfig.initialized():
        return {}
    hydra_cfg = HydraConfig.get()
    return {
        "hydra_overrides": redact(" ".join(hydra_cfg.overrides.task)),
        "hydra_output_dir": hydra_cfg.runtime.output_dir,
    } | ({"hydra_job": str(hydra_cfg.job.num)} if hydra_cfg.mode == RunMode.MULTIRUN else {})


def _group_choices() -> dict[str, str]:
    """The option chosen in each of seqlab's config groups (``optimizer: momentum``; the
    resolved values alone cannot tell momentum from sgd)."""
    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {group: option for group, option in choices.items() if "/" not in group and option is not None}


def record_results(
    run: RunRecorder,
    cfg: DictConfig,
    model: SequenceClassifier,
    data: DataSplits,
    splits: DataSplits,
    progress: Progress,
) -> dict[str, float]:
    """Evaluate the best epoch's weights on the test split, batch normalisation's statistics
    recomputed on the training split first (unless ``trainer.norm_statistics=running``), and
    record the run's results: final and per-class metrics, the model's files (logged and
    packaged as the pyfunc model from one local folder) and plots. Returns the best epoch's
    metrics with the ``test_<metric>``s."""
    run.sync()  # the results go to the store, not to the journal
    model.set_weights(progress.best_weights)
    if cfg.trainer.norm_statistics == "train":
        model.recompute_norm_statistics(splits.train, cfg.trainer.eval_batch_size)
    test_metrics = evaluate(model, splits.test, cfg.trainer.eval_batch_size, "test")
    best = {"best_epoch": progress.best_epoch} | {f"best_{k}": v for k, v in progress.best_metrics.items()}
    run.metrics(test_metrics | best)
    with tempfile.TemporaryDirectory() as tmp:  # the model's files, logged and packaged from here
        files = write_model_files(Path(tmp), cfg, model.get_weights(), data)
        run.files([f for f in files if f.name != CONFIG_ARTIFACT])  # config.yaml is logged already
        history = pd.DataFrame({key: run.metric_history(key) for key in EPOCH_METRICS}).sort_index()
        log_figure(run, learning_curves(history.rename_axis("epoch"), progress.best_epoch), "learning_curves")
        record_class_results(run, model, splits, cfg.trainer.eval_batch_size)
        if cfg.tracking.log_model:
            log_model(run, Path(tmp))
        if cfg.tracking.register_model:
            version = run.register_model(MODEL_NAME, cfg.tracking.register_model)
            log.info("model registered as %s version %s", cfg.tracking.register_model, version)
    return progress.best_metrics | test_metrics


def requeued_run(cfg: DictConfig) -> str | None:
    """In a SLURM job that SLURM has requeued (``seqlab.experiments.slurm``): the id of the
    job's latest KILLED run that has a checkpoint, to resume; else None."""
    job = slurm.slurm_job()
    if job is None or slurm.restarts() == 0:
        return None
    runs = killed_runs(open_experiment(cfg.tracking), slurm.SLURM_JOB_TAG, job)
    resumable = [run for run in runs if checkpoint_path(cfg.trainer.checkpoint_dir, run).exists()]
    if resumable:
        log.info("SLURM job %s requeued (restart %d): resuming its run %s", job, slurm.restarts(), resumable[0])
    return resumable[0] if resumable else None


def train(cfg: DictConfig, tags: dict[str, str] | None = None) -> dict[str, float]:
    """Run the experiment ``cfg`` describes and record it as one MLflow run (with extra
    ``tags``); with ``trainer.resume`` set, continue the checkpointed run it names (with that
    run's config).

    Returns the final metrics: the best epoch's ``train_loss``, ``val_loss``, ``val_accuracy``,
    the ``test_loss`` and ``test_accuracy`` of its weights, ``best_epoch`` and the ``run_id``.
    A run that raises is marked FAILED in MLflow, one stopped by Ctrl-C KILLED; the metrics of
    the epochs it finished stay recorded and its checkpoint is kept for ``trainer.resume``.
    """
    checkpoint, applied = None, {}
    if not cfg.trainer.resume and (requeued := requeued_run(cfg)):
        cfg.trainer.resume = requeued
    if cfg.trainer.resume:
        checkpoint = load_checkpoint(find_checkpoint(cfg.trainer.resume, cfg.trainer.checkpoint_dir))
        overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
        cfg, applied = resumed_config(checkpoint.resolved_config(), cfg, overrides)
    validate(cfg)
    check_checkpoint_dir(cfg.trainer.checkpoint_dir)
    set_float_dtype(cfg.trainer.dtype)
    set_blas_threads(cfg.trainer.blas_threads)
    experiment_id = open_experiment(cfg.tracking)
    for orphan in RunRecorder.fail_orphans(experiment_id):
        log.warning("run %s was left RUNNING by a process that no longer exists: marked FAILED", orphan)
    data = load_data(cfg)
    if len(data.validation) == 0 and not cfg.trainer.monitor.startswith("train_"):
        raise ConfigError(
            f"trainer.monitor={cfg.trainer.monitor}: the data has no validation split (data.val_fraction=0) to "
            "select the best epoch by; set trainer.monitor=train_loss (or train_accuracy), or hold one out"
        )
    summary = summarize(data)
    data_hash = summary["hash"]
    if checkpoint is not None and checkpoint.data_hash != data_hash:
        raise DataError(
            f"the data of run {checkpoint.run_id} (trainer.resume)",
            f"it trained on data with hash {checkpoint.data_hash}, its config now gives {data_hash}",
        )
    splits = model_inputs(cfg, data)
    check_memory(cfg, splits)  # before a run exists: a model that cannot fit is refused at once
    resumed_run = checkpoint.run_id if checkpoint is not None else None
    parent = sweep_parent() if checkpoint is None else None
    run_tags = dict(cfg.tracking.tags) | (tags or {}) | ({"sweep_id": parent} if parent else {}) | slurm.job_tags()
    with ExitStack() as locks:
        if resumed_run is not None:  # before the run is made RUNNING again: a second resume is refused
            locks.enter_context(run_lock(cfg.trainer.checkpoint_dir, resumed_run))
        name = None if resumed_run else cfg.tracking.run_name or job_run_name() or run_name(cfg)
        with RunRecorder.start(experiment_id, name, parent, run_tags, resume=resumed_run) as run:
            if checkpoint is None:
                locks.enter_context(run_lock(cfg.trainer.checkpoint_dir, run.run_id))
                log_run_inputs(run, cfg, _hydra_tags(), _group_choices())
                log_dataset(run, cfg.data, summary)
            else:
                run.tags({"resumed_after_epoch": checkpoint.progress.epoch})
                if applied:
                    run.tags({"resumed_with": " ".join(f"{key}={value}" for key, value in applied.items())})
            state: TrainingState | None = None
            try:  # a stop from the run's announcement on (its journal opened, the model built) takes one path
                log.info("MLflow run %s in %s", run.run_id, run.tracking_uri)
                folder = checkpoint_path(cfg.trainer.checkpoint_dir, run.run_id).parent
                run.keep_metrics_through_outages(
                    MetricJournal(journal_path(cfg.trainer.checkpoint_dir, run.run_id)),
                    cfg.tracking.outage_s,
                    kept=f"its checkpoint in {folder}",
                    resume=f"seqlab train trainer.resume={run.run_id} "
                    f"trainer.checkpoint_dir={cfg.trainer.checkpoint_dir} tracking.uri={run.tracking_uri}",
                )
                model = build_classifier(cfg, splits)
                run.params({"num_params": count_parameters(model.get_weights())})
                if cfg.model.embedding_vectors and checkpoint is None:  # a checkpoint holds the embedding
                    coverage = load_pretrained_embedding(model, cfg, splits)
                    run.metrics({"embedding_coverage": coverage})
                    log.info("pretrained vectors cover %.1f %% of the vocabulary", 100 * coverage)
                state = TrainingState.start(cfg, run.run_id, data_hash, model, checkpoint)
                typed = OmegaConf.to_object(cfg)  # the schema's dataclasses, validated above
                progress = fit(model, splits, typed.trainer, typed.optimizer, state, run)
            except KeyboardInterrupt as stop:  # Ctrl-C, or a stop signal (seqlab.experiments.signals.Terminated)
                run.tags({"seqlab.stopped_by": stop_reason(stop)})
                kept = state or checkpoint
                if kept is not None and kept.progress.epoch > 0:
                    log.warning(
                        "stopped by %s: run %s marked KILLED after epoch %d; resume with trainer.resume=%s",
                        stop_reason(stop),
                        run.run_id,
                        kept.progress.epoch,
                        run.run_id,
                    )
                else:
                    log.warning(
                        "stopped by %s before its first epoch ended: run %s marked KILLED, no checkpoint to resume",
                        stop_reason(stop),
                        run.run_id,
                    )
                raise
            metrics = record_results(run, cfg, model, data, splits, progress)
        state.discard()
    log.info(last_line(run.run_id, cfg.trainer, progress, metrics))
    return metrics | {"best_epoch": progress.best_epoch, "run_id": run.run_id}


def last_line(run_id: str, trainer: DictConfig, progress: Progress, metrics: dict[str, float]) -> str:
    """The run's last log line: where it stopped and why, the epoch it kept (by
    ``trainer.monitor``) and that epoch's test metrics."""
    why = "early stop" if progress.epoch < trainer.epochs else "last epoch"
    monitor = trainer.monitor
    tests = "  ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k.startswith("test_"))
    return (
        f"run {run_id}: stopped at epoch {progress.epoch}/{trainer.epochs} ({why}); kept epoch "
        f"{progress.best_epoch} ({monitor}={progress.best_metrics[monitor]:.4f}): {tests}"
    )
