"""Where a service's instance may run, which ports it gets, and its environment.

Plain functions over values (no Ray, no clock), for the service framework's
offer matching:

- Marathon's placement constraints (`[field, operator, value?]`), evaluated
  against the agent of a candidate offer (its hostname and attributes) and
  the agents where the app's instances already run. The semantics are
  Marathon's (`mesosphere.mesos.Constraints`): `field` is `hostname` or an
  agent attribute; an agent without the attribute satisfies only UNLIKE.

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

- Ports: host ports chosen from an offer's `ports` ranges (any free ones,
  or with `requirePorts` exactly the declared ones), with the `Resources`
  to launch with; service ports (the load balancer's) assigned to port
  definitions that declare 0.
- The task environment Marathon gives a command task: `PORT0..PORTn`,
  `PORT`, `PORTS`, `PORT_<port>`, `PORT_<NAME>`, `HOST`, `MARATHON_APP_*`,
  then the app's `env` (which wins, as in Marathon). `MESOS_TASK_ID` and
  `MESOS_SANDBOX` are the agent's to set.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pyactors._core import Resources
from pyactors.errors import AppDefinitionError, InvalidArgumentError

if TYPE_CHECKING:
    from pyactors.frameworks.services.app_definition import AppDefinition

OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS")
HOSTNAME = "hostname"

# Marathon's default service port range (--local_port_min/--local_port_max).
SERVICE_PORT_RANGE = (10000, 20000)

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


# Ports.


@dataclass(frozen=True)
class PortChoice:
    """Host ports for one task, in port-definition order, and the `ports`
    resources to launch it with (keeping the offer's reservations)."""

    ports: tuple[int, ...]
    resources: Resources


def _port_items(offered: Resources) -> list[tuple[dict[str, Any], list[tuple[int, int]]]]:
    """The offer's `ports` entries (reserved ones first): the entry without its
    ranges, and its ranges."""
    items = []
    for item in offered.to_json():
        if item.get("name") != "ports" or item.get("type") != "RANGES":
            continue
        ranges = [(int(r["begin"]), int(r["end"])) for r in item["ranges"]["range"]]
        rest = {k: v for k, v in item.items() if k != "ranges"}
        items.append((rest, ranges))
    items.sort(key=lambda entry: entry[0].get("role", "*") == "*")
    return items


def offered_ports(offered: Resources) -> list[tuple[int, int]]:
    """The offer's port ranges, merged and sorted."""
    spans = sorted(span for _, ranges in _port_items(offered) for span in ranges)
    merged: list[tuple[int, int]] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return merged


def select_ports(
    offered: Resources,
    declared: Sequence[int],
    require_ports: bool = False,
    rng: random.Random | None = None,
) -> PortChoice | None:
    """Host ports for a task whose port definitions declare `declared`.

    Without `require_ports`, any `len(declared)` distinct ports of the offer:
    the lowest ones, or (with `rng`) ones drawn at random, as Marathon does
    to spread tasks over the range. With it, exactly the declared ports (none
    may be 0: assign service ports first). None when the offer lacks them.
    """
    items = _port_items(offered)
    if require_ports:
        if any(port == 0 for port in declared):
            raise InvalidArgumentError(
                "requirePorts needs every declared port to be non-zero "
                f"(assign service ports first): {list(declared)}"
            )
        if len(set(declared)) != len(declared):
            raise InvalidArgumentError(f"declared ports repeat: {list(declared)}")
        chosen = list(declared)
        if not all(_owner(items, port) is not None for port in chosen):
            return None
    else:
        total = sum(end - begin + 1 for _, ranges in items for begin, end in ranges)
        if total < len(declared):
            return None
        if rng is None:
            indices: Sequence[int] = range(len(declared))
        else:
            indices = rng.sample(range(total), len(declared))
        chosen = [_port_at(items, index) for index in indices]
    return PortChoice(tuple(chosen), _ports_resources(items, chosen))


def _owner(items: list[tuple[dict[str, Any], list[tuple[int, int]]]], port: int) -> int | None:
    for position, (_, ranges) in enumerate(items):
        if any(begin <= port <= end for begin, end in ranges):
            return position
    return None


def _port_at(items: list[tuple[dict[str, Any], list[tuple[int, int]]]], index: int) -> int:
    for _, ranges in items:
        for begin, end in ranges:
            size = end - begin + 1
            if index < size:
                return begin + index
            index -= size
    raise IndexError(index)


def _ports_resources(
    items: list[tuple[dict[str, Any], list[tuple[int, int]]]], chosen: Sequence[int]
) -> Resources:
    by_item: dict[int, list[int]] = {}
    for port in chosen:
        position = _owner(items, port)
        assert position is not None
        by_item.setdefault(position, []).append(port)
    entries = []
    for position, ports in sorted(by_item.items()):
        entry = dict(items[position][0])
        entry["ranges"] = {"range": [{"begin": b, "end": e} for b, e in _to_ranges(ports)]}
        entries.append(entry)
    return Resources.from_json(entries) if entries else Resources()


def _to_ranges(ports: Sequence[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for port in sorted(ports):
        if ranges and port == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], port)
        else:
            ranges.append((port, port))
    return ranges


def select_app_ports(
    app: AppDefinition, offered: Resources, rng: random.Random | None = None
) -> PortChoice | None:
    """`select_ports` for an app: its port definitions and `requirePorts`."""
    declared = [definition.port for definition in app.portDefinitions]
    return select_ports(offered, declared, app.requirePorts, rng)


def assign_service_ports(
    app: AppDefinition,
    in_use: Collection[int],
    port_range: tuple[int, int] = SERVICE_PORT_RANGE,
) -> AppDefinition:
    """The app with a service port for every port definition that declares 0:
    the lowest ones of `port_range` not in `in_use` (other apps' service
    ports) nor declared by the app. A declared port another app uses is an
    error, as in Marathon."""
    declared = {d.port for d in app.portDefinitions if d.port}
    problems = [
        (f"portDefinitions[{i}].port", f"service port {d.port} is in use by another app")
        for i, d in enumerate(app.portDefinitions)
        if d.port and d.port in in_use
    ]
    if problems:
        raise AppDefinitionError(problems)
    taken = set(in_use) | declared
    candidate = port_range[0]
    definitions = []
    for index, definition in enumerate(app.portDefinitions):
        if definition.port == 0:
            while candidate in taken:
                candidate += 1
            if candidate > port_range[1]:
                raise AppDefinitionError(
                    [
                        (
                            f"portDefinitions[{index}].port",
                            f"no service port left in {port_range[0]}-{port_range[1]}",
                        )
                    ]
                )
            definition = replace(definition, port=candidate)
            taken.add(candidate)
        definitions.append(definition)
    return replace(app, portDefinitions=tuple(definitions))


# The task's environment.

_LABEL_PREFIX = "MARATHON_APP_LABEL_"
_MAX_ENV_LENGTH = 512


def task_environment(
    app: AppDefinition, host: str, ports: Sequence[int], version: str | None = None
) -> dict[str, str]:
    """The environment of one of the app's tasks on `host` with host `ports`
    (one per port definition), composed in Marathon's order: app metadata
    and labels, then ports and HOST, then the app's `env`, which overrides
    them. `version` (or the app's) gives MARATHON_APP_VERSION."""
    if len(ports) != len(app.portDefinitions):
        raise InvalidArgumentError(
            f"{app.id} declares {len(app.portDefinitions)} ports, got {len(ports)} host ports"
        )
    env: dict[str, str] = {"MARATHON_APP_ID": app.id}
    if (version or app.version) is not None:
        env["MARATHON_APP_VERSION"] = str(version or app.version)
    env["MARATHON_APP_RESOURCE_CPUS"] = str(float(app.cpus))
    env["MARATHON_APP_RESOURCE_MEM"] = str(float(app.mem))
    env["MARATHON_APP_RESOURCE_DISK"] = str(float(app.disk))
    env["MARATHON_APP_RESOURCE_GPUS"] = str(int(app.gpus))
    labels = {
        re.sub(r"[^a-zA-Z0-9_]+", "_", key).upper(): value
        for key, value in app.labels.items()
        if len(key) < _MAX_ENV_LENGTH - len(_LABEL_PREFIX) and len(value) < _MAX_ENV_LENGTH
    }
    env["MARATHON_APP_LABELS"] = " ".join(labels)
    env.update({_LABEL_PREFIX + key: value for key, value in labels.items()})
    for index, port in enumerate(ports):
        env[f"PORT{index}"] = str(port)
    for definition, port in zip(app.portDefinitions, ports, strict=True):
        env[f"PORT_{definition.port or port}"] = str(port)
    for definition, port in zip(app.portDefinitions, ports, strict=True):
        if definition.name:
            env[f"PORT_{definition.name.upper()}"] = str(port)
    if ports:
        env["PORT"] = str(ports[0])
        env["PORTS"] = ",".join(str(port) for port in ports)
    env["HOST"] = host
    env.update(app.env)
    return env
