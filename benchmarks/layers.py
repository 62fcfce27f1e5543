"""Training-step speed of the series layers (convolution blocks with batch norm, beside or in
front of an LSTM) against the same network in PyTorch (``nn.Conv1d`` + ``nn.BatchNorm1d`` +
ReLU, ``nn.LSTM``, ``nn.Linear``), on identical data and weights.

    .venv/bin/pip install torch==2.13.0      # optional benchmark dependency (CPU build)
    .venv/bin/python -m benchmarks.layers [--rounds 3] [--steps 5] [--dtypes float32 float64]
        [--blas-threads 2]

One training step = forward in training mode (batch statistics), softmax cross-entropy,
gradients and an SGD update, on a full-length batch. Each implementation runs in a process of
its own and they are timed interleaved, round by round (``benchmarks.train_step``); the table
reports medians, GFLOP/s of the convolutions' and recurrences' matrix products (forward +
backward = 3x forward), the ratio PyTorch / seqlab (>= 1: seqlab is as fast), each one's loss
on the first batch (the same weights, so they agree to rounding) and peak RSS over the timed
steps. The measurement processes run with native BLAS kernels, as ``benchmarks.train_step``.
"""

import argparse
import os
import sys

import numpy as np
import pandas as pd

from benchmarks.train_step import KERNEL_VARIABLES, copy_weights, interleaved, median_and_ratio, serve
from seqlab.engine import configure, set_float_dtype
from seqlab.experiments.training.builders import default_network_spec, default_optimizer_spec
from seqlab.models.classifier import SequenceClassifier
from seqlab.models.network import NetworkSpec, init_network_params

CLASSES, LR = 10, 0.01

# name: (batch, length, channels, network options). The first two are the LSTM-FCN preset on
# series as long as ArrowHead's and ACSF1's; the third a strided front-end feeding an LSTM.
SHAPES = {
    "fcn-branch B16/L251": (
        16,
        251,
        1,
        {"hidden_size": 8, "conv": {"filters": [128, 256, 128], "kernels": [7, 5, 3], "layout": "branch"}},
    ),
    "fcn-branch B16/L1460": (
        16,
        1460,
        1,
        {"hidden_size": 8, "conv": {"filters": [128, 256, 128], "kernels": [7, 5, 3], "layout": "branch"}},
    ),
    "frontend B32/L512/C8": (
        32,
        512,
        8,
        {
            "hidden_size": 128,
            "conv": {"filters": [64, 64], "kernels": [5, 3], "strides": [2, 2], "layout": "frontend"},
        },
    ),
}


def network(shape: str) -> tuple[NetworkSpec, tuple]:
    batch, length, channels, options = SHAPES[shape]
    return default_network_spec(CLASSES, channels, model="lstm", **options), (batch, length, channels)


def make_batch(batch: int, length: int, channels: int, dtype: str):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, length, channels)).astype(dtype)
    return x, np.ones((batch, length), dtype), rng.integers(0, CLASSES, size=batch).astype("int32")


