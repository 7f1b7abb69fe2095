"""Access control lists in Mesos's format, decided as Mesos's local
authorizer decides them.

```json
{"permissive": false,
 "register_frameworks": [
   {"principals": {"values": ["web"]}, "roles": {"values": ["web"]}},
   {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}]}
```

Each action holds rules of a subject (`principals`) and an object (the
action's own field, `ACTIONS`). A request is a principal (None: an
unauthenticated caller) and an object value (None: no particular one). The
first rule that matches the request decides it; when none matches,
`permissive` (default true) does. As in Mesos, an entity `{"values": [...]}`
matches a request naming one of its values, `{"type": "ANY"}` and
`{"type": "NONE"}` match every request; ANY allows, NONE denies, values
allow what they match. A request without a principal (or without an
object) matches only ANY or NONE rules, and only ANY allows it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pyactors.errors import AuthorizationError, InvalidArgumentError

# Each action and the field naming its object. "users|roles": a rule names
# either (Mesos's view ACLs know users; pyactors lets a viewer be limited to
# roles too).
ACTIONS: Mapping[str, str] = MappingProxyType(
    {
        "register_frameworks": "roles",
        "run_tasks": "users",
        "teardown_frameworks": "framework_principals",
        "update_quotas": "roles",
        "update_weights": "roles",
        "reserve_resources": "roles",
        # Mesos's object is the reserver's principal; pyactors checks the role.
        "unreserve_resources": "roles",
        "create_volumes": "roles",
        # Mesos's object is the creator's principal; pyactors checks the role.
        "destroy_volumes": "roles",
        "drain_agents": "agents",
        # Mesos's maintenance ACLs; the object is the machine's hostname
        # (its IP when it has none).
        "update_maintenance_schedules": "machines",
        "get_maintenance_schedules": "machines",
        "start_maintenances": "machines",
        "stop_maintenances": "machines",
        "get_maintenance_statuses": "machines",
        "kill_tasks": "framework_principals",
        "view_frameworks": "users|roles",
        "view_tasks": "users|roles",
        "access_sandboxes": "users|roles",
    }
)
# Older Mesos names, read as the action they became.
ALIASES: Mapping[str, str] = MappingProxyType({"set_quotas": "update_quotas"})

_TYPES = ("SOME", "ANY", "NONE")
# How a denial names the object, per object field.
_OBJECT_PHRASES = {
    "roles": "with role",
    "users": "as user",
    "framework_principals": "of framework principal",
    "agents": "on agent",
    "machines": "on machine",
}

ObjectValue = str | None | Mapping[str, str | None]


@dataclass(frozen=True)
class Entity:
    """ACL.Entity: SOME of `values`, ANY or NONE."""

    type: str = "ANY"
    values: frozenset[str] = frozenset()

    def matches(self, value: str | None) -> bool:
        if self.type != "SOME":
            return True
        return value is not None and value in self.values

    def allows(self, value: str | None) -> bool:
        if self.type == "ANY":
            return True
        if self.type == "NONE":
            return False
        return value is not None and value in self.values


@dataclass(frozen=True)
class Rule:
    principals: Entity
    field: str
    objects: Entity


@dataclass(frozen=True)
class Acls:
    """Rules per action and the default when none matches. `Acls()`
    allows everything. Build from JSON with `Acls.load`."""

    permissive: bool = True
    rules: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, source: Mapping[str, Any] | str | os.PathLike[str] | Acls | None) -> Acls:
        """ACLs from Mesos's ACL JSON, as a mapping or a file's path. None
        allows everything."""
        if source is None:
            return cls()
        if isinstance(source, Acls):
            return source
        if isinstance(source, str | os.PathLike):
            return _parse(_read_json(Path(source)), f"acls file {source}")
        return _parse(source, "acls")

    @property
    def allow_everything(self) -> bool:
        """No rules and a permissive default (the default ACLs): every
        check passes, so hot paths need not make one per object."""
        return self.permissive and not self.rules

    def allows(self, action: str, principal: str | None, obj: ObjectValue) -> bool:
        """Whether `principal` may do `action` to `obj`. For the view and
        sandbox actions `obj` is {"users": ..., "roles": ...} (a rule is
        matched against the field it names); a plain string is the user."""
        action = _known_action(action)
        for rule in self.rules.get(action, ()):
            value = _object_value(obj, action, rule.field)
            if rule.principals.matches(principal) and rule.objects.matches(value):
                return rule.principals.allows(principal) and rule.objects.allows(value)
        return self.permissive

    def check(self, action: str, principal: str | None, obj: ObjectValue) -> None:
        """Raise AuthorizationError, naming the action, unless allowed."""
        if not self.allows(action, principal, obj):
            action = _known_action(action)
            who = "an unauthenticated caller" if principal is None else f"principal {principal!r}"
            raise AuthorizationError(
                f"{who} may not {action}{_object_phrase(action, obj)} (ACL {action})",
                action,
                principal,
            )


def _known_action(action: str) -> str:
    action = ALIASES.get(action, action)
    if action not in ACTIONS:
        raise InvalidArgumentError(f"unknown ACL action {action!r}")
    return action


def _object_value(obj: ObjectValue, action: str, field_name: str) -> str | None:
    if isinstance(obj, Mapping):
        return obj.get(field_name)
    # A plain string for a users-or-roles action is the user.
    if "|" in ACTIONS[action] and field_name != "users":
        return None
    return obj


def _object_phrase(action: str, obj: ObjectValue) -> str:
    fields = ACTIONS[action].split("|")
    values = (
        [(name, obj.get(name)) for name in fields]
        if isinstance(obj, Mapping)
        else [(fields[0], obj)]
    )
    phrases = [f"{_OBJECT_PHRASES[name]} {value!r}" for name, value in values if value is not None]
    return "".join(" " + phrase for phrase in phrases)


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as error:
        raise InvalidArgumentError(f"cannot read acls file {path}: {error.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidArgumentError(f"acls file {path} is not JSON: {error}") from None


def _parse(document: Any, where: str) -> Acls:
    if not isinstance(document, Mapping):
        raise InvalidArgumentError(f"{where}: expected a JSON object, not {document!r}")
    permissive = document.get("permissive", True)
    if not isinstance(permissive, bool):
        raise InvalidArgumentError(f"{where}: permissive must be true or false, not {permissive!r}")
    rules: dict[str, list[Rule]] = {}
    # Mesos's current name first, so an older set_quotas list comes after it.
    names = sorted((key for key in document if key != "permissive"), key=lambda k: k in ALIASES)
    for name in names:
        action = ALIASES.get(name, name)
        if not isinstance(name, str) or action not in ACTIONS:
            known = ", ".join(sorted([*ACTIONS, *ALIASES]))
            raise InvalidArgumentError(f"{where}: unknown ACL action {name!r} (known: {known})")
        entries = document[name]
        if not isinstance(entries, list):
            raise InvalidArgumentError(f"{where}.{name} must be a list of rules")
        rules.setdefault(action, []).extend(
            _rule(entry, action, f"{where}.{name}[{index}]") for index, entry in enumerate(entries)
        )
    return Acls(permissive, {a: tuple(r) for a, r in rules.items()})


def _rule(entry: Any, action: str, where: str) -> Rule:
    fields = ACTIONS[action].split("|")
    if not isinstance(entry, Mapping):
        raise InvalidArgumentError(f"{where} must be an object, not {entry!r}")
    objects = [name for name in entry if name != "principals"]
    if "principals" not in entry or len(objects) != 1 or objects[0] not in fields:
        wanted = " or ".join(f'"{name}"' for name in fields)
        raise InvalidArgumentError(
            f'{where} must have "principals" and {wanted} and nothing else, got {sorted(entry)}'
        )
    return Rule(
        _entity(entry["principals"], f"{where}.principals"),
        objects[0],
        _entity(entry[objects[0]], f"{where}.{objects[0]}"),
    )


def _entity(value: Any, where: str) -> Entity:
    if not isinstance(value, Mapping) or not set(value) <= {"type", "values"}:
        raise InvalidArgumentError(
            f'{where} must be {{"values": [...]}} or {{"type": "ANY" | "NONE"}}, got {value!r}'
        )
    kind = value.get("type", "SOME")
    if kind not in _TYPES:
        raise InvalidArgumentError(f"{where}.type must be one of {', '.join(_TYPES)}, not {kind!r}")
    values = value.get("values", [])
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise InvalidArgumentError(f"{where}.values must be a list of non-empty strings")
    if kind == "SOME" and not values:
        raise InvalidArgumentError(f'{where}: give "values" or a "type" of ANY or NONE')
    if kind != "SOME" and values:
        raise InvalidArgumentError(f"{where}: type {kind} takes no values")
    return Entity(kind, frozenset(values))
