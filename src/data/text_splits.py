"""Texts to token splits: tokenize, build the vocabulary on the training split, encode, pad."""

import numpy as np

from seqlab.data.assemble import assemble
from seqlab.data.dataset import DataSplits
from seqlab.data.raw import SPLITS, RawSplit
from seqlab.data.text import Vocabulary, text_tokens

# The tokenizer and vocabulary options of every text source.
TEXT_OPTIONS = ("lowercase", "punctuation", "ngrams", "min_freq", "max_size", "max_len")


def text_splits(
    raw: dict[str, RawSplit],
    lowercase: bool,
    punctuation: str,
    ngrams: int,
    min_freq: int,
    max_size: int | None,
    max_len: int | None,
) -> DataSplits:
    """``raw`` holds texts as sequences; returns int token splits (id 0 padding, 1 unknown)
    whose vocabulary comes from the training texts only; with ``ngrams`` > 1 each text's word
    n-grams follow its words as tokens (``seqlab.data.text.with_ngrams``)."""
    tokens = {
        name: [text_tokens(text, lowercase, punctuation, ngrams) for text in raw[name].sequences] for name in SPLITS
    }
    vocabulary = Vocabulary.build(tokens["train"], min_freq=min_freq, max_size=max_size)
    encoded = {
        name: RawSplit(
            [np.array(vocabulary.encode(t), dtype=np.int32) for t in tokens[name]],
            raw[name].labels,
            raw[name].path,
            raw[name].lines,
        )
        for name in SPLITS
    }
    return assemble(encoded, "text", max_len=max_len, vocabulary=vocabulary.tokens)
