"""Checkpoints at the end of epochs: everything a killed run needs to go on as if it had never
stopped.

A checkpoint holds the run id and resolved config, the model's training state (parameters,
optimiser state, dropout generator), the minibatch-order generator, the best epoch so far with
its weights, and the data hash. Taken in memory after every epoch, it is written atomically
under ``trainer.checkpoint_dir/<run id>/checkpoint.safetensors`` (``seqlab.models.weights.save_tree``)
once ``trainer.save_every_s`` have passed since the last write, and whenever training ends:
at its last epoch, on a stop signal, on an error. Only a process killed outright (SIGKILL, a lost
node) loses the epochs since the last write. The ``checkpoint.pkl`` of a run checkpointed by an
older seqlab still resumes.
"""

import copy
import fcntl
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from seqlab.experiments.config.validation import ConfigError, logged_config
from seqlab.experiments.training.builders import shuffle_rng
from seqlab.experiments.training.progress import Progress
from seqlab.models.classifier import SequenceClassifier
from seqlab.models.weights import WeightsFileError, load_tree, save_tree

CHECKPOINT_FILE = "checkpoint.safetensors"
JOURNAL_FILE = "metrics-journal.jsonl"  # metrics the tracking store did not take (tracking.journal)
OLD_CHECKPOINT_FILE = "checkpoint.pkl"  # written before safetensors
LOCK_FILE = ".lock"


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (a full disk, a lost file system); the message says
    what the run kept."""


@dataclass
class Checkpoint:
    """A run's state at the end of an epoch (see the module docstring)."""

    run_id: str
    config: str
    data_hash: str
    progress: Progress
    model_state: dict
    shuffle_rng: dict

    def resolved_config(self) -> DictConfig:
        """The run's config, as it was logged, on its schema."""
        return logged_config(OmegaConf.create(self.config), f"the checkpoint of run {self.run_id}")


def checkpoint_path(checkpoint_dir: str, run_id: str) -> Path:
    """Where run ``run_id`` keeps its checkpoint."""
    return Path(checkpoint_dir) / run_id / CHECKPOINT_FILE


def journal_path(checkpoint_dir: str, run_id: str) -> Path:
    """Where run ``run_id`` keeps the metrics its tracking store did not take."""
    return checkpoint_path(checkpoint_dir, run_id).parent / JOURNAL_FILE


def save_checkpoint(checkpoint: Checkpoint, path: Path) -> None:
    """Write ``checkpoint`` to ``path`` atomically (its arrays as they are: ``asdict`` would
    deep-copy each of them first)."""
    save_tree(
        {f.name: getattr(checkpoint, f.name) for f in fields(checkpoint)} | {"progress": vars(checkpoint.progress)},
        path,
    )


# Overrides a resume may give besides its own: how long it trains (applied), and where and how
# it runs (not part of the results).
APPLIED_ON_RESUME = ("trainer.epochs", "trainer.patience")
FREE_ON_RESUME = (
    "trainer.resume",
    "trainer.checkpoint_dir",
    "trainer.save_every_s",
    "trainer.progress",
    "trainer.blas_threads",
)


def resumed_config(logged: DictConfig, requested: DictConfig, overrides: list[str]) -> tuple[DictConfig, dict]:
    """The config a resumed run goes on with, and the changes applied to it: ``logged`` (the
    checkpoint's), with ``requested``'s ``trainer.epochs`` and ``trainer.patience`` where
    ``overrides`` (the command line's) set them, and ``requested``'s ``tracking`` when they name
    the store (``tracking=server tracking.uri=...``: where the run is, not what it trains). Raise
    ConfigError listing every override that would silently be ignored because it differs from
    the logged config."""
    keys = {override: override.lstrip("+~").split("=", 1)[0] for override in overrides}
    conflicts = [
        override
        for override, key in keys.items()
        if key not in APPLIED_ON_RESUME + FREE_ON_RESUME
        and key.split(".")[0] != "tracking"  # the run's own store, however it is named (tracking=server ...)
        and OmegaConf.select(requested, key) != OmegaConf.select(logged, key)
    ]
    if conflicts:
        raise ConfigError(
            f"trainer.resume={requested.trainer.resume}: a resumed run goes on with its own logged config; "
            f"these overrides differ from it: {conflicts} (only {list(APPLIED_ON_RESUME)} may change)"
        )
    applied = {key: OmegaConf.select(requested, key) for key in keys.values() if key in APPLIED_ON_RESUME}
    for key, value in applied.items():
        OmegaConf.update(logged, key, value)
    if any(key.split(".")[0] == "tracking" for key in keys.values()):
        logged.tracking = requested.tracking
    return logged, applied


@contextmanager
def run_lock(checkpoint_dir: str, run_id: str) -> Iterator[None]:
    """Hold run ``run_id``'s lock (a ``flock`` on ``<checkpoint_dir>/<run_id>/.lock``, which the
    system drops when its process dies, however it dies) while the block trains the run; raise
    ConfigError naming the holder when another process holds it. On leaving, the lock file goes,
    and the run's folder with it once no checkpoint is left in it."""
    folder = checkpoint_path(checkpoint_dir, run_id).parent
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise ConfigError(
                f"trainer.resume={run_id}: the run is being trained by another process now "
                f"({lock.read().strip() or 'its pid is not written yet'}); one process at a time trains a run"
            ) from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()} on {socket.gethostname()}")
        lock.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
            if not any(folder.iterdir()):
                folder.rmdir()


