"""Marathon app definitions as values: `AppDefinition` and its parts,
frozen, with Marathon's field names and defaults (Marathon 1.x,
`mesosphere/marathon`'s app RAML and `AppDefinition`).

They are built by `app_reader.parse_app`, which validates them;
`AppDefinition.to_json()` gives the canonical definition, which
`parse_app` reads back equal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from pyactors._core import Resources
from pyactors.frameworks.definitions import shown
from pyactors.frameworks.services.constraints import Constraint

DEFAULT_MAX_LAUNCH_DELAY_SECONDS = 3600  # Marathon 1.x: AppDefinition.DefaultMaxLaunchDelay

# One path segment of an app id (Marathon's PathId rule).
_SEGMENT = re.compile(
    r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$"
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
class ReadinessCheck:
    """A Marathon readiness check: during a deployment, a new task counts
    (and old ones make way for it) only once an HTTP GET of `path` on its
    port named `portName` answers one of `httpStatusCodesForReady`; tried
    every `intervalSeconds`, each try at most `timeoutSeconds`."""

    name: str = "readinessCheck"
    protocol: str = "HTTP"
    path: str = "/"
    portName: str = "http-api"
    intervalSeconds: float = 30
    timeoutSeconds: float = 10
    httpStatusCodesForReady: tuple[int, ...] = (200,)
    preserveLastResponse: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "protocol": self.protocol,
            "path": self.path,
            "portName": self.portName,
            "intervalSeconds": self.intervalSeconds,
            "timeoutSeconds": self.timeoutSeconds,
            "httpStatusCodesForReady": list(self.httpStatusCodesForReady),
            "preserveLastResponse": self.preserveLastResponse,
        }


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
    readinessChecks: tuple[ReadinessCheck, ...] = ()
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
        if self.readinessChecks:
            data["readinessChecks"] = [r.to_json() for r in self.readinessChecks]
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
