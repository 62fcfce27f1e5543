"""Temporal convolution blocks for series (FCN / LSTM-FCN, Wang et al. 2017, Karim et al.
2018): Conv1D → batch normalisation → ReLU, over the real steps of padded batches.

A convolution is one matrix product over unfolded windows: the windows of every output step
are gathered into a (batch × steps, kernel × channels) matrix and multiplied by the kernel
(kernel × channels, filters), so BLAS does the arithmetic (NumPy's, as the input projections:
``seqlab.models.numpy_matmul``); PyTensor derives the gradient (the
transposed products, and one strided slice increment per kernel offset for the inputs).
Blocks may stride, dilate and add their input (residual).
"""

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

from seqlab.models.numpy_matmul import numpy_matmul

# The epsilon added to the variance in batch normalisation.
BATCH_NORM_EPS = 1e-5


def conv1d(x: TensorVariable, mask: TensorVariable, W, b, kernel: int, stride: int = 1, dilation: int = 1) -> tuple:
    """A 'same' convolution of ``x`` (batch, time, channels) over its real steps (``mask``
    (batch, time)): padded steps count as zeros, as the steps beyond either end do.

    Output step ``t`` sees the inputs ``t * stride + dilation * (j - (kernel - 1) // 2)`` for
    ``j`` in ``0 .. kernel - 1`` (zeros outside the sequence). W: (kernel * channels, filters),
    rows ordered by offset then channel; b: (filters,). Returns the outputs (batch, ceil(time /
    stride), filters), zero where the output mask is, and that mask: an output step is real
    when the input step at its centre (``t * stride``) is.

    The windows are ``kernel`` strided slices joined along the channels, so the gradient is
    the transposed product and ``kernel`` slice increments (no scatter over an index array).
    """
    batch, time, channels = x.shape[0], x.shape[1], x.shape[2]
    steps = (time + stride - 1) // stride
    reach = dilation * (kernel - 1)  # the window's span beyond its first step
    zeros = pt.zeros((batch, reach, channels), dtype=x.dtype)
    padded = pt.concatenate([zeros, x * mask[:, :, None], zeros], axis=1)  # step s is padded[:, s + reach]
    first = reach - dilation * ((kernel - 1) // 2)
    last = (steps - 1) * stride + 1
    shifted = [padded[:, first + dilation * j : first + dilation * j + last : stride] for j in range(kernel)]
    windows = pt.concatenate(shifted, axis=2).reshape((batch * steps, kernel * channels))
    out_mask = mask[:, ::stride]
    y = numpy_matmul(windows, W).reshape((batch, steps, W.shape[1])) + b
    return y * out_mask[:, :, None], out_mask


def batch_norm(y, mask, gamma, beta, mean, var, momentum, updates: list | None) -> TensorVariable:
    """Normalise ``y`` (batch, time, filters) per filter over its real steps (``mask`` (batch,
    time)), then scale by ``gamma`` and shift by ``beta`` (Ioffe and Szegedy 2015).

    With ``updates`` (a list: training), the statistics are the batch's (mean and biased
    variance over real steps), and the running ``mean`` and ``var`` (shared variables) get
    ``(1 - momentum) * running + momentum * batch`` appended to ``updates``; without it
    (evaluation), the running statistics are used.
    """
    m = mask[:, :, None]
    eps, momentum = (pt.as_tensor_variable(np.asarray(v, dtype=y.dtype)) for v in (BATCH_NORM_EPS, momentum))
    if updates is None:
        centre, spread = mean, var
    else:
        count = m.sum(axis=(0, 1))
        centre = (y * m).sum(axis=(0, 1)) / count
        spread = (((y - centre) * m) ** 2).sum(axis=(0, 1)) / count
        updates += [(mean, (1 - momentum) * mean + momentum * centre), (var, (1 - momentum) * var + momentum * spread)]
    return ((y - centre) / pt.sqrt(spread + eps) * gamma + beta) * m


def conv_blocks(spec, params, x, mask, updates: list | None) -> tuple[TensorVariable, TensorVariable]:
    """Run ``spec``'s convolution blocks (``conv{i}_*`` parameters) over ``x`` (batch, time,
    channels) with ``mask`` (batch, time): each a ``conv1d``, ``batch_norm`` and ReLU. With
    ``spec.conv_residual`` each block adds its input before the ReLU (He et al. 2016; Wang et
    al. 2017), through a 1×1 convolution ``conv{i}_skip`` (channels, filters) where the
    channels or the steps change. Returns the last block's outputs (batch, steps, filters)
    and their mask (batch, steps)."""
    blocks = zip(spec.conv_kernels, spec.conv_strides, spec.conv_dilations, strict=True)
    for i, (kernel, stride, dilation) in enumerate(blocks):
        y, out_mask = conv1d(x, mask, params[f"conv{i}_W"], params[f"conv{i}_b"], kernel, stride, dilation)
        y = batch_norm(
            y,
            out_mask,
            *(params[f"conv{i}_{name}"] for name in ("gamma", "beta", "mean", "var")),
            spec.conv_momentum,
            updates,
        )
        if spec.conv_residual:
            shortcut = x[:, ::stride]
            if f"conv{i}_skip" in params:
                shortcut = pt.tensordot(shortcut, params[f"conv{i}_skip"], axes=[[2], [0]])
            y = y + shortcut * out_mask[:, :, None]
        x, mask = pt.maximum(y, 0), out_mask
    return x, mask
