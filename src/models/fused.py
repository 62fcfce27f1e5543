"""Fused recurrences: a whole sequence's forward pass, and its backpropagation through time, as
one PyTensor Op each — the way cuDNN's RNN is exposed to frameworks.

``scan`` runs one small graph per time step with per-step overhead; these Ops run a cell's
``forward`` and ``backward`` (NumPy loops over time, in the cell's module under
``seqlab.models.cells``), which are tested against the cell's scan ``step`` and its NumPy
``reference_step``.

Inputs follow the scan layer: ``xw`` (time, batch, gates*hidden) is the precomputed input
projection, ``mask`` (time, batch) is 1 on real steps, ``U`` (hidden, gates*hidden) the fused
recurrent weights; the initial state is zero and padded steps carry the state over unchanged.
"""

from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from seqlab.models.cells import get_cell


class FusedRecurrence(Op):
    """``(xw, mask, U) -> (hs, cache)``: the states (time, batch, hidden) of cell ``cell`` (a
    registered name) with ``options`` (its options dataclass) over the whole sequence, and what
    its gradient needs (the cell's cache)."""

    __props__ = ("cell", "options")

    def __init__(self, cell: str, options: Any):
        self.cell, self.options = cell, options

    def make_node(self, xw, mask, U):
        xw, mask, U = (pt.as_tensor_variable(v) for v in (xw, mask, U))
        return Apply(self, [xw, mask, U], [pt.tensor3(dtype=xw.dtype), pt.tensor3(dtype=xw.dtype)])

    def perform(self, node, inputs, outputs):
        xw, mask, U = inputs
        hs, cache = get_cell(self.cell).forward(xw, np.ascontiguousarray(mask, dtype=xw.dtype), U, self.options)
        outputs[0][0], outputs[1][0] = hs, cache

    def infer_shape(self, fgraph, node, input_shapes):
        (steps, batch, _), _, (hidden, _) = input_shapes
        return [(steps, batch, hidden), (steps, batch, get_cell(self.cell).cache_width * hidden)]

    def pullback(self, inputs, outputs, output_grads):
        xw, mask, U = inputs
        hs, cache = outputs
        g_hs = output_grads[0]
        if isinstance(g_hs.type, DisconnectedType):
            g_hs = pt.zeros_like(hs)
        g_xw, g_U = FusedRecurrenceGrad(self.cell, self.options)(xw, mask, U, hs, cache, g_hs)
        return [g_xw, pt.zeros_like(mask), g_U]


class FusedRecurrenceGrad(Op):
    """``(xw, mask, U, hs, cache, g_hs) -> (g_xw, g_U)``: backpropagation through time."""

    __props__ = ("cell", "options")

    def __init__(self, cell: str, options: Any):
        self.cell, self.options = cell, options

    def make_node(self, xw, mask, U, hs, cache, g_hs):
        inputs = [pt.as_tensor_variable(v) for v in (xw, mask, U, hs, cache, g_hs)]
        return Apply(self, inputs, [inputs[0].type(), inputs[2].type()])

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0], input_shapes[2]]

    def perform(self, node, inputs, outputs):
        xw, mask, U, hs, cache, g_hs = inputs
        backward = get_cell(self.cell).backward
        g_xw, g_U = backward(xw, np.ascontiguousarray(mask, dtype=xw.dtype), U, hs, cache, g_hs, self.options)
        outputs[0][0], outputs[1][0] = g_xw, g_U
