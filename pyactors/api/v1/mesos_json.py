"""Mesos's v1 JSON shapes (include/mesos/v1/mesos.proto, as protobuf's JSON
mapping writes them) to and from pyactors' values.

Ids are objects (`{"value": "..."}`), bytes are base64 (a status's `uuid`,
a task's `data`), times are seconds as doubles, enums are their names.
Resources are Mesos's `Resource` list: `scalar.value`, `ranges.range[]`,
`set.item[]`, reservations either the pre-refinement way (`role` and
`reservation.principal`) or refined (`reservations[]`, the last one the
most refined), `disk.persistence.id`, and `allocation_info.role` on what is
offered. Attributes are Mesos's `Attribute` list: a value that parses as a
number is SCALAR, `[a-b,...]` RANGES, `{a,b}` SET, anything else TEXT, as
Mesos parses `--attributes`.

Readers raise `V1FormatError` naming the field; they never guess a shape.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import re
import socket
import uuid as uuid_module
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyactors._core import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import (
    Create,
    Destroy,
    HealthCheck,
    Reserve,
    TaskInfo,
    Unreserve,
)
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.errors import InvalidArgumentError, ResourceError


class V1FormatError(InvalidArgumentError):
    """A v1 JSON value that is not the shape Mesos's protobuf defines (a
    missing required field, a wrong type, an unknown enum name)."""


# ------------------------------------------------------------------ small shapes


def obj(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise V1FormatError(f"{what} must be a JSON object, got {_kind(value)}")
    return value


def text(value: Any, what: str, empty_ok: bool = False) -> str:
    if not isinstance(value, str) or (not value and not empty_ok):
        raise V1FormatError(f"{what} must be a {'' if empty_ok else 'non-empty '}string")
    return value


def number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise V1FormatError(f"{what} must be a number, got {_kind(value)}")
    return float(value)


def array(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise V1FormatError(f"{what} must be a JSON array, got {_kind(value)}")
    return value


def id_value(value: Any, what: str) -> str:
    """The string of an id message (`{"value": "..."}`)."""
    return text(obj(value, what).get("value"), f"{what}.value")


def id_json(value: str) -> dict[str, str]:
    return {"value": value}


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def bytes_from_v1(value: Any, what: str) -> bytes:
    """Protobuf's JSON bytes: base64 (standard or URL-safe, padded or not)."""
    encoded = text(value, what, empty_ok=True)
    padded = encoded + "=" * (-len(encoded) % 4)
    alphabet = b"-_" if ("-" in encoded or "_" in encoded) else None
    try:
        return base64.b64decode(padded, altchars=alphabet, validate=True)
    except (binascii.Error, ValueError) as error:
        raise V1FormatError(f"{what} is not base64: {error}") from None


