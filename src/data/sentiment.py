"""A synthetic sentiment corpus: template sentences whose label bag-of-words cannot decide.

Each text holds one opinion clause ``<subject> <verb> [not] <adjective>`` among filler words.
The label is positive when the adjective is positive and not negated, or negative and negated
("not bad" is positive), so it is the XOR of two word features: no linear model of word
counts can separate the classes, a sequence model can. ``label_noise`` flips that share of
labels; ``negation_rate`` sets how often the adjective is negated.
"""

import numpy as np

SUBJECTS = ("the movie", "this film", "the plot", "the acting", "the ending", "the soundtrack")
VERBS = ("was", "is", "seemed", "felt", "looked")
POSITIVE = ("good", "great", "wonderful", "enjoyable", "clever", "moving")
NEGATIVE = ("bad", "awful", "boring", "dull", "clumsy", "tedious")
FILLERS = (
    "honestly",
    "really",
    "i",
    "think",
    "overall",
    "to",
    "be",
    "fair",
    "well",
    "so",
    "in",
    "the",
    "end",
    "yesterday",
    "we",
    "watched",
    "it",
    "and",
    "frankly",
    "again",
)
LABEL_NAMES = ("negative", "positive")


def sentiment_texts(
    num_texts: int,
    seed: int,
    min_fillers: int,
    max_fillers: int,
    negation_rate: float,
    label_noise: float,
) -> tuple[list[str], list[str]]:
    """Return ``num_texts`` texts and their labels ('negative' / 'positive'), seeded."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(num_texts):
        positive = bool(rng.integers(2))
        negated = bool(rng.random() < negation_rate)
        adjectives = POSITIVE if positive != negated else NEGATIVE
        clause = [
            SUBJECTS[rng.integers(len(SUBJECTS))],
            VERBS[rng.integers(len(VERBS))],
            *(["not"] if negated else []),
            adjectives[rng.integers(len(adjectives))],
        ]
        fillers = list(rng.choice(FILLERS, size=rng.integers(min_fillers, max_fillers + 1)))
        cut = rng.integers(len(fillers) + 1)
        texts.append(" ".join(fillers[:cut] + clause + fillers[cut:]) + ".")
        if rng.random() < label_noise:
            positive = not positive
        labels.append(LABEL_NAMES[int(positive)])
    return texts, labels
