"""Token ids to learned vectors: the ``Embedding`` block (``model.embedding_dim``)."""

from dataclasses import dataclass

from seqlab.models.blocks.base import Block


@dataclass
class Embedding(Block):
    """Look tokens (batch, time) up in ``embedding`` (vocab, dim), whose row ``padding_id``
    starts at zero; outputs (batch, time, dim). ``init`` takes the vocabulary size as its
    input features."""

    dim: int
    padding_id: int
    prefix: str = "embedding"

    def init(self, rng, in_features):
        embedding = rng.standard_normal((in_features, self.dim))
        embedding[self.padding_id] = 0.0
        return {"": embedding}, self.dim

    def shapes(self, in_features):
        return {"": (in_features, self.dim)}, self.dim

    def apply(self, params, x, mask, ctx):
        return params[""][x], mask
