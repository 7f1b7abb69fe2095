"""The `/v2/events` stream: `EventBus` hands each event to every attached
stream (a bounded queue each: a reader too slow to keep up is detached,
never the framework held up), and `Tracker` tells which deployment and app
events a change of the framework's state makes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyactors.core.tasks import TaskState, TaskStatus
from pyactors.frameworks.services import model
from pyactors.frameworks.services.marathon import shapes
from pyactors.frameworks.services.state import ServiceState

# Events a stream may have unread before it is detached.
QUEUE_LIMIT = 1000

# Marathon's instance condition for each task state.
_CONDITIONS = {
    TaskState.TASK_STAGING: "Staging",
    TaskState.TASK_STARTING: "Starting",
    TaskState.TASK_RUNNING: "Running",
    TaskState.TASK_KILLING: "Killing",
    TaskState.TASK_FINISHED: "Finished",
    TaskState.TASK_FAILED: "Failed",
    TaskState.TASK_KILLED: "Killed",
    TaskState.TASK_ERROR: "Error",
    TaskState.TASK_LOST: "Gone",
    TaskState.TASK_DROPPED: "Dropped",
    TaskState.TASK_UNREACHABLE: "Unreachable",
    TaskState.TASK_GONE: "Gone",
    TaskState.TASK_UNKNOWN: "Unknown",
}


class EventBus:
    def __init__(self) -> None:
        self._streams: set[asyncio.Queue[dict[str, Any] | None]] = set()

    def attach(self) -> asyncio.Queue[dict[str, Any] | None]:
        stream: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_LIMIT)
        self._streams.add(stream)
        return stream

    def detach(self, stream: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._streams.discard(stream)

    def publish(self, event: dict[str, Any]) -> None:
        for stream in list(self._streams):
            try:
                stream.put_nowait(event)
            except asyncio.QueueFull:
                # None ends the stream: the reader sees it after what it has.
                self.detach(stream)
                stream.get_nowait()
                stream.put_nowait(None)

    def close(self) -> None:
        """End every stream (the server stops)."""
        for stream in list(self._streams):
            self.detach(stream)
            if stream.full():
                stream.get_nowait()
            stream.put_nowait(None)


@dataclass
class Tracker:
    """What the state showed at the last look: deployment id -> its app,
    and the apps. `changes` tells the events between that look and now."""

    deployments: dict[str, str] = field(default_factory=dict)
    apps: set[str] = field(default_factory=set)
    # Deployments stopped by the API (DELETE /v2/deployments/{id}) since.
    cancelled: set[str] = field(default_factory=set)

    def changes(self, state: ServiceState, now: float) -> Iterator[dict[str, Any]]:
        under_way = {d.id: (r, d) for r, d in state.deployments()}
        for deployment_id, app_id in self.deployments.items():
            if deployment_id in under_way:
                continue
            record = state.apps.get(app_id)
            # Superseded by another deployment of its app, or cancelled.
            replaced = deployment_id in self.cancelled or (
                record is not None and record.deployment is not None
            )
            kind = "deployment_failed" if replaced else "deployment_success"
            yield shapes.event(kind, now, id=deployment_id)
        for deployment_id, (record, deployment) in under_way.items():
            if deployment_id not in self.deployments:
                yield deployment_info(record, deployment, now)
        for app_id in sorted(self.apps - set(state.apps)):
            yield shapes.event("app_terminated_event", now, appId=app_id)
        self.deployments = {i: r.app.id for i, (r, _) in under_way.items()}
        self.apps = set(state.apps)
        self.cancelled.clear()


def deployment_info(
    record: model.AppRecord, deployment: model.Deployment, now: float
) -> dict[str, Any]:
    shown = shapes.deployment(record, deployment)
    group = {"id": "/", "apps": [], "groups": [], "pods": [], "dependencies": []}
    plan = {
        "id": deployment.id,
        "version": deployment.version,
        "original": {**group, "version": deployment.version},
        "target": {**group, "version": deployment.version},
        "steps": shown["steps"],
    }
    return shapes.event("deployment_info", now, plan=plan, currentStep=shown["steps"][0])


def status_events(
    status: TaskStatus, instance: model.Instance | None, was_healthy: bool | None, now: float
) -> Iterator[dict[str, Any]]:
    """A task's update, as Marathon tells it: its status, its instance's
    condition, and a change of its health."""
    if instance is None:
        return
    yield shapes.event(
        "status_update_event",
        now,
        slaveId=instance.agent_id,
        taskId=instance.task_id,
        taskStatus=status.state.value,
        message=status.message,
        appId=instance.app_id,
        host=instance.host,
        ipAddresses=[],
        ports=list(instance.ports),
        version=instance.version,
    )
    yield shapes.event(
        "instance_changed_event",
        now,
        instanceId=instance.task_id,
        slaveId=instance.agent_id,
        condition=_CONDITIONS[status.state],
        host=instance.host,
        runSpecId=instance.app_id,
        runSpecVersion=instance.version,
    )
    # The instance's health when its checks are counted (all of them),
    # else what the agent's check says.
    alive = instance.healthy if instance.health else status.healthy
    if alive is not None and alive != was_healthy:
        yield health_event(instance, alive, now)


def health_event(instance: model.Instance, alive: bool, now: float) -> dict[str, Any]:
    """The instance's health changed."""
    return shapes.event(
        "health_status_changed_event",
        now,
        appId=instance.app_id,
        taskId=instance.task_id,
        instanceId=instance.task_id,
        alive=alive,
    )
