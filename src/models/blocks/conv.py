"""Temporal convolution blocks for series (FCN / LSTM-FCN, Wang et al. 2017, Karim et al.
2018): Conv1D → batch normalisation → ReLU, over the real steps of padded batches.

A block (convolution, batch norm and, unless a residual comes first, the ReLU) is one fused Op
with a hand-written backward pass (``seqlab.models.fused_conv``): one product of the gathered
windows (batch × steps, kernel × channels) by the kernel (kernel × channels, filters) on
NumPy's BLAS, and batch norm's passes in the batch's dtype. ``conv1d`` is the same
convolution as a PyTensor graph, without batch norm, for the text CNN's wide convolutions
(PyTensor derives its gradient: the transposed products, and one strided slice increment per
kernel offset for the inputs). Blocks may stride, dilate and add their input (residual).
``ConvStack`` is the block; ``ConvOptions`` its ``model.conv.*`` options.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

from seqlab.fields import counts, in_range
from seqlab.models.blocks.base import Block
from seqlab.models.fused_conv import ConvNorm
from seqlab.models.numpy_matmul import numpy_matmul


def conv1d(
    x: TensorVariable, mask: TensorVariable, W, b, kernel: int, stride: int = 1, dilation: int = 1, wide: bool = False
) -> tuple:
    """A convolution of ``x`` (batch, time, channels) over its real steps (``mask`` (batch,
    time)): padded steps count as zeros, as the steps beyond either end do.

    'same' (the default): output step ``t`` sees the inputs ``t * stride + dilation * (j -
    (kernel - 1) // 2)`` for ``j`` in ``0 .. kernel - 1`` (zeros outside the sequence); an
    output step is real when the input step at its centre (``t * stride``) is. ``wide``
    (Kalchbrenner et al. 2014; Kim 2014's zero padding, any kernel, stride and dilation 1):
    output step ``t`` in ``0 .. time + kernel - 2`` sees the inputs ``t - kernel + 1 + j``, and
    is real when its window holds a real step.

    W: (kernel * channels, filters), rows ordered by offset then channel; b: (filters,).
    Returns the outputs (batch, steps, filters), zero where the output mask is, and that mask
    (batch, steps): steps = ceil(time / stride) ('same') or time + kernel - 1 (``wide``).

    The windows are ``kernel`` strided slices joined along the channels, so the gradient is
    the transposed product and ``kernel`` slice increments (no scatter over an index array).
    """
    batch, time, channels = x.shape[0], x.shape[1], x.shape[2]
    reach = dilation * (kernel - 1)  # the window's span beyond its first step
    zeros = pt.zeros((batch, reach, channels), dtype=x.dtype)
    padded = pt.concatenate([zeros, x * mask[:, :, None], zeros], axis=1)  # step s is padded[:, s + reach]
    if wide:
        steps, first, last = time + reach, 0, time + reach
        edge = pt.zeros((batch, reach), dtype=mask.dtype)
        padded_mask = pt.concatenate([edge, mask, edge], axis=1)
        out_mask = pt.max(pt.stack([padded_mask[:, j : j + steps] for j in range(kernel)]), axis=0)
    else:
        steps = (time + stride - 1) // stride
        first, last = reach - dilation * ((kernel - 1) // 2), (steps - 1) * stride + 1
        out_mask = mask[:, ::stride]
    shifted = [padded[:, first + dilation * j : first + dilation * j + last : stride] for j in range(kernel)]
    windows = pt.concatenate(shifted, axis=2).reshape((batch * steps, kernel * channels))
    y = numpy_matmul(windows, W).reshape((batch, steps, W.shape[1])) + b
    return y * out_mask[:, :, None], out_mask


@dataclass(frozen=True)
class ConvOptions:
    """Convolution blocks (Conv1D → batch norm → ReLU), one per entry of ``filters``."""

    filters: list[int] = counts()
    kernels: list[int] = counts(odd=True)  # one per block
    strides: list[int] = counts()  # one per block; [] is 1 for every block
    dilations: list[int] = counts()  # one per block; [] is 1 for every block
    residual: bool = False  # each block adds its input (a 1×1 convolution where the shape changes)
    momentum: float = in_range(0.1, 0.0, 1.0, closed_high=True)  # of batch norm's running statistics

    def cross_check(self) -> list[tuple[str, Any, str]]:
        """``(key, value, requirement)`` of each rule across the fields that fails."""
        found = []
        blocks = len(self.filters)
        if len(self.kernels) != blocks:
            found.append(("kernels", self.kernels, f"needs one kernel per block of conv.filters {self.filters}"))
        for key in ("strides", "dilations"):
            if len(getattr(self, key)) not in (0, blocks):
                found.append((key, getattr(self, key), f"needs [] or one per block of conv.filters {self.filters}"))
        return found

    def per_block(self, key: str) -> tuple[int, ...]:
        """``strides`` or ``dilations``, one per block (``[]`` is 1 for every block)."""
        return tuple(getattr(self, key)) or (1,) * len(self.filters)


def conv_norm(
    params, i: int, x, mask, kernel: int, stride: int, dilation: int, momentum: float, updates, residual=None
):
    """Convolution ``i`` (parameters ``{i}_W``, ``{i}_b``, ``{i}_gamma``, ``{i}_beta``,
    ``{i}_mean``, ``{i}_var``), batch normalisation of ``x`` (batch, time, channels) and a ReLU,
    one fused Op (``seqlab.models.fused_conv``), with ``residual`` (batch, steps, filters;
    read on real steps only) added before the ReLU: the outputs (batch, steps, filters) and
    their mask (batch, steps).

    With ``updates`` (a list: training) the statistics are the batch's (mean and biased
    variance over real steps), and a ``RunningStatistic`` for each of the running ``{i}_mean``
    and ``{i}_var`` is appended to ``updates``; without it (evaluation), the running statistics
    normalise (Ioffe and Szegedy 2015).
    """
    names = ("W", "b", "gamma", "beta", "mean", "var")
    weights = [params[f"{i}_{name}"] for name in names] + ([] if residual is None else [residual])
    op = ConvNorm(kernel, stride, dilation, relu=True, training=updates is not None, residual=residual is not None)
    if updates is None:
        return op(x, mask, *weights), mask[:, ::stride]
    out, batch_mean, batch_var, _ = op(x, mask, *weights)
    updates += [RunningStatistic(weights[4], batch_mean, momentum), RunningStatistic(weights[5], batch_var, momentum)]
    return out, mask[:, ::stride]


class RunningStatistic(NamedTuple):
    """A running statistic of batch normalisation (``running``, a shared vector), its value on
    the batch (``batch``, symbolic) and the ``momentum`` of its moving average."""

    running: Any
    batch: TensorVariable
    momentum: float

    def update(self) -> tuple:
        """The training graph's update: ``(1 - momentum) * running + momentum * batch``."""
        rate = pt.as_tensor_variable(np.asarray(self.momentum, dtype=self.batch.dtype))
        return self.running, (1 - rate) * self.running + rate * self.batch


def init_conv_norm(params: dict, rng, i: int, channels: int, filters: int, kernel: int, weights: Callable) -> None:
    """Add convolution ``i``'s parameters to ``params``: ``{i}_W`` (kernel * channels,
    filters) from ``weights``, ``{i}_b``, batch norm's ``{i}_gamma`` (ones) and ``{i}_beta``,
    running ``{i}_mean`` (zeros) and ``{i}_var`` (ones), each (filters,)."""
    params[f"{i}_W"] = weights(rng, kernel * channels, filters)
    for name, start in (("b", 0.0), ("gamma", 1.0), ("beta", 0.0), ("mean", 0.0), ("var", 1.0)):
        params[f"{i}_{name}"] = np.full(filters, start)


def conv_norm_shapes(i: int, channels: int, filters: int, kernel: int) -> dict[str, tuple[int, ...]]:
    """The shapes ``init_conv_norm`` gives convolution ``i``'s parameters."""
    return {f"{i}_W": (kernel * channels, filters)} | {
        f"{i}_{name}": (filters,) for name in ("b", "gamma", "beta", "mean", "var")
    }


def running_stats(convolutions: int) -> tuple[str, ...]:
    """Local names of the batch-norm running statistics of ``convolutions`` convolutions."""
    return tuple(f"{i}_{name}" for i in range(convolutions) for name in ("mean", "var"))


@dataclass
class ConvStack(Block):
    """``options``' convolution blocks over a sequence: each ``conv_norm`` and a ReLU; with
    ``options.residual`` each block adds its input before the ReLU (He et al. 2016; Wang et al.
    2017), through a 1×1 convolution ``{i}_skip`` (channels, filters) where the channels or
    the steps change. Outputs (batch, steps, last filters) and their mask; strides shorten it.

    weights: the initialiser of the kernels, ``(rng, fan_in, fan_out) -> (fan_in, fan_out)``.
    """

    options: ConvOptions
    weights: Callable
    prefix: str = "conv"

    @property
    def running_stats(self) -> tuple[str, ...]:
        return running_stats(len(self.options.filters))

    def init(self, rng, in_features):
        params: dict[str, np.ndarray] = {}
        channels = in_features
        for i, (filters, kernel, stride) in enumerate(
            zip(self.options.filters, self.options.kernels, self.options.per_block("strides"), strict=True)
        ):
            init_conv_norm(params, rng, i, channels, filters, kernel, self.weights)
            if self.options.residual and (channels != filters or stride > 1):
                params[f"{i}_skip"] = self.weights(rng, channels, filters)
            channels = filters
        return params, channels

    def shapes(self, in_features):
        shapes: dict[str, tuple[int, ...]] = {}
        channels = in_features
        for i, (filters, kernel, stride) in enumerate(
            zip(self.options.filters, self.options.kernels, self.options.per_block("strides"), strict=True)
        ):
            shapes |= conv_norm_shapes(i, channels, filters, kernel)
            if self.options.residual and (channels != filters or stride > 1):
                shapes[f"{i}_skip"] = (channels, filters)
            channels = filters
        return shapes, channels

    def apply(self, params, x, mask, ctx):
        o = self.options
        blocks = zip(o.kernels, o.per_block("strides"), o.per_block("dilations"), strict=True)
        for i, (kernel, stride, dilation) in enumerate(blocks):
            shortcut = None
            if o.residual:  # added before the ReLU, inside the block's Op
                shortcut = x[:, ::stride]
                if f"{i}_skip" in params:
                    shortcut = pt.tensordot(shortcut, params[f"{i}_skip"], axes=[[2], [0]])
            x, mask = conv_norm(params, i, x, mask, kernel, stride, dilation, o.momentum, ctx.updates, shortcut)
        return x, mask
