"""Stacked (bi)directional recurrent layers of a registered cell (``seqlab.models.cells``), with
dropout between layers and on the recurrent weights: the ``RecurrentStack`` block."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt

from seqlab.models.blocks.base import Block
from seqlab.models.cells import get_cell
from seqlab.models.fused import FusedRecurrence
from seqlab.models.numpy_matmul import numpy_affine


@dataclass
class RecurrentStack(Block):
    """``num_layers`` layers of ``cell`` (with ``cell_options``), each a forward and, when
    ``bidirectional``, a backward direction whose outputs stand side by side.

    Parameters per layer ``l`` and direction ``d`` (fwd, bwd): ``{l}_{d}_W`` (inputs,
    gates * hidden), ``{l}_{d}_U`` (hidden, gates * hidden) and ``{l}_{d}_b`` (gates * hidden,),
    set by the cell's ``init_bias`` rule (e.g. the LSTM's forget gate bias).
    Outputs (batch, time, hidden * directions), the mask unchanged. Dropout: ``between`` on the
    inputs of every layer but the first, ``recurrent`` on each direction's U.
    implementation: 'fused' (a whole-sequence Op) or 'scan' (PyTensor's scan over the cell's
    step, the reference). input_weights, recurrent_weights: initialisers
    ``(rng, fan_in, fan_out, gates)``.
    """

    cell: str
    cell_options: Any
    hidden_size: int
    num_layers: int
    bidirectional: bool
    between_dropout: float
    recurrent_dropout: float
    implementation: str
    input_weights: Callable
    recurrent_weights: Callable
    prefix: str = "rnn"

    @property
    def directions(self) -> tuple[str, ...]:
        return ("fwd", "bwd") if self.bidirectional else ("fwd",)

    @property
    def dropout(self) -> dict[str, float]:
        rates = {"between": self.between_dropout if self.num_layers > 1 else 0.0, "recurrent": self.recurrent_dropout}
        return {place: rate for place, rate in rates.items() if rate > 0}

    def init(self, rng, in_features):
        cell = get_cell(self.cell)
        hidden, gates = self.hidden_size, cell.num_gates
        params: dict[str, np.ndarray] = {}
        for layer in range(self.num_layers):
            inputs = in_features if layer == 0 else hidden * len(self.directions)
            for direction in self.directions:
                name = f"{layer}_{direction}"
                params[f"{name}_W"] = self.input_weights(rng, inputs, hidden, gates)
                params[f"{name}_U"] = self.recurrent_weights(rng, hidden, hidden, gates)
                bias = np.zeros(gates * hidden)
                cell.init_bias(bias, hidden, self.cell_options)
                params[f"{name}_b"] = bias
        return params, hidden * len(self.directions)

    def shapes(self, in_features):
        hidden, gates = self.hidden_size, get_cell(self.cell).num_gates
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in range(self.num_layers):
            inputs = in_features if layer == 0 else hidden * len(self.directions)
            for direction in self.directions:
                name = f"{layer}_{direction}"
                shapes |= {f"{name}_W": (inputs, gates * hidden), f"{name}_U": (hidden, gates * hidden)}
                shapes[f"{name}_b"] = (gates * hidden,)
        return shapes, hidden * len(self.directions)

    def apply(self, params, x, mask, ctx):
        x = x.dimshuffle(1, 0, 2)  # time-major for the recurrence
        m = mask.T
        for layer in range(self.num_layers):
            if layer > 0 and ctx.dropout is not None:
                x = ctx.dropout(x, "between", time_axis=0)
            runs = [self._direction(params, f"{layer}_{d}", x, m, d == "bwd", ctx) for d in self.directions]
            x = pt.concatenate(runs, axis=2) if len(runs) > 1 else runs[0]
        return x.dimshuffle(1, 0, 2), mask

    def _direction(self, params, name, inputs, mask, backwards, ctx):
        """One direction of one layer over ``inputs`` (time, batch, features): the output
        states (time, batch, hidden) in the original time order."""
        W, U = params[f"{name}_W"], params[f"{name}_U"]
        if ctx.dropout is not None:
            U = ctx.dropout(U, "recurrent")
        T, B = inputs.shape[0], inputs.shape[1]
        # One (time*batch, features) matrix product, whose gradient is one product too; the fused
        # path runs it on NumPy's BLAS like the recurrence, the bias inside the product
        # (see ``seqlab.models.numpy_matmul``).
        x, b = inputs.reshape((T * B, inputs.shape[2])), params[f"{name}_b"]
        fused = self.implementation == "fused"
        xw = (numpy_affine(x, W, b) if fused else x @ W + b).reshape((T, B, W.shape[1]))
        if fused:
            if backwards:
                xw, mask = xw[::-1], mask[::-1]
            outputs, _ = FusedRecurrence(self.cell, self.cell_options)(xw, mask, U)
        else:
            cell = get_cell(self.cell)
            h0 = pt.zeros((B, U.shape[0]), dtype=inputs.dtype)
            outputs = pytensor.scan(
                lambda *args: cell.step(*args, self.cell_options),
                sequences=[xw, mask],
                outputs_info=[h0] * cell.num_states,
                non_sequences=[U],
                go_backwards=backwards,
                strict=True,
                return_list=True,
                return_updates=False,
            )[0]
        return outputs[::-1] if backwards else outputs
