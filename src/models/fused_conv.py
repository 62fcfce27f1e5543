"""A fused convolution block for series: Conv1D → batch normalisation (→ + residual) (→ ReLU)
over the real steps of a padded batch as one PyTensor Op, and its backward pass as another, the
way the recurrences became fused Ops (``seqlab.models.fused``).

The graph built from PyTensor's own pieces spent more time in batch norm's element-wise passes
(C loops that accumulate float32 in float64, one pass per node) than in the convolution's
matrix product. Here the windows are gathered by one compiled copy and multiplied by the kernel
in one product on NumPy's multi-threaded BLAS (as ``seqlab.models.numpy_matmul``), and their
gradient is added back onto the inputs in one compiled pass, a chunk of sequences at a time
whose windows stay in the cache (``conv_products``, ``conv_gradients``); in training batch
normalisation, the residual and the ReLU are compiled kernels of three passes forward and two backward
(``seqlab.models.conv_kernels``), in evaluation NumPy's passes with the running statistics.
As PyTensor element-wise nodes (the mask broadcast over the filters, three outputs kept for the
gradient) the residual's sum and ReLU were a large part of a ResNet step (``docs/performance.md``).

Shapes: ``x`` (batch, time, channels), ``mask`` (batch, time) 1 on real steps; ``W`` (kernel *
channels, filters), rows by offset then channel; ``b``, ``gamma``, ``beta`` and the running
``mean``, ``var`` (filters,); a residual block's shortcut ``residual`` (batch, steps,
filters), added before the ReLU. Output step ``t`` sees the inputs ``t * stride + dilation * (j -
(kernel - 1) // 2)``, ``j`` in ``0 .. kernel - 1`` (zeros outside the sequence and on padded
steps), and is real when the input step ``t * stride`` is.
"""

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

# The epsilon added to the variance in batch normalisation.
BATCH_NORM_EPS = 1e-5


