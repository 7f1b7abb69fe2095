"""Reading Marathon app definitions: `parse_app`.

`parse_app` reads an app definition (a dict, or JSON text) with Marathon's
field names and defaults into an `AppDefinition`. Validation is whole: every
problem found is reported at once in one `AppDefinitionError` whose message
names each field by its path (`healthChecks[0].intervalSeconds: expected a
number, got "x"`), and nothing is returned. `null` is read as an absent
field, as Marathon does.

What is supported is what the service framework can carry out: command
tasks (`cmd` for `/bin/sh -c`, or an `args` argv), host ports from
`portDefinitions`, HTTP/TCP/COMMAND health checks, Marathon's constraints,
and local persistent volumes (`container.volumes[].persistent`) for
resident apps. Marathon fields beyond that (docker, networks, secrets,
fetch, ...) are refused by name, unless empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pyactors.errors import AppDefinitionError
from pyactors.frameworks.definitions import DefinitionReader, at, decoded, shown, text_problem
from pyactors.frameworks.services.app_definition import (
    DEFAULT_MAX_LAUNCH_DELAY_SECONDS,
    RESIDENT_UPGRADE_STRATEGY,
    AppDefinition,
    Container,
    HealthCheck,
    PersistentVolume,
    PortDefinition,
    ReadinessCheck,
    UnreachableStrategy,
    UpgradeStrategy,
    normalize_app_id,
)
from pyactors.frameworks.services.constraints import Constraint, parse_constraint

PROTOCOLS = ("HTTP", "TCP", "COMMAND")
KILL_SELECTIONS = ("YOUNGEST_FIRST", "OLDEST_FIRST")
PORT_PROTOCOLS = ("tcp", "udp", "udp,tcp")

_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9]+)*$")

# Marathon app fields pyactors does not carry out; accepted only when empty.
_UNSUPPORTED = (
    "acceptedResourceRoles",
    "dependencies",
    "executor",
    "fetch",
    "ipAddress",
    "networks",
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


def parse_app(definition: Mapping[str, Any] | str | bytes) -> AppDefinition:
    """A validated `AppDefinition` from a Marathon app definition (a dict, or
    its JSON text); AppDefinitionError listing every problem otherwise."""
    data, not_json = decoded(definition)
    if not_json is not None:
        raise AppDefinitionError([("(app)", not_json)])
    reader = _AppReader()
    app = reader.app(data)
    if reader.problems or app is None:
        raise AppDefinitionError(reader.problems)
    return app


class _AppReader(DefinitionReader):
    """Reads an app and its parts, collecting every problem."""

    def __init__(self) -> None:
        super().__init__("(app)", "Marathon")

    def unknown_field(self, path: str, key: Any) -> None:
        if not isinstance(key, str):
            self.fail(path or self.root, f"field names are strings, got {shown(key)}")
        elif not path and key in _STATUS:
            self.fail(key, "is app status Marathon reports, not part of a definition")
        else:
            super().unknown_field(path, key)

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
            elif problem := text_problem(key) or text_problem(item):
                self.fail(where, problem)
            elif kind == "variable" and "=" in key:
                self.fail(where, "an environment variable's name has no '='")
            else:
                out[key] = item
        return out

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
        if sum(1 for h in health_checks if h.protocol == "COMMAND") > 1:
            self.fail(
                "healthChecks", "an app has at most one COMMAND health check (Marathon's rule)"
            )
        port_names = [d.name for d in ports]
        readiness_checks = self.array(
            data, "readinessChecks", "", lambda v, p: self.readiness_check(v, p, port_names)
        )
        if len(readiness_checks) > 1:
            self.fail("readinessChecks", "an app has at most one readiness check (Marathon's rule)")
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
            readinessChecks=readiness_checks,
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
                    elif (problem := text_problem(word)) is not None:
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
                at(path, "name"),
                f"{shown(name)} must be lowercase letters, digits and '-' (as a DNS label)",
            )
        return PortDefinition(
            port=self.integer(data, "port", path, 0, 0, 65535),
            name=name,
            protocol=self.choice(data, "protocol", path, "tcp", PORT_PROTOCOLS),
            labels=(
                self.strings(data["labels"], at(path, "labels"), "label")
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
                at(path, "protocol"),
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
                self.wrong(at(path, "command"), 'an object {"value": "<shell command>"}', raw)
        port_index = self.integer(data, "portIndex", path, 0, 0) if "portIndex" in data else None
        port = self.integer(data, "port", path, 0, 1, 65535) if "port" in data else None
        if protocol == "COMMAND":
            if "command" not in data:
                self.fail(at(path, "command"), "a COMMAND health check needs a command")
        else:
            if "command" in data:
                self.fail(at(path, "command"), "only COMMAND health checks take a command")
            if port_index is not None and port is not None:
                self.fail(at(path, "port"), "give port or portIndex, not both")
            elif port_index is not None and port_index >= ports:
                self.fail(
                    at(path, "portIndex"),
                    f"{port_index} is out of range: the app has {ports} port definitions",
                )
            elif port_index is None and port is None:
                if ports:
                    port_index = 0  # Marathon's default
                else:
                    self.fail(
                        at(path, "portIndex"),
                        f"a {protocol} health check needs a port: the app has no "
                        "portDefinitions (give port)",
                    )
        path_value = self.string(data, "path", path, None)
        if path_value is not None and protocol != "HTTP":
            self.fail(at(path, "path"), "only HTTP health checks take a path")
        elif path_value is not None and not path_value.startswith("/"):
            self.fail(at(path, "path"), f"must start with '/', got {shown(path_value)}")
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

    def readiness_check(
        self, value: Any, path: str, port_names: list[str | None]
    ) -> ReadinessCheck | None:
        data = self.object(value, path, tuple(ReadinessCheck.__dataclass_fields__))
        if data is None:
            return None
        default = ReadinessCheck()
        port_name = self.string(data, "portName", path, default.portName) or default.portName
        if port_name not in port_names:
            named = ", ".join(repr(n) for n in port_names if n) or "none"
            self.fail(
                at(path, "portName"),
                f"{shown(port_name)} names no port definition (named ports: {named})",
            )
        check_path = self.string(data, "path", path, default.path) or default.path
        if not check_path.startswith("/"):
            self.fail(at(path, "path"), f"must start with '/', got {shown(check_path)}")
        codes: tuple[int, ...] = default.httpStatusCodesForReady
        if "httpStatusCodesForReady" in data:
            raw = data["httpStatusCodesForReady"]
            if (
                not isinstance(raw, list)
                or not raw
                or not all(isinstance(c, int) and not isinstance(c, bool) for c in raw)
                or not all(100 <= c <= 599 for c in raw)
            ):
                self.wrong(at(path, "httpStatusCodesForReady"), "HTTP status codes (100-599)", raw)
            else:
                codes = tuple(raw)
        interval = self.number(
            data, "intervalSeconds", path, default.intervalSeconds, above_minimum=True
        )
        timeout = self.number(
            data, "timeoutSeconds", path, default.timeoutSeconds, above_minimum=True
        )
        if timeout >= interval:
            self.fail(at(path, "timeoutSeconds"), "must be less than intervalSeconds")
        return ReadinessCheck(
            name=self.string(data, "name", path, default.name) or default.name,
            protocol=self.choice(data, "protocol", path, "HTTP", ("HTTP", "HTTPS")),
            path=check_path,
            portName=port_name,
            intervalSeconds=interval,
            timeoutSeconds=timeout,
            httpStatusCodesForReady=codes,
            preserveLastResponse=self.boolean(data, "preserveLastResponse", path, False),
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
                at(path, "type"), f'expected "MESOS" (no images in pyactors), got {shown(kind)}'
            )
        volumes = self.array(data, "volumes", path, self.volume)
        names = [v.containerPath for v in volumes]
        for name in sorted({n for n in names if names.count(n) > 1}):
            self.fail(at(path, "volumes"), f"containerPath {name!r} is repeated")
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
                self.fail(at(path, "containerPath"), "required")
        elif not container_path or "/" in container_path or container_path in (".", ".."):
            self.fail(
                at(path, "containerPath"),
                f"a persistent volume mounts at a directory name in the sandbox (no '/'), "
                f"got {shown(container_path)}",
            )
        mode = self.choice(data, "mode", path, "RW", ("RW",))
        if "persistent" not in data:
            self.fail(at(path, "persistent"), "required: pyactors supports persistent volumes")
            return None
        persistent = self.object(
            data["persistent"],
            at(path, "persistent"),
            ("size", "type"),
            ("maxSize", "constraints", "profileName"),
        )
        if persistent is None:
            return None
        where = at(path, "persistent")
        if "size" not in persistent:
            self.fail(at(where, "size"), "required (MiB)")
        size = self.integer(persistent, "size", where, 0, 1)
        self.choice(persistent, "type", where, "root", ("root",))
        if container_path is None or size <= 0:
            return None
        return PersistentVolume(container_path, size, mode)
