"""A matrix product run by NumPy, for the fused path's input projections and the convolutions.

PyTensor's own products run on MKL, kept to one thread (see :mod:`seqlab.engine`); the
fused recurrences already multiply with NumPy's multi-threaded OpenBLAS. Running the input
projection ``(time*batch, features) @ W`` and its weight gradient there too halves their time
(see ``docs/performance.md``), and the convolutions' window products run there too.
``numpy_affine`` adds a bias inside the product.
"""

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.scalar import upcast


class NumpyMatmul(Op):
    """``(a, b) -> a @ b`` for matrices (m, k) and (k, n), with its gradient."""

    __props__ = ()

    def make_node(self, a, b):
        a, b = pt.as_tensor_variable(a), pt.as_tensor_variable(b)
        if a.ndim != 2 or b.ndim != 2:
            raise TypeError(f"NumpyMatmul multiplies matrices, got {a.ndim}-d and {b.ndim}-d inputs")
        return Apply(self, [a, b], [pt.matrix(dtype=upcast(a.dtype, b.dtype))])

    def perform(self, node, inputs, outputs):
        a, b = inputs
        outputs[0][0] = np.matmul(a, b).astype(node.outputs[0].dtype, copy=False)

    def infer_shape(self, fgraph, node, input_shapes):
        return [(input_shapes[0][0], input_shapes[1][1])]

    def pullback(self, inputs, outputs, output_grads):
        a, b = inputs
        (g,) = output_grads
        return [numpy_matmul(g, b.T), numpy_matmul(a.T, g)]


numpy_matmul = NumpyMatmul()


def numpy_affine(x, W, b):
    """``x @ W + b`` for x (m, k), W (k, n) and b (n,), as one ``NumpyMatmul``: x with a
    column of ones (m, k + 1) times W with b as its last row (k + 1, n). The bias costs no
    pass over the (m, n) outputs of its own, and its gradient, the column sums of the
    outputs' gradient, is the last row of the weights' gradient product (x1ᵀ g). Worth it
    where k is small next to n (an input projection), as x is copied once."""
    ones = pt.ones((x.shape[0], 1), dtype=x.dtype)
    return numpy_matmul(pt.concatenate([x, ones], axis=1), pt.concatenate([W, b[None, :]], axis=0))