def gather_windows(x: np.ndarray, mask: np.ndarray, kernel: int, stride: int, dilation: int) -> np.ndarray:
    """The windows of every output step of ``x`` (batch, time, channels) with its padded steps
    zeroed: (batch * steps, kernel * channels), by offset then channel
    (``seqlab.models.conv_kernels.gather``)."""
    from seqlab.models import conv_kernels  # Numba is slow to import: imported by runs with conv blocks

    batch, time, channels = x.shape
    windows = np.empty((batch * -(-time // stride), kernel * channels), dtype=x.dtype)
    conv_kernels.gather(*_contiguous(x, mask), kernel, stride, dilation, _left(kernel, dilation), windows)
    return windows


def scatter_windows(g_windows: np.ndarray, mask: np.ndarray, kernel: int, stride: int, dilation: int) -> np.ndarray:
    """The adjoint of ``gather_windows``: the gradient (batch, time, channels) of the inputs
    from that of their windows (batch * steps, kernel * channels); ``mask`` (batch, time)."""
    from seqlab.models import conv_kernels

    batch, time = mask.shape
    g_x = np.empty((batch, time, g_windows.shape[1] // kernel), dtype=g_windows.dtype)
    conv_kernels.scatter(*_contiguous(g_windows, mask), kernel, stride, dilation, _left(kernel, dilation), g_x)
    return g_x


# The windows of at most about this many bytes are gathered at once: a chunk of the batch's
# sequences whose windows stay in the cache between their gathering and their products.
CHUNK_BYTES = 4 << 20


def _chunks(batch: int, steps: int, width: int, itemsize: int) -> list[slice]:
    """The batch's sequences in slices whose windows (``steps`` rows of ``width`` values of
    ``itemsize`` bytes each) take about ``CHUNK_BYTES``, one sequence at least."""
    size = max(1, CHUNK_BYTES // (steps * width * itemsize))
    return [slice(start, min(start + size, batch)) for start in range(0, batch, size)]


def conv_products(
    x: np.ndarray, mask: np.ndarray, W: np.ndarray, kernel: int, stride: int, dilation: int
) -> np.ndarray:
    """The convolution without its bias, windows ``W``: (batch * steps, filters) from ``x``
    (batch, time, channels), ``mask`` (batch, time) and ``W`` (kernel * channels, filters),
    the windows gathered for a chunk of sequences at a time (``_chunks``)."""
    batch, steps = x.shape[0], -(-x.shape[1] // stride)
    z = np.empty((batch * steps, W.shape[1]), dtype=np.result_type(x, W))
    for part in _chunks(batch, steps, W.shape[0], x.itemsize):
        windows = gather_windows(x[part], mask[part], kernel, stride, dilation)
        np.matmul(windows, W, out=z[part.start * steps : part.stop * steps])
    return z


def conv_gradients(
    x: np.ndarray, mask: np.ndarray, W: np.ndarray, g_z: np.ndarray, kernel: int, stride: int, dilation: int
) -> tuple[np.ndarray, np.ndarray]:
    """The gradients ``(g_x, g_W)`` of ``conv_products`` given ``g_z`` (batch * steps,
    filters): g_W = windowsᵀ g_z and the windows' gradient g_z Wᵀ scattered back onto the
    inputs, a chunk of sequences at a time."""
    batch, steps = x.shape[0], -(-x.shape[1] // stride)
    g_W, g_x = np.zeros_like(W), np.empty_like(x)
    for part in _chunks(batch, steps, W.shape[0], x.itemsize):
        rows = g_z[part.start * steps : part.stop * steps]
        g_W += gather_windows(x[part], mask[part], kernel, stride, dilation).T @ rows
        g_x[part] = scatter_windows(rows @ W.T, mask[part], kernel, stride, dilation)
    return g_x, g_W


def _left(kernel: int, dilation: int) -> int:
    """How many steps before an output step its window starts: (kernel − 1) // 2 offsets."""
    return dilation * ((kernel - 1) // 2)


def _contiguous(*arrays: np.ndarray) -> list[np.ndarray]:
    """The arrays C-contiguous, as the compiled kernels are specialised for."""
    return [np.ascontiguousarray(a) for a in arrays]


def _zero_padding(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``a`` (batch, steps, features) with its padded steps (``mask`` (batch, steps) 0) set to
    zero in place; untouched when every step is real (series of one length)."""
    if not mask.all():
        a *= mask[:, :, None]
    return a


def conv_norm_forward(x, mask, W, b, gamma, beta, mean, var, kernel, stride, dilation, relu, training, residual=None):
    """Conv1D z = windows W + b, batch normalisation γ (z − μ) / σ + β with σ = √(var + ε),
    plus ``residual`` (batch, steps, filters; a residual block's shortcut, None for none) and,
    with ``relu``, a ReLU. ``training``: μ and var are the mean and biased variance of
    the batch's real steps (``seqlab.models.conv_kernels.norm_forward``); returns ``(out,
    batch_mean, batch_var, centred)``, ``centred`` (batch, steps, filters) = z − μ for the
    backward pass (b cancels: z is computed without it). Else the running ``mean``, ``var``
    normalise: ``(out,)``. ``out`` (batch, steps, filters) is zero on padded steps."""
    batch = x.shape[0]
    out_mask = np.ascontiguousarray(mask[:, ::stride])
    shape = (batch, out_mask.shape[1], W.shape[1])
    z = conv_products(x, mask, W, kernel, stride, dilation)
    eps = np.asarray(BATCH_NORM_EPS, dtype=x.dtype)
    if training:
        from seqlab.models import conv_kernels  # Numba is slow to import: imported by runs with conv blocks

        out = np.empty_like(z)
        added = _rows(residual, shape[2], z.dtype)
        centre, var = conv_kernels.norm_forward(z, out_mask.reshape(-1), gamma, beta, eps, relu, added, out)
        return out.reshape(shape), centre + b, var, z.reshape(shape)
    scale = gamma / np.sqrt(var + eps)
    z *= scale
    z += beta + (b - mean) * scale
    if residual is not None:
        z += residual.reshape(z.shape)
    out = _zero_padding(z.reshape(shape), out_mask)
    if relu:
        np.maximum(out, 0, out=out)
    return (out,)


def conv_norm_backward(
    x, mask, W, b, gamma, mean, var, out, centred, g_out, kernel, stride, dilation, relu, training, residual=False
):
    """The gradients ``(g_x, g_W, g_b, g_gamma, g_beta, g_mean, g_var)`` of
    ``conv_norm_forward`` given ``g_out`` (batch, steps, filters) and its ``out`` (with
    ``residual``, followed by the residual's gradient g, (batch, steps, filters)); in training
    ``mean``, ``var`` are the batch's and ``centred`` the forward's z − μ, in evaluation the
    running statistics, and ``centred`` is None (recomputed). With ``g`` the gradient of the
    normalised outputs (zero on padded steps and, with ``relu``, where ``out`` is 0), σ =
    √(var + ε) and x̂ = (z − μ) / σ: g_beta = Σ g, g_gamma = Σ g x̂ and the convolution's
    gradient g_z (Ioffe and Szegedy 2015), in training over the N real steps

        g_z = m · γ / σ · (g − g_beta / N − x̂ · g_gamma / N),  g_b = Σ g_z = 0,

    and in evaluation g_z = m · γ g / σ, g_b = Σ g_z, g_mean = −g_b, g_var = −γ g_gamma / (2σ²);
    then g_W = windowsᵀ g_z and the windows' gradient g_z Wᵀ scattered back onto the inputs.
    In training (``seqlab.models.conv_kernels.norm_backward``) the running statistics get no
    gradient (g_mean = g_var = 0)."""
    out_mask = np.ascontiguousarray(mask[:, ::stride])
    filters = W.shape[1]
    eps = np.asarray(BATCH_NORM_EPS, dtype=var.dtype)
    zeros = np.zeros(filters, dtype=x.dtype)
    if training:
        from seqlab.models import conv_kernels

        rows = [np.ascontiguousarray(a).reshape(-1, filters) for a in (g_out, out, centred)]
        g = np.empty_like(rows[0])
        g_res = np.empty_like(g) if residual else _rows(None, filters, g.dtype)
        g_gamma, g_beta = conv_kernels.norm_backward(*rows, out_mask.reshape(-1), gamma, var, eps, relu, g, g_res)
        g_b, g_mean, g_var = zeros, zeros, zeros
    else:
        inv_std = 1 / np.sqrt(var + eps)
        centred = conv_products(x, mask, W, kernel, stride, dilation)
        centred += b - mean
        if relu:  # out ≥ 0, so sign(out) is the ReLU's derivative; out is 0 on padded steps too
            g = np.sign(out.reshape(-1, filters))
            g *= g_out.reshape(-1, filters)
        else:
            g = _zero_padding(np.array(g_out, copy=True), out_mask).reshape(-1, filters)
        g_res = g.copy() if residual else None
        g_beta = np.ones(len(g), dtype=g.dtype) @ g
        g_gamma = np.einsum("nf,nf->f", g, centred) * inv_std
        scale = gamma * inv_std
        g *= scale
        g_b = np.ones(len(g), dtype=g.dtype) @ g
        g_mean, g_var = -g_b, -0.5 * scale * inv_std * g_gamma
    g_x, g_W = conv_gradients(x, mask, W, g, kernel, stride, dilation)
    grads = (g_x, g_W, g_b, g_gamma, g_beta, g_mean, g_var)
    return (*grads, g_res.reshape(out.shape)) if residual else grads


def _rows(residual: np.ndarray | None, filters: int, dtype) -> np.ndarray:
    """A residual (batch, steps, filters) as the kernels' (rows, filters); None as (0, filters)."""
    if residual is None:
        return np.empty((0, filters), dtype=dtype)
    return np.ascontiguousarray(residual, dtype=dtype).reshape(-1, filters)


class _ConvNormOp(Op):
    """What both Ops are built for: the block's geometry, its ReLU, its mode and whether a
    residual (a residual block's shortcut) is added before the ReLU."""

    __props__ = ("kernel", "stride", "dilation", "relu", "training", "residual")

    def __init__(self, kernel: int, stride: int, dilation: int, relu: bool, training: bool, residual: bool = False):
        self.kernel, self.stride, self.dilation, self.relu, self.training = kernel, stride, dilation, relu, training
        self.residual = residual


class ConvNorm(_ConvNormOp):
    """``(x, mask, W, b, gamma, beta, mean, var[, residual]) -> conv_norm_forward(...)``:
    in training the block's outputs, its batch mean and variance (for the running statistics)
    and the centred convolution; in evaluation the outputs alone. ``residual`` (batch, steps,
    filters) is an input where the Op adds one: the sum and the ReLU after it are then part of
    the block's passes, not element-wise passes of their own."""

    def make_node(self, *args):
        inputs = [pt.as_tensor_variable(v) for v in args]
        if len(inputs) != 8 + self.residual:
            raise TypeError(f"{self} takes {8 + self.residual} inputs, got {len(inputs)}")
        dtype = inputs[0].dtype
        outputs = [pt.tensor3(dtype=dtype)]
        if self.training:
            outputs += [pt.vector(dtype=dtype), pt.vector(dtype=dtype), pt.tensor3(dtype=dtype)]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, outputs):
        x, mask, *weights = inputs[:8]
        mask = mask.astype(x.dtype, copy=False)
        residual = inputs[8] if self.residual else None
        results = conv_norm_forward(
            x, mask, *weights, self.kernel, self.stride, self.dilation, self.relu, self.training, residual
        )
        for store, value in zip(outputs, results, strict=True):
            store[0] = value

    def infer_shape(self, fgraph, node, input_shapes):
        (batch, time, _), _, (_, filters) = input_shapes[:3]
        out = (batch, (time + self.stride - 1) // self.stride, filters)
        return [out, (filters,), (filters,), out] if self.training else [out]

    def pullback(self, inputs, outputs, output_grads):
        x, mask, W, b, gamma, beta, mean, var = inputs[:8]
        out, g_out = outputs[0], output_grads[0]
        if isinstance(g_out.type, DisconnectedType):
            g_out = pt.zeros_like(out)
        grad = ConvNormGrad(self.kernel, self.stride, self.dilation, self.relu, self.training, self.residual)
        stats = [outputs[1], outputs[2], out, outputs[3]] if self.training else [mean, var, out]
        g_x, *grads = grad(x, mask, W, b, gamma, *stats, g_out)
        return [g_x, pt.zeros_like(mask), *grads]


class ConvNormGrad(_ConvNormOp):
    """``(x, mask, W, b, gamma, mean, var, out[, centred], g_out) -> (g_x, g_W, g_b, g_gamma,
    g_beta, g_mean, g_var[, g_residual])``: ``conv_norm_backward``, ``centred`` in training
    only, ``g_residual`` where the forward Op added a residual."""

    def make_node(self, *inputs):
        inputs = [pt.as_tensor_variable(v) for v in inputs]
        x, W, vector, out = inputs[0], inputs[2], inputs[3], inputs[7]
        residual = [out.type()] if self.residual else []
        return Apply(self, inputs, [x.type(), W.type(), *(vector.type() for _ in range(5)), *residual])

    def perform(self, node, inputs, outputs):
        x, mask, W, b, gamma, mean, var, out, *rest = inputs
        centred, g_out = rest if self.training else (None, *rest)
        mask = mask.astype(x.dtype, copy=False)
        grads = conv_norm_backward(
            x, mask, W, b, gamma, mean, var, out, centred, g_out,
            self.kernel, self.stride, self.dilation, self.relu, self.training, self.residual,
        )  # fmt: skip
        for store, value in zip(outputs, grads, strict=True):
            store[0] = value

    def infer_shape(self, fgraph, node, input_shapes):
        x, _, W, b = input_shapes[:4]
        return [x, W, b, b, b, b, b, *([input_shapes[7]] if self.residual else [])]
