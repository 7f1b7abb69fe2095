"""Marathon app definitions: parsed, validated, frozen.

`parse_app` reads an app definition (a dict, or JSON text) with Marathon's
field names and defaults (Marathon 1.x, `mesosphere/marathon`'s app RAML and
`AppDefinition`) into an `AppDefinition`. Validation is whole: every problem
found is reported at once in one `AppDefinitionError` whose message names
each field by its path (`healthChecks[0].intervalSeconds: expected a number,
got "x"`), and nothing is returned. `null` is read as an absent field, as
Marathon does.

What is supported is what the service framework can carry out: command
tasks (`cmd` for `/bin/sh -c`, or an `args` argv), host ports from
`portDefinitions`, HTTP/TCP/COMMAND health checks, Marathon's constraints,
and local persistent volumes (`container.volumes[].persistent`) for
resident apps. Marathon fields beyond that (docker, networks, secrets,
fetch, ...) are refused by name, unless empty.

`AppDefinition.to_json()` gives the canonical definition, which `parse_app`
reads back equal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from pyactors._core import Resources
from pyactors.errors import AppDefinitionError
from pyactors.frameworks.definitions import decoded, shown
from pyactors.frameworks.services.placement import Constraint, parse_constraint

T = TypeVar("T")

PROTOCOLS = ("HTTP", "TCP", "COMMAND")
KILL_SELECTIONS = ("YOUNGEST_FIRST", "OLDEST_FIRST")
PORT_PROTOCOLS = ("tcp", "udp", "udp,tcp")

DEFAULT_MAX_LAUNCH_DELAY_SECONDS = 3600  # Marathon 1.x: AppDefinition.DefaultMaxLaunchDelay

# One path segment of an app id (Marathon's PathId rule).
_SEGMENT = re.compile(
    r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$"
)
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9]+)*$")

# Marathon app fields pyactors does not carry out; accepted only when empty.
_UNSUPPORTED = (
    "acceptedResourceRoles",
    "dependencies",
    "executor",
    "fetch",
    "ipAddress",
    "networks",
    "readinessChecks",
    "residency",
    "secrets",
    "storeUrls",
    "uris",
    "user",
)
# What Marathon reports about a running app: status, not definition.
_STATUS = (
    "deployments",
    "lastTaskFailure",
    "taskStats",
    "tasks",
    "tasksHealthy",
    "tasksRunning",
    "tasksStaged",
    "tasksUnhealthy",
    "versionInfo",
    "readinessCheckResults",
)


@dataclass(frozen=True)
class PortDefinition:
    """A port the task needs. `port` is the service port (the load
    balancer's; 0: assign one), or with `requirePorts` the host port too."""

    port: int = 0
    name: str | None = None
    protocol: str = "tcp"
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"port": self.port, "protocol": self.protocol}
        if self.name is not None:
            data["name"] = self.name
        data["labels"] = dict(self.labels)
        return data


@dataclass(frozen=True)
class HealthCheck:
    """A Marathon health check. HTTP GETs `path` (default "/") on the task's
    port and wants 2xx/3xx (1xx too with `ignoreHttp1xx`); TCP connects;
    COMMAND runs `command` in the task's environment and wants exit 0. The
    port is the task's `portIndex`th host port, or the fixed `port`."""

    protocol: str = "HTTP"
    path: str | None = None
    portIndex: int | None = None
    port: int | None = None
    command: str | None = None
    gracePeriodSeconds: float = 300
    intervalSeconds: float = 60
    timeoutSeconds: float = 20
    maxConsecutiveFailures: int = 3
    delaySeconds: float = 15
    ignoreHttp1xx: bool = False

    @property
    def http_path(self) -> str:
        return self.path or "/"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"protocol": self.protocol}
        if self.path is not None:
            data["path"] = self.path
        if self.portIndex is not None:
            data["portIndex"] = self.portIndex
        if self.port is not None:
            data["port"] = self.port
        if self.command is not None:
            data["command"] = {"value": self.command}
        data |= {
            "gracePeriodSeconds": self.gracePeriodSeconds,
            "intervalSeconds": self.intervalSeconds,
            "timeoutSeconds": self.timeoutSeconds,
            "maxConsecutiveFailures": self.maxConsecutiveFailures,
            "delaySeconds": self.delaySeconds,
            "ignoreHttp1xx": self.ignoreHttp1xx,
        }
        return data


