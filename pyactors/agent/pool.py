"""Emulated agents: many agents hosted by one actor, for scale experiments.

An `AgentPoolActor` speaks the master's agent protocol for thousands of
agents at once (one registration message, one heartbeat message, one batch
of status updates per tick for all of them), and its tasks "run" for a
configured time without a process: RUNNING at launch, FINISHED when their
time is up, KILLED when killed, with updates kept until acknowledged like a
real agent's. A task's `labels["duration"]` sets its time; otherwise it is
drawn, seeded, from an exponential distribution around the pool's mean.

It also measures what the Mesos paper calls launch overhead: for each agent,
the time from a task ending (resources freed) to the next launch arriving.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyactors.agent.state import TaskReport
from pyactors.agent.status_updates import StatusUpdateStreams
from pyactors.core.operations import TaskInfo
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.runtime import ray_calls

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

    def kill(self, task_ids: Sequence[str], now: float) -> None:
        for task_id in task_ids:
            self._end(task_id, TaskState.TASK_KILLED, now)

    def acknowledge(self, acknowledgements: Sequence[tuple[str, str]], now: float) -> None:
        for task_id, uuid in acknowledgements:
            self.streams.acknowledge(task_id, uuid, now)
            task = self.tasks.get(task_id)
            if task is not None and task.ended and not self.streams.pending(task_id):
                del self.tasks[task_id]

    def resend(self, task_ids: Sequence[str], now: float) -> None:
        self.streams.resend_now(list(task_ids), now)

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

    def _end(self, task_id: str, state: TaskState, now: float) -> None:
        task = self.tasks.get(task_id)
        if task is None or task.ended:
            return
        self._freed_at.setdefault(task.agent_id, now)
        if state is TaskState.TASK_FINISHED:
            self.finished += 1
        self._report(task_id, task.agent_id, state, now)

    def _report(self, task_id: str, agent_id: str, state: TaskState, now: float) -> None:
        status = TaskStatus(task_id, state, Source.SOURCE_EXECUTOR, now, agent_id=agent_id)
        self.tasks[task_id].status = status
        self.streams.add(status, now)


class AgentPoolActor:
    """Hosts `count` emulated agents named `<prefix>-<i>`, each offering
    `resources`."""

    def __init__(
        self,
        master: Any,
        count: int,
        resources: str,
        prefix: str = "emulated",
        task_seconds: float = 30.0,
        seed: int = 0,
        poll_interval: float = 0.1,
        heartbeat_interval: float = 1.0,
        retry_interval: float = 10.0,
    ) -> None:
        self.master = master
        self.resources = resources
        self.agents = EmulatedAgents(
            [f"{prefix}-{i}" for i in range(count)], task_seconds, seed, retry_interval
        )
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self._loop: asyncio.Task[None] | None = None

    async def start(self, handle: Any) -> None:
        """Register every agent (the actor passes its own handle) and start
        the timers."""
        self.handle = handle
        await self._register(self.agents.agent_ids)
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._run())

    async def _register(self, agent_ids: Sequence[str]) -> None:
        reports = self.agents.reports()
        for start in range(0, len(agent_ids), _REGISTRATION_CHUNK):
            chunk = agent_ids[start : start + _REGISTRATION_CHUNK]
            attributes = {"emulated": "true"}
            registrations = [
                (agent_id, agent_id, self.resources, attributes, reports.get(agent_id, []))
                for agent_id in chunk
            ]
            await ray_calls.ask_async(self.master, "register_agents", self.handle, registrations)

    async def _run(self) -> None:
        last_heartbeat = time.monotonic()
        while True:
            await asyncio.sleep(self.poll_interval)
            now = time.monotonic()
            batches = self.agents.poll(now)
            if batches:
                ray_calls.tell(self.master, "status_update_batches", batches)
            if now - last_heartbeat >= self.heartbeat_interval:
                last_heartbeat = now
                unknown = await ray_calls.ask_async(
                    self.master, "heartbeats", self.agents.agent_ids
                )
                if unknown:
                    await self._register(unknown)

    async def deliver(self, messages: list[tuple[str, str, tuple[Any, ...]]]) -> None:
        """What the master sends these agents: (agent id, method, args)."""
        now = time.monotonic()
        for agent_id, method, args in messages:
            if method == "launch":
                framework_id, tasks, groups, role = args
                self.agents.launch(agent_id, framework_id, role, tasks, groups, now)
            elif method == "kill":
                self.agents.kill(args[0], now)
            elif method == "acknowledge":
                self.agents.acknowledge(args[0], now)
            elif method == "resend":
                self.agents.resend(args[0], now)
            # Messages to tasks have no sandbox to land in here: dropped.

    async def figures(self) -> dict[str, Any]:
        return {
            "agents": len(self.agents.agent_ids),
            "launched": self.agents.launched,
            "finished": self.agents.finished,
            "running": sum(not t.ended for t in self.agents.tasks.values()),
            "launch_overheads": self.agents.launch_overheads,
        }

    async def shutdown(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
