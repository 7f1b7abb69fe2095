"""An agent state machine driven as a framework would: tasks, polling its updates."""

from __future__ import annotations

import time

from pyactors import Resources
from pyactors.agent.state import AgentState
from pyactors.core.operations import TaskInfo
from pyactors.core.tasks import TaskStatus
from support.runtime import wait_for


def task(task_id: str, command: str = "true", **extra: str) -> TaskInfo:
    return TaskInfo(task_id, task_id, Resources.parse("cpus:1;mem:128"), command=command, **extra)


def poll_until(agent: AgentState, done: object, acknowledge: bool = False) -> list[TaskStatus]:
    """Poll until `done(seen)`; with `acknowledge`, act as the framework and
    acknowledge every update as it arrives."""
    seen: list[TaskStatus] = []

    def polled() -> bool:
        batch = agent.poll(time.monotonic())
        seen.extend(batch)
        if acknowledge:
            agent.acknowledge([(s.task_id, s.uuid or "") for s in batch], time.monotonic())
        return bool(done(seen))  # type: ignore[operator]

    wait_for(
        polled,
        what="the updates awaited",
        seen=lambda: [(s.task_id, s.state) for s in seen],
        every=0.02,
    )
    return seen
