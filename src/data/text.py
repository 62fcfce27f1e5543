"""Text to token ids: a tokenizer and a vocabulary built on the training split only."""

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

PAD, UNK = "<pad>", "<unk>"
PUNCTUATION_MODES = ("split", "strip", "keep")
_WORD_OR_PUNCT = re.compile(r"\w+(?:'\w+)?|[^\w\s]", re.UNICODE)
_WORD = re.compile(r"\w+(?:'\w+)?", re.UNICODE)


def tokenize(text: str, lowercase: bool = True, punctuation: str = "split") -> list[str]:
    """Split ``text`` into tokens.

    punctuation: 'split' makes each punctuation mark a token ("good!" -> "good", "!"),
    'strip' drops it, 'keep' splits on white space only ("good!" stays one token).
    """
    if lowercase:
        text = text.lower()
    if punctuation == "keep":
        return text.split()
    pattern = _WORD_OR_PUNCT if punctuation == "split" else _WORD
    return pattern.findall(text)


# Joins the words of an n-gram token; tokenize never leaves white space inside a token.
NGRAM_JOINER = " "


def with_ngrams(tokens: Sequence[str], n: int) -> list[str]:
    """``tokens`` followed by their word n-grams of 2 to ``n`` words, each one token (words
    joined by a space), bigrams first: ``["not", "so", "bad"]`` with ``n=2`` -> ``["not", "so",
    "bad", "not so", "so bad"]``. ``n=1``: ``tokens`` as they are.

    For order-free models (``model=bag``): each n-gram gets a vocabulary id of its own, so
    unlike hashed bigrams (``model.bigram_buckets``) no two share a vector, and an n-gram never
    seen in training is unknown rather than another's."""
    grams = [
        NGRAM_JOINER.join(tokens[start : start + size])
        for size in range(2, n + 1)
        for start in range(len(tokens) - size + 1)
    ]
    return [*tokens, *grams]


def text_tokens(text: str, lowercase: bool, punctuation: str, ngrams: int) -> list[str]:
    """The tokens of ``text`` as a text source gives them: ``tokenize``, then ``with_ngrams``."""
    return with_ngrams(tokenize(text, lowercase, punctuation), ngrams)


@dataclass(frozen=True)
class Vocabulary:
    """Tokens in id order: id 0 is padding, id 1 stands for every unknown token."""

    tokens: tuple[str, ...]

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None
    ) -> "Vocabulary":
        """Keep tokens seen at least ``min_freq`` times, the ``max_size`` most frequent
        (padding and unknown included), ties broken alphabetically."""
        counts = Counter(token for tokens in token_lists for token in tokens)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max(max_size - 2, 0)]
        return cls((PAD, UNK, *kept))

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token ids; unknown tokens map to the id of ``<unk>``."""
        return [self._index.get(token, 1) for token in tokens]

    @cached_property
    def _index(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)
