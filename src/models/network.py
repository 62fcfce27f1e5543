"""A recurrent classifier network: [embedding] → [dropout] → [convolution blocks] → stacked
(bi)directional recurrent layers [with dropout between them and on their recurrent weights] →
pooling over time (last, mean, max or attention) [joined by the convolution branch's average]
→ [dropout] → linear output layer.

Convolution blocks (``seqlab.models.conv``) either feed the recurrent layers (``frontend``) or
run beside them on the same inputs, their outputs averaged over time and joined to the
recurrent summary (``branch``: the LSTM-FCN layout).

Parameters are one flat dict of NumPy arrays by name (``init_network_params``); the graph is
a function of the matching shared variables (``network_logits``).
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

from seqlab.models.cells import get_cell
from seqlab.models.conv import conv_blocks
from seqlab.models.dropout import Dropout
from seqlab.models.fused import FusedRecurrence
from seqlab.models.initializers import INPUT_INITIALIZERS, RECURRENT_INITIALIZERS
from seqlab.models.numpy_matmul import numpy_matmul
from seqlab.models.pooling import pool


@dataclass(frozen=True)
class NetworkSpec:
    """Everything that fixes a network's shape and structure (built from a validated ``model``
    config by ``seqlab.experiments.builders``, whose schema holds the defaults).

    input_size: features per step of real-valued inputs (batch, time, input_size); with
    ``vocab_size`` set, inputs are int tokens (batch, time) looked up in an embedding of
    ``embedding_dim`` columns instead.
    cell: a registered cell's name; cell_options: an instance of its options dataclass.
    """

    num_classes: int
    input_size: int
    vocab_size: int | None
    embedding_dim: int | None
    padding_id: int
    cell: str
    cell_options: Any
    hidden_size: int
    num_layers: int
    bidirectional: bool
    dropout: float
    input_dropout: float
    output_dropout: float
    recurrent_dropout: float
    variational_dropout: bool
    pooling: str
    attention_size: int
    conv_filters: tuple[int, ...]
    conv_kernels: tuple[int, ...]
    conv_strides: tuple[int, ...]
    conv_dilations: tuple[int, ...]
    conv_residual: bool
    conv_layout: str
    conv_momentum: float
    input_init: str
    recurrent_init: str
    init_std: float
    implementation: str

    @property
    def uses_tokens(self) -> bool:
        return self.vocab_size is not None

    @property
    def directions(self) -> tuple[str, ...]:
        return ("fwd", "bwd") if self.bidirectional else ("fwd",)

    @property
    def dropout_rates(self) -> dict[str, float]:
        """The dropout rate at each place that has one (``seqlab.models.dropout``)."""
        rates = {
            "input": self.input_dropout,
            "between": self.dropout if self.num_layers > 1 else 0.0,
            "recurrent": self.recurrent_dropout,
            "output": self.output_dropout,
        }
        return {where: rate for where, rate in rates.items() if rate > 0}

    @property
    def running_stats(self) -> tuple[str, ...]:
        """Parameters that training updates from batch statistics, not from gradients."""
        return tuple(f"conv{i}_{name}" for i in range(len(self.conv_filters)) for name in ("mean", "var"))

    def layer_input_size(self, layer: int) -> int:
        if layer > 0:
            return self.hidden_size * len(self.directions)
        if self.conv_filters and self.conv_layout == "frontend":
            return self.conv_filters[-1]
        return self.embedding_dim if self.uses_tokens else self.input_size


def init_network_params(spec: NetworkSpec, seed: int | list[int]) -> dict[str, np.ndarray]:
    """Seeded float64 parameters by name.

    ``embedding`` (vocab, embedding_dim) when tokens are used, row ``padding_id`` zero;
    per layer ``l`` and direction ``d``: ``rnn{l}_{d}_W`` (inputs, gates*hidden),
    ``rnn{l}_{d}_U`` (hidden, gates*hidden), ``rnn{l}_{d}_b`` (gates*hidden,), set by the cell's
    ``init_bias`` rule (e.g. the LSTM's forget gate bias); per convolution block ``i``:
    ``conv{i}_W`` (kernel * channels, filters), ``conv{i}_b``, and batch normalisation's
    ``conv{i}_gamma`` (ones), ``conv{i}_beta``, running ``conv{i}_mean`` (zeros) and
    ``conv{i}_var`` (ones), each (filters,), and with ``conv_residual``, where a block changes
    the channels or the steps, its shortcut ``conv{i}_skip`` (channels, filters); for attention
    pooling ``att_W`` (pooled, attention_size), ``att_b`` and ``att_v`` (attention_size,); then
    ``out_W`` (pooled, classes) and ``out_b`` (classes,).
    """
    rng = np.random.default_rng(seed)
    cell = get_cell(spec.cell)
    input_init = INPUT_INITIALIZERS[spec.input_init]
    recurrent_init = RECURRENT_INITIALIZERS[spec.recurrent_init]
    hidden, gates = spec.hidden_size, cell.num_gates
    params: dict[str, np.ndarray] = {}
    if spec.uses_tokens:
        embedding = rng.standard_normal((spec.vocab_size, spec.embedding_dim))
        embedding[spec.padding_id] = 0.0
        params["embedding"] = embedding
    channels = spec.embedding_dim if spec.uses_tokens else spec.input_size
    blocks = zip(spec.conv_filters, spec.conv_kernels, spec.conv_strides, strict=True)
    for i, (filters, kernel, stride) in enumerate(blocks):
        params[f"conv{i}_W"] = input_init(rng, kernel * channels, filters, 1, spec.init_std)
        for name, start in (("b", 0.0), ("gamma", 1.0), ("beta", 0.0), ("mean", 0.0), ("var", 1.0)):
            params[f"conv{i}_{name}"] = np.full(filters, start)
        if spec.conv_residual and (channels != filters or stride > 1):
            params[f"conv{i}_skip"] = input_init(rng, channels, filters, 1, spec.init_std)
        channels = filters
    for layer in range(spec.num_layers):
        for direction in spec.directions:
            name = f"rnn{layer}_{direction}"
            params[f"{name}_W"] = input_init(rng, spec.layer_input_size(layer), hidden, gates, spec.init_std)
            params[f"{name}_U"] = recurrent_init(rng, hidden, hidden, gates, spec.init_std)
            bias = np.zeros(gates * hidden)
            cell.init_bias(bias, hidden, spec.cell_options)
            params[f"{name}_b"] = bias
    pooled = hidden * len(spec.directions)
    if spec.pooling == "attention":
        params["att_W"] = input_init(rng, pooled, spec.attention_size, 1, spec.init_std)
        params["att_b"] = np.zeros(spec.attention_size)
        params["att_v"] = input_init(rng, spec.attention_size, 1, 1, spec.init_std)[:, 0]
    summary = pooled + (spec.conv_filters[-1] if spec.conv_filters and spec.conv_layout == "branch" else 0)
    params["out_W"] = input_init(rng, summary, spec.num_classes, 1, spec.init_std)
    params["out_b"] = np.zeros(spec.num_classes)
    return params


def _recurrent_layer(spec, params, name, inputs, mask, backwards, dropout):
    """Run one direction of one layer over inputs (time, batch, features), with ``dropout``'s
    ``recurrent`` rate (if any) applied to its recurrent weights.

    Returns the output states (time, batch, hidden) in the original time order and the
    state after the last real step (batch, hidden). ``spec.implementation`` picks the fused
    Op ('fused') or PyTensor's ``scan`` over the cell's step ('scan', the reference).
    """
    W, U = params[f"{name}_W"], params[f"{name}_U"]
    if dropout is not None:
        U = dropout(U, "recurrent")
    T, B = inputs.shape[0], inputs.shape[1]
    # One (time*batch, features) matrix product, whose gradient is one product too; the fused
    # path runs it on NumPy's BLAS like the recurrence (see ``seqlab.models.numpy_matmul``).
    x = inputs.reshape((T * B, inputs.shape[2]))
    product = numpy_matmul(x, W) if spec.implementation == "fused" else x @ W
    xw = product.reshape((T, B, W.shape[1])) + params[f"{name}_b"]
    if spec.implementation == "fused":
        if backwards:
            xw, mask = xw[::-1], mask[::-1]
        outputs, _ = FusedRecurrence(spec.cell, spec.cell_options)(xw, mask, U)
        return (outputs[::-1] if backwards else outputs), outputs[-1]
    cell = get_cell(spec.cell)
    h0 = pt.zeros((inputs.shape[1], U.shape[0]), dtype=inputs.dtype)
    states = pytensor.scan(
        lambda *args: cell.step(*args, spec.cell_options),
        sequences=[xw, mask],
        outputs_info=[h0] * cell.num_states,
        non_sequences=[U],
        go_backwards=backwards,
        strict=True,
        return_list=True,
        return_updates=False,
    )
    outputs = states[0]
    return (outputs[::-1] if backwards else outputs), outputs[-1]


def network_logits(
    spec: NetworkSpec,
    params: dict[str, TensorVariable],
    inputs: TensorVariable,
    mask: TensorVariable,
    dropout: Dropout | None = None,
    updates: list | None = None,
) -> TensorVariable:
    """Class scores (batch, classes) of a batch.

    inputs: (batch, time, features) floats, or (batch, time) int tokens when ``spec.uses_tokens``.
    mask: (batch, time), 1 on real steps; sequences are padded at the end.
    dropout: applied to the inputs, between recurrent layers, to the recurrent weights and to
    the pooled summary, where ``spec`` has rates (training graphs only).
    updates: given (a list: a training graph), batch normalisation uses the batch's statistics
    and appends the updates of its running statistics; None uses the running statistics.
    """
    x = params["embedding"][inputs] if spec.uses_tokens else inputs
    if dropout is not None:
        x = dropout(x, "input", time_axis=1)
    branch = None
    if spec.conv_filters:
        convolved, conv_mask = conv_blocks(spec, params, x, mask, updates)
        if spec.conv_layout == "frontend":
            x, mask = convolved, conv_mask
        else:  # global average pooling over the real steps
            branch = convolved.sum(axis=1) / conv_mask.sum(axis=1)[:, None]
    x = x.dimshuffle(1, 0, 2)  # time-major for scan
    m = mask.T
    for layer in range(spec.num_layers):
        if layer > 0 and dropout is not None:
            x = dropout(x, "between", time_axis=0)
        runs = [_recurrent_layer(spec, params, f"rnn{layer}_{d}", x, m, (d == "bwd"), dropout) for d in spec.directions]
        x = pt.concatenate([outputs for outputs, _ in runs], axis=2) if len(runs) > 1 else runs[0][0]
        last = pt.concatenate([final for _, final in runs], axis=1) if len(runs) > 1 else runs[0][1]
    attention = (params["att_W"], params["att_b"], params["att_v"]) if spec.pooling == "attention" else None
    pooled = pool(x, m, last, spec.pooling, attention)
    if branch is not None:
        pooled = pt.concatenate([pooled, branch], axis=1)
    if dropout is not None:
        pooled = dropout(pooled, "output")
    return pooled @ params["out_W"] + params["out_b"]


def count_parameters(params: dict[str, np.ndarray]) -> int:
    """Total number of scalar parameters."""
    return int(sum(np.size(value) for value in params.values()))