def check_checkpoint_dir(directory: str) -> None:
    """Raise ConfigError unless checkpoints can be written in ``directory`` (created if
    missing), so that a run fails before it starts rather than after its first epoch."""
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise ConfigError(
            f"trainer.checkpoint_dir={directory}: checkpoints cannot be written there ({error})"
        ) from None


def find_checkpoint(resume: str, checkpoint_dir: str) -> Path:
    """The checkpoint ``trainer.resume`` names: a file, a run's folder, or a run id."""
    folders = (Path(resume), checkpoint_path(checkpoint_dir, resume).parent)
    candidates = [Path(resume)] + [
        folder / name for folder in folders for name in (CHECKPOINT_FILE, OLD_CHECKPOINT_FILE)
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"trainer.resume={resume!r}: no checkpoint there, nor at "
        f"{checkpoint_path(checkpoint_dir, resume)} (a finished run keeps none)"
    )


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint`` (or an older seqlab's ``checkpoint.pkl``);
    refuse anything else."""
    state = load_tree(path)
    names = {f.name for f in fields(Checkpoint)}
    if not isinstance(state, dict) or set(state) != names:
        raise WeightsFileError(f"{path}: not a seqlab checkpoint (expected keys {sorted(names)})")
    return Checkpoint(**state | {"progress": Progress(**state["progress"])})


@dataclass
class TrainingState:
    """A run's progress and minibatch-order generator, and where its checkpoint goes."""

    config: DictConfig
    run_id: str
    data_hash: str
    progress: Progress
    rng: np.random.Generator
    config_yaml: str = field(init=False, repr=False)  # written into every checkpoint
    _taken: Checkpoint | None = field(init=False, repr=False, default=None)  # not yet written
    _written_at: float = field(init=False, repr=False, default_factory=time.monotonic)

    def __post_init__(self):
        self.config_yaml = OmegaConf.to_yaml(self.config, resolve=True)

    @classmethod
    def start(
        cls,
        cfg: DictConfig,
        run_id: str,
        data_hash: str,
        model: SequenceClassifier,
        checkpoint: Checkpoint | None,
    ) -> "TrainingState":
        """A fresh state for a new run, or ``checkpoint``'s (restored into ``model`` too)."""
        if checkpoint is None:
            return cls(cfg, run_id, data_hash, Progress(), shuffle_rng(cfg))
        model.load_training_state(checkpoint.model_state)
        model.optimizer.lr_scale.set_value(np.asarray(checkpoint.progress.lr_scale, dtype=model.dtype))
        rng = np.random.default_rng()
        rng.bit_generator.state = checkpoint.shuffle_rng
        return cls(cfg, run_id, data_hash, checkpoint.progress, rng)

    @property
    def path(self) -> Path:
        """This run's checkpoint file."""
        return checkpoint_path(self.config.trainer.checkpoint_dir, self.run_id)

    def take(self, model: SequenceClassifier) -> None:
        """Take the run's checkpoint as it stands after its last finished epoch, in memory (copies
        of the model's state: training goes on changing the model); ``write`` puts it on disk."""
        self._taken = Checkpoint(
            run_id=self.run_id,
            config=self.config_yaml,
            data_hash=self.data_hash,
            progress=copy.copy(self.progress),  # record() rebinds its fields, never changes them in place
            model_state=model.training_state(),
            shuffle_rng=self.rng.bit_generator.state,
        )

    def due(self, every_s: float) -> bool:
        """Whether ``every_s`` seconds have passed since the last write (or the state's start)."""
        return time.monotonic() - self._written_at >= every_s

    def write(self) -> None:
        """Write the checkpoint last taken, unless it is written already; raise
        CheckpointWriteError (naming what the run kept) when it cannot be."""
        checkpoint, self._taken = self._taken, None  # a failed write is not tried again
        if checkpoint is None:
            return
        try:
            save_checkpoint(checkpoint, self.path)
        except OSError as error:  # save_checkpoint has removed its temp file; the last checkpoint stands
            kept = (
                f"the checkpoint of epoch {load_checkpoint(self.path).progress.epoch} at {self.path} (once there "
                f"is room, resume with trainer.resume={self.run_id})"
                if self.path.is_file()
                else "no checkpoint"
            )
            raise CheckpointWriteError(
                f"run {self.run_id}: the checkpoint of epoch {checkpoint.progress.epoch} could not be written to "
                f"{self.path.parent} ({error.strerror or error}); kept: the metrics of epochs "
                f"1-{checkpoint.progress.epoch} in MLflow and {kept}"
            ) from None
        self._written_at = time.monotonic()

    def discard(self) -> None:
        """Delete the checkpoint of a run that finished (its weights are in MLflow); its folder
        goes with the run's lock (``run_lock``)."""
        self.path.unlink(missing_ok=True)
