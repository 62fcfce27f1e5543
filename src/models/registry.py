"""A registry: the things of one kind (cells, encoders) by name, which config schemas and
validation, the network, the tests and the benchmark read."""

from collections.abc import Iterable
from typing import Any


class Registry(dict):
    """``{item.name: item}`` for items of one ``kind`` (a word for messages)."""

    def __init__(self, kind: str, items: Iterable[Any]):
        super().__init__((item.name, item) for item in items)
        self.kind = kind

    def register(self, item: Any) -> None:
        """Make ``item`` available by its name (replacing an item of that name), e.g. from a test."""
        self[item.name] = item

    def named(self, name: str) -> Any:
        """The item registered as ``name``; a ValueError naming the known ones otherwise."""
        if name not in self:
            raise ValueError(f"unknown {self.kind} {name!r}; known: {sorted(self)}")
        return self[name]