@dataclass(frozen=True)
class UpgradeStrategy:
    """During a restart or update: at least `minimumHealthCapacity` x
    instances stay healthy, at most `maximumOverCapacity` x instances run
    in excess."""

    minimumHealthCapacity: float = 1.0
    maximumOverCapacity: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "minimumHealthCapacity": self.minimumHealthCapacity,
            "maximumOverCapacity": self.maximumOverCapacity,
        }


# Marathon's default for apps with persistent volumes (UpgradeStrategy.forResidentTasks).
RESIDENT_UPGRADE_STRATEGY = UpgradeStrategy(0.5, 0.0)


@dataclass(frozen=True)
class UnreachableStrategy:
    """An instance unreachable for `inactiveAfterSeconds` is replaced; after
    `expungeAfterSeconds` it is forgotten (killed if it comes back). The app
    field holds None for Marathon's "disabled" (never replaced)."""

    inactiveAfterSeconds: float = 300
    expungeAfterSeconds: float = 600

    def to_json(self) -> dict[str, Any]:
        return {
            "inactiveAfterSeconds": self.inactiveAfterSeconds,
            "expungeAfterSeconds": self.expungeAfterSeconds,
        }


@dataclass(frozen=True)
class PersistentVolume:
    """A local persistent volume of `size` MiB, mounted at `containerPath`
    (a directory name in the sandbox)."""

    containerPath: str
    size: int
    mode: str = "RW"

    def to_json(self) -> dict[str, Any]:
        return {
            "containerPath": self.containerPath,
            "mode": self.mode,
            "persistent": {"size": self.size, "type": "root"},
        }


@dataclass(frozen=True)
class Container:
    """A Mesos container (no image): here only its persistent volumes."""

    type: str = "MESOS"
    volumes: tuple[PersistentVolume, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "volumes": [v.to_json() for v in self.volumes]}


