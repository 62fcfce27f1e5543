"""Token ids to learned vectors: the ``Embedding`` block (``model.embedding_dim``)."""

from dataclasses import dataclass

import numpy as np

from seqlab.models.blocks.base import Block


def word_vectors(rng: np.random.Generator, vocab: int, dim: int, padding_id: int, std: float) -> np.ndarray:
    """Initial word vectors (vocab, dim) from N(0, ``std``²), row ``padding_id`` zero."""
    embedding = std * rng.standard_normal((vocab, dim))
    embedding[padding_id] = 0.0
    return embedding


@dataclass
class Embedding(Block):
    """Look tokens (batch, time) up in ``embedding`` (vocab, dim), drawn from N(0, ``std``²)
    but for its row ``padding_id``, which starts at zero; outputs (batch, time, dim). ``init``
    takes the vocabulary size as its input features."""

    dim: int
    padding_id: int
    std: float = 1.0
    prefix: str = "embedding"

    def init(self, rng, in_features):
        return {"": word_vectors(rng, in_features, self.dim, self.padding_id, self.std)}, self.dim

    def shapes(self, in_features):
        return {"": (in_features, self.dim)}, self.dim

    def apply(self, params, x, mask, ctx):
        return params[""][x], mask