def bytes_to_v1(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def uuid_to_v1(hex_uuid: str) -> str:
    """A pyactors update uuid (hex) as Mesos sends it: its 16 bytes, base64."""
    return bytes_to_v1(uuid_module.UUID(hex=hex_uuid).bytes)


def uuid_from_v1(value: Any, what: str = "uuid") -> str:
    """A base64 uuid back to pyactors' hex form."""
    raw = bytes_from_v1(value, what)
    if len(raw) != 16:
        raise V1FormatError(f"{what} must be 16 bytes (base64), got {len(raw)}")
    return uuid_module.UUID(bytes=raw).hex


def enum_name(value: Any, names: Sequence[str], what: str) -> str:
    if value not in names:
        raise V1FormatError(f"{what} {value!r} is not one of {', '.join(names)}")
    return str(value)


# ------------------------------------------------------------------ resources


def resources_from_v1(items: Any, what: str = "resources") -> Resources:
    """A v1 `Resource` list as pyactors resources. Fields pyactors does not
    model (`allocation_info`, a volume's `container_path`) are dropped;
    revocable, shared and provider resources are refused."""
    entries = []
    for index, item in enumerate(array(items, what)):
        entries.append(_resource_entry(obj(item, f"{what}[{index}]"), f"{what}[{index}]"))
    try:
        return Resources.from_json(entries)
    except ResourceError as error:
        raise V1FormatError(f"{what}: {error}") from None


def _resource_entry(item: Mapping[str, Any], what: str) -> dict[str, Any]:
    for unsupported in ("revocable", "shared", "provider_id"):
        if unsupported in item:
            raise V1FormatError(f"{what}: {unsupported} resources are not supported")
    entry = {k: item[k] for k in ("name", "type", "scalar", "ranges", "set") if k in item}
    reservations = item.get("reservations")
    if reservations:
        last = obj(array(reservations, f"{what}.reservations")[-1], f"{what}.reservations[-1]")
        entry["role"] = text(last.get("role"), f"{what}.reservations[-1].role")
        if last.get("principal") is not None:
            principal = text(last["principal"], f"{what}.reservations[-1].principal")
            entry["reservation"] = {"principal": principal}
    else:
        if item.get("role") is not None:
            entry["role"] = text(item["role"], f"{what}.role")
        reservation = item.get("reservation")
        if reservation is not None and obj(reservation, f"{what}.reservation").get("principal"):
            principal = text(reservation["principal"], f"{what}.reservation.principal")
            entry["reservation"] = {"principal": principal}
    disk = item.get("disk")
    if disk is not None:
        persistence = obj(disk, f"{what}.disk").get("persistence")
        if persistence is not None:
            volume_id = text(obj(persistence, f"{what}.disk.persistence").get("id"), "id")
            entry["disk"] = {"persistence": {"id": volume_id}}
    return entry


@functools.lru_cache(maxsize=4096)
def resources_to_v1(
    resources: Resources, allocation_role: str | None = None, refined: bool = False
) -> list[dict[str, Any]]:
    """Resources as a v1 `Resource` list. `allocation_role`: the role they
    are offered or allocated in (`allocation_info`). `refined`: reservations
    as `reservations[]` (frameworks with RESERVATION_REFINEMENT), else as
    `role` and `reservation` (everyone else, as Mesos downgrades them).

    Made once per distinct bundle (thousands of agents, offers and tasks
    repeat a few; `Resources.to_json` was most of a v1 state read): the
    list is shared, callers must not change it."""
    out = []
    for entry in resources.to_json():
        item: dict[str, Any] = {k: entry[k] for k in ("name", "type") if k in entry}
        for kind in ("scalar", "ranges", "set"):
            if kind in entry:
                item[kind] = entry[kind]
        role = entry.get("role", "*")
        principal = entry.get("reservation", {}).get("principal")
        if refined:
            if role != "*":
                reservation = {"type": "STATIC" if principal is None else "DYNAMIC", "role": role}
                if principal is not None:
                    reservation["principal"] = principal
                item["reservations"] = [reservation]
        else:
            item["role"] = role
            if principal is not None:
                item["reservation"] = {"principal": principal}
        if "disk" in entry:
            item["disk"] = entry["disk"]
        if allocation_role is not None:
            item["allocation_info"] = {"role": allocation_role}
        out.append(item)
    return out


# ------------------------------------------------------------------ attributes

_SCALAR = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_RANGES = re.compile(r"^\[\s*\d+\s*-\s*\d+\s*(,\s*\d+\s*-\s*\d+\s*)*\]$")
_SET = re.compile(r"^\{[^{}]*\}$")


def attributes_to_v1(attributes: Mapping[str, str]) -> list[dict[str, Any]]:
    """An agent's attributes (name -> text, as `--attributes` gives them) as
    v1 `Attribute`s, typed as Mesos types them."""
    out: list[dict[str, Any]] = []
    for name, value in sorted(attributes.items()):
        if _SCALAR.match(value):
            out.append({"name": name, "type": "SCALAR", "scalar": {"value": float(value)}})
        elif _RANGES.match(value):
            ranges = []
            for part in value.strip("[]").split(","):
                begin, end = (int(bound) for bound in part.split("-"))
                ranges.append({"begin": begin, "end": end})
            out.append({"name": name, "type": "RANGES", "ranges": {"range": ranges}})
        elif _SET.match(value):
            items = [i.strip() for i in value.strip("{}").split(",") if i.strip()]
            out.append({"name": name, "type": "SET", "set": {"item": items}})
        else:
            out.append({"name": name, "type": "TEXT", "text": {"value": value}})
    return out


def attributes_from_v1(items: Any, what: str = "attributes") -> dict[str, str]:
    """v1 `Attribute`s back to name -> text."""
    out = {}
    for index, raw in enumerate(array(items, what)):
        where = f"{what}[{index}]"
        item = obj(raw, where)
        name = text(item.get("name"), f"{where}.name")
        kind = enum_name(item.get("type"), ("SCALAR", "RANGES", "SET", "TEXT"), f"{where}.type")
        body = obj(item.get(kind.lower()), f"{where}.{kind.lower()}")
        if kind == "SCALAR":
            value = number(body.get("value"), f"{where}.scalar.value")
            out[name] = f"{value:g}"
        elif kind == "RANGES":
            ranges = array(body.get("range"), f"{where}.ranges.range")
            out[name] = "[" + ",".join(f"{r['begin']}-{r['end']}" for r in ranges) + "]"
        elif kind == "SET":
            out[name] = "{" + ",".join(array(body.get("item"), f"{where}.set.item")) + "}"
        else:
            out[name] = text(body.get("value"), f"{where}.text.value", empty_ok=True)
    return out


# ------------------------------------------------------------------ offers


def offer_to_v1(offer: OfferInfo, refined: bool = False) -> dict[str, Any]:
    return {
        "id": id_json(offer.id),
        "framework_id": id_json(offer.framework_id),
        "agent_id": id_json(offer.agent_id),
        "hostname": offer.hostname,
        "resources": resources_to_v1(offer.resources, offer.role, refined),
        "attributes": attributes_to_v1(offer.attributes),
        "executor_ids": [],
        "allocation_info": {"role": offer.role},
    }


# ------------------------------------------------------------------ statuses

_STATES = tuple(state.value for state in TaskState)
_SOURCES = tuple(source.value for source in Source)


def status_to_v1(status: TaskStatus, with_uuid: bool = True) -> dict[str, Any]:
    """A status update as Mesos sends it. `with_uuid` False: as the master
    generates it (reconciliation answers, TASK_LOST): no uuid, nothing to
    acknowledge."""
    out: dict[str, Any] = {
        "task_id": id_json(status.task_id),
        "state": status.state.value,
        "source": status.source.value,
        "timestamp": status.timestamp,
    }
    if status.agent_id is not None:
        out["agent_id"] = id_json(status.agent_id)
    if status.reason is not None:
        out["reason"] = status.reason.value
    if status.message:
        out["message"] = status.message
    if status.healthy is not None:
        out["healthy"] = status.healthy
    if with_uuid and status.uuid is not None:
        out["uuid"] = uuid_to_v1(status.uuid)
    if status.data:
        out["data"] = bytes_to_v1(status.data)
    return out


def status_from_v1(data: Any, what: str = "status") -> TaskStatus:
    status = obj(data, what)
    reason = status.get("reason")
    agent = status.get("agent_id")
    healthy = status.get("healthy")
    if healthy is not None and not isinstance(healthy, bool):
        raise V1FormatError(f"{what}.healthy must be a boolean")
    return TaskStatus(
        task_id=id_value(status.get("task_id"), f"{what}.task_id"),
        state=TaskState(enum_name(status.get("state"), _STATES, f"{what}.state")),
        source=Source(enum_name(status.get("source", "SOURCE_AGENT"), _SOURCES, "source")),
        timestamp=number(status.get("timestamp", 0.0), f"{what}.timestamp"),
        agent_id=None if agent is None else id_value(agent, f"{what}.agent_id"),
        reason=None if reason is None else _reason(reason, f"{what}.reason"),
        message=text(status.get("message", ""), f"{what}.message", empty_ok=True),
        healthy=healthy,
        uuid=None if status.get("uuid") is None else uuid_from_v1(status["uuid"]),
        data=bytes_from_v1(status.get("data", ""), f"{what}.data"),
    )


def _reason(value: Any, what: str) -> Reason:
    return Reason(enum_name(value, tuple(r.value for r in Reason), what))


# ------------------------------------------------------------------ tasks


class UnsupportedTaskError(V1FormatError):
    """A well-formed task pyactors cannot run (a container image, a task
    with both a command and an executor): answered with TASK_ERROR, as
    Mesos answers an invalid task."""


def task_from_v1(data: Any, what: str = "task_info") -> TaskInfo:
    """A v1 `TaskInfo` with a `command` as a pyactors command task (one with
    an `executor` is read by `executor_json.task_from_v1`). A shell
    command (`shell` true, the default) runs `value` with `/bin/sh -c`;
    otherwise `arguments` is the argv (Mesos execs `value` with them)."""
    task = obj(data, what)
    task_id = id_value(task.get("task_id"), f"{what}.task_id")
    if "container" in task and obj(task["container"], "container").get("type") != "MESOS":
        raise UnsupportedTaskError(f"task '{task_id}': only the MESOS containerizer is supported")
    command = obj(task.get("command"), f"{what}.command")
    shell = command.get("shell", True)
    if not isinstance(shell, bool):
        raise V1FormatError(f"{what}.command.shell must be a boolean")
    value = command.get("value")
    if shell:
        argv: str | list[str] = text(value, f"{what}.command.value")
    else:
        arguments = [
            text(a, f"{what}.command.arguments[]", empty_ok=True)
            for a in array(command.get("arguments", []), f"{what}.command.arguments")
        ]
        executable = text(value, f"{what}.command.value")
        argv = [executable, *arguments[1:]]
    env = {}
    environment = command.get("environment")
    if environment is not None:
        variables = obj(environment, f"{what}.command.environment").get("variables", [])
        for index, raw in enumerate(array(variables, f"{what}.command.environment.variables")):
            variable = obj(raw, f"{what}.command.environment.variables[{index}]")
            name = text(variable.get("name"), "environment variable name")
            env[name] = text(variable.get("value", ""), f"variable {name}", empty_ok=True)
    uris = tuple(
        text(obj(u, f"{what}.command.uris[]").get("value"), "uri value")
        for u in array(command.get("uris", []), f"{what}.command.uris")
    )
    labels = {}
    if "labels" in task:
        for raw in array(obj(task["labels"], "labels").get("labels", []), "labels.labels"):
            label = obj(raw, f"{what}.labels.labels[]")
            key = text(label.get("key"), "label key")
            labels[key] = text(label.get("value", ""), f"label {key}", empty_ok=True)
    user = command.get("user")
    return TaskInfo(
        task_id=task_id,
        name=text(task.get("name", task_id), f"{what}.name", empty_ok=True),
        resources=resources_from_v1(task.get("resources", []), f"{what}.resources"),
        command=argv,
        shell=shell,
        env=env,
        uris=uris,
        labels=labels,
        health_check=(
            None if task.get("health_check") is None else _health_check(task["health_check"])
        ),
        user=None if user is None else text(user, f"{what}.command.user"),
        kill_grace_period=(
            None
            if task.get("kill_policy") is None
            else kill_policy_from_v1(task["kill_policy"], f"{what}.kill_policy")
        ),
    )


def kill_policy_from_v1(data: Any, what: str) -> float | None:
    """A v1 `KillPolicy`'s grace period in seconds (None: not given)."""
    grace = obj(data, what).get("grace_period")
    if grace is None:
        return None
    raw = obj(grace, f"{what}.grace_period").get("nanoseconds")
    # protobuf's JSON writes an int64 as a string.
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    nanoseconds = number(raw, f"{what}.grace_period.nanoseconds")
    if nanoseconds < 0 or nanoseconds != int(nanoseconds):
        raise V1FormatError(f"{what}.grace_period.nanoseconds must be a whole number >= 0")
    return nanoseconds / 1e9


def kill_policy_to_v1(grace_period: float) -> dict[str, Any]:
    return {"grace_period": {"nanoseconds": round(grace_period * 1e9)}}


def task_to_v1(task: TaskInfo, agent_id: str) -> dict[str, Any]:
    """A pyactors task as a v1 `TaskInfo` (a function task shows as the
    command that runs it: `python -m pyactors.agent.python_task`)."""
    command: dict[str, Any]
    if task.function is not None:
        argv = ["python", "-m", "pyactors.agent.python_task"]
        command = {"shell": False, "value": argv[0], "arguments": argv}
    elif task.shell:
        command = {"shell": True, "value": str(task.command)}
    else:
        argv = task.argv()
        command = {"shell": False, "value": argv[0], "arguments": argv}
    if task.env:
        variables = [{"name": k, "type": "VALUE", "value": v} for k, v in task.env.items()]
        command["environment"] = {"variables": variables}
    if task.uris:
        command["uris"] = [{"value": uri} for uri in task.uris]
    if task.user is not None:
        command["user"] = task.user
    out: dict[str, Any] = {
        "name": task.name,
        "task_id": id_json(task.task_id),
        "agent_id": id_json(agent_id),
        "resources": resources_to_v1(task.resources),
        "command": command,
    }
    if task.labels:
        out["labels"] = {"labels": [{"key": k, "value": v} for k, v in task.labels.items()]}
    if task.health_check is not None:
        out["health_check"] = _health_check_to_v1(task.health_check)
    if task.kill_grace_period is not None:
        out["kill_policy"] = kill_policy_to_v1(task.kill_grace_period)
    return out


def _health_check(data: Any) -> HealthCheck:
    check = obj(data, "health_check")
    kind = enum_name(check.get("type"), ("COMMAND", "HTTP", "TCP"), "health_check.type")
    port = path = command = None
    if kind == "COMMAND":
        command = text(
            obj(check.get("command"), "health_check.command").get("value"), "command.value"
        )
    else:
        body = obj(check.get(kind.lower()), f"health_check.{kind.lower()}")
        port = body.get("port")
        path = body.get("path", "/")
    # Mesos's defaults, not pyactors' (Marathon's): a client leaving a
    # field out means Mesos's.
    return HealthCheck(
        protocol=kind,
        port=port,
        path=path or "/",
        command=command,
        grace_period_seconds=float(check.get("grace_period_seconds", 10.0)),
        interval_seconds=float(check.get("interval_seconds", 10.0)),
        timeout_seconds=float(check.get("timeout_seconds", 20.0)),
        max_consecutive_failures=int(check.get("consecutive_failures", 3)),
        delay_seconds=float(check.get("delay_seconds", 15.0)),
    )


def _health_check_to_v1(check: HealthCheck) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": check.protocol,
        "delay_seconds": check.delay_seconds,
        "interval_seconds": check.interval_seconds,
        "timeout_seconds": check.timeout_seconds,
        "consecutive_failures": check.max_consecutive_failures,
        "grace_period_seconds": check.grace_period_seconds,
    }
    if check.protocol == "COMMAND":
        out["command"] = {"shell": True, "value": check.command}
    elif check.protocol == "HTTP":
        out["http"] = {"port": check.port, "path": check.path}
    else:
        out["tcp"] = {"port": check.port}
    return out