@dataclass(frozen=True)
class AppDefinition:
    """A validated Marathon app (build it with `parse_app`)."""

    id: str
    cmd: str | None = None
    args: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    instances: int = 1
    cpus: float = 1.0
    mem: float = 128.0
    disk: float = 0.0
    gpus: int = 0
    portDefinitions: tuple[PortDefinition, ...] = (PortDefinition(),)
    requirePorts: bool = False
    constraints: tuple[Constraint, ...] = ()
    healthChecks: tuple[HealthCheck, ...] = ()
    upgradeStrategy: UpgradeStrategy = UpgradeStrategy()
    backoffSeconds: float = 1
    backoffFactor: float = 1.15
    maxLaunchDelaySeconds: float = DEFAULT_MAX_LAUNCH_DELAY_SECONDS
    killSelection: str = "YOUNGEST_FIRST"
    labels: Mapping[str, str] = field(default_factory=dict)
    container: Container | None = None
    unreachableStrategy: UnreachableStrategy | None = UnreachableStrategy()
    taskKillGracePeriodSeconds: float | None = None
    version: str | None = None

    def resources(self) -> Resources:
        """What one task needs, without ports (see `port_count`) and without
        its persistent volumes (see `volumes`)."""
        wanted = {"cpus": self.cpus, "mem": self.mem, "disk": self.disk, "gpus": self.gpus}
        return Resources.from_dict({k: float(v) for k, v in wanted.items() if v})

    def port_count(self) -> int:
        """How many host ports one task needs."""
        return len(self.portDefinitions)

    @property
    def volumes(self) -> tuple[PersistentVolume, ...]:
        return self.container.volumes if self.container is not None else ()

    @property
    def is_resident(self) -> bool:
        """Whether instances keep persistent volumes on their agent."""
        return bool(self.volumes)

    def command(self) -> tuple[str | list[str], bool]:
        """(command, shell) for a TaskInfo: `cmd` run by the shell, or the
        `args` argv exec'd directly."""
        if self.cmd is not None:
            return self.cmd, True
        return list(self.args or ()), False

    def launch_delay(self, consecutive_failures: int) -> float:
        """Marathon's launch backoff after this many failures in a row:
        `backoffSeconds`, multiplied by `backoffFactor` after each further
        failure, at most `maxLaunchDelaySeconds`."""
        if consecutive_failures <= 0:
            return 0.0
        exponent = consecutive_failures - 1
        limit = float(self.maxLaunchDelaySeconds)
        try:
            delay = self.backoffSeconds * self.backoffFactor**exponent
        except OverflowError:
            return limit
        return min(float(delay), limit)

    def to_json(self) -> dict[str, Any]:
        """The canonical definition, with every default written out."""
        data: dict[str, Any] = {"id": self.id}
        if self.cmd is not None:
            data["cmd"] = self.cmd
        if self.args is not None:
            data["args"] = list(self.args)
        data |= {
            "env": dict(self.env),
            "instances": self.instances,
            "cpus": self.cpus,
            "mem": self.mem,
            "disk": self.disk,
            "gpus": self.gpus,
            "portDefinitions": [p.to_json() for p in self.portDefinitions],
            "requirePorts": self.requirePorts,
            "constraints": [c.to_json() for c in self.constraints],
            "healthChecks": [h.to_json() for h in self.healthChecks],
            "upgradeStrategy": self.upgradeStrategy.to_json(),
            "backoffSeconds": self.backoffSeconds,
            "backoffFactor": self.backoffFactor,
            "maxLaunchDelaySeconds": self.maxLaunchDelaySeconds,
            "killSelection": self.killSelection,
            "labels": dict(self.labels),
            "unreachableStrategy": (
                "disabled"
                if self.unreachableStrategy is None
                else self.unreachableStrategy.to_json()
            ),
        }
        if self.container is not None:
            data["container"] = self.container.to_json()
        if self.taskKillGracePeriodSeconds is not None:
            data["taskKillGracePeriodSeconds"] = self.taskKillGracePeriodSeconds
        if self.version is not None:
            data["version"] = self.version
        return data

    def to_json_text(self) -> str:
        return orjson.dumps(self.to_json()).decode()


def normalize_app_id(app_id: str) -> str:
    """`/shop//web/` -> `/shop/web` (`.` and `..` resolved); ValueError with
    the reason for a relative or malformed id."""
    if not app_id.startswith("/"):
        raise ValueError(
            f"{shown(app_id)} is relative: app ids are absolute paths such as /shop/web"
        )
    parts: list[str] = []
    for part in app_id.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise ValueError(f"{shown(app_id)} goes above the root")
            parts.pop()
            continue
        if not _SEGMENT.match(part):
            raise ValueError(
                f"{shown(app_id)}: segment {shown(part)} must be lowercase letters, digits, "
                "'-' and '.', starting and ending with a letter or digit"
            )
        parts.append(part)
    if not parts:
        raise ValueError(f"{shown(app_id)} names no app")
    return "/" + "/".join(parts)


def parse_app(definition: Mapping[str, Any] | str | bytes) -> AppDefinition:
    """A validated `AppDefinition` from a Marathon app definition (a dict, or
    its JSON text); AppDefinitionError listing every problem otherwise."""
    data, not_json = decoded(definition)
    if not_json is not None:
        raise AppDefinitionError([("(app)", not_json)])
    reader = _Reader()
    app = reader.app(data)
    if reader.problems or app is None:
        raise AppDefinitionError(reader.problems)
    return app


