"""A sequence classifier network: a list of blocks (``seqlab.models.blocks``), folded.

    [embedding] → [word dropout] → [input dropout] → the encoder's blocks → [output dropout] → linear output layer

The encoder (``seqlab.models.encoders``: recurrent, FCN, ResNet, ...) turns the embedded
sequence (batch, time, features) into one summary per sequence (batch, features).
Parameters are one dict of NumPy arrays by name (``init_network_params``), each block's under
its own prefix (``embedding``, ``conv0_W``, ``rnn0_fwd_U``, ``att_W``, ``out_W``, ...); the
graph is a function of the matching shared variables (``network_logits``).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from pytensor.tensor.variable import TensorVariable

from seqlab.fields import checked, in_range, non_negative, one_of, positive
from seqlab.models.blocks.base import Context, Drop, Sequential
from seqlab.models.blocks.embedding import Embedding
from seqlab.models.blocks.head import Linear
from seqlab.models.cells import get_cell
from seqlab.models.dropout import Dropout
from seqlab.models.encoders import get_encoder
from seqlab.models.initializers import INPUT_INITIALIZERS, initializer


@dataclass(frozen=True)
class NetworkOptions:
    """``model.*`` that every network has, whatever its encoder."""

    # Set for token data; null feeds tokens one-hot.
    embedding_dim: int | None = checked(None, lambda v: v is None or v > 0, "must be > 0 or null")
    padding_id: int = non_negative(0)
    # Standard deviation of the initial word vectors, N(0, std²) (Kim 2014's random ones: U[-0.25, 0.25], 0.144).
    embedding_std: float = positive(1.0)
    word_dropout: float = in_range(0.0, 0.0, 1.0)  # whole embedded tokens (every feature of a step at once)
    input_dropout: float = in_range(0.0, 0.0, 1.0)  # on the embedded tokens or input values
    output_dropout: float = in_range(0.0, 0.0, 1.0)  # on the summary, before the output layer
    # true: input and between-layer masks drawn once per sequence, shared by its time steps
    variational_dropout: bool = False
    # glorot_uniform | normal (N(0, init_std²)): every weight but the recurrent ones
    input_init: str = one_of("glorot_uniform", tuple(INPUT_INITIALIZERS))
    init_std: float = positive(0.01)
    # Cap on the l2 norm of each class's output weights, applied after every step (Kim 2014: 3); null: none.
    max_norm: float | None = checked(None, lambda v: v is None or v > 0, "must be > 0 or null")


@dataclass(frozen=True)
class NetworkSpec:
    """Everything that fixes a network's shape and structure (built from a validated ``model``
    config by ``seqlab.experiments.training.builders``, whose schema holds the defaults).

    input_size: features per step of real-valued inputs (batch, time, input_size); with
    ``vocab_size`` set, inputs are int tokens (batch, time) looked up in an embedding of
    ``network.embedding_dim`` columns instead.
    encoder: a registered encoder's name; options: an instance of its options dataclass.
    cell, cell_options: for an encoder that ``uses_cell``, a registered cell's name and an
    instance of its options dataclass.
    steps: the time steps of the (padded) inputs, for a network whose weights depend on them
    (the recurrent encoder's ``dimension_shuffle``); None when unknown.
    """

    num_classes: int
    input_size: int
    vocab_size: int | None
    encoder: str
    options: Any
    network: NetworkOptions
    cell: str | None = None
    cell_options: Any = None
    steps: int | None = None

    @property
    def uses_tokens(self) -> bool:
        return self.vocab_size is not None

    @property
    def title(self) -> str:
        """What the network is called in messages: its cell's title, else its encoder's."""
        return get_cell(self.cell).title if self.cell is not None else get_encoder(self.encoder).title

    @property
    def input_weights(self) -> Callable:
        """The initialiser of every weight but the recurrent ones: ``(rng, fan_in, fan_out,
        gates=1) -> (fan_in, gates * fan_out)``."""
        return initializer(self.network.input_init, self.network.init_std)

    @cached_property
    def blocks(self) -> Sequential:
        """The whole network as one block: inputs to class scores."""
        n, encoder = self.network, get_encoder(self.encoder)
        embedding = (
            encoder.embedding(self) if encoder.embedding else Embedding(n.embedding_dim, n.padding_id, n.embedding_std)
        )
        front = [embedding, Drop("word", n.word_dropout)] if self.uses_tokens else []
        head = [Drop("output", n.output_dropout), Linear(self.num_classes, self.input_weights, n.max_norm)]
        return Sequential([*front, Drop("input", n.input_dropout), *encoder.blocks(self), *head])

    @property
    def dropout_rates(self) -> dict[str, float]:
        """The dropout rate at each place that has one (``seqlab.models.dropout``)."""
        return self.blocks.dropout

    @property
    def running_stats(self) -> tuple[str, ...]:
        """Parameters that training updates from batch statistics, not from gradients."""
        return self.blocks.running_stats

    @property
    def constraints(self) -> dict[str, Callable]:
        """By parameter name, the projection training applies after each step (max-norm)."""
        return self.blocks.constraints


def init_network_params(spec: NetworkSpec, seed: int | list[int]) -> dict[str, np.ndarray]:
    """Seeded float64 parameters by name, block after block (each block's ``init`` says which)."""
    in_features = spec.vocab_size if spec.uses_tokens else spec.input_size
    return spec.blocks.init(np.random.default_rng(seed), in_features)[0]


def param_shapes(spec: NetworkSpec) -> dict[str, tuple[int, ...]]:
    """The shape of every parameter ``init_network_params`` would make, by name, with nothing
    allocated."""
    in_features = spec.vocab_size if spec.uses_tokens else spec.input_size
    return spec.blocks.shapes(in_features)[0]


# What training keeps per parameter value besides the value: its gradient, at most two optimiser
# slots (Adam's moments, Adadelta's accumulators), the best epoch's copy and the checkpoint's.
COPIES_PER_PARAMETER = 5
# Per step of a batch, the values a layer keeps for the backward pass, as multiples of its width.
ACTIVATION_FACTOR = 4


def memory_estimate(spec: NetworkSpec, itemsize: int, batch_size: int, steps: int) -> int:
    """Bytes that training ``spec`` needs, estimated before anything is allocated: its
    parameters (float64 while initialised, then ``itemsize`` bytes each) with
    ``COPIES_PER_PARAMETER`` more of each, and the activations of a (``batch_size``, ``steps``)
    batch: each layer's width (the length of its one-dimensional parameters: biases, gates,
    filters) times ``ACTIVATION_FACTOR``."""
    shapes = param_shapes(spec).values()
    values = sum(math.prod(shape) for shape in shapes)
    widths = sum(shape[0] for shape in shapes if len(shape) == 1)
    return (
        values * (8 + itemsize * (1 + COPIES_PER_PARAMETER))
        + batch_size * steps * widths * itemsize * ACTIVATION_FACTOR
    )


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
    dropout: applied where ``spec`` has rates (training graphs only).
    updates: given (a list: a training graph), batch normalisation uses the batch's statistics
    and appends a ``seqlab.models.blocks.conv.RunningStatistic`` for each of its running
    statistics; None uses the running statistics.
    """
    return spec.blocks.apply(params, inputs, mask, Context(dropout, updates))[0]


def count_parameters(params: dict[str, np.ndarray]) -> int:
    """Total number of scalar parameters."""
    return int(sum(np.size(value) for value in params.values()))
