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

The pool is a load generator sharing the machine with the master it
measures, so its work per launch and per agent is kept small: updates due
are found through a heap (never by visiting every task), heartbeats go out
a slice of the agents per tick in one message, registrations in chunks, and
`start` answers at once (registration goes on after it; `figures` says how
far it got).
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import logging
import os
import random
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, assert_never

import psutil
from ray.actor import ActorHandle

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
from pyactors.errors import AgentStartError, InvalidArgumentError, PyactorsError
from pyactors.runtime.handles import AgentRef, MasterRef
from pyactors.runtime.wire import Wire, unpack

logger = logging.getLogger(__name__)

# Registrations go in chunks so no single message is huge.
_REGISTRATION_CHUNK = 5_000


@dataclass(slots=True)
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


class _Updates:
    """Reliable status updates as `StatusUpdateStreams` keeps them (each
    task's updates in order, its oldest in flight, resent with a doubling
    interval until acknowledged), indexed by when each is due: `due` costs
    the updates it sends, not the tasks held, which at tens of thousands of
    running tasks polled ten times a second is most of a core."""

    def __init__(self, retry_min: float, retry_max: float) -> None:
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._queued: dict[str, deque[TaskStatus]] = {}
        # Per task in flight: the retry interval last used (0: never sent)
        # and when its head is due; the heap may hold stale entries, told
        # apart by that time.
        self._interval: dict[str, float] = {}
        self._due_at: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        # Updates sent again, not acknowledged within their interval.
        self.resent = 0

    def add(self, status: TaskStatus, now: float) -> None:
        if status.uuid is None:
            raise InvalidArgumentError(
                f"update of task '{status.task_id}' has no uuid and could never be acknowledged"
            )
        queued = self._queued.setdefault(status.task_id, deque())
        if queued and queued[-1].state.is_terminal:
            raise InvalidArgumentError(
                f"task '{status.task_id}' already has a terminal update queued"
            )
        queued.append(status)
        if len(queued) == 1:
            self._interval[status.task_id] = 0.0
            self._schedule(status.task_id, now)

    def due(self, now: float) -> list[TaskStatus]:
        """Each task's head update whose time has come, marked sent."""
        out = []
        while self._heap and self._heap[0][0] <= now:
            at, task_id = heapq.heappop(self._heap)
            queued = self._queued.get(task_id)
            if not queued or self._due_at.get(task_id) != at:
                continue
            interval = self._interval[task_id]
            self.resent += interval != 0
            interval = self._retry_min if interval == 0 else min(2 * interval, self._retry_max)
            self._interval[task_id] = interval
            self._schedule(task_id, now + interval)
            head, latest = queued[0], queued[-1].state
            if latest.is_terminal and head is not queued[-1]:
                # The task ended behind it: the master frees its resources now.
                head = dataclasses.replace(head, latest_state=latest)
            out.append(head)
        return out

    def acknowledge(self, task_id: str, uuid: str, now: float) -> None:
        """A duplicate or stale acknowledgement changes nothing."""
        queued = self._queued.get(task_id)
        if not queued or queued[0].uuid != uuid:
            return
        queued.popleft()
        if queued:
            self._interval[task_id] = 0.0
            self._schedule(task_id, now)
        else:
            # Nothing in flight: the task's next update starts a new stream.
            del self._queued[task_id], self._interval[task_id], self._due_at[task_id]

    def resend_now(self, task_ids: Sequence[str], now: float) -> None:
        for task_id in task_ids:
            if self._queued.get(task_id):
                self._schedule(task_id, now)

    def holds(self, task_id: str) -> bool:
        """Whether the task has an update not yet acknowledged."""
        return task_id in self._queued

    def pending(self, task_id: str) -> list[TaskStatus]:
        return list(self._queued.get(task_id, ()))

    def _schedule(self, task_id: str, at: float) -> None:
        self._due_at[task_id] = at
        heapq.heappush(self._heap, (at, task_id))


class EmulatedAgents:
    """The agents of a pool as a plain state machine (time is an argument)."""

    def __init__(
        self, agent_ids: Sequence[str], task_seconds: float, seed: int, retry: float = 10.0
    ) -> None:
        self.agent_ids = list(agent_ids)
        self.task_seconds = task_seconds
        self.random = random.Random(seed)
        self.streams = _Updates(retry, 60 * retry)
        self.tasks: dict[str, _Task] = {}
        self._ending: list[tuple[float, str]] = []
        # agent id -> when its last task ended, until the next launch there.
        self._freed_at: dict[str, float] = {}
        self.launch_overheads: list[float] = []
        self.launched = 0
        self.finished = 0
        self.running = 0
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
            self.running += 1

    def kill(self, task_ids: Sequence[str], now: float, reason: Reason | None = None) -> None:
        for task_id in task_ids:
            self._end(task_id, TaskState.TASK_KILLED, now, reason)

    def acknowledge(self, acknowledgements: Sequence[tuple[str, str]], now: float) -> None:
        streams, tasks = self.streams, self.tasks
        for task_id, uuid in acknowledgements:
            streams.acknowledge(task_id, uuid, now)
            task = tasks.get(task_id)
            if task is not None and task.ended and not streams.holds(task_id):
                del tasks[task_id]

    def resend(self, task_ids: Sequence[str], now: float) -> None:
        self.streams.resend_now(task_ids, now)

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
        self.running -= 1
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
        # 16 random bytes as uuid4's hex, without building a UUID per update.
        uuid = os.urandom(16).hex()
        status = TaskStatus(
            task_id, state, Source.SOURCE_EXECUTOR, now, agent_id=agent_id, reason=reason, uuid=uuid
        )
        self.tasks[task_id].status = status
        self.streams.add(status, now)


