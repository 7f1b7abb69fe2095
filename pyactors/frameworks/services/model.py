"""What the service framework remembers: apps, their instances and
deployments, as plain records with a JSON form (for its failover store)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyactors._core import Resources
from pyactors.core.operations import Create
from pyactors.core.tasks import TaskState
from pyactors.frameworks.services.app_definition import AppDefinition
from pyactors.frameworks.services.app_reader import parse_app


def iso(seconds: float | None) -> str | None:
    """A wall-clock time as Marathon shows it (ISO 8601, UTC, milliseconds)."""
    if seconds is None:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Volume:
    """A persistent volume an instance of a resident app owns on its agent:
    `resources` is the reserved disk with its persistence id, as offered."""

    container_path: str
    persistence_id: str
    resources: Resources

    def to_json(self) -> dict[str, Any]:
        return {
            "containerPath": self.container_path,
            "persistenceId": self.persistence_id,
            "resources": self.resources.to_json(),
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Volume:
        return Volume(
            str(data["containerPath"]),
            str(data["persistenceId"]),
            Resources.from_json(data["resources"]),
        )


def volume_resources(volumes: Sequence[Volume]) -> Resources:
    total = Resources()
    for volume in volumes:
        total = total + volume.resources
    return total


@dataclass
class CheckHealth:
    """One health check's results for one instance (Marathon's `Health`)."""

    started_at: float
    next_at: float
    in_flight: bool = False
    alive: bool | None = None
    consecutive_failures: int = 0
    first_success: float | None = None
    last_success: float | None = None
    last_failure: float | None = None
    last_failure_cause: str | None = None

    def to_json(self, task_id: str) -> dict[str, Any]:
        """An entry of Marathon's task `healthCheckResults`."""
        return {
            "alive": bool(self.alive),
            "consecutiveFailures": self.consecutive_failures,
            "firstSuccess": iso(self.first_success),
            "lastFailure": iso(self.last_failure),
            "lastSuccess": iso(self.last_success),
            "lastFailureCause": self.last_failure_cause,
            "taskId": task_id,
            "instanceId": task_id,
        }


@dataclass
class Readiness:
    """One readiness check's state for one instance (Marathon's
    `ReadinessCheckResult`)."""

    next_at: float
    in_flight: bool = False
    ready: bool = False
    last_response: dict[str, Any] | None = None


@dataclass
class Instance:
    """One task of an app, from the launch decision on."""

    task_id: str
    app_id: str
    version: str
    agent_id: str
    host: str
    attributes: dict[str, str]
    ports: tuple[int, ...]
    launched_at: float
    state: TaskState = TaskState.TASK_STAGING
    healthy: bool | None = None
    started_at: float | None = None
    kill_requested: bool = False
    unreachable_since: float | None = None
    # A resident app's instance slot (whose volumes it mounts).
    slot: str | None = None
    # Results of its health checks (by index) and readiness checks (by
    # name), as `health.py` keeps them; not stored: checks run again.
    health: dict[int, CheckHealth] = field(default_factory=dict, compare=False)
    readiness: dict[str, Readiness] = field(default_factory=dict, compare=False)

    @property
    def terminal(self) -> bool:
        return self.state.is_terminal

    def to_json(self) -> dict[str, Any]:
        return {
            "taskId": self.task_id,
            "appId": self.app_id,
            "version": self.version,
            "agentId": self.agent_id,
            "host": self.host,
            "attributes": self.attributes,
            "ports": list(self.ports),
            "launchedAt": self.launched_at,
            "state": self.state.value,
            "healthy": self.healthy,
            "startedAt": self.started_at,
            "killRequested": self.kill_requested,
            "unreachableSince": self.unreachable_since,
            "slot": self.slot,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Instance:
        return Instance(
            task_id=str(data["taskId"]),
            app_id=str(data["appId"]),
            version=str(data["version"]),
            agent_id=str(data["agentId"]),
            host=str(data["host"]),
            attributes={str(k): str(v) for k, v in data["attributes"].items()},
            ports=tuple(int(p) for p in data["ports"]),
            launched_at=float(data["launchedAt"]),
            state=TaskState(data["state"]),
            healthy=data["healthy"],
            started_at=data["startedAt"],
            kill_requested=bool(data["killRequested"]),
            unreachable_since=data["unreachableSince"],
            slot=data["slot"],
        )


@dataclass
class Deployment:
    """A change under way: the app converges on `version` x `instances`."""

    id: str
    app_id: str
    kind: str  # deploy, scale, restart, update, remove
    version: str
    started_at: float
    # What a rollback restores: the app's version and instance count before
    # (no version: the deployment created the app, a rollback removes it;
    # no count: the app's count is kept).
    original_version: str | None = None
    original_instances: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "appId": self.app_id,
            "kind": self.kind,
            "version": self.version,
            "startedAt": self.started_at,
            "originalVersion": self.original_version,
            "originalInstances": self.original_instances,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Deployment:
        return Deployment(
            str(data["id"]),
            str(data["appId"]),
            str(data["kind"]),
            str(data["version"]),
            float(data["startedAt"]),
            # Saved before rollbacks: rolled back to the version it made.
            data.get("originalVersion", data["version"]),
            data.get("originalInstances"),
        )


@dataclass
class Resident:
    """Where a resident app's instance slot lives: its agent and the
    volumes (and reservation) kept there across restarts."""

    slot: str
    agent_id: str
    host: str
    attributes: dict[str, str]
    reserved: Resources
    volumes: list[Volume]

    def to_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "agentId": self.agent_id,
            "host": self.host,
            "attributes": self.attributes,
            "reserved": self.reserved.to_json(),
            "volumes": [v.to_json() for v in self.volumes],
        }

    def task_resources(self) -> Resources:
        """Its instance's resources: the reservation, with the volumes in
        place of the plain reserved disk they were created from."""
        plain_disk, volumes = Create(volume_resources(self.volumes)).conversion()
        return self.reserved - plain_disk + volumes

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Resident:
        return Resident(
            str(data["slot"]),
            str(data["agentId"]),
            str(data["host"]),
            {str(k): str(v) for k, v in data["attributes"].items()},
            Resources.from_json(data["reserved"]),
            [Volume.from_json(v) for v in data["volumes"]],
        )