def flops(spec: NetworkSpec, batch: int, length: int, channels: int) -> float:
    """Multiply-adds x 2 of one step's convolutions and LSTM products, forward + backward."""
    forward, steps, conv, hidden = 0.0, length, spec.options.conv, spec.options.hidden_size
    for filters, kernel, stride in zip(conv.filters, conv.kernels, conv.per_block("strides"), strict=True):
        steps = -(-steps // stride)
        forward += 2 * batch * steps * kernel * channels * filters
        channels = filters
    if conv.layout == "branch":
        channels, steps = spec.input_size, length
    forward += 2 * batch * steps * (channels + hidden) * 4 * hidden
    return 3 * forward


def torch_step(spec: NetworkSpec, params: dict, dtype: str):
    import torch

    torch.set_num_threads(os.cpu_count())
    kind = getattr(torch, dtype)
    blocks, channels, conv, hidden = [], spec.input_size, spec.options.conv, spec.options.hidden_size
    for i, (filters, kernel, stride) in enumerate(
        zip(conv.filters, conv.kernels, conv.per_block("strides"), strict=True)
    ):
        layer = torch.nn.Conv1d(channels, filters, kernel, stride=stride, padding=(kernel - 1) // 2, dtype=kind)
        norm = torch.nn.BatchNorm1d(filters, eps=1e-5, momentum=conv.momentum, dtype=kind)
        with torch.no_grad():  # seqlab's W: (kernel * channels, filters), rows by offset then channel
            layer.weight.copy_(torch.from_numpy(params[f"conv{i}_W"].reshape(kernel, channels, filters).T.copy()))
            layer.bias.copy_(torch.from_numpy(params[f"conv{i}_b"]))
        blocks += [layer, norm, torch.nn.ReLU()]
        channels = filters
    convs = torch.nn.Sequential(*blocks)
    lstm_inputs = conv.filters[-1] if conv.layout == "frontend" else spec.input_size
    lstm = torch.nn.LSTM(lstm_inputs, hidden, batch_first=True, dtype=kind)
    out = torch.nn.Linear(params["out_W"].shape[0], CLASSES, dtype=kind)
    copy_weights(params, lstm, out)
    modules = [convs, lstm, out]
    optimizer = torch.optim.SGD([p for m in modules for p in m.parameters()], lr=LR)

    def step(x, mask, y):
        optimizer.zero_grad()
        inputs = torch.from_numpy(x)
        convolved = convs(inputs.transpose(1, 2))  # (batch, filters, steps)
        if conv.layout == "frontend":
            states, _ = lstm(convolved.transpose(1, 2))
            summary = states[:, -1]
        else:
            states, _ = lstm(inputs)
            summary = torch.cat([states[:, -1], convolved.mean(dim=2)], dim=1)
        loss = torch.nn.functional.cross_entropy(out(summary), torch.from_numpy(y).long())
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def _worker(connection, impl: str, shape: str, dtype: str, blas_threads: int) -> None:
    spec, sizes = network(shape)
    params = {k: v.astype(dtype) for k, v in init_network_params(spec, seed=0).items()}
    if impl == "pytorch":
        step = torch_step(spec, params, dtype)
    else:
        configure(blas_threads)
        set_float_dtype(dtype)
        model = SequenceClassifier(spec, params, default_optimizer_spec("sgd", lr=LR), dtype=dtype)

        def step(x, mask, y):
            return float(model.train_step(x, mask, y)[0])

    serve(connection, step, make_batch(*sizes, dtype))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--blas-threads", type=int, default=os.cpu_count(), help="seqlab's trainer.blas_threads")
    args = parser.parse_args()
    rows, kernels = [], set()
    for dtype in args.dtypes:
        for shape in args.shapes:
            rounds, reports = interleaved(
                _worker, ["seqlab", "pytorch"], (shape, dtype, args.blas_threads), args.rounds, args.steps
            )
            kernels.update(f"{impl}: {report['blas']}" for impl, report in reports.items())
            spec, sizes = network(shape)
            for impl in rounds:
                seconds, ratio = median_and_ratio(rounds, impl)
                rows.append(
                    {
                        "network": shape,
                        "dtype": dtype,
                        "impl": impl,
                        "step_ms": round(seconds * 1e3, 1),
                        "GFLOP/s": round(flops(spec, *sizes) / seconds / 1e9, 1),
                        "pytorch/seqlab": round(ratio, 2),
                        "first_loss": f"{reports[impl]['first']:.6f}",
                        "peak_rss_MB": round(reports[impl]["peak_rss_mb"]),
                    }
                )
            print(f"  measured {shape} {dtype}", file=sys.stderr, flush=True)
    print(f"seqlab trainer.blas_threads={args.blas_threads}; PyTorch threads={os.cpu_count()}")
    print(f"BLAS in the measurement processes ({' and '.join(KERNEL_VARIABLES)} unset):")
    print("  " + "\n  ".join(sorted(kernels)))
    print("training step, medians of interleaved rounds:\n" + pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
