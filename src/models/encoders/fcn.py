"""The fully convolutional network for series (``model=fcn``; Wang et al. 2017): convolution
blocks (Conv1D → batch norm → ReLU; 128, 256 and 128 filters by default) and the mean over the
real steps (global average pooling) before the output layer.

Wang et al.'s kernels are 8, 5 and 3; seqlab's 'same' convolutions centre odd kernels, so the
default is 7, 5, 3 (as in ``experiment=ts_lstm_fcn``).
"""

from dataclasses import dataclass, field

from seqlab.models.blocks.conv import ConvOptions, ConvStack
from seqlab.models.blocks.pooling import Pooling
from seqlab.models.encoders.base import Encoder


@dataclass(frozen=True)
class FCNOptions:
    """``model.*`` of the FCN encoder."""

    conv: ConvOptions = field(default_factory=lambda: ConvOptions(filters=[128, 256, 128], kernels=[7, 5, 3]))

    def cross_check(self) -> list:
        """An FCN needs at least one convolution block."""
        return [] if self.conv.filters else [("conv.filters", self.conv.filters, "needs at least one block")]


def blocks(spec) -> list:
    """The convolution blocks and the mean over time."""
    return [ConvStack(spec.options.conv, spec.input_weights), Pooling("mean")]


ENCODER = Encoder(name="fcn", title="FCN", blocks=blocks, options=FCNOptions)
