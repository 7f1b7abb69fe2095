"""`PyResources`, the bundle: a canonical, sorted tuple of entries, one per
key, with its constructors, forms, arithmetic, comparisons and filters."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from pyactors._reference.resources.entries import (
    Key,
    Resource,
    is_ancestor_or_self,
    parse_entry,
)
from pyactors._reference.resources.python_forms import entry_from_json, value_from_python
from pyactors._reference.resources.values import (
    WHITESPACE,
    Value,
    first_range_overlap,
    fits,
    is_empty_value,
    parse_value_text,
    same_type,
    subtract_value,
    type_phrase,
    union_disjoint,
)
from pyactors.core.scalars import MAX_MILLIS, MAX_UNITS
from pyactors.errors import ResourceError

# The Rust twin holds totals in an i64.
_I64_MAX = 2**63 - 1


class PyResources:
    """An immutable, canonical bundle of resources."""

    __slots__ = ("_entries",)
    _entries: tuple[Resource, ...]

    def __init__(self) -> None:
        object.__setattr__(self, "_entries", ())

    @classmethod
    def _of(cls, entries: Iterable[Resource]) -> PyResources:
        """Wraps entries that are already canonical."""
        bundle = object.__new__(cls)
        object.__setattr__(bundle, "_entries", tuple(entries))
        return bundle

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("PyResources is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("PyResources is immutable")

    # -- construction ---------------------------------------------------------

    @staticmethod
    def parse(text: str) -> PyResources:
        """Parses Mesos's text syntax, e.g. "cpus:2;mem:1024;ports:[31000-31999]".
        Entries with the same key are added together."""
        if not isinstance(text, str):
            raise TypeError(f"expected a str, got {type(text).__name__}")
        entries = []
        for raw_segment in text.split(";"):
            segment = raw_segment.strip(WHITESPACE)
            if not segment:
                continue
            with _context(f"'{segment}'"):
                entries.append(parse_entry(segment))
        return _canonicalize(entries)

    @staticmethod
    def from_entries(entries: Iterable[Resource]) -> PyResources:
        """Validates each entry (errors name its key) and canonicalises: entries
        with the same key are added together with the rules of `+`."""
        checked = []
        for entry in entries:
            with _context(f"'{entry.key_text()}'"):
                checked.append(entry.validated())
        return _canonicalize(checked)

    @staticmethod
    def from_dict(data: object) -> PyResources:
        """Reads ``{"cpus": 2, "cpus(eng)": "1.5", "ports": [[1, 5]], "zones": ["a"]}``."""
        if not isinstance(data, dict):
            raise ResourceError(f"expected a dict, got {type(data).__name__}")
        entries = []
        for key_text, value in data.items():
            if not isinstance(key_text, str):
                raise ResourceError(f"invalid key {key_text!r}: expected a string")
            with _context(f"'{key_text}'"):
                key = Key.parse(key_text)
            if isinstance(value, str):
                with _context(f"'{key_text}:{value}'"):
                    entries.append(key.with_value(parse_value_text(value)))
            else:
                with _context(f"'{key_text}'"):
                    entries.append(key.with_value(value_from_python(value)))
        return _canonicalize(entries)

    @staticmethod
    def from_json(data: object) -> PyResources:
        """Reads Mesos's JSON form (what `to_json` returns), or its JSON text."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as err:
                raise ResourceError(f"invalid JSON: {err}") from None
        if not isinstance(data, list):
            raise ResourceError(f"expected a list of resources, got {type(data).__name__}")
        entries = []
        for index, item in enumerate(data):
            with _context(f"resource #{index}"):
                entries.append(entry_from_json(item))
        return _canonicalize(entries)

    # -- conversion -----------------------------------------------------------

    def to_text(self) -> str:
        """The canonical text; `parse` reads it back."""
        return ";".join(str(entry) for entry in self._entries)

    def to_dict(self) -> dict[str, object]:
        result: dict[str, object] = {}
        for entry in self._entries:
            value = entry.value
            if isinstance(value, int):
                result[entry.key_text()] = value / 1000
            elif isinstance(value, tuple):
                result[entry.key_text()] = [[begin, end] for begin, end in value]
            else:
                result[entry.key_text()] = sorted(value)
        return result

    def to_json(self) -> list[dict[str, object]]:
        result: list[dict[str, object]] = []
        for entry in self._entries:
            item: dict[str, object] = {"name": entry.name}
            value = entry.value
            if isinstance(value, int):
                item["type"] = "SCALAR"
                item["scalar"] = {"value": value / 1000}
            elif isinstance(value, tuple):
                item["type"] = "RANGES"
                item["ranges"] = {"range": [{"begin": b, "end": e} for b, e in value]}
            else:
                item["type"] = "SET"
                item["set"] = {"item": sorted(value)}
            item["role"] = entry.role or "*"
            if entry.principal is not None:
                item["reservation"] = {"principal": entry.principal}
            if entry.volume is not None:
                item["disk"] = {"persistence": {"id": entry.volume}}
            result.append(item)
        return result

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"PyResources('{self.to_text()}')"

    def __reduce__(self) -> tuple[Callable[[str], PyResources], tuple[str]]:
        return (PyResources.parse, (self.to_text(),))

    # -- size -----------------------------------------------------------------

    def __len__(self) -> int:
        """Number of entries (distinct keys)."""
        return len(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def is_empty(self) -> bool:
        return not self._entries

    def __iter__(self) -> Iterator[Resource]:
        """Entries in canonical order."""
        return iter(self._entries)

    # -- arithmetic -----------------------------------------------------------

    def checked_add(self, other: PyResources) -> PyResources:
        if not other._entries:
            return self
        if not self._entries:
            return other
        _check_types(self._entries, other._entries)
        merged: list[Resource] = []
        mine, theirs = self._entries, other._entries
        i = j = 0
        while i < len(mine) and j < len(theirs):
            a, b = mine[i], theirs[j]
            if a.sort_key() < b.sort_key():
                merged.append(a)
                i += 1
            elif a.sort_key() > b.sort_key():
                merged.append(b)
                j += 1
            else:
                merged.append(replace(a, value=_combine(a, b)))
                i += 1
                j += 1
        merged.extend(mine[i:])
        merged.extend(theirs[j:])
        return PyResources._of(merged)

    def checked_sub(self, other: PyResources) -> PyResources:
        missing = self._first_not_contained(other)
        if missing is not None:
            where = self.to_text() if self._entries else "empty resources"
            raise ResourceError(f"cannot subtract {missing}: not contained in {where}")
        remaining = {entry.sort_key(): entry.value for entry in other._entries}
        result = []
        for entry in self._entries:
            part = remaining.get(entry.sort_key())
            value = entry.value if part is None else subtract_value(entry.value, part)
            if not is_empty_value(value):
                result.append(replace(entry, value=value))
        return PyResources._of(result)

    def __add__(self, other: object) -> PyResources:
        if not isinstance(other, PyResources):
            return NotImplemented
        return self.checked_add(other)

    def __sub__(self, other: object) -> PyResources:
        if not isinstance(other, PyResources):
            return NotImplemented
        return self.checked_sub(other)

    # -- comparison -----------------------------------------------------------

    def contains(self, other: PyResources) -> bool:
        """Whether every entry of `other` fits in the entry of `self` with the same key."""
        return self._first_not_contained(other) is None

    def _first_not_contained(self, other: PyResources) -> Resource | None:
        mine = {entry.sort_key(): entry.value for entry in self._entries}
        for entry in other._entries:
            whole = mine.get(entry.sort_key())
            if whole is None or not fits(entry.value, whole):
                return entry
        return None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PyResources):
            return NotImplemented
        return self._entries == other._entries

    def __hash__(self) -> int:
        return hash(self.to_text())

    def __le__(self, other: object) -> bool:
        if not isinstance(other, PyResources):
            return NotImplemented
        return other.contains(self)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, PyResources):
            return NotImplemented
        return other.contains(self) and self != other

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, PyResources):
            return NotImplemented
        return self.contains(other)

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, PyResources):
            return NotImplemented
        return self.contains(other) and self != other

    # -- filters --------------------------------------------------------------

    def filter(self, keep: Callable[[Resource], bool]) -> PyResources:
        return PyResources._of(entry for entry in self._entries if keep(entry))

    def unreserved(self) -> PyResources:
        return self.filter(lambda entry: entry.role is None)

    def reserved(self, role: str | None = None) -> PyResources:
        """All reserved entries for None, else those reserved exactly to `role`."""
        if role is None:
            return self.filter(lambda entry: entry.role is not None)
        return self.filter(lambda entry: entry.role == role)

    def allocatable_to(self, role: str) -> PyResources:
        """Unreserved entries plus those reserved to `role` or an ancestor of it:
        reservations flow down the role tree, never up or sideways."""
        return self.filter(
            lambda entry: entry.role is None or is_ancestor_or_self(entry.role, role)
        )

    def scalars(self) -> PyResources:
        return self.filter(lambda entry: isinstance(entry.value, int))

    # -- totals ---------------------------------------------------------------

    def scalar_millis(self, name: str) -> int:
        """Sum over every key with this name, in millis."""
        total = sum(
            entry.value
            for entry in self._entries
            if entry.name == name and isinstance(entry.value, int)
        )
        return min(total, _I64_MAX)

    def scalar(self, name: str) -> float:
        return self.scalar_millis(name) / 1000

    def totals_millis(self) -> list[tuple[str, int]]:
        """Per scalar name, the sum over its keys in millis; sorted by name."""
        totals: dict[str, int] = {}
        for entry in self._entries:
            if isinstance(entry.value, int):
                totals[entry.name] = min(totals.get(entry.name, 0) + entry.value, _I64_MAX)
        return sorted(totals.items())

    def totals(self) -> dict[str, float]:
        return {name: millis / 1000 for name, millis in self.totals_millis()}

    def names(self) -> list[str]:
        """Sorted distinct names of all entries."""
        return sorted({entry.name for entry in self._entries})


