"""Emulated agents: many agents hosted by one actor, for scale experiments.

An `AgentPoolActor` speaks the master's agent protocol for thousands of
agents at once (one registration message, one heartbeat message, one batch
of status updates per tick for all of them), and its tasks "run" for a
configured time without a process: RUNNING at launch, FINISHED when their
time is up, KILLED when killed, with updates kept until acknowledged like a
real agent's. A task's `labels["duration"]` sets its time; otherwise it is
drawn, seeded, from an exponential distribution around the pool's mean.
Every message a real agent takes is taken: a message to a task that is not
running is refused as a real agent refuses it, and messages to running
tasks and destroyed volumes, which have no sandbox or work dir to land in
here, are counted (`figures`).

It also measures what the Mesos paper calls launch overhead: for each agent,
the time from a task ending (resources freed) to the next launch arriving.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, assert_never

from ray.actor import ActorHandle

from pyactors.agent.status_updates import StatusUpdateStreams
from pyactors.core.operations import TaskInfo
from pyactors.core.protocol import (
    AcknowledgeToAgent,
    AgentMessage,
    DestroyVolumes,
    KillTasks,
    LaunchTasks,
    MessageToTask,
    Registration,
    ResendUpdates,
    ShutdownFramework,
    TaskReport,
)
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.errors import InvalidArgumentError, PyactorsError
from pyactors.runtime.handles import AgentRef, MasterRef

logger = logging.getLogger(__name__)

# Registrations go in chunks so no single message is huge.
_REGISTRATION_CHUNK = 5_000


@dataclass
class _Task:
    agent_id: str
    framework_id: str
    role: str
    info: TaskInfo
    finish_at: float
    status: TaskStatus | None = None

    @property
    def ended(self) -> bool:
        return self.status is not None and self.status.state.is_terminal


class EmulatedAgents:
    """The agents of a pool as a plain state machine (time is an argument)."""

    def __init__(
        self, agent_ids: Sequence[str], task_seconds: float, seed: int, retry: float = 10.0
    ) -> None:
        self.agent_ids = list(agent_ids)
        self.task_seconds = task_seconds
        self.random = random.Random(seed)
        self.streams = StatusUpdateStreams(retry, 60 * retry)
        self.tasks: dict[str, _Task] = {}
        self._ending: list[tuple[float, str]] = []
        # agent id -> when its last task ended, until the next launch there.
        self._freed_at: dict[str, float] = {}
        self.launch_overheads: list[float] = []
        self.launched = 0
        self.finished = 0
        # What a real agent would write into a sandbox or delete from its
        # work dir, which emulated tasks have not: only counted.
        self.messages_received = 0
        self.volumes_destroyed = 0

    def receive(self, message: AgentMessage, now: float) -> None:
        """A message from the master, as a real agent's state takes it."""
        match message:
            case LaunchTasks(agent_id, framework_id, tasks, groups, role):
                self.launch(agent_id, framework_id, role, tasks, groups, now)
            case KillTasks(_, _, task_ids, _, reason):
                self.kill(task_ids, now, reason)
            case AcknowledgeToAgent(_, acknowledgements):
                self.acknowledge(acknowledgements, now)
            case ResendUpdates(_, task_ids):
                self.resend(task_ids, now)
            case MessageToTask(agent_id, task_id, _):
                self.deliver_message(agent_id, task_id)
            case DestroyVolumes(_, persistence_ids):
                self.volumes_destroyed += len(persistence_ids)
            case ShutdownFramework():
                pass  # emulated agents run no custom executors
            case _:
                assert_never(message)

    def launch(
        self,
        agent_id: str,
        framework_id: str,
        role: str,
        tasks: Sequence[TaskInfo],
        groups: Sequence[Sequence[TaskInfo]],
        now: float,
    ) -> None:
        freed_at = self._freed_at.pop(agent_id, None)
        if freed_at is not None:
            self.launch_overheads.append(now - freed_at)
        for task in [*tasks, *(t for group in groups for t in group)]:
            duration = float(task.labels.get("duration", 0)) or self.random.expovariate(
                1 / self.task_seconds
            )
            self.tasks[task.task_id] = _Task(agent_id, framework_id, role, task, now + duration)
            heapq.heappush(self._ending, (now + duration, task.task_id))
            self._report(task.task_id, agent_id, TaskState.TASK_RUNNING, now)
            self.launched += 1

    def kill(self, task_ids: Sequence[str], now: float, reason: Reason | None = None) -> None:
        for task_id in task_ids:
            self._end(task_id, TaskState.TASK_KILLED, now, reason)

    def acknowledge(self, acknowledgements: Sequence[tuple[str, str]], now: float) -> None:
        for task_id, uuid in acknowledgements:
            self.streams.acknowledge(task_id, uuid, now)
            task = self.tasks.get(task_id)
            if task is not None and task.ended and not self.streams.pending(task_id):
                del self.tasks[task_id]

    def resend(self, task_ids: Sequence[str], now: float) -> None:
        self.streams.resend_now(list(task_ids), now)

    def deliver_message(self, agent_id: str, task_id: str) -> None:
        """A scheduler's message for a running task (refused, as a real
        agent refuses it, when the task is not running there)."""
        task = self.tasks.get(task_id)
        if task is None or task.agent_id != agent_id or task.ended:
            raise InvalidArgumentError(f"task '{task_id}' is not running on '{agent_id}'")
        self.messages_received += 1

    def poll(self, now: float) -> list[tuple[str, list[TaskStatus]]]:
        """End the tasks whose time is up; the updates due now, per agent."""
        while self._ending and self._ending[0][0] <= now:
            _, task_id = heapq.heappop(self._ending)
            self._end(task_id, TaskState.TASK_FINISHED, now)
        by_agent: dict[str, list[TaskStatus]] = defaultdict(list)
        for status in self.streams.due(now):
            by_agent[status.agent_id or ""].append(status)
        return list(by_agent.items())

    def reports(self) -> dict[str, list[TaskReport]]:
        """Agent id -> the tasks it holds, as it (re-)registers: the oldest
        unacknowledged update of each, else its last."""
        by_agent: dict[str, list[TaskReport]] = defaultdict(list)
        for task_id, task in self.tasks.items():
            pending = self.streams.pending(task_id)
            status = pending[0] if pending else task.status
            if status is not None:
                report = TaskReport(task.framework_id, task.role, task.info, status)
                by_agent[task.agent_id].append(report)
        return by_agent

    def _end(
        self, task_id: str, state: TaskState, now: float, reason: Reason | None = None
    ) -> None:
        task = self.tasks.get(task_id)
        if task is None or task.ended:
            return
        self._freed_at.setdefault(task.agent_id, now)
        if state is TaskState.TASK_FINISHED:
            self.finished += 1
        self._report(task_id, task.agent_id, state, now, reason)

    def _report(
        self,
        task_id: str,
        agent_id: str,
        state: TaskState,
        now: float,
        reason: Reason | None = None,
    ) -> None:
        status = TaskStatus(
            task_id, state, Source.SOURCE_EXECUTOR, now, agent_id=agent_id, reason=reason
        )
        self.tasks[task_id].status = status
        self.streams.add(status, now)


