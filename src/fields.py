"""Dataclass fields that carry their allowed values, for config schemas wherever they are
declared (``seqlab.experiments.config``, a cell's options): ``validate`` checks every rule and
names the key, the bad value and the requirement."""

import math
import re
from collections.abc import Callable
from dataclasses import field, fields, is_dataclass
from typing import Any


def checked(default: Any, rule: Callable[[Any], bool], requirement: str) -> Any:
    """A dataclass field whose value must satisfy ``rule``; ``requirement`` explains it."""
    return field(default=default, metadata={"rule": rule, "requirement": requirement})


def fixed_name(name: str, group: str, options: Any) -> Any:
    """The ``name`` field of a group option's schema: it must stay ``name``."""
    return checked(name, lambda v: v == name, f"must be {name!r}; choose another with {group}=<{'|'.join(options)}>")


def positive(default: Any) -> Any:
    """A dataclass field that must be a finite number > 0."""
    return checked(default, lambda v: math.isfinite(v) and v > 0, "must be > 0 (and finite)")


def non_negative(default: Any) -> Any:
    """A dataclass field that must be a finite number >= 0."""
    return checked(default, lambda v: math.isfinite(v) and v >= 0, "must be >= 0 (and finite)")


def one_of(default: str, choices: tuple[str, ...]) -> Any:
    """A dataclass field that must be one of ``choices``."""
    return checked(default, lambda v: v in choices, f"must be one of {list(choices)}")


def plain_name(default: str | None) -> Any:
    """A dataclass field used as a file or folder name: letters, digits, ``-``, ``_``, ``.`` and
    spaces, never ``..`` (so ``runs/artifacts/<name>`` stays inside ``runs/``); or null."""
    return checked(
        default,
        lambda v: v is None or (re.fullmatch(r"[\w.\- ]+", v) is not None and ".." not in v),
        "must be a plain name (letters, digits, '-', '_', '.', spaces; no '/' or '..')",
    )


def in_range(default: float, low: float, high: float, closed_high: bool = False) -> Any:
    """A dataclass field that must lie in [low, high) (or [low, high] when ``closed_high``)."""
    bracket = "]" if closed_high else ")"
    return checked(
        default,
        lambda v: low <= v <= high if closed_high else low <= v < high,
        f"must be in [{low}, {high}{bracket}",
    )


def counts(default: tuple[int, ...] = (), odd: bool = False) -> Any:
    """A dataclass field holding a list of whole numbers, each >= 1 and, with ``odd``, odd
    (convolution kernels, which 'same' convolutions centre); ``[]`` by default."""
    if odd:
        rule, requirement = (lambda v: all(n >= 1 and n % 2 == 1 for n in v)), "must all be odd and >= 1"
    else:
        rule, requirement = (lambda v: all(n >= 1 for n in v)), "must all be >= 1"
    return field(default_factory=lambda: list(default), metadata={"rule": rule, "requirement": requirement})


def from_values(options: type, values: dict) -> Any:
    """An instance of the (frozen) option dataclass ``options`` from a config's ``values`` (a
    dict with at least its fields; nested option dataclasses as dicts): lists become tuples, so
    that the instance hashes."""
    kwargs = {}
    for f in fields(options):
        value = values[f.name]
        if is_dataclass(f.type):
            value = from_values(f.type, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return options(**kwargs)
