"""Texts to token splits: tokenize, build the vocabulary on the training split, encode, pad."""

import numpy as np

from seqlab.data.assemble import assemble
from seqlab.data.dataset import DataSplits
from seqlab.data.raw import SPLITS, RawSplit
from seqlab.data.text import Vocabulary, tokenize

# The tokenizer and vocabulary options of every text source.
TEXT_OPTIONS = ("lowercase", "punctuation", "min_freq", "max_size", "max_len")


def text_splits(
    raw: dict[str, RawSplit],
    lowercase: bool,
    punctuation: str,
    min_freq: int,
    max_size: int | None,
    max_len: int | None,
) -> DataSplits:
    """``raw`` holds texts as sequences; returns int token splits (id 0 padding, 1 unknown)
    whose vocabulary comes from the training texts only."""
    tokens = {name: [tokenize(text, lowercase, punctuation) for text in raw[name].sequences] for name in SPLITS}
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
