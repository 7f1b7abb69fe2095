"""Marathon's placement constraints (`[field, operator, value?]`): read from
an app definition, and evaluated against the agent of a candidate offer (its
hostname and attributes) and the agents where the app's instances already
run. The semantics are Marathon's (`mesosphere.mesos.Constraints`): `field`
is `hostname` or an agent attribute; an agent without the attribute
satisfies only UNLIKE.

======== ======= =====================================================
operator value   the offer's agent qualifies when
======== ======= =====================================================
UNIQUE   none    no instance runs on an agent with the same value
CLUSTER  optional its value is `value` (without one: the value of the
                 instances already placed, if any)
GROUP_BY optional its value is new, or is one of the least used values
         (count) once at least `count` values are in use (spreads
                 instances evenly over the values)
LIKE     regex   its value matches the regex (whole value)
UNLIKE   regex   its value does not match the regex (or it has none)
MAX_PER  count   fewer than `count` instances run on its value
IS       value   its value is `value`
======== ======= =====================================================

Plain functions over values (no Ray, no clock).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pyactors.errors import AppDefinitionError

OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS")
HOSTNAME = "hostname"

# Where an instance runs: its agent's hostname and attributes.
Placement = tuple[str, Mapping[str, str]]


@dataclass(frozen=True)
class Constraint:
    """One Marathon constraint, validated (`parse_constraint`)."""

    field: str
    operator: str
    value: str | None = None

    def to_json(self) -> list[str]:
        """Marathon's form: `[field, operator]` or `[field, operator, value]`."""
        if self.value is None:
            return [self.field, self.operator]
        return [self.field, self.operator, self.value]

    def allows(
        self, hostname: str, attributes: Mapping[str, str], placed: Sequence[Placement]
    ) -> bool:
        """Whether one more instance may run on this agent, given where the
        app's instances run (`placed`, one entry per instance)."""
        offered = _value(self.field, hostname, attributes)
        if offered is None:
            return self.operator == "UNLIKE"
        values = [_value(self.field, host, attrs) for host, attrs in placed]
        op = self.operator
        if op == "UNIQUE":
            return offered not in values
        if op == "CLUSTER":
            if self.value is not None:
                return offered == self.value
            return all(v == offered for v in values)
        if op == "GROUP_BY":
            counts: dict[str | None, int] = {}
            for v in values:
                counts[v] = counts.get(v, 0) + 1
            if offered not in counts:
                return True
            minimum = int(self.value) if self.value is not None else 0
            return len(counts) >= minimum and counts[offered] == min(counts.values())
        if op == "LIKE":
            return _regex(str(self.value)).fullmatch(offered) is not None
        if op == "UNLIKE":
            return _regex(str(self.value)).fullmatch(offered) is None
        if op == "MAX_PER":
            return values.count(offered) < int(str(self.value))
        return offered == self.value  # IS


def _value(field: str, hostname: str, attributes: Mapping[str, str]) -> str | None:
    if field == HOSTNAME:
        return hostname
    return attributes.get(field)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def parse_constraint(raw: Any, path: str = "constraint") -> Constraint:
    """A constraint from Marathon's JSON form (`["hostname", "UNIQUE"]`,
    `["rack", "GROUP_BY", "3"]`, ...); AppDefinitionError naming `path`
    when it is malformed."""

    def fail(message: str) -> AppDefinitionError:
        return AppDefinitionError([(path, message)])

    if not isinstance(raw, list | tuple) or not 2 <= len(raw) <= 3:
        raise fail(f"expected [field, operator] or [field, operator, value], got {_show(raw)}")
    for index, item in enumerate(raw):
        if not isinstance(item, str):
            raise AppDefinitionError(
                [(f"{path}[{index}]", f"expected a string, got {_show(item)}")]
            )
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            raise AppDefinitionError(
                [(f"{path}[{index}]", f"is not valid Unicode text: {item!r}")]
            ) from None
    field, operator = raw[0], raw[1]
    value: str | None = raw[2] if len(raw) == 3 else None
    if not field:
        raise fail("the field is empty (use hostname or an agent attribute)")
    if operator not in OPERATORS:
        raise fail(f"unknown operator {operator!r} (one of {', '.join(OPERATORS)})")
    if operator == "UNIQUE":
        if value:
            raise fail(f"UNIQUE takes no value, got {value!r}")
        value = None
    elif operator == "CLUSTER":
        value = value or None
    elif operator == "GROUP_BY":
        value = value or None
        if value is not None and not _is_count(value, minimum=1):
            raise fail(f"GROUP_BY takes an optional number of groups >= 1, got {value!r}")
    elif operator in ("LIKE", "UNLIKE"):
        if value is None:
            raise fail(f"{operator} needs a regular expression")
        try:
            _regex(value)
        except re.error as error:
            raise fail(f"{operator} value {value!r} is not a regular expression: {error}") from None
    elif operator == "MAX_PER":
        if value is None or not _is_count(value, minimum=1):
            raise fail(f"MAX_PER needs a count >= 1, got {_show(value)}")
    elif value is None:  # IS
        raise fail("IS needs a value")
    return Constraint(field, operator, value)


def _is_count(text: str, minimum: int) -> bool:
    return text.isascii() and text.isdigit() and int(text) >= minimum


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return '"' + (value if len(value) <= 60 else value[:57] + "...") + '"'
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def unmet_constraint(
    constraints: Sequence[Constraint],
    hostname: str,
    attributes: Mapping[str, str],
    placed: Sequence[Placement],
) -> Constraint | None:
    """The first constraint this agent fails for one more instance (None:
    it may run there)."""
    for constraint in constraints:
        if not constraint.allows(hostname, attributes, placed):
            return constraint
    return None


def meets_constraints(
    constraints: Sequence[Constraint],
    hostname: str,
    attributes: Mapping[str, str],
    placed: Sequence[Placement],
) -> bool:
    """Whether one more instance may run on this agent."""
    return unmet_constraint(constraints, hostname, attributes, placed) is None
