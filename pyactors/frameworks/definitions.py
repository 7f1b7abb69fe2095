"""What the definition readers (Marathon apps, Chronos/Metronome jobs) share:
a definition given as data or JSON text, values quoted in their errors, and
`DefinitionReader`, which reads typed, bounded fields and collects every
problem it finds as (path, message) instead of stopping at the first.

A path names a field from the definition's top: `cpus`,
`healthChecks[0].intervalSeconds`; problems with the definition as a whole
are reported at its `root` ("(app)", "(job)").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson

T = TypeVar("T")


def decoded(definition: Mapping[str, Any] | str | bytes) -> tuple[Any, str | None]:
    """The definition as data, and why its text is not JSON (None if it is,
    or if it was given as data)."""
    if not isinstance(definition, str | bytes):
        return definition, None
    try:
        return orjson.loads(definition), None
    except orjson.JSONDecodeError as error:
        return None, f"not valid JSON: {error}"


def shown(value: Any) -> str:
    """A value as an error message quotes it: its JSON, cut at 60 characters."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored as JSON or passed to exec (None: it can)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"is not valid Unicode text (a lone surrogate): {text!r}"
    if "\0" in text:
        return "contains a NUL character"
    return None


def at(path: str, key: str) -> str:
    """The path of field `key` of the object at `path` ("" is the top)."""
    return f"{path}.{key}" if path else key


class DefinitionReader:
    """Reads fields, collecting every problem; a field with a problem reads
    as its default so reading goes on, and the caller refuses the whole
    definition when `problems` is not empty.

    `root` is where problems with the definition as a whole are reported;
    `dialect` names whose fields `object`'s `unsupported` ones are.
    """

    def __init__(self, root: str, dialect: str) -> None:
        self.root = root
        self.dialect = dialect
        self.problems: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def wrong(self, path: str, expected: str, value: Any) -> None:
        self.fail(path, f"expected {expected}, got {shown(value)}")

    def object(
        self, value: Any, path: str, known: tuple[str, ...], unsupported: tuple[str, ...] = ()
    ) -> dict[str, Any] | None:
        """The `known` fields of the object at `path` that are not null;
        `unsupported` ones are accepted only when empty."""
        if not isinstance(value, Mapping):
            self.wrong(path or self.root, "an object", value)
            return None
        data: dict[str, Any] = {}
        for key, item in value.items():
            if key in known:
                if item is not None:
                    data[key] = item
            elif key in unsupported:
                if item not in (None, [], {}, ""):
                    self.fail(at(path, key), f"is a {self.dialect} field pyactors does not support")
            else:
                self.unknown_field(path, key)
        return data

    def unknown_field(self, path: str, key: Any) -> None:
        """Report a field `object` does not know (a reader may say more)."""
        self.fail(at(path, str(key)), "unknown field")

    def typed(
        self, data: Mapping[str, Any], key: str, path: str, kind: type[T], expected: str
    ) -> T | None:
        """The field if it is a `kind` (a boolean is not a number), else None;
        a field of another type is a problem, `expected` saying what it
        should be."""
        if key not in data:
            return None
        value = data[key]
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            self.wrong(at(path, key), expected, value)
            return None
        return value

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        default: float,
        minimum: float | None = 0,
        maximum: float | None = None,
        above_minimum: bool = False,
    ) -> float:
        """A finite number within the bounds (`above_minimum`: not the
        minimum itself)."""
        if key not in data:
            return default
        value, where = data[key], at(path, key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.wrong(where, "a number", value)
            return default
        return self._bounded(value, where, default, minimum, maximum, above_minimum)

    def integer(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        default: int,
        minimum: int | None = 0,
        maximum: int | None = None,
    ) -> int:
        """An integer within the bounds (a float with no fraction is one)."""
        if key not in data:
            return default
        value, where = data[key], at(path, key)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.wrong(where, "an integer", value)
            return default
        return int(self._bounded(value, where, default, minimum, maximum))

    def _bounded(
        self,
        value: float,
        where: str,
        default: float,
        minimum: float | None,
        maximum: float | None,
        above_minimum: bool = False,
    ) -> float:
        if minimum is not None and (value < minimum or (above_minimum and value == minimum)):
            bound = "more than" if above_minimum else "at least"
            self.fail(where, f"must be {bound} {minimum}, got {shown(value)}")
            return default
        if maximum is not None and value > maximum:
            self.fail(where, f"must be at most {maximum}, got {shown(value)}")
            return default
        return value

    def string(self, data: Mapping[str, Any], key: str, path: str, default: T) -> str | T:
        """A string that can be stored as JSON and passed to exec."""
        value = self.typed(data, key, path, str, "a string")
        if value is None:
            return default
        problem = text_problem(value)
        if problem is not None:
            self.fail(at(path, key), problem)
            return default
        return value

    def choice(
        self, data: Mapping[str, Any], key: str, path: str, default: str, allowed: tuple[str, ...]
    ) -> str:
        value = self.string(data, key, path, None)
        if value is None:
            return default
        if value not in allowed:
            self.fail(at(path, key), f"expected one of {', '.join(allowed)}, got {shown(value)}")
            return default
        return value

    def boolean(self, data: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        value = self.typed(data, key, path, bool, "a boolean")
        return default if value is None else value

    def array(
        self, data: Mapping[str, Any], key: str, path: str, read: Callable[[Any, str], T | None]
    ) -> tuple[T, ...]:
        """Each item of the array read by `read(item, its path)`; the items it
        reads as None (a problem) are left out."""
        if key not in data:
            return ()
        value, where = data[key], at(path, key)
        if not isinstance(value, list | tuple):
            self.wrong(where, "an array", value)
            return ()
        out = []
        for index, item in enumerate(value):
            parsed = read(item, f"{where}[{index}]")
            if parsed is not None:
                out.append(parsed)
        return tuple(out)