class AgentPoolActor:
    """Hosts `count` emulated agents named `<prefix>-<i>`, each offering
    `resources`. Each agent heartbeats every `heartbeat_interval` (Mesos's
    master pings its agents every 15 s), spread over the ticks."""

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
        self.registered = 0
        # Agents the master no longer knew (timed out) and that registered again.
        self.registered_again = 0
        self._failure: AgentStartError | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._beats: set[asyncio.Task[None]] = set()
        # This actor, as the master sends to it (set by `start`).
        self.ref: AgentRef | None = None

    async def start(self, handle: ActorHandle[Any]) -> None:
        """Answers at once (the actor passes its own handle); the agents
        register after it, then the timers run (`figures` tells progress)."""
        if self.ref is not None:
            return
        self.ref = AgentRef(handle)
        loop = asyncio.get_running_loop()
        self._loops.append(loop.create_task(self._register_then_run()))

    async def _register_then_run(self) -> None:
        try:
            await self._register(self.agents.agent_ids)
        except Exception as error:
            self._failure = AgentStartError(
                f"the pool's agents did not all register ({self.registered} did): "
                f"{type(error).__name__}: {error}"
            )
            raise
        loop = asyncio.get_running_loop()
        self._loops.append(loop.create_task(self._heartbeat_every_tick()))
        await self._poll_every_tick()

    async def _register(self, agent_ids: Sequence[str]) -> None:
        if self.ref is None:
            raise RuntimeError("the pool registers its agents before it started")
        reports = self.agents.reports()
        attributes = {"emulated": "true"}
        for start in range(0, len(agent_ids), _REGISTRATION_CHUNK):
            chunk = agent_ids[start : start + _REGISTRATION_CHUNK]
            registrations = [
                Registration(
                    agent_id, agent_id, self.resources, attributes, reports.get(agent_id, [])
                )
                for agent_id in chunk
            ]
            await self.master.register_agents(self.ref, registrations)
            self.registered = min(len(self.agents.agent_ids), self.registered + len(chunk))

    async def _poll_every_tick(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            batches = self.agents.poll(time.monotonic())
            if batches:
                self.master.status_update_batches(batches)

    async def _heartbeat_every_tick(self) -> None:
        """A slice of the agents per tick, so the master hears of each once
        per interval without a burst of all of them at once. Each slice
        leaves on time, its answer awaited apart: a busy master answering
        late must not stretch the round past its `agent_timeout`."""
        agent_ids = self.agents.agent_ids
        ticks = max(1, round(self.heartbeat_interval / self.poll_interval))
        per_tick = -(-len(agent_ids) // ticks)
        loop = asyncio.get_running_loop()
        cursor = 0
        while True:
            await asyncio.sleep(self.heartbeat_interval / ticks)
            due = agent_ids[cursor : cursor + per_tick]
            cursor = 0 if cursor + per_tick >= len(agent_ids) else cursor + per_tick
            beat = loop.create_task(self._heartbeat(due))
            # The loop keeps only weak references to tasks: hold it until done.
            self._beats.add(beat)
            beat.add_done_callback(self._beats.discard)

    async def _heartbeat(self, agent_ids: list[str]) -> None:
        try:
            unknown = await self.master.heartbeats(agent_ids)
            if unknown:
                self.registered_again += len(unknown)
                await self._register(unknown)
        except Exception as error:
            # The next round tries again; a real agent logs and goes on too.
            logger.warning("heartbeat of %d agents failed: %s", len(agent_ids), error)

    async def deliver(self, messages: Wire[list[AgentMessage]]) -> None:
        """What the master sends these agents, in order."""
        now = time.monotonic()
        for message in unpack(messages):
            try:
                self.agents.receive(message, now)
            except PyactorsError as error:
                # As a real agent: one bad message must not stop the rest.
                logger.warning("%s: %s: %s", message.agent_id, type(message).__name__, error)

    async def figures(self, overheads_from: int | None = 0) -> dict[str, Any]:
        """Counters, and the launch overheads measured since the
        `overheads_from`-th (so a window costs its own, not all before it;
        None: none)."""
        if self._failure is not None:
            raise self._failure
        overheads = self.agents.launch_overheads
        if overheads_from is None:
            overheads_from = len(overheads)
        return {
            "agents": len(self.agents.agent_ids),
            "registered": self.registered,
            "launched": self.agents.launched,
            "finished": self.agents.finished,
            "running": self.agents.running,
            "overheads_measured": len(overheads),
            "launch_overheads": overheads[overheads_from:],
            "updates_resent": self.agents.streams.resent,
            "registered_again": self.registered_again,
            "messages_received": self.agents.messages_received,
            "volumes_destroyed": self.agents.volumes_destroyed,
            # What the emulation costs the machine it shares with the master.
            "cpu_seconds": process_cpu_seconds(),
        }

    async def shutdown(self) -> None:
        for loop in self._loops:
            loop.cancel()


def process_cpu_seconds() -> float:
    """This process's CPU time so far (user and system)."""
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)