def _canonicalize(entries: list[Resource]) -> PyResources:
    """Entries must be individually valid and normalised."""
    # Stable, so entries with the same key are added in input order.
    ordered = sorted(
        (entry for entry in entries if not is_empty_value(entry.value)), key=Resource.sort_key
    )
    group = 0
    for i in range(1, len(ordered)):
        if ordered[i].name != ordered[group].name:
            group = i
        elif not same_type(ordered[i].value, ordered[group].value):
            raise _conflicting_types(ordered[group], ordered[i])
    merged: list[Resource] = []
    for entry in ordered:
        if merged and merged[-1].sort_key() == entry.sort_key():
            merged[-1] = replace(merged[-1], value=_combine(merged[-1], entry))
        else:
            merged.append(entry)
    return PyResources._of(merged)


def _check_types(a: tuple[Resource, ...], b: tuple[Resource, ...]) -> None:
    """One value type per name: keys differing only in role must agree too."""
    first_of_a: dict[str, Resource] = {}
    for entry in a:
        first_of_a.setdefault(entry.name, entry)
    seen: set[str] = set()
    for entry in b:
        if entry.name in seen:
            continue
        seen.add(entry.name)
        mine = first_of_a.get(entry.name)
        if mine is not None and not same_type(mine.value, entry.value):
            raise _conflicting_types(mine, entry)