# How many definitions of an app are kept (Marathon's --zk_max_versions is 50).
HISTORY_LIMIT = 50


@dataclass
class AppRecord:
    """An app as the framework runs it (its definition with service ports
    assigned) and what it has seen of it."""

    app: AppDefinition
    version: str
    instances: dict[str, Instance] = field(default_factory=dict)
    deployment: Deployment | None = None
    removing: bool = False
    # Launch backoff: failures in a row, and no launch before `delay_until`.
    failures: int = 0
    delay_until: float = 0.0
    last_failure: dict[str, Any] | None = None
    # Instances still to launch (computed on each convergence).
    to_launch: int = 0
    # A resident app's slots: slot name -> its agent and volumes.
    residents: dict[str, Resident] = field(default_factory=dict)
    # Its last definitions, by version (oldest first): Marathon's /versions.
    history: dict[str, AppDefinition] = field(default_factory=dict)

    def remember(self, app: AppDefinition) -> None:
        """`app` is the definition of the current version."""
        self.history[self.version] = app
        for version in list(self.history)[:-HISTORY_LIMIT]:
            del self.history[version]

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app.to_json(),
            "version": self.version,
            "instances": [i.to_json() for i in self.instances.values()],
            "deployment": None if self.deployment is None else self.deployment.to_json(),
            "removing": self.removing,
            "failures": self.failures,
            "delayUntil": self.delay_until,
            "lastFailure": self.last_failure,
            "residents": [r.to_json() for r in self.residents.values()],
            "history": [[v, a.to_json()] for v, a in self.history.items()],
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> AppRecord:
        instances = [Instance.from_json(i) for i in data["instances"]]
        residents = [Resident.from_json(r) for r in data["residents"]]
        deployment = data["deployment"]
        return AppRecord(
            app=parse_app(data["app"]),
            version=str(data["version"]),
            instances={i.task_id: i for i in instances},
            deployment=None if deployment is None else Deployment.from_json(deployment),
            removing=bool(data["removing"]),
            failures=int(data["failures"]),
            delay_until=float(data["delayUntil"]),
            last_failure=data["lastFailure"],
            residents={r.slot: r for r in residents},
            # Saved before versions were kept: only the current one is known.
            history={str(v): parse_app(a) for v, a in data.get("history", [])},
        )


@dataclass(frozen=True)
class LaunchPlan:
    """One task to launch from an offer: what the scheduler shell needs to
    build its TaskInfo."""

    task_id: str
    app: AppDefinition
    agent_id: str
    host: str
    ports: tuple[int, ...]
    resources: Resources
    env: dict[str, str]
    # Resident apps: (container path, persistence id) of its volumes.
    volumes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Frontend:
    """A service port the load balancer serves and the task endpoints behind it."""

    name: str
    service_port: int
    mode: str
    backends: tuple[tuple[str, int], ...]
