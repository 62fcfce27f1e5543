"""The schema of ``conf/trainer``: how a run trains (epochs, batches, dtype, the metric that
selects its epoch, early stopping, checkpoints)."""

from dataclasses import dataclass

from seqlab.experiments.metrics import MONITOR_SIGN
from seqlab.fields import checked, in_range, one_of, positive


@dataclass
class TrainerConfig:
    epochs: int = positive(60)
    batch_size: int = positive(16)
    # Batch sequences of similar length together (seeded), so variable-length data wastes little
    # padding; every batch is cut to its longest sequence either way.
    bucket_by_length: bool = False
    # Train on at most this many minibatches per epoch (quick checks, experiment=debug).
    limit_batches: int | None = checked(None, lambda v: v is None or v > 0, "must be > 0 or null")
    # Batch size for validation, test and predict (no gradients, so it can be larger).
    eval_batch_size: int = positive(500)
    # Largest size of the padded inputs fed one-hot (token data without model.embedding_dim).
    max_input_gb: float = positive(4.0)
    # Refuse, before anything is built, a model whose training would need more memory than this
    # share of what the machine has available (seqlab.models.network.memory_estimate); null: no check.
    max_memory_share: float | None = checked(0.9, lambda v: v is None or 0 < v <= 1, "must be in (0, 1] or null")
    # Threads of PyTensor's own matrix products (MKL); the fused recurrences multiply with
    # NumPy's OpenBLAS at the same time, and two busy pools on few cores slow each other.
    blas_threads: int = positive(1)
    # float32 trains faster; float64 is what gradient checks and exact reproduction use.
    dtype: str = one_of("float32", ("float32", "float64"))
    progress: bool = True  # a progress bar on a terminal (Rich); each epoch's summary is logged anyway
    # The validation metric that picks the epoch whose weights the run keeps (val_loss: lowest,
    # val_accuracy: highest), that early stopping watches and that sweepers optimise.
    # (train_loss, train_accuracy: for data without a validation split, data.val_fraction=0)
    monitor: str = one_of("val_loss", tuple(MONITOR_SIGN))
    # The training loss: cross-entropy against targets smoothed by this much (0: none), and
    # class weights (none | balanced: each class weighs as much in total, from the training split)
    label_smoothing: float = in_range(0.0, 0.0, 1.0)
    class_weights: str = one_of("none", ("none", "balanced"))
    # Batch normalisation's statistics for the test metrics and the logged model: train recomputes
    # them on the training split with the kept weights (precise BN, Wu and Johnson 2021), running
    # keeps the moving averages of training, which lag weights that still move.
    norm_statistics: str = one_of("train", ("train", "running"))
    # Stop after this many epochs without improvement of the monitor; null trains every epoch.
    patience: int | None = checked(None, lambda v: v is None or v > 0, "must be > 0 or null")
    # <checkpoint_dir>/<run id>/checkpoint.safetensors holds the state after an epoch (deleted when
    # the run finishes); a killed run goes on with trainer.resume=<run id or checkpoint path>.
    checkpoint_dir: str = "${seqlab_runs:}/checkpoints"
    # Seconds between saves of the run's progress (its per-epoch metrics sent to the tracking store,
    # then its checkpoint written), each after the first epoch that ends past them (0: after every
    # epoch). The last epoch, a stop signal and an error save it too, so only a process killed
    # outright (SIGKILL, a lost node) trains the epochs since the last save again.
    save_every_s: float = checked(10.0, lambda v: v >= 0, "must be >= 0")
    resume: str | None = None
