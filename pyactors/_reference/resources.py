"""Resource bundles in plain Python: the executable specification of `rust/resources.rs`.

A bundle is a canonical, sorted tuple of entries, one per key (name, role,
principal, volume). Every constructor canonicalises, so equality, hashing and
printing only ever see one representation of a bundle.

`PyResources` and the Rust `pyactors._core.Resources` must agree on every
result and every error message; `tests/test_resources.py` checks that they do.

Values are held as:

* scalar: ``int`` millis (fixed point with three decimals, so 0.1 + 0.2 is 0.3);
* ranges: ``tuple[tuple[int, int], ...]``, sorted, disjoint, non-adjacent, inclusive;
* set: ``frozenset[str]``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeGuard

from pyactors.errors import ResourceError

__all__ = [
    "MAX_MILLIS",
    "Key",
    "PyResources",
    "Resource",
    "Value",
    "format_millis",
    "is_ancestor_or_self",
    "parse_scalar_text",
    "parse_value_text",
    "ranges_from_pairs",
    "scalar_from_float",
    "scalar_from_units",
    "set_from_items",
    "validate_role",
]

# The largest scalar one entry may hold, in millis (1e12 units). Sums are held
# to it as well, so every bundle prints to text that parses back (pickling
# relies on that).
MAX_MILLIS = 10**15
MAX_UNITS = MAX_MILLIS // 1000
MAX_BOUND = 2**64 - 1
# The Rust twin holds totals in an i64.
_I64_MAX = 2**63 - 1

Range = tuple[int, int]
Ranges = tuple[Range, ...]
Value = int | Ranges | frozenset[str]

# ASCII whitespace only, exactly what Rust's `u8::is_ascii_whitespace` accepts.
_WHITESPACE = " \t\n\r\x0c"
_NAME = re.compile(r"[A-Za-z0-9_.\-/]+")
_ROLE_PART = re.compile(r"[A-Za-z0-9_.\-]+")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.\-@]+")
_SET_ITEM = re.compile(r"[A-Za-z0-9_.\-@/:]+")
_DIGITS = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"([0-9]*)\.([0-9]+)|([0-9]+)")


def _is_empty(value: Value) -> bool:
    if isinstance(value, int):
        return value == 0
    return len(value) == 0


def _same_type(a: Value, b: Value) -> bool:
    return type(a) is type(b)


def _type_phrase(value: Value) -> str:
    if isinstance(value, int):
        return "a scalar"
    if isinstance(value, tuple):
        return "ranges"
    return "a set"


def _format_value(value: Value) -> str:
    if isinstance(value, int):
        return format_millis(value)
    if isinstance(value, tuple):
        return "[" + ",".join(f"{begin}-{end}" for begin, end in value) + "]"
    return "{" + ",".join(sorted(value)) + "}"


def _format_key(name: str, role: str | None, principal: str | None, volume: str | None) -> str:
    text = name
    if principal is not None:
        text += f"({role or '*'},{principal})"
    elif role is not None:
        text += f"({role})"
    if volume is not None:
        text += f"[{volume}]"
    return text


@dataclass(frozen=True, slots=True)
class Resource:
    """One entry of a bundle."""

    name: str
    role: str | None  # None is unreserved (Mesos's role "*")
    principal: str | None  # present only for dynamic reservations
    volume: str | None  # persistent-volume id, only for reserved "disk"
    value: Value

    def sort_key(self) -> tuple[str, str, str, str]:
        """The canonical order: "*" for unreserved, "" for absent parts, bytewise."""
        return (self.name, self.role or "*", self.principal or "", self.volume or "")

    def key_text(self) -> str:
        return _format_key(self.name, self.role, self.principal, self.volume)

    def validated(self) -> Resource:
        """Checks an entry built by hand the way the text parser checks its input,
        and normalises it (role "*" becomes None, ranges merge)."""
        key = Key.new(self.name, self.role, self.principal, self.volume)
        value = self.value
        checked: Value
        if isinstance(value, int):
            checked = _scalar_from_millis(value)
        elif isinstance(value, tuple):
            checked = _ranges_from_python(value)
        else:
            checked = set_from_items(sorted(value))
        return key.with_value(checked)

    def __str__(self) -> str:
        return f"{self.key_text()}:{_format_value(self.value)}"


@dataclass(frozen=True, slots=True)
class Key:
    """The part of an entry before the ':', validated."""

    name: str
    role: str | None
    principal: str | None
    volume: str | None

    @staticmethod
    def parse(text: str) -> Key:
        """Parses ``name[(role[,principal])][[volume]]``, e.g. "disk(eng,alice)[v1]"."""
        text = text.strip(_WHITESPACE)
        invalid = ResourceError(f"invalid resource key '{text}'")
        openers = [i for i in (text.find("("), text.find("[")) if i >= 0]
        name_end = min(openers, default=len(text))
        name, rest = text[:name_end], text[name_end:]
        role = principal = volume = None
        if rest.startswith("("):
            close = rest.find(")")
            if close < 0:
                raise invalid
            parts = rest[1:close].split(",")
            if len(parts) > 2:
                raise invalid
            role = parts[0]
            principal = parts[1] if len(parts) == 2 else None
            rest = rest[close + 1 :]
        if rest.startswith("["):
            if not rest.endswith("]"):
                raise invalid
            volume = rest[1:-1]
            rest = ""
        if rest:
            raise invalid
        return Key.new(name, role, principal, volume)

    @staticmethod
    def new(name: str, role: str | None, principal: str | None, volume: str | None) -> Key:
        """Validates the parts of a key; role "*" (or None) is unreserved."""
        if not _NAME.fullmatch(name):
            raise ResourceError(f"invalid resource name '{name}'")
        if role is not None:
            validate_role(role)
        if principal is not None and not _IDENTIFIER.fullmatch(principal):
            raise ResourceError(f"invalid principal '{principal}'")
        if volume is not None and not _IDENTIFIER.fullmatch(volume):
            raise ResourceError(f"invalid volume '{volume}'")
        if role == "*":
            role = None
        if role is None and principal is not None:
            raise ResourceError(f"principal '{principal}' requires a reserved role")
        if volume is not None:
            if name != "disk":
                raise ResourceError(f"volume '{volume}' is only allowed for disk")
            if role is None:
                raise ResourceError(f"volume '{volume}' requires a reservation")
        return Key(name, role, principal, volume)

    def with_value(self, value: Value) -> Resource:
        return Resource(self.name, self.role, self.principal, self.volume, value)


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
            segment = raw_segment.strip(_WHITESPACE)
            if not segment:
                continue
            with _context(f"'{segment}'"):
                entries.append(_parse_entry(segment))
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
                    entries.append(key.with_value(_value_from_python(value)))
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
                entries.append(_entry_from_json(item))
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
            value = entry.value if part is None else _subtract(entry.value, part)
            if not _is_empty(value):
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
            if whole is None or not _fits(entry.value, whole):
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


# -- canonicalisation and arithmetic ------------------------------------------


def _canonicalize(entries: list[Resource]) -> PyResources:
    """Entries must be individually valid and normalised."""
    # Stable, so entries with the same key are added in input order.
    ordered = sorted(
        (entry for entry in entries if not _is_empty(entry.value)), key=Resource.sort_key
    )
    group = 0
    for i in range(1, len(ordered)):
        if ordered[i].name != ordered[group].name:
            group = i
        elif not _same_type(ordered[i].value, ordered[group].value):
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
        if mine is not None and not _same_type(mine.value, entry.value):
            raise _conflicting_types(mine, entry)


def _conflicting_types(first: Resource, second: Resource) -> ResourceError:
    return ResourceError(
        f"conflicting types for '{first.name}': {first} is {_type_phrase(first.value)}, "
        f"{second} is {_type_phrase(second.value)}"
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
        overlap = _first_range_overlap(x, y)
        if overlap is None:
            return _union_disjoint(x, y)
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


def _fits(part: Value, whole: Value) -> bool:
    if isinstance(part, int) and isinstance(whole, int):
        return part <= whole
    if isinstance(part, tuple) and isinstance(whole, tuple):
        return _ranges_subset(part, whole)
    if isinstance(part, frozenset) and isinstance(whole, frozenset):
        return part <= whole
    return False


def _subtract(whole: Value, part: Value) -> Value:
    """`whole` minus `part`, where `_fits(part, whole)` holds."""
    if isinstance(whole, int) and isinstance(part, int):
        return whole - part
    if isinstance(whole, tuple) and isinstance(part, tuple):
        return _ranges_difference(whole, part)
    if isinstance(whole, frozenset) and isinstance(part, frozenset):
        return whole - part
    raise AssertionError("containment is checked before subtracting")


def _first_range_overlap(a: Ranges, b: Ranges) -> tuple[Range, Range] | None:
    """The first pair of intersecting ranges met by a merge walk."""
    i = j = 0
    while i < len(a) and j < len(b):
        x, y = a[i], b[j]
        if x[0] <= y[1] and y[0] <= x[1]:
            return x, y
        if x[1] < y[1]:
            i += 1
        else:
            j += 1
    return None


def _union_disjoint(a: Ranges, b: Ranges) -> Ranges:
    out: list[Range] = []
    for pair in sorted(a + b):
        _push_coalescing(out, pair)
    return tuple(out)


def _push_coalescing(out: list[Range], pair: Range) -> None:
    """Appends a range that starts after the last one, merging adjacent ones."""
    if out and out[-1][1] + 1 == pair[0]:
        out[-1] = (out[-1][0], pair[1])
    else:
        out.append(pair)


def _ranges_subset(part: Ranges, whole: Ranges) -> bool:
    # Canonical ranges are maximal, so each part range must sit inside one whole range.
    return all(any(lo <= begin and end <= hi for lo, hi in whole) for begin, end in part)


def _ranges_difference(whole: Ranges, part: Ranges) -> Ranges:
    """`whole` minus `part`, where `part` is a subset of `whole`."""
    out: list[Range] = []
    for lo, hi in whole:
        start = lo  # the start of what is left of this range
        for begin, end in part:
            if lo <= begin and end <= hi:
                if start < begin:
                    out.append((start, begin - 1))
                start = end + 1
        if start <= hi:
            out.append((start, hi))
    return tuple(out)


# -- roles --------------------------------------------------------------------


def is_ancestor_or_self(ancestor: str, role: str) -> bool:
    """Whether `ancestor` is `role` or one of its ancestors ("a" of "a/b" but not of "ab")."""
    return role == ancestor or role.startswith(ancestor + "/")


def validate_role(role: str) -> None:
    """A role is "*" or '/'-separated components of [A-Za-z0-9_.-], none of them
    empty, "." or "..", nor starting with '-'."""
    if role == "*":
        return
    for part in role.split("/"):
        if part in ("", ".", "..") or part.startswith("-") or not _ROLE_PART.fullmatch(part):
            raise ResourceError(f"invalid role '{role}'")


# -- values -------------------------------------------------------------------


def format_millis(millis: int) -> str:
    """Prints millis as the shortest decimal: "2", "0.3", "1.25"."""
    sign = "-" if millis < 0 else ""
    whole, frac = divmod(abs(millis), 1000)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:03d}".rstrip("0")


def _split_decimal(text: str) -> tuple[str, str] | None:
    """Splits a decimal into its ASCII digit runs; None if it is not one."""
    match = _DECIMAL.fullmatch(text)
    if match is None:
        return None
    whole, frac, integer = match.groups()
    if integer is not None:
        return integer, ""
    return whole, frac


def parse_scalar_text(text: str) -> int:
    """Parses a non-negative decimal ``digits[.digits]`` or ``.digits`` into millis,
    rounding half up at the fourth decimal."""
    if text.startswith("-"):
        if _split_decimal(text[1:]) is not None:
            raise ResourceError(f"negative quantity '{text}'")
        raise ResourceError(f"invalid scalar '{text}'")
    parts = _split_decimal(text)
    if parts is None:
        raise ResourceError(f"invalid scalar '{text}'")
    whole, frac = parts
    too_large = ResourceError(f"quantity '{text}' above the maximum {MAX_UNITS}")
    significant = whole.lstrip("0")
    # Checked on the length first: int() refuses very long digit strings.
    if len(significant) > len(str(MAX_UNITS)) or int(significant or "0") > MAX_UNITS:
        raise too_large
    millis = int(significant or "0") * 1000 + int(frac[:3].ljust(3, "0"))
    if len(frac) > 3 and frac[3] >= "5":
        millis += 1
    if millis > MAX_MILLIS:
        raise too_large
    return millis


def parse_value_text(text: str) -> Value:
    """Parses a value in the text syntax: "[1-5,7-9]", "{a,b}" or a scalar."""
    text = text.strip(_WHITESPACE)
    if text.startswith("["):
        if not text.endswith("]"):
            raise ResourceError(f"invalid ranges '{text}'")
        inner = text[1:-1].strip(_WHITESPACE)
        if not inner:
            return ()
        return ranges_from_pairs(
            [_parse_range(part.strip(_WHITESPACE)) for part in inner.split(",")]
        )
    if text.startswith("{"):
        if not text.endswith("}"):
            raise ResourceError(f"invalid set '{text}'")
        inner = text[1:-1].strip(_WHITESPACE)
        if not inner:
            return frozenset()
        return set_from_items(item.strip(_WHITESPACE) for item in inner.split(","))
    return parse_scalar_text(text)


def _parse_range(part: str) -> Range:
    begin, separator, end = part.partition("-")
    begin, end = begin.strip(_WHITESPACE), end.strip(_WHITESPACE)
    if not separator or not _DIGITS.fullmatch(begin) or not _DIGITS.fullmatch(end):
        raise ResourceError(f"invalid range '{part}'")
    return _parse_bound(begin), _parse_bound(end)


def _parse_bound(digits: str) -> int:
    significant = digits.lstrip("0")
    # Checked on the length first: int() refuses very long digit strings.
    if len(significant) > len(str(MAX_BOUND)) or int(significant or "0") > MAX_BOUND:
        raise ResourceError(f"range bound {digits} out of bounds")
    return int(significant or "0")


def scalar_from_float(value: float, shown: str) -> int:
    """Millis from a float given by a caller; `shown` is how the caller writes it."""
    if not math.isfinite(value):
        raise ResourceError(f"invalid scalar {shown}")
    if value < 0:
        raise ResourceError(f"negative quantity {shown}")
    scaled = value * 1000 + 0.5
    # floor(scaled) > MAX_MILLIS, asked before floor() so that a product that
    # overflowed to infinity is too large rather than an OverflowError.
    if scaled >= MAX_MILLIS + 1:
        raise ResourceError(f"quantity {shown} above the maximum {MAX_UNITS}")
    return math.floor(scaled)


def scalar_from_units(units: int, shown: str) -> int:
    """Millis from a whole number of units given by a caller."""
    if units < 0:
        raise ResourceError(f"negative quantity {shown}")
    if units > MAX_UNITS:
        raise ResourceError(f"quantity {shown} above the maximum {MAX_UNITS}")
    return units * 1000


def _scalar_from_millis(millis: int) -> int:
    if millis < 0:
        raise ResourceError(f"negative quantity {format_millis(millis)}")
    if millis > MAX_MILLIS:
        raise ResourceError(f"quantity {format_millis(millis)} above the maximum {MAX_UNITS}")
    return millis


def ranges_from_pairs(pairs: Iterable[Range]) -> Ranges:
    """Canonical ranges from (begin, end) pairs in any order; adjacent ones merge,
    overlapping ones are an error (a port cannot exist twice)."""
    pairs = list(pairs)
    for begin, end in pairs:
        if begin > end:
            raise ResourceError(f"invalid range '{begin}-{end}': begin above end")
    ranges: list[Range] = []
    previous: Range | None = None
    for pair in sorted(pairs):
        # Sorted and free of overlaps so far, so the previous pair ends last.
        if previous is not None and pair[0] <= previous[1]:
            raise ResourceError(
                f"overlapping ranges {previous[0]}-{previous[1]} and {pair[0]}-{pair[1]}"
            )
        _push_coalescing(ranges, pair)
        previous = pair
    return tuple(ranges)


def set_from_items(items: Iterable[str]) -> frozenset[str]:
    """A set from items in any order; duplicates are an error."""
    seen: set[str] = set()
    for item in items:
        if not _SET_ITEM.fullmatch(item):
            raise ResourceError(f"invalid set item '{item}'")
        if item in seen:
            raise ResourceError(f"duplicate set item '{item}'")
        seen.add(item)
    return frozenset(seen)


def _parse_entry(segment: str) -> Resource:
    """Parses one ``key:value`` entry."""
    key, separator, value = segment.partition(":")
    if not separator:
        raise ResourceError("missing ':'")
    return Key.parse(key).with_value(parse_value_text(value))


@contextmanager
def _context(where: str) -> Iterator[None]:
    """Appends where an error happened: "invalid scalar 'x' in 'cpus:x'"."""
    try:
        yield
    except ResourceError as err:
        raise ResourceError(f"{err} in {where}") from None


# -- Python values (dict and JSON forms) --------------------------------------

_EXPECTED_VALUE = "expected a number, a string, a list of [begin, end] pairs or a list of strings"


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return _is_int(value) or isinstance(value, float)


def _scalar_from_number(value: int | float) -> int:
    if isinstance(value, int):
        return scalar_from_units(value, repr(value))
    return scalar_from_float(value, repr(value))


def _ranges_from_python(pairs: Iterable[tuple[Any, Any]]) -> Ranges:
    """Ranges from integer pairs whose type has been checked."""
    checked = []
    for pair in pairs:
        for bound in pair:
            if not 0 <= bound <= MAX_BOUND:
                raise ResourceError(f"range bound {bound!r} out of bounds")
        checked.append((int(pair[0]), int(pair[1])))
    return ranges_from_pairs(checked)


def _value_from_python(value: object) -> Value:
    """A dict value other than a string: a number, or a list of pairs or of strings."""
    if _is_number(value):
        return _scalar_from_number(value)
    if isinstance(value, list | tuple):
        if all(isinstance(item, str) for item in value):
            return set_from_items(value)
        if all(
            isinstance(item, list | tuple) and len(item) == 2 and all(_is_int(b) for b in item)
            for item in value
        ):
            return _ranges_from_python(value)
    raise ResourceError(f"invalid value {value!r}: {_EXPECTED_VALUE}")


_JSON_FIELDS = ("name", "type", "scalar", "ranges", "set", "role", "reservation", "disk")
_VALUE_FIELDS = {"SCALAR": "scalar", "RANGES": "ranges", "SET": "set"}


def _json_string(item: dict[Any, Any], field: str) -> str:
    if field not in item:
        raise ResourceError(f"missing field '{field}'")
    value = item[field]
    if not isinstance(value, str):
        raise ResourceError(f"field '{field}' must be a string")
    return value


def _has_only(value: object, *fields: str) -> TypeGuard[dict[Any, Any]]:
    """Whether `value` is a dict with exactly these fields."""
    return isinstance(value, dict) and len(value) == len(fields) and all(f in value for f in fields)


def _entry_from_json(item: object) -> Resource:
    if not isinstance(item, dict):
        raise ResourceError(f"expected an object, got {type(item).__name__}")
    for field in item:
        if field not in _JSON_FIELDS:
            raise ResourceError(f"unknown field {field!r}")
    name = _json_string(item, "name")
    kind = _json_string(item, "type")
    value_field = _VALUE_FIELDS.get(kind)
    if value_field is None:
        raise ResourceError(f"unknown type '{kind}': expected SCALAR, RANGES or SET")
    for field in _VALUE_FIELDS.values():
        if field != value_field and field in item:
            raise ResourceError(f"field '{field}' does not match type {kind}")
    if value_field not in item:
        raise ResourceError(f"missing field '{value_field}'")
    role = _json_string(item, "role") if "role" in item else "*"
    principal = None
    if "reservation" in item:
        reservation = item["reservation"]
        if not _has_only(reservation, "principal") or not isinstance(reservation["principal"], str):
            raise ResourceError("field 'reservation' must be {\"principal\": string}")
        principal = reservation["principal"]
    volume = None
    if "disk" in item:
        disk = item["disk"]
        if (
            not _has_only(disk, "persistence")
            or not _has_only(disk["persistence"], "id")
            or not isinstance(disk["persistence"]["id"], str)
        ):
            raise ResourceError('field \'disk\' must be {"persistence": {"id": string}}')
        volume = disk["persistence"]["id"]
    key = Key.new(name, role, principal, volume)
    return key.with_value(_value_from_json(value_field, item[value_field]))


def _value_from_json(field: str, body: object) -> Value:
    if field == "scalar":
        number = body["value"] if _has_only(body, "value") else None
        if not _is_number(number):
            raise ResourceError("field 'scalar' must be {\"value\": number}")
        return _scalar_from_number(number)
    if field == "ranges":
        ranges = body["range"] if _has_only(body, "range") else None
        if not isinstance(ranges, list) or not all(
            _has_only(r, "begin", "end") and _is_int(r["begin"]) and _is_int(r["end"])
            for r in ranges
        ):
            raise ResourceError(
                'field \'ranges\' must be {"range": [{"begin": integer, "end": integer}]}'
            )
        return _ranges_from_python((r["begin"], r["end"]) for r in ranges)
    items = body["item"] if _has_only(body, "item") else None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ResourceError("field 'set' must be {\"item\": [string]}")
    return set_from_items(items)
