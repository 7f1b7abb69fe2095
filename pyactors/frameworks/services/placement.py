"""Which ports a service's instance gets, and its environment.

Plain functions over values (no Ray, no clock), for the service framework's
offer matching (where an instance may run at all is `constraints`):

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
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pyactors._core import Resources
from pyactors.errors import AppDefinitionError, InvalidArgumentError
from pyactors.frameworks.services.app_definition import AppDefinition
from pyactors.frameworks.services.model import Frontend

# Marathon's default service port range (--local_port_min/--local_port_max).
SERVICE_PORT_RANGE = (10000, 20000)


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


def keep_service_ports(app: AppDefinition, previous: AppDefinition | None) -> AppDefinition:
    """An update of `previous` (None: a new app) keeps the service ports it
    had where the update asks for any (declares 0)."""
    if previous is None:
        return app
    old = [d.port for d in previous.portDefinitions]
    definitions = tuple(
        replace(d, port=old[i]) if d.port == 0 and i < len(old) else d
        for i, d in enumerate(app.portDefinitions)
    )
    return replace(app, portDefinitions=definitions)


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


def balancer_mode(app: AppDefinition, index: int) -> str:
    """marathon-lb's: HAPROXY_<n>_MODE, else http behind an HTTP health check, else tcp."""
    label = app.labels.get(f"HAPROXY_{index}_MODE")
    if label in ("http", "tcp"):
        return label
    checked = any(h.protocol == "HTTP" and h.portIndex == index for h in app.healthChecks)
    return "http" if checked else "tcp"


def app_frontends(
    app: AppDefinition, serving: Sequence[tuple[str, tuple[int, ...]]]
) -> list[Frontend]:
    """Each service port of the app and the endpoints behind it: the host
    and host ports of each instance `serving`."""
    found = []
    for index, definition in enumerate(app.portDefinitions):
        if not definition.port:
            continue
        found.append(
            Frontend(
                f"{app.id.strip('/').replace('/', '_')}_{definition.port}",
                definition.port,
                balancer_mode(app, index),
                tuple(sorted((host, ports[index]) for host, ports in serving)),
            )
        )
    return found


def reserved_for(resources: Resources, role: str) -> Resources:
    """The resources as a RESERVE for `role` takes them."""
    items = [dict(item, role=role) for item in resources.to_json()]
    return Resources.from_json(items) if items else Resources()