def _text_problem(text: str, nul: bool = False) -> str | None:
    """Why a string cannot be stored as JSON (or, with `nul`, passed to exec)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"is not valid Unicode text (a lone surrogate): {text!r}"
    if nul and "\0" in text:
        return "contains a NUL character"
    return None


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Reader:
    """Reads fields, collecting every problem; on a problem a field gets its
    default so reading goes on."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def wrong(self, path: str, expected: str, value: Any) -> None:
        self.fail(path, f"expected {expected}, got {shown(value)}")

    def object(
        self, value: Any, path: str, known: tuple[str, ...], unsupported: tuple[str, ...] = ()
    ) -> dict[str, Any] | None:
        if not isinstance(value, Mapping):
            self.wrong(path or "(app)", "an object", value)
            return None
        data: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                self.fail(path or "(app)", f"field names are strings, got {shown(key)}")
            elif key in known:
                if item is not None:
                    data[key] = item
            elif key in unsupported:
                if item not in (None, [], {}, ""):
                    self.fail(_at(path, key), "is a Marathon field pyactors does not support")
            elif not path and key in _STATUS:
                self.fail(key, "is app status Marathon reports, not part of a definition")
            else:
                self.fail(_at(path, key), "unknown field")
        return data

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        default: float,
        minimum: float | None = 0,
        maximum: float | None = None,
    ) -> float:
        if key not in data:
            return default
        value, where = data[key], _at(path, key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.wrong(where, "a number", value)
            return default
        return self._bounded(value, where, default, minimum, maximum)

    def integer(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        default: int,
        minimum: int | None = 0,
        maximum: int | None = None,
    ) -> int:
        if key not in data:
            return default
        value, where = data[key], _at(path, key)
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
    ) -> float:
        if minimum is not None and value < minimum:
            self.fail(where, f"must be at least {minimum}, got {shown(value)}")
            return default
        if maximum is not None and value > maximum:
            self.fail(where, f"must be at most {maximum}, got {shown(value)}")
            return default
        return value

    def string(self, data: Mapping[str, Any], key: str, path: str, default: T) -> str | T:
        if key not in data:
            return default
        value = data[key]
        if not isinstance(value, str):
            self.wrong(_at(path, key), "a string", value)
            return default
        problem = _text_problem(value, nul=True)
        if problem is not None:
            self.fail(_at(path, key), problem)
            return default
        return value

    def choice(
        self, data: Mapping[str, Any], key: str, path: str, default: str, allowed: tuple[str, ...]
    ) -> str:
        value = self.string(data, key, path, None)
        if value is None:
            return default
        if value not in allowed:
            self.fail(_at(path, key), f"expected one of {', '.join(allowed)}, got {shown(value)}")
            return default
        return value

    def boolean(self, data: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        if key not in data:
            return default
        value = data[key]
        if not isinstance(value, bool):
            self.wrong(_at(path, key), "a boolean", value)
            return default
        return value

    def strings(self, value: Any, path: str, kind: str) -> dict[str, str]:
        """A string -> string map (env, labels)."""
        if not isinstance(value, Mapping):
            self.wrong(path, "an object of strings", value)
            return {}
        out = {}
        for key, item in value.items():
            where = f"{path}.{key}"
            if not isinstance(key, str) or not key:
                self.fail(path, f"{kind} names are non-empty strings, got {shown(key)}")
            elif isinstance(item, Mapping) and "secret" in item:
                self.fail(where, "secrets are not supported by pyactors")
            elif not isinstance(item, str):
                self.wrong(where, "a string", item)
            elif problem := _text_problem(key, nul=True) or _text_problem(item, nul=True):
                self.fail(where, problem)
            elif kind == "variable" and "=" in key:
                self.fail(where, "an environment variable's name has no '='")
            else:
                out[key] = item
        return out

    def array(
        self, data: Mapping[str, Any], key: str, path: str, read: Callable[[Any, str], T | None]
    ) -> tuple[T, ...]:
        if key not in data:
            return ()
        value, where = data[key], _at(path, key)
        if not isinstance(value, list | tuple):
            self.wrong(where, "an array", value)
            return ()
        out = []
        for index, item in enumerate(value):
            parsed = read(item, f"{where}[{index}]")
            if parsed is not None:
                out.append(parsed)
        return tuple(out)

    # The app and its parts.

    def app(self, value: Any) -> AppDefinition | None:
        data = self.object(value, "", (*AppDefinition.__dataclass_fields__, "ports"), _UNSUPPORTED)
        if data is None:
            return None
        app_id = self.app_id(data)
        cmd, args = self.command(data)
        ports = self.port_definitions(data)
        container = (
            self.container(data.get("container"), "container") if "container" in data else None
        )
        resident = container is not None and bool(container.volumes)
        health_checks = self.array(
            data, "healthChecks", "", lambda v, p: self.health_check(v, p, len(ports))
        )
        constraints = self.array(data, "constraints", "", self.constraint)
        if len(set(constraints)) != len(constraints):
            self.fail("constraints", "a constraint is repeated")
        upgrade = self.upgrade_strategy(data, resident)
        unreachable = self.unreachable_strategy(data, resident)
        backoff = self.number(data, "backoffSeconds", "", 1)
        factor = self.number(data, "backoffFactor", "", 1.15, minimum=1.0)
        max_delay = self.number(data, "maxLaunchDelaySeconds", "", DEFAULT_MAX_LAUNCH_DELAY_SECONDS)
        return AppDefinition(
            id=app_id,
            cmd=cmd,
            args=args,
            env=self.strings(data["env"], "env", "variable") if "env" in data else {},
            instances=self.integer(data, "instances", "", 1),
            cpus=self.number(data, "cpus", "", 1.0),
            mem=self.number(data, "mem", "", 128.0),
            disk=self.number(data, "disk", "", 0.0),
            gpus=self.integer(data, "gpus", "", 0),
            portDefinitions=ports,
            requirePorts=self.boolean(data, "requirePorts", "", False),
            constraints=constraints,
            healthChecks=health_checks,
            upgradeStrategy=upgrade,
            backoffSeconds=backoff,
            backoffFactor=factor,
            maxLaunchDelaySeconds=max_delay,
            killSelection=self.choice(data, "killSelection", "", "YOUNGEST_FIRST", KILL_SELECTIONS),
            labels=self.strings(data["labels"], "labels", "label") if "labels" in data else {},
            container=container,
            unreachableStrategy=unreachable,
            taskKillGracePeriodSeconds=(
                self.number(data, "taskKillGracePeriodSeconds", "", 0.0)
                if "taskKillGracePeriodSeconds" in data
                else None
            ),
            version=self.string(data, "version", "", None),
        )

    def app_id(self, data: Mapping[str, Any]) -> str:
        if "id" not in data:
            self.fail("id", "required (an absolute path such as /shop/web)")
            return "/"
        raw = self.string(data, "id", "", None)
        if raw is None:
            return "/"
        try:
            return normalize_app_id(raw)
        except ValueError as error:
            self.fail("id", str(error))
            return "/"

    def command(self, data: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...] | None]:
        cmd = self.string(data, "cmd", "", None)
        if cmd is not None and not cmd.strip():
            self.fail("cmd", "is empty")
        args: tuple[str, ...] | None = None
        if "args" in data:
            raw = data["args"]
            if not isinstance(raw, list | tuple):
                self.wrong("args", "an array of strings", raw)
            else:
                for index, word in enumerate(raw):
                    if not isinstance(word, str):
                        self.wrong(f"args[{index}]", "a string", word)
                    elif (problem := _text_problem(word, nul=True)) is not None:
                        self.fail(f"args[{index}]", problem)
                args = tuple(w for w in raw if isinstance(w, str))
                if not raw:
                    self.fail("args", "is empty (give the argv to run)")
        if "cmd" in data and "args" in data:
            self.fail("cmd", "cmd and args are exclusive: give one of them")
        elif "cmd" not in data and "args" not in data:
            self.fail("cmd", "an app needs cmd (a shell command) or args (an argv)")
        return cmd, args

    def port_definitions(self, data: Mapping[str, Any]) -> tuple[PortDefinition, ...]:
        if "ports" in data:
            if "portDefinitions" in data:
                self.fail("ports", "give portDefinitions or the deprecated ports, not both")
                return ()
            raw = data["ports"]
            if not isinstance(raw, list | tuple):
                self.wrong("ports", "an array of port numbers", raw)
                return ()
            definitions: tuple[PortDefinition, ...] = self.array(
                {"ports": [{"port": p} for p in raw]}, "ports", "", self.port_definition
            )
        elif "portDefinitions" in data:
            definitions = self.array(data, "portDefinitions", "", self.port_definition)
        else:
            return (PortDefinition(),)
        names = [d.name for d in definitions if d.name is not None]
        for name in sorted({n for n in names if names.count(n) > 1}):
            self.fail("portDefinitions", f"port name {name!r} is repeated")
        numbers = [d.port for d in definitions if d.port]
        for number in sorted({n for n in numbers if numbers.count(n) > 1}):
            self.fail("portDefinitions", f"port {number} is repeated")
        return definitions

    def port_definition(self, value: Any, path: str) -> PortDefinition | None:
        data = self.object(value, path, ("port", "name", "protocol", "labels"))
        if data is None:
            return None
        name = self.string(data, "name", path, None)
        if name is not None and not _PORT_NAME.match(name):
            self.fail(
                _at(path, "name"),
                f"{shown(name)} must be lowercase letters, digits and '-' (as a DNS label)",
            )
        return PortDefinition(
            port=self.integer(data, "port", path, 0, 0, 65535),
            name=name,
            protocol=self.choice(data, "protocol", path, "tcp", PORT_PROTOCOLS),
            labels=(
                self.strings(data["labels"], _at(path, "labels"), "label")
                if "labels" in data
                else {}
            ),
        )

    def health_check(self, value: Any, path: str, ports: int) -> HealthCheck | None:
        known = tuple(HealthCheck.__dataclass_fields__)
        data = self.object(value, path, known, ("ipProtocol",))
        if data is None:
            return None
        protocol = self.string(data, "protocol", path, "HTTP")
        if protocol not in PROTOCOLS:
            self.fail(
                _at(path, "protocol"),
                f"expected one of {', '.join(PROTOCOLS)} (pyactors runs these), "
                f"got {shown(protocol)}",
            )
            protocol = "HTTP"
        command: str | None = None
        if "command" in data:
            raw = data["command"]
            if isinstance(raw, Mapping) and set(raw) == {"value"} and isinstance(raw["value"], str):
                command = raw["value"]
            else:
                self.wrong(_at(path, "command"), 'an object {"value": "<shell command>"}', raw)
        port_index = self.integer(data, "portIndex", path, 0, 0) if "portIndex" in data else None
        port = self.integer(data, "port", path, 0, 1, 65535) if "port" in data else None
        if protocol == "COMMAND":
            if "command" not in data:
                self.fail(_at(path, "command"), "a COMMAND health check needs a command")
        else:
            if "command" in data:
                self.fail(_at(path, "command"), "only COMMAND health checks take a command")
            if port_index is not None and port is not None:
                self.fail(_at(path, "port"), "give port or portIndex, not both")
            elif port_index is not None and port_index >= ports:
                self.fail(
                    _at(path, "portIndex"),
                    f"{port_index} is out of range: the app has {ports} port definitions",
                )
            elif port_index is None and port is None:
                if ports:
                    port_index = 0  # Marathon's default
                else:
                    self.fail(
                        _at(path, "portIndex"),
                        f"a {protocol} health check needs a port: the app has no "
                        "portDefinitions (give port)",
                    )
        path_value = self.string(data, "path", path, None)
        if path_value is not None and protocol != "HTTP":
            self.fail(_at(path, "path"), "only HTTP health checks take a path")
        elif path_value is not None and not path_value.startswith("/"):
            self.fail(_at(path, "path"), f"must start with '/', got {shown(path_value)}")
        return HealthCheck(
            protocol=protocol,
            path=path_value,
            portIndex=port_index,
            port=port,
            command=command,
            gracePeriodSeconds=self.number(data, "gracePeriodSeconds", path, 300),
            intervalSeconds=self.number(data, "intervalSeconds", path, 60),
            timeoutSeconds=self.number(data, "timeoutSeconds", path, 20),
            maxConsecutiveFailures=self.integer(data, "maxConsecutiveFailures", path, 3),
            delaySeconds=self.number(data, "delaySeconds", path, 15),
            ignoreHttp1xx=self.boolean(data, "ignoreHttp1xx", path, False),
        )

    def constraint(self, value: Any, path: str) -> Constraint | None:
        try:
            return parse_constraint(value, path)
        except AppDefinitionError as error:
            self.problems += error.problems
            return None

    def upgrade_strategy(self, data: Mapping[str, Any], resident: bool) -> UpgradeStrategy:
        default = RESIDENT_UPGRADE_STRATEGY if resident else UpgradeStrategy()
        if "upgradeStrategy" not in data:
            return default
        path = "upgradeStrategy"
        raw = self.object(data[path], path, ("minimumHealthCapacity", "maximumOverCapacity"))
        if raw is None:
            return default
        strategy = UpgradeStrategy(
            self.number(raw, "minimumHealthCapacity", path, default.minimumHealthCapacity, 0, 1),
            self.number(raw, "maximumOverCapacity", path, default.maximumOverCapacity, 0, 1),
        )
        if resident and strategy.maximumOverCapacity != 0:
            self.fail(
                f"{path}.maximumOverCapacity",
                "must be 0 for an app with persistent volumes (its instances stay on their agents)",
            )
        if resident and strategy.minimumHealthCapacity > 0.5:
            self.fail(
                f"{path}.minimumHealthCapacity",
                "must be at most 0.5 for an app with persistent volumes",
            )
        return strategy

    def unreachable_strategy(
        self, data: Mapping[str, Any], resident: bool
    ) -> UnreachableStrategy | None:
        path = "unreachableStrategy"
        if path not in data:
            return None if resident else UnreachableStrategy()
        raw = data[path]
        if raw == "disabled":
            return None
        if isinstance(raw, str):
            self.fail(path, f'expected "disabled" or an object, got {shown(raw)}')
            return None
        fields = self.object(raw, path, ("inactiveAfterSeconds", "expungeAfterSeconds"))
        if fields is None:
            return None
        strategy = UnreachableStrategy(
            self.number(fields, "inactiveAfterSeconds", path, 300),
            self.number(fields, "expungeAfterSeconds", path, 600),
        )
        if strategy.expungeAfterSeconds < strategy.inactiveAfterSeconds:
            self.fail(
                f"{path}.expungeAfterSeconds",
                f"must be at least inactiveAfterSeconds ({strategy.inactiveAfterSeconds})",
            )
        if resident:
            self.fail(path, 'must be "disabled" for an app with persistent volumes')
        return strategy

    def container(self, value: Any, path: str) -> Container | None:
        data = self.object(
            value, path, ("type", "volumes"), ("docker", "portMappings", "linuxInfo")
        )
        if data is None:
            return None
        kind = self.string(data, "type", path, "MESOS")
        if kind != "MESOS":
            self.fail(
                _at(path, "type"), f'expected "MESOS" (no images in pyactors), got {shown(kind)}'
            )
        volumes = self.array(data, "volumes", path, self.volume)
        names = [v.containerPath for v in volumes]
        for name in sorted({n for n in names if names.count(n) > 1}):
            self.fail(_at(path, "volumes"), f"containerPath {name!r} is repeated")
        return Container("MESOS", volumes)

    def volume(self, value: Any, path: str) -> PersistentVolume | None:
        data = self.object(
            value, path, ("containerPath", "mode", "persistent"), ("hostPath", "external")
        )
        if data is None:
            return None
        container_path = self.string(data, "containerPath", path, None)
        if container_path is None:
            if "containerPath" not in data:
                self.fail(_at(path, "containerPath"), "required")
        elif not container_path or "/" in container_path or container_path in (".", ".."):
            self.fail(
                _at(path, "containerPath"),
                f"a persistent volume mounts at a directory name in the sandbox (no '/'), "
                f"got {shown(container_path)}",
            )
        mode = self.choice(data, "mode", path, "RW", ("RW",))
        if "persistent" not in data:
            self.fail(_at(path, "persistent"), "required: pyactors supports persistent volumes")
            return None
        persistent = self.object(
            data["persistent"],
            _at(path, "persistent"),
            ("size", "type"),
            ("maxSize", "constraints", "profileName"),
        )
        if persistent is None:
            return None
        where = _at(path, "persistent")
        if "size" not in persistent:
            self.fail(_at(where, "size"), "required (MiB)")
        size = self.integer(persistent, "size", where, 0, 1)
        self.choice(persistent, "type", where, "root", ("root",))
        if container_path is None or size <= 0:
            return None
        return PersistentVolume(container_path, size, mode)
