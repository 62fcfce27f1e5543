"""Training time per epoch of a series preset end to end: the ``seqlab train`` command against
the same network, loss, optimiser and schedule in a PyTorch loop, from the same initial weights
on the same minibatches.

    .venv/bin/pip install torch==2.13.0      # optional benchmark dependency (CPU build)
    .venv/bin/python -m benchmarks.epochs --train ArrowHead_TRAIN.ts --test ArrowHead_TEST.ts
        [--experiments ts_lstm_fcn fcn] [--epochs 40] [--rounds 3] [--dtype float32]

Both train as the presets' comments advise on a UCR/UEA set: each series z-normalised, all of
TRAIN trained on, the epoch kept by the training loss. Output dropout is off in both, so that
their losses can be compared (each would draw its own masks; on the (batch, features) summary
it costs nothing measurable).

- seqlab: the command in a new process, as a user runs it, with its MLflow run (in a temporary
  store), per-epoch metrics and checkpoint, plateau schedule and kept weights.
- PyTorch: the loop a careful researcher writes: the same minibatches in the same order (seqlab's
  shuffling generator), class-weighted cross-entropy, Adam, ``ReduceLROnPlateau`` on the
  training loss as seqlab's plateau schedule (patience, factor, floor; no threshold), and a copy
  of the weights whenever the training loss improves (``benchmarks.layers.torch_network``).

An epoch's time is the median over epochs 2..N (the first one compiles): for seqlab the gaps
between its "epoch k/N" log lines, for PyTorch the loop's own clock. The implementations run one
after the other, round by round, each in a process of its own with native BLAS kernels
(``benchmarks.train_step``); the ratio PyTorch / seqlab is taken per round and its median
reported (>= 1: seqlab is as fast). ``first_epoch_loss`` is the mean training loss of the first
epoch in each: the same weights and batches, so they agree to rounding. ``run_s``: launch to
exit of the process (seqlab's includes loading its compiled modules, the test split and the
logged model).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from benchmarks.layers import torch_network
from benchmarks.train_step import KERNEL_VARIABLES, kernel_environment, logged_run, run_in_process, seconds_to_lines
from seqlab.api import compose
from seqlab.engine import blas_libraries
from seqlab.experiments.training.builders import (
    INIT_STREAM,
    class_weights,
    load_data,
    model_inputs,
    network_spec,
    shuffle_rng,
)
from seqlab.models.network import init_network_params

EPOCH_LINE = r"epoch \d+/\d+ +train_loss="  # logged after every epoch


def overrides(experiment: str, train: Path, test: Path, epochs: int, dtype: str) -> list[str]:
    """The ``seqlab train`` overrides both implementations train with."""
    return [
        f"experiment={experiment}",
        "data=archive",
        f"data.train_path={train.resolve()}",
        f"data.test_path={test.resolve()}",
        "data.normalize=series",
        "data.val_fraction=0",
        "trainer.monitor=train_loss",
        f"trainer.epochs={epochs}",
        f"trainer.dtype={dtype}",
        "trainer.progress=false",
        "model.output_dropout=0",
    ]


def seqlab_epochs(arguments: list[str], folder: str) -> dict:
    """Run ``seqlab train`` with ``arguments`` in a new process, its MLflow store, checkpoint
    and outputs in ``folder`` (its compile cache the usual one): the seconds between its
    epochs' log lines (``epoch_s``), from launch to exit (``run_s``), and the first epoch's
    training loss as MLflow recorded it (``first_loss``)."""
    where = (
        f"tracking.uri=sqlite:///{folder}/mlflow.db",
        f"tracking.artifact_root={folder}/artifacts",
        f"trainer.checkpoint_dir={folder}/checkpoints",
        f"hydra.run.dir={folder}/outputs",
    )
    command = ("-m", "seqlab.experiments.train", *arguments, *where)
    seconds, lines = seconds_to_lines(command, dict(os.environ), {"epoch": EPOCH_LINE})
    run_id, uri = logged_run(lines)
    first = mlflow.MlflowClient(uri).get_metric_history(run_id, "train_loss")
    return {
        "epoch_s": np.diff(seconds["epoch"]),
        "run_s": seconds["exit"],
        "first_loss": next(m.value for m in first if m.step == 1),
    }


def _torch_worker(connection, arguments: list[str]) -> None:
    """Train ``arguments``' experiment in PyTorch (module docstring) and send its epoch times,
    first epoch's loss and BLAS kernels."""
    import torch

    cfg = compose(arguments)
    splits = model_inputs(cfg, load_data(cfg))
    if not splits.train.mask.all():
        raise ValueError("the PyTorch loop trains on series of one length only")
    spec = network_spec(cfg, splits)
    params = init_network_params(spec, seed=[cfg.seed, INIT_STREAM])
    network, forward = torch_network(
        spec, {k: v.astype(cfg.trainer.dtype) for k, v in params.items()}, cfg.trainer.dtype
    )
    optimizer = torch.optim.Adam(
        network.parameters(),
        lr=cfg.optimizer.lr,
        betas=(cfg.optimizer.beta1, cfg.optimizer.beta2),
        eps=cfg.optimizer.eps,
    )
    schedule = cfg.optimizer.schedule
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=schedule.gamma, patience=schedule.patience_epochs, threshold=0, min_lr=schedule.min_lr
    )
    weights = torch.from_numpy(class_weights(cfg.trainer.class_weights, splits).astype(cfg.trainer.dtype))
    rng, best, losses, times = shuffle_rng(cfg), np.inf, [], []
    network.train()
    for _ in range(cfg.trainer.epochs):
        start, total = time.perf_counter(), 0.0
        for batch in splits.train.batches(cfg.trainer.batch_size, rng, cfg.trainer.bucket_by_length):
            optimizer.zero_grad()
            logits = forward(torch.from_numpy(batch.inputs))
            loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(batch.labels).long(), weight=weights)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        losses.append(total / len(splits.train))
        plateau.step(losses[-1])
        if losses[-1] < best:
            best, kept = losses[-1], {k: v.detach().clone() for k, v in network.state_dict().items()}
        times.append(time.perf_counter() - start)
    network.load_state_dict(kept)  # the best epoch's weights, as seqlab ends with
    connection.send({"epoch_s": np.array(times[1:]), "first_loss": losses[0], "blas": blas_libraries()})