def _conflicting_types(first: Resource, second: Resource) -> ResourceError:
    return ResourceError(
        f"conflicting types for '{first.name}': {first} is {type_phrase(first.value)}, "
        f"{second} is {type_phrase(second.value)}"
    )


def _combine(a: Resource, b: Resource) -> Value:
    """The sum of two entries of the same key and type."""
    x, y = a.value, b.value
    problem = None
    if isinstance(x, int) and isinstance(y, int):
        if x + y <= MAX_MILLIS:
            return x + y
        problem = f"total above the maximum {MAX_UNITS}"
    elif isinstance(x, tuple) and isinstance(y, tuple):
        overlap = first_range_overlap(x, y)
        if overlap is None:
            return union_disjoint(x, y)
        (p0, p1), (q0, q1) = overlap
        problem = f"overlapping ranges {p0}-{p1} and {q0}-{q1}"
    elif isinstance(x, frozenset) and isinstance(y, frozenset):
        common = x & y
        if not common:
            return x | y
        problem = f"item '{min(common)}' in both"
    else:
        raise AssertionError("types are checked before values are combined")
    raise ResourceError(f"cannot add {b} to {a}: {problem}")


@contextmanager
def _context(where: str) -> Iterator[None]:
    """Appends where an error happened: "invalid scalar 'x' in 'cpus:x'"."""
    try:
        yield
    except ResourceError as err:
        raise ResourceError(f"{err} in {where}") from None
