"""`Grouped`: a book's entries by group (an agent, a framework) and id, so
what concerns one group visits only its entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, TypeVar

Value = TypeVar("Value")


class Grouped(Generic[Value]):
    """Values by group, then by id. A group whose last value is dropped goes
    too: the index holds only groups with entries.

    A group of one entry is held as its (id, value) pair, not a dict: most
    agents run one task at a time, and at 50,000 agents a dict each was a
    tenth of the master's memory per agent."""

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, Value] | tuple[str, Value]] = {}

    def add(self, group: str, key: str, value: Value) -> None:
        held = self._groups.get(group)
        if held is None or (isinstance(held, tuple) and held[0] == key):
            self._groups[group] = (key, value)
        elif isinstance(held, tuple):
            self._groups[group] = {held[0]: held[1], key: value}
        else:
            held[key] = value

    def drop(self, group: str, key: str) -> None:
        """Remove an entry the index holds (KeyError otherwise)."""
        held = self._groups[group]
        if isinstance(held, tuple):
            if held[0] != key:
                raise KeyError(key)
            del self._groups[group]
            return
        del held[key]
        if len(held) == 1:
            self._groups[group] = next(iter(held.items()))

    def of(self, group: str) -> Mapping[str, Value]:
        """The group's entries by id (empty for an unknown group); a view of
        the book as it is now: copy it before changing the book."""
        held = self._groups.get(group)
        if held is None:
            return {}
        if isinstance(held, tuple):
            return {held[0]: held[1]}
        return held