def torch_epochs(arguments: list[str]) -> dict:
    """``_torch_worker`` in a spawned process with native kernels; its report and its launch
    to exit seconds (``run_s``)."""
    start = time.perf_counter()
    report = run_in_process(_torch_worker, arguments)
    return report | {"run_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, required=True, help="the archive's TRAIN file (.ts, .tsv, .txt)")
    parser.add_argument("--test", type=Path, required=True, help="its TEST file")
    parser.add_argument("--experiments", nargs="+", default=["ts_lstm_fcn", "fcn"])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    if args.epochs < 3:
        parser.error(f"--epochs={args.epochs}: at least 3, the first compiles")
    rows, kernels = [], set()
    for experiment in args.experiments:
        arguments = overrides(experiment, args.train, args.test, args.epochs, args.dtype)
        runs = {"seqlab": [], "pytorch": []}
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as folder, kernel_environment(True):
                runs["seqlab"].append(seqlab_epochs(arguments, folder))
            runs["pytorch"].append(torch_epochs(arguments))
            kernels.add(f"pytorch: {runs['pytorch'][-1]['blas']}")
        ratios = [np.median(t["epoch_s"]) / np.median(s["epoch_s"]) for s, t in zip(*runs.values(), strict=True)]
        for impl, reports in runs.items():
            rows.append(
                {
                    "experiment": experiment,
                    "impl": impl,
                    "epoch_ms": round(1e3 * np.median([np.median(r["epoch_s"]) for r in reports]), 1),
                    "pytorch/seqlab": round(float(np.median(ratios)), 2) if impl == "seqlab" else 1.0,
                    "first_epoch_loss": f"{reports[0]['first_loss']:.6f}",
                    "run_s": round(float(np.median([r["run_s"] for r in reports])), 1),
                }
            )
        print(f"  measured {experiment}", file=sys.stderr, flush=True)
    print(
        f"{args.train.name}, {args.epochs} epochs, {args.dtype}, {args.rounds} rounds; PyTorch threads={os.cpu_count()}"
    )
    print(f"BLAS ({' and '.join(KERNEL_VARIABLES)} unset in the measurement processes):\n  " + "\n  ".join(kernels))
    print("per epoch, medians over epochs 2..N and rounds:\n" + pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