# ------------------------------------------------------------------ operations

Conversion = Reserve | Unreserve | Create | Destroy


def conversion_from_v1(operation: Mapping[str, Any], kind: str) -> Conversion:
    """RESERVE, UNRESERVE, CREATE or DESTROY from its v1 `Offer.Operation`."""
    field_name = kind.lower()
    body = obj(operation.get(field_name), field_name)
    listed = "volumes" if kind in ("CREATE", "DESTROY") else "resources"
    resources = resources_from_v1(body.get(listed), f"{field_name}.{listed}")
    match kind:
        case "RESERVE":
            return Reserve(resources)
        case "UNRESERVE":
            return Unreserve(resources)
        case "CREATE":
            return Create(resources)
        case _:
            return Destroy(resources)


# ------------------------------------------------------------------ frameworks


@dataclass(frozen=True)
class FrameworkInfo:
    """The parts of a v1 `FrameworkInfo` pyactors keeps."""

    name: str
    user: str | None
    roles: list[str]
    framework_id: str | None = None
    failover_timeout: float = 0.0
    capabilities: list[str] = field(default_factory=list)
    principal: str | None = None
    hostname: str | None = None
    webui_url: str | None = None
    checkpoint: bool = False

    @property
    def refined(self) -> bool:
        """Whether it reads reservations as `reservations[]`."""
        return "RESERVATION_REFINEMENT" in self.capabilities


