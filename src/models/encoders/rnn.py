"""The recurrent encoder (``model=elman|lstm|gru``): stacked (bi)directional layers of a
registered cell, pooled over time, optionally with convolution blocks before them
(``model.conv.layout=frontend``) or beside them (``branch``: LSTM-FCN, Karim et al. 2018), and
optionally reading the series with its axes swapped (``model.dimension_shuffle``, LSTM-FCN's
dimension shuffle: one step per channel, the series' values at every time step its features).

    inputs → [shuffle →] recurrent layers → pooling                                     (no conv blocks)
    inputs → conv blocks → recurrent layers → pooling                                   (frontend)
    inputs → ([shuffle →] recurrent layers → pooling) ‖ (conv blocks → mean over time)  (branch)
"""

from dataclasses import dataclass, field
from typing import Any

from seqlab.fields import in_range, one_of, positive
from seqlab.models.blocks.base import Parallel, path
from seqlab.models.blocks.conv import ConvOptions, ConvStack
from seqlab.models.blocks.pooling import POOLINGS, Pooling
from seqlab.models.blocks.recurrent import RecurrentStack
from seqlab.models.blocks.shuffle import DimensionShuffle
from seqlab.models.encoders.base import Encoder
from seqlab.models.initializers import RECURRENT_INITIALIZERS, initializer

# 8192 LSTM units: 1 GB of float32 recurrent weights per layer and direction, before gradients.
MAX_HIDDEN_SIZE = 8192


@dataclass(frozen=True)
class RecurrentConvOptions(ConvOptions):
    """Convolution blocks of a recurrent network; none by default."""

    # branch: beside the recurrent layers, averaged over time and joined to their summary
    # (LSTM-FCN) | frontend: the blocks' outputs (shorter with strides) feed the recurrent layers
    layout: str = one_of("branch", ("branch", "frontend"))


@dataclass(frozen=True)
class RecurrentOptions:
    """``model.*`` of the recurrent encoder (the cell's own options join them)."""

    hidden_size: int = positive(32)
    num_layers: int = positive(1)
    bidirectional: bool = False
    dropout: float = in_range(0.0, 0.0, 1.0)  # between stacked layers, training only
    recurrent_dropout: float = in_range(0.0, 0.0, 1.0)  # on the recurrent weights (DropConnect), per step
    pooling: str = one_of("last", POOLINGS)  # over the real (unpadded) steps; attention: additive
    attention_size: int = positive(32)  # units of the attention scorer (pooling=attention only)
    # orthogonal | normal (the seed: normal, 0.01)
    recurrent_init: str = one_of("orthogonal", tuple(RECURRENT_INITIALIZERS))
    # fused: a whole-sequence Op (fast) | scan: PyTensor's scan over the cell's step (the reference)
    implementation: str = one_of("fused", ("fused", "scan"))
    # true: the recurrent layers read each channel of a series as one step whose features are its
    # values at every time step (LSTM-FCN's dimension shuffle, Karim et al. 2018); for series of
    # one fixed length, which sizes the first layer's input weights
    dimension_shuffle: bool = False
    conv: RecurrentConvOptions = field(default_factory=RecurrentConvOptions)

    def cross_check(self) -> list[tuple[str, Any, str]]:
        """``(key, value, requirement)`` of each rule across the fields that fails."""
        found = []
        if self.hidden_size > MAX_HIDDEN_SIZE:  # U alone is (hidden, gates * hidden)
            found.append(("hidden_size", self.hidden_size, f"must be at most {MAX_HIDDEN_SIZE}"))
        if self.dropout > 0 and self.num_layers == 1:
            found.append(("dropout", self.dropout, "acts between layers: needs model.num_layers > 1"))
        if self.dimension_shuffle and self.conv.filters and self.conv.layout == "frontend":
            found.append(
                (
                    "dimension_shuffle",
                    True,
                    "reads the series itself: not after convolution blocks (conv.layout=frontend)",
                )
            )
        return found


def blocks(spec) -> list:
    """The recurrent layers and pooling of ``spec`` (a ``NetworkSpec``), reading the series
    shuffled or not, with its convolution blocks before them or beside them."""
    o: RecurrentOptions = spec.options
    if o.dimension_shuffle and spec.steps is None:
        raise ValueError("model.dimension_shuffle: the network needs the series' length (NetworkSpec.steps)")
    weights = spec.input_weights
    rnn = RecurrentStack(
        cell=spec.cell,
        cell_options=spec.cell_options,
        hidden_size=o.hidden_size,
        num_layers=o.num_layers,
        bidirectional=o.bidirectional,
        between_dropout=o.dropout,
        recurrent_dropout=o.recurrent_dropout,
        implementation=o.implementation,
        input_weights=weights,
        recurrent_weights=initializer(o.recurrent_init, spec.network.init_std, RECURRENT_INITIALIZERS),
    )
    pooling = Pooling(o.pooling, o.attention_size, o.bidirectional, weights)
    recurrent = [DimensionShuffle(spec.steps), rnn, pooling] if o.dimension_shuffle else [rnn, pooling]
    if not o.conv.filters:
        return recurrent
    conv = ConvStack(o.conv, weights)
    if o.conv.layout == "frontend":
        return [conv, rnn, pooling]
    return [Parallel([path(*recurrent), path(conv, Pooling("mean"))])]


ENCODER = Encoder(name="rnn", title="recurrent", blocks=blocks, options=RecurrentOptions, uses_cell=True)