class AgentPoolActor:
    """Hosts `count` emulated agents named `<prefix>-<i>`, each offering
    `resources`."""

    def __init__(
        self,
        master: ActorHandle[Any],
        count: int,
        resources: str,
        prefix: str = "emulated",
        task_seconds: float = 30.0,
        seed: int = 0,
        poll_interval: float = 0.1,
        heartbeat_interval: float = 1.0,
        retry_interval: float = 10.0,
    ) -> None:
        self.master = MasterRef(master)
        self.resources = resources
        self.agents = EmulatedAgents(
            [f"{prefix}-{i}" for i in range(count)], task_seconds, seed, retry_interval
        )
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self._loop: asyncio.Task[None] | None = None
        # This actor, as the master sends to it (set by `start`).
        self.ref: AgentRef | None = None

    async def start(self, handle: ActorHandle[Any]) -> None:
        """Register every agent (the actor passes its own handle) and start
        the timers."""
        self.ref = AgentRef(handle)
        await self._register(self.agents.agent_ids)
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._run())

    async def _register(self, agent_ids: Sequence[str]) -> None:
        if self.ref is None:
            raise RuntimeError("the pool registers its agents before it started")
        reports = self.agents.reports()
        for start in range(0, len(agent_ids), _REGISTRATION_CHUNK):
            chunk = agent_ids[start : start + _REGISTRATION_CHUNK]
            attributes = {"emulated": "true"}
            registrations = [
                Registration(
                    agent_id, agent_id, self.resources, attributes, reports.get(agent_id, [])
                )
                for agent_id in chunk
            ]
            await self.master.register_agents(self.ref, registrations)

    async def _run(self) -> None:
        last_heartbeat = time.monotonic()
        while True:
            await asyncio.sleep(self.poll_interval)
            now = time.monotonic()
            batches = self.agents.poll(now)
            if batches:
                self.master.status_update_batches(batches)
            if now - last_heartbeat >= self.heartbeat_interval:
                last_heartbeat = now
                unknown = await self.master.heartbeats(self.agents.agent_ids)
                if unknown:
                    await self._register(unknown)

    async def deliver(self, messages: list[AgentMessage]) -> None:
        """What the master sends these agents, in order."""
        now = time.monotonic()
        for message in messages:
            try:
                self.agents.receive(message, now)
            except PyactorsError as error:
                # As a real agent: one bad message must not stop the rest.
                logger.warning("%s: %s: %s", message.agent_id, type(message).__name__, error)

    async def figures(self) -> dict[str, Any]:
        return {
            "agents": len(self.agents.agent_ids),
            "launched": self.agents.launched,
            "finished": self.agents.finished,
            "running": sum(not t.ended for t in self.agents.tasks.values()),
            "launch_overheads": self.agents.launch_overheads,
            "messages_received": self.agents.messages_received,
            "volumes_destroyed": self.agents.volumes_destroyed,
        }

    async def shutdown(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