def framework_info_from_v1(data: Any, what: str = "framework_info") -> FrameworkInfo:
    """A v1 `FrameworkInfo`: `roles` with the MULTI_ROLE capability, else its
    one `role` (default `*`), as Mesos reads it."""
    info = obj(data, what)
    capabilities = []
    for index, raw in enumerate(array(info.get("capabilities", []), f"{what}.capabilities")):
        kind = obj(raw, f"{what}.capabilities[{index}]").get("type")
        capabilities.append(text(kind, f"{what}.capabilities[{index}].type"))
    if "MULTI_ROLE" in capabilities:
        roles = [text(r, f"{what}.roles[]") for r in array(info.get("roles", []), "roles")]
        if "role" in info:
            raise V1FormatError(f"{what}: 'role' cannot be given with the MULTI_ROLE capability")
    else:
        if info.get("roles"):
            raise V1FormatError(f"{what}: 'roles' needs the MULTI_ROLE capability")
        roles = [text(info.get("role", "*"), f"{what}.role")]
    framework_id = info.get("id")
    optional = {
        name: None if info.get(name) is None else text(info[name], f"{what}.{name}")
        for name in ("principal", "hostname", "webui_url")
    }
    user = info.get("user")
    checkpoint = info.get("checkpoint", False)
    if not isinstance(checkpoint, bool):
        raise V1FormatError(f"{what}.checkpoint must be a boolean")
    return FrameworkInfo(
        name=text(info.get("name"), f"{what}.name", empty_ok=True),
        user=None if not user else text(user, f"{what}.user"),
        roles=roles,
        framework_id=None if framework_id is None else id_value(framework_id, f"{what}.id"),
        failover_timeout=number(info.get("failover_timeout", 0.0), f"{what}.failover_timeout"),
        capabilities=capabilities,
        checkpoint=checkpoint,
        **optional,
    )


