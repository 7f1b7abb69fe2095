"""One entry of a bundle: its key (name, role, principal, volume) and value,
and the role names keys may carry."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyactors._reference.resources.values import (
    WHITESPACE,
    Value,
    format_value,
    parse_value_text,
    ranges_from_python,
    scalar_from_millis,
    set_from_items,
)
from pyactors.errors import ResourceError

_NAME = re.compile(r"[A-Za-z0-9_.\-/]+")
_ROLE_PART = re.compile(r"[A-Za-z0-9_.\-]+")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.\-@]+")


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
            checked = scalar_from_millis(value)
        elif isinstance(value, tuple):
            checked = ranges_from_python(value)
        else:
            checked = set_from_items(sorted(value))
        return key.with_value(checked)

    def __str__(self) -> str:
        return f"{self.key_text()}:{format_value(self.value)}"


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
        text = text.strip(WHITESPACE)
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


def parse_entry(segment: str) -> Resource:
    """Parses one ``key:value`` entry."""
    key, separator, value = segment.partition(":")
    if not separator:
        raise ResourceError("missing ':'")
    return Key.parse(key).with_value(parse_value_text(value))
