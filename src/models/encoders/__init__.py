"""Encoders, one module each, and the registry everything else reads: the network, config
schemas and validation, the network tests and the benchmark.

Adding an encoder: a module defining an ``Encoder`` (``seqlab.models.encoders.base``), its
entry in ``ENCODERS`` below (or ``register_encoder`` from elsewhere, e.g. a test), and
``conf/model/<name>.yaml`` (see docs/configuration.md, "Adding an encoder").
"""

from seqlab.models.encoders import fcn, resnet, rnn
from seqlab.models.encoders.base import Encoder

ENCODERS: dict[str, Encoder] = {encoder.name: encoder for encoder in (rnn.ENCODER, fcn.ENCODER, resnet.ENCODER)}


def register_encoder(encoder: Encoder) -> None:
    """Make ``encoder`` available as ``model=<encoder.name>`` (replacing an encoder of that name)."""
    ENCODERS[encoder.name] = encoder


def get_encoder(name: str) -> Encoder:
    """The encoder registered as ``name``."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; known: {sorted(ENCODERS)}")
    return ENCODERS[name]