def framework_info_to_v1(info: FrameworkInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": info.name,
        "user": info.user or "",
        "failover_timeout": info.failover_timeout,
        "checkpoint": info.checkpoint,
        "capabilities": [{"type": c} for c in info.capabilities],
    }
    if "MULTI_ROLE" in info.capabilities:
        out["roles"] = info.roles
    else:
        out["role"] = info.roles[0] if info.roles else "*"
    if info.framework_id is not None:
        out["id"] = id_json(info.framework_id)
    for name in ("principal", "hostname", "webui_url"):
        if getattr(info, name) is not None:
            out[name] = getattr(info, name)
    return out


# ------------------------------------------------------------------ masters


def ip_to_v1(address: str) -> int:
    """An IPv4 address as MasterInfo's `ip`: the in_addr's bytes (network
    order) read as a little-endian uint32, as Mesos fills it on x86
    (127.0.0.1 -> 16777343)."""
    return int.from_bytes(ipaddress.IPv4Address(address).packed, "little")


def master_info(
    master_id: str, address: str, port: int, version: str, hostname: str | None = None
) -> dict[str, Any]:
    """A v1 `MasterInfo`, as in SUBSCRIBED and in the `json.info_` znodes.
    `address`: an IPv4 address or a name resolved to one."""
    ip = socket.gethostbyname(address)
    name = hostname or (address if ip != address else socket.gethostname())
    return {
        "id": master_id,
        "ip": ip_to_v1(ip),
        "port": port,
        "pid": f"master@{ip}:{port}",
        "hostname": name,
        "version": version,
        "address": {"hostname": name, "ip": ip, "port": port},
        "capabilities": [{"type": "AGENT_UPDATE"}, {"type": "QUOTA_V2"}],
    }
