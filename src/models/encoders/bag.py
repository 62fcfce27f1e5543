"""The bag of n-grams (``model=bag``; fastText, Joulin et al. 2017): the mean of the embeddings
of a text's words and of its word bigrams, hashed into ``bigram_buckets`` rows of a second
table, fed to the output layer (optionally through one hidden ReLU layer).

The strong simple baseline of text classification: order-free but for the bigrams, fast, and
hard to beat on short texts. With ``data.ngrams=2`` and ``bigram_buckets=0`` the bigrams come
from the data instead, each with a vocabulary id of its own: no two share a row, and a bigram
never seen in training is unknown rather than another's (on Subj with 124k distinct bigrams,
100k hashed rows made most of them share one). Word dropout (``model.word_dropout``) drops whole tokens before
they are averaged (Iyyer et al. 2015).
"""

from dataclasses import dataclass

import pytensor.tensor as pt

from seqlab.fields import non_negative
from seqlab.models.blocks.base import Block
from seqlab.models.blocks.embedding import word_vectors
from seqlab.models.blocks.head import Linear, relu
from seqlab.models.blocks.pooling import Pooling
from seqlab.models.encoders.base import Encoder

# Multiplier of the previous token's id in a bigram's hash (a prime, as fastText's 116049371).
BIGRAM_PRIME = 116049371


def bigram_ids(tokens, buckets: int):
    """The bucket of each step's bigram (previous token, token) of ``tokens`` (batch, time)
    int ids: ``(previous * BIGRAM_PRIME + token) mod buckets`` in int64, (batch, time); step 0
    pairs with id 0 (padding)."""
    current = pt.cast(tokens, "int64")
    previous = pt.concatenate([pt.zeros_like(current[:, :1]), current[:, :-1]], axis=1)
    return (previous * BIGRAM_PRIME + current) % buckets


@dataclass
class NgramEmbedding(Block):
    """Token ids (batch, time) to (batch, time, dim): each step's word vector (``embedding``
    (vocab, dim), its ``padding_id`` row starting at zero) plus, with ``buckets``, its bigram's
    (``embedding_bigrams`` (buckets, dim), ``bigram_ids``) where the previous step is real, so
    that the mean over the real steps averages words and bigrams alike."""

    dim: int
    padding_id: int
    buckets: int
    std: float = 1.0
    prefix: str = "embedding"

    def init(self, rng, in_features):
        params = {"": word_vectors(rng, in_features, self.dim, self.padding_id, self.std)}
        if self.buckets:
            params["_bigrams"] = self.std * rng.standard_normal((self.buckets, self.dim))
        return params, self.dim

    def shapes(self, in_features):
        shapes = {"": (in_features, self.dim)}
        return shapes | ({"_bigrams": (self.buckets, self.dim)} if self.buckets else {}), self.dim

    def apply(self, params, x, mask, ctx):
        words = params[""][x]
        if not self.buckets:
            return words, mask
        follows = pt.concatenate([pt.zeros_like(mask[:, :1]), mask[:, :-1]], axis=1)  # the previous step is real
        bigrams = params["_bigrams"][bigram_ids(x, self.buckets)] * (follows * mask)[:, :, None]
        return words + bigrams, mask


@dataclass(frozen=True)
class BagOptions:
    """``model.*`` of the bag of n-grams."""

    bigram_buckets: int = non_negative(100_000)  # rows of the hashed bigram table; 0: words only
    hidden_size: int = non_negative(0)  # a hidden ReLU layer on the mean; 0: none (fastText)

    def cross_check(self) -> list:
        """Called on the whole ``model`` config: the bag averages embedded tokens, so it needs
        an embedding (one-hot tokens would make the bigram table pointless)."""
        if self.embedding_dim is None:
            return [("embedding_dim", None, "must be set: the bag of n-grams averages embedded tokens")]
        return []


def blocks(spec) -> list:
    """The mean over the real steps, and the hidden layer when it has one."""
    units = spec.options.hidden_size
    hidden = [Linear(units, spec.input_weights, prefix="hidden_", activation=relu)] if units else []
    return [Pooling("mean"), *hidden]


def embedding(spec) -> NgramEmbedding:
    n = spec.network
    return NgramEmbedding(n.embedding_dim, n.padding_id, spec.options.bigram_buckets, n.embedding_std)


ENCODER = Encoder(
    name="bag", title="bag of n-grams", blocks=blocks, options=BagOptions, reads_order=False, embedding=embedding
)
