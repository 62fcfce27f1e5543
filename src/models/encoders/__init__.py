"""Encoders, one module each, and the registry everything else reads: the network, config
schemas and validation, the network tests and the benchmark.

Adding an encoder: a module defining an ``Encoder`` (``seqlab.models.encoders.base``), its
entry in ``ENCODERS`` below (or ``register_encoder`` from elsewhere, e.g. a test), and
``conf/model/<name>.yaml`` (see docs/configuration.md, "Adding an encoder").
"""

from seqlab.models.encoders import bag, cnn, fcn, resnet, rnn
from seqlab.models.registry import Registry

ENCODERS = Registry("encoder", (rnn.ENCODER, fcn.ENCODER, resnet.ENCODER, cnn.ENCODER, bag.ENCODER))
# register_encoder(encoder): make it available as model=<encoder.name>; get_encoder(name): the
# encoder of that name.
register_encoder, get_encoder = ENCODERS.register, ENCODERS.named
