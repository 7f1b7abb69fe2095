"""Values of resource entries: scalars, ranges and sets, their text syntax
and the arithmetic on them.

A value is held as:

* scalar: ``int`` millis (fixed point with three decimals, so 0.1 + 0.2 is 0.3);
* ranges: ``tuple[tuple[int, int], ...]``, sorted, disjoint, non-adjacent, inclusive;
* set: ``frozenset[str]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pyactors.core.scalars import MAX_MILLIS, MAX_UNITS
from pyactors.errors import ResourceError

MAX_BOUND = 2**64 - 1

Range = tuple[int, int]
Ranges = tuple[Range, ...]
Value = int | Ranges | frozenset[str]

# ASCII whitespace only, exactly what Rust's `u8::is_ascii_whitespace` accepts.
WHITESPACE = " \t\n\r\x0c"
_SET_ITEM = re.compile(r"[A-Za-z0-9_.\-@/:]+")
_DIGITS = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"([0-9]*)\.([0-9]+)|([0-9]+)")


def is_empty_value(value: Value) -> bool:
    if isinstance(value, int):
        return value == 0
    return len(value) == 0


def same_type(a: Value, b: Value) -> bool:
    return type(a) is type(b)


def type_phrase(value: Value) -> str:
    if isinstance(value, int):
        return "a scalar"
    if isinstance(value, tuple):
        return "ranges"
    return "a set"


def format_value(value: Value) -> str:
    if isinstance(value, int):
        return format_millis(value)
    if isinstance(value, tuple):
        return "[" + ",".join(f"{begin}-{end}" for begin, end in value) + "]"
    return "{" + ",".join(sorted(value)) + "}"


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
    text = text.strip(WHITESPACE)
    if text.startswith("["):
        if not text.endswith("]"):
            raise ResourceError(f"invalid ranges '{text}'")
        inner = text[1:-1].strip(WHITESPACE)
        if not inner:
            return ()
        return ranges_from_pairs(
            [_parse_range(part.strip(WHITESPACE)) for part in inner.split(",")]
        )
    if text.startswith("{"):
        if not text.endswith("}"):
            raise ResourceError(f"invalid set '{text}'")
        inner = text[1:-1].strip(WHITESPACE)
        if not inner:
            return frozenset()
        return set_from_items(item.strip(WHITESPACE) for item in inner.split(","))
    return parse_scalar_text(text)


def _parse_range(part: str) -> Range:
    begin, separator, end = part.partition("-")
    begin, end = begin.strip(WHITESPACE), end.strip(WHITESPACE)
    if not separator or not _DIGITS.fullmatch(begin) or not _DIGITS.fullmatch(end):
        raise ResourceError(f"invalid range '{part}'")
    return _parse_bound(begin), _parse_bound(end)


def _parse_bound(digits: str) -> int:
    significant = digits.lstrip("0")
    # Checked on the length first: int() refuses very long digit strings.
    if len(significant) > len(str(MAX_BOUND)) or int(significant or "0") > MAX_BOUND:
        raise ResourceError(f"range bound {digits} out of bounds")
    return int(significant or "0")


def scalar_from_units(units: int, shown: str) -> int:
    """Millis from a whole number of units given by a caller."""
    if units < 0:
        raise ResourceError(f"negative quantity {shown}")
    if units > MAX_UNITS:
        raise ResourceError(f"quantity {shown} above the maximum {MAX_UNITS}")
    return units * 1000


def scalar_from_millis(millis: int) -> int:
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


def ranges_from_python(pairs: Iterable[tuple[Any, Any]]) -> Ranges:
    """Ranges from integer pairs whose type has been checked."""
    checked = []
    for pair in pairs:
        for bound in pair:
            if not 0 <= bound <= MAX_BOUND:
                raise ResourceError(f"range bound {bound!r} out of bounds")
        checked.append((int(pair[0]), int(pair[1])))
    return ranges_from_pairs(checked)


def fits(part: Value, whole: Value) -> bool:
    if isinstance(part, int) and isinstance(whole, int):
        return part <= whole
    if isinstance(part, tuple) and isinstance(whole, tuple):
        return _ranges_subset(part, whole)
    if isinstance(part, frozenset) and isinstance(whole, frozenset):
        return part <= whole
    return False


def subtract_value(whole: Value, part: Value) -> Value:
    """`whole` minus `part`, where `fits(part, whole)` holds."""
    if isinstance(whole, int) and isinstance(part, int):
        return whole - part
    if isinstance(whole, tuple) and isinstance(part, tuple):
        return _ranges_difference(whole, part)
    if isinstance(whole, frozenset) and isinstance(part, frozenset):
        return whole - part
    raise AssertionError("containment is checked before subtracting")


def first_range_overlap(a: Ranges, b: Ranges) -> tuple[Range, Range] | None:
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


def union_disjoint(a: Ranges, b: Ranges) -> Ranges:
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
