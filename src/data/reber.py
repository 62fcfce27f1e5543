"""The embedded Reber grammar: grammatical strings against corrupted ones.

A classic recurrent benchmark (Fahlman 1991; Hochreiter & Schmidhuber 1997). A Reber string is
a walk through a small automaton from B to E; the embedded grammar wraps one as
``B T <reber> T E`` or ``B P <reber> P E``, so the second symbol must be remembered across the
whole inner string. Corrupted strings either swap the second-to-last symbol (T <-> P: the
long-range error) or replace one inner symbol at random; the label says whether the result is
grammatical, as decided by ``is_embedded_reber``.
"""

import numpy as np

from seqlab.data.dataset import Task
from seqlab.data.toy import symbol_task

SYMBOLS = ("B", "T", "P", "S", "X", "V", "E")
# state -> [(symbol, next state)]; state 6 accepts E and ends.
TRANSITIONS = {
    1: [("T", 2), ("P", 3)],
    2: [("S", 2), ("X", 4)],
    3: [("T", 3), ("V", 5)],
    4: [("X", 3), ("S", 6)],
    5: [("P", 4), ("V", 6)],
}


def reber_string(rng: np.random.Generator) -> str:
    """A random (inner) Reber string, from B to E, choosing each edge with probability 1/2."""
    symbols, state = ["B"], 1
    while state != 6:
        symbol, state = TRANSITIONS[state][rng.integers(2)]
        symbols.append(symbol)
    return "".join(symbols) + "E"


def is_reber(string: str) -> bool:
    """Whether ``string`` is a Reber string."""
    if len(string) < 2 or string[0] != "B" or string[-1] != "E":
        return False
    state = 1
    for symbol in string[1:-1]:
        moves = dict(TRANSITIONS.get(state, []))
        if symbol not in moves:
            return False
        state = moves[symbol]
    return state == 6


def is_embedded_reber(string: str) -> bool:
    """Whether ``string`` is ``B T <reber> T E`` or ``B P <reber> P E``."""
    return (
        len(string) >= 6
        and string[0] == "B"
        and string[-1] == "E"
        and string[1] in "TP"
        and string[-2] == string[1]
        and is_reber(string[2:-2])
    )


def _corrupt(string: str, rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        return string[:-2] + ("P" if string[-2] == "T" else "T") + string[-1]
    position = rng.integers(2, len(string) - 2)
    others = [s for s in SYMBOLS if s != string[position]]
    return string[:position] + others[rng.integers(len(others))] + string[position + 1 :]


def reber_task(num_sequences: int, seed: int, max_len: int) -> Task:
    """Half grammatical embedded Reber strings, half corrupted, none longer than ``max_len``
    (longer ones are drawn again, never truncated). Labels: 1 = grammatical."""
    rng = np.random.default_rng(seed)
    strings, labels = [], []
    while len(strings) < num_sequences:
        wrap = "TP"[rng.integers(2)]
        string = f"B{wrap}{reber_string(rng)}{wrap}E"
        if len(strings) % 2:
            string = _corrupt(string, rng)
        if len(string) <= max_len:
            strings.append(string)
            labels.append(int(is_embedded_reber(string)))
    sequences = [np.array([SYMBOLS.index(s) for s in string]) for string in strings]
    return symbol_task(sequences, labels, symbols=SYMBOLS, label_names=("corrupted", "grammatical"))
