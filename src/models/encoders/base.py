"""What an encoder is: the part of a network between its inputs and its output layer."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class NoOptions:
    """The options of an encoder that has none."""


@dataclass(frozen=True)
class Encoder:
    """Everything one encoder is; a module per encoder defines one (``seqlab.models.encoders``).

    name: its ``model.encoder`` value, and its ``model`` config option (``model=<name>``),
    unless ``uses_cell``: then the ``model`` group has one option per registered cell
    (``model=lstm`` is this encoder with the LSTM cell) and the cell's options join its own.
    title: its name in messages.
    options: a frozen dataclass of the encoder's own config fields (``model.<field>``, nested
    dataclasses as ``model.<field>.<key>``), with their defaults and allowed values
    (``seqlab.fields``) and optionally a ``cross_check()`` method for rules across fields; an
    instance of it is the ``options`` of the ``NetworkSpec``.
    blocks: ``blocks(spec) -> list of blocks`` (``seqlab.models.blocks``) that take the
    embedded, dropped-out inputs (batch, time, features) and end in one summary per sequence
    (batch, features); the network adds the output dropout and layer.
    token_inputs: whether it reads token data (through the embedding, or one-hot); an encoder
    for real-valued series only says False, and a config that gives it tokens is refused.
    reads_order: whether its output depends on the order of the steps; only an encoder that
    says False may be fed texts with their n-grams appended (``data.ngrams``).
    embedding: ``embedding(spec) -> block`` that embeds token ids (batch, time) into (batch,
    time, features) in place of the network's ``Embedding`` (its word table still named
    ``embedding``, so pretrained vectors and ``embedding_freeze`` apply); None: the network's.
    """

    name: str
    title: str
    blocks: Callable
    options: type = NoOptions
    uses_cell: bool = False
    token_inputs: bool = True
    reads_order: bool = True
    embedding: Callable | None = None
