"""`Grouped`: a book's entries by group (an agent, a framework) and id, so
what concerns one group visits only its entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, TypeVar

Value = TypeVar("Value")


class Grouped(Generic[Value]):
    """Values by group, then by id. A group whose last value is dropped goes
    too: the index holds only groups with entries."""

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, Value]] = {}

    def add(self, group: str, key: str, value: Value) -> None:
        self._groups.setdefault(group, {})[key] = value

    def drop(self, group: str, key: str) -> None:
        """Remove an entry the index holds (KeyError otherwise)."""
        held = self._groups[group]
        del held[key]
        if not held:
            del self._groups[group]

    def of(self, group: str) -> Mapping[str, Value]:
        """The group's entries by id (empty for an unknown group); a live
        view: copy it before changing the book."""
        return self._groups.get(group) or {}
