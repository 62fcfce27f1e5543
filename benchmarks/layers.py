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

# name: (batch, length, channels, model, network options). The first two are the LSTM-FCN
# preset on series as long as ArrowHead's and ACSF1's; the third a strided front-end feeding an
# LSTM; the last two the FCN and ResNet encoders (their presets' sizes) on ArrowHead's length.
LSTM_FCN = {"hidden_size": 8, "conv": {"filters": [128, 256, 128], "kernels": [7, 5, 3], "layout": "branch"}}
SHAPES = {
    "fcn-branch B16/L251": (16, 251, 1, "lstm", LSTM_FCN),
    "fcn-branch B16/L1460": (16, 1460, 1, "lstm", LSTM_FCN),
    "frontend B32/L512/C8": (
        32,
        512,
        8,
        "lstm",
        {
            "hidden_size": 128,
            "conv": {"filters": [64, 64], "kernels": [5, 3], "strides": [2, 2], "layout": "frontend"},
        },
    ),
    "fcn B16/L251": (16, 251, 1, "fcn", {"conv": {"filters": [128, 256, 128], "kernels": [7, 5, 3]}}),
    "resnet B16/L251": (16, 251, 1, "resnet", {"conv": {"filters": [64, 128, 128], "kernels": [7, 5, 3]}}),
}


def network(shape: str) -> tuple[NetworkSpec, tuple]:
    batch, length, channels, model, options = SHAPES[shape]
    return default_network_spec(CLASSES, channels, model=model, **options), (batch, length, channels)


def make_batch(batch: int, length: int, channels: int, dtype: str):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, length, channels)).astype(dtype)
    return x, np.ones((batch, length), dtype), rng.integers(0, CLASSES, size=batch).astype("int32")


def conv_layers(spec: NetworkSpec, channels: int) -> list[tuple[str, int, int, int, int]]:
    """``(prefix, kernel, channels, filters, stride)`` of every convolution of ``spec``'s
    encoder, in order (a ResNet's 1×1 shortcuts as kernel-1 layers named ``res{i}_skip``)."""
    conv, layers = spec.options.conv, []
    if spec.encoder == "resnet":
        for i, filters in enumerate(conv.filters):
            for j, kernel in enumerate(conv.kernels):
                layers.append((f"res{i}_conv{j}", kernel, channels if j == 0 else filters, filters, 1))
            if channels != filters:
                layers.append((f"res{i}_skip", 1, channels, filters, 1))
            channels = filters
        return layers
    for i, (filters, kernel, stride) in enumerate(
        zip(conv.filters, conv.kernels, conv.per_block("strides"), strict=True)
    ):
        layers.append((f"conv{i}", kernel, channels, filters, stride))
        channels = filters
    return layers


def flops(spec: NetworkSpec, batch: int, length: int, channels: int) -> float:
    """Multiply-adds x 2 of one step's convolutions and LSTM products, forward + backward."""
    forward, steps = 0.0, length
    for _, kernel, inputs, filters, stride in conv_layers(spec, channels):
        steps = -(-steps // stride)
        forward += 2 * batch * steps * kernel * inputs * filters
    if spec.encoder == "rnn":
        conv, hidden = spec.options.conv, spec.options.hidden_size
        inputs = conv.filters[-1] if conv.layout == "frontend" else spec.input_size
        steps = steps if conv.layout == "frontend" else length
        forward += 2 * batch * steps * (inputs + hidden) * 4 * hidden
    return 3 * forward


def torch_network(spec: NetworkSpec, params: dict, dtype: str):
    """``spec``'s network in PyTorch with seqlab's ``params``: ``nn.Conv1d``, ``nn.BatchNorm1d``
    and ReLU blocks (a ResNet's shortcuts added before the last ReLU of each block, through a
    bias-free 1×1 ``nn.Conv1d`` where the channels change), beside an ``nn.LSTM`` (reading the
    series transposed with ``dimension_shuffle``) or before one, or before the mean over time;
    then ``nn.Linear``.

    Returns the ``nn.Module`` holding every layer (its ``train()``/``eval()`` switch batch
    norm's statistics) and ``forward``: inputs (batch, time, channels) -> logits (batch, classes)."""
    import torch

    torch.set_num_threads(os.cpu_count())
    kind = getattr(torch, dtype)
    conv = spec.options.conv
    layers = torch.nn.ModuleDict()
    for name, kernel, channels, filters, stride in conv_layers(spec, spec.input_size):
        skip = name.endswith("skip")
        layer = torch.nn.Conv1d(
            channels, filters, kernel, stride=stride, padding=(kernel - 1) // 2, bias=not skip, dtype=kind
        )
        with torch.no_grad():  # seqlab's W: (kernel * channels, filters), rows by offset then channel
            weights = params[name if skip else f"{name}_W"].reshape(kernel, channels, filters)
            layer.weight.copy_(torch.from_numpy(weights.T.copy()))
            if not skip:
                layer.bias.copy_(torch.from_numpy(params[f"{name}_b"]))
        norm = [] if skip else [torch.nn.BatchNorm1d(filters, eps=1e-5, momentum=conv.momentum, dtype=kind)]
        layers[name] = torch.nn.Sequential(layer, *norm)
    out = torch.nn.Linear(params["out_W"].shape[0], spec.num_classes, dtype=kind)
    network = torch.nn.ModuleDict({"conv": layers, "out": out})
    relu = torch.nn.functional.relu
    if spec.encoder == "rnn":
        shuffle = spec.options.dimension_shuffle  # LSTM-FCN's: each channel one step of its values over time
        lstm_inputs = conv.filters[-1] if conv.layout == "frontend" else spec.steps if shuffle else spec.input_size
        lstm = torch.nn.LSTM(lstm_inputs, spec.options.hidden_size, batch_first=True, dtype=kind)
        copy_weights(params, lstm, out)
        network["lstm"] = lstm
    else:
        with torch.no_grad():
            out.weight.copy_(torch.from_numpy(params["out_W"].T.copy()))
            out.bias.copy_(torch.from_numpy(params["out_b"]))

    def encode(x):  # (batch, channels, time) -> (batch, filters, steps)
        if spec.encoder != "resnet":
            for block in layers.values():
                x = relu(block(x))
            return x
        for i in range(len(conv.filters)):
            y = x
            for j in range(len(conv.kernels)):
                y = layers[f"res{i}_conv{j}"](y)
                y = relu(y) if j < len(conv.kernels) - 1 else y
            x = relu(y + (layers[f"res{i}_skip"](x) if f"res{i}_skip" in layers else x))
        return x

    def forward(inputs):
        convolved = encode(inputs.transpose(1, 2))
        if spec.encoder != "rnn":
            summary = convolved.mean(dim=2)
        elif conv.layout == "frontend":
            states, _ = lstm(convolved.transpose(1, 2))
            summary = states[:, -1]
        else:
            states, _ = lstm(inputs.transpose(1, 2) if spec.options.dimension_shuffle else inputs)
            summary = torch.cat([states[:, -1], convolved.mean(dim=2)], dim=1)
        return out(summary)

    return network, forward


def torch_step(spec: NetworkSpec, params: dict, dtype: str):
    """A PyTorch training step (``torch_network``, softmax cross-entropy, SGD) on a batch."""
    import torch

    network, forward = torch_network(spec, params, dtype)
    optimizer = torch.optim.SGD(network.parameters(), lr=LR)

    def step(x, mask, y):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward(torch.from_numpy(x)), torch.from_numpy(y).long())
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
