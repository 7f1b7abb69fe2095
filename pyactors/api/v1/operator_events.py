"""The operator API's event stream (`SUBSCRIBE`): what changed in the
leading master's state, as Mesos's master `Event`s, to every subscriber.

The master actor calls `OperatorEvents.observe` after each change it makes
(every call it handles ends by sending the change's effects, and the hook
sits there), in its own loop and without waiting: `observe` compares the
state with what it last saw and queues the events for each subscriber,
whose own HTTP handler writes them out. The comparison, not the effects,
finds the events because some changes send nothing (an update of a
disconnected framework's task is recorded, not forwarded; an agent's
registration may send nothing at all). It reads the live tasks, agents and
frameworks, and only while someone subscribes.

Events, in the order Mesos's master sends them for one change: AGENT_ADDED
(an agent registers, or comes back reachable), FRAMEWORK_ADDED,
FRAMEWORK_UPDATED (connected or not, name, roles, capabilities, failover
timeout), TASK_ADDED (a task the master had not seen), TASK_UPDATED (its
status replaced), FRAMEWORK_REMOVED, AGENT_REMOVED (unreachable or gone).
Each subscriber sees the frameworks and tasks its principal's view ACLs
allow (`pyactors.api.access`), every agent.

A subscriber that falls `MAX_PENDING` events behind is closed, as is every
subscriber when this master's leadership term ends: its client subscribes
again, to the new leader, and starts from a new SUBSCRIBED.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from pyactors.api.access import Viewer
from pyactors.api.state_json import About
from pyactors.api.v1 import operator_json, recordio
from pyactors.api.v1.mesos_json import id_json
from pyactors.core.tasks import TaskStatus
from pyactors.master.records import FrameworkRecord, TaskRecord
from pyactors.master.state import MasterState

# Events a subscriber may have queued and unwritten before it is dropped.
MAX_PENDING = 10_000


class StreamClosed(Exception):
    """The subscription ended: the client was too slow, or the leadership
    term it subscribed in ended."""


@dataclass
class Subscriber:
    """One SUBSCRIBE stream's queue of RecordIO records."""

    viewer: Viewer
    pending: deque[bytes] = field(default_factory=deque)
    closed: str | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, record: bytes) -> None:
        if self.closed is not None:
            return
        if len(self.pending) >= MAX_PENDING:
            self.close(f"more than {MAX_PENDING} events were not read in time")
            return
        self.pending.append(record)
        self._ready.set()

    def close(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
        self.pending.clear()
        self._ready.set()

    async def next(self, timeout: float) -> list[bytes]:
        """The records queued, waiting up to `timeout` s for one ([] if
        none came); StreamClosed once closed."""
        if not self.pending and self.closed is None:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return []
        if self.closed is not None:
            raise StreamClosed(self.closed)
        self._ready.clear()
        records = list(self.pending)
        self.pending.clear()
        return records


def _framework_mark(record: FrameworkRecord) -> tuple[Any, ...]:
    """What FRAMEWORK_UPDATED reports a change of."""
    return (
        record.name,
        tuple(record.roles),
        record.connected,
        record.capabilities,
        record.failover_timeout,
    )


@dataclass
class _Seen:
    """What the subscribers have been told about."""

    agents: dict[str, bool] = field(default_factory=dict)  # id -> reachable
    frameworks: dict[str, tuple[FrameworkRecord, tuple[Any, ...]]] = field(default_factory=dict)
    tasks: dict[str, TaskStatus] = field(default_factory=dict)  # live tasks' statuses

    @classmethod
    def of(cls, state: MasterState) -> _Seen:
        return cls(
            {a: r.reachable for a, r in state.agents.items()},
            {f: (r, _framework_mark(r)) for f, r in state.frameworks.items()},
            {t: r.status for t, r in state.tasks.items()},
        )


@dataclass(frozen=True)
class _Event:
    """An event, framed once for every subscriber, with what it is about
    (a view ACL may hide it)."""

    record: bytes
    framework: FrameworkRecord | None = None
    task: TaskRecord | None = None


class OperatorEvents:
    """The subscribers of one master and what they have been told.
    `about`: the master's description of itself now (times are shown in
    wall-clock seconds with its clock offset)."""

    def __init__(self, about: Callable[[], About]) -> None:
        self.about = about
        self.subscribers: list[Subscriber] = []
        self._state: MasterState | None = None
        self._seen = _Seen()

    def subscribe(self, state: MasterState, viewer: Viewer) -> Subscriber:
        """A new subscriber of the leading `state`, told of changes after
        this moment (its SUBSCRIBED shows the state as it is now)."""
        self.observe(state)
        subscriber = Subscriber(viewer)
        if not self.subscribers:
            self._seen = _Seen.of(state)
        self.subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscriber.close("unsubscribed")
        if subscriber in self.subscribers:
            self.subscribers.remove(subscriber)

    def close_all(self, reason: str) -> None:
        """End every stream (the term ended, the server stops)."""
        for subscriber in self.subscribers:
            subscriber.close(reason)
        self.subscribers.clear()

    def observe(self, state: MasterState | None) -> None:
        """After a change to the leading state (None: not leading): queue
        its events for the subscribers."""
        if state is not self._state:
            self.close_all("the master's leadership term ended")
            self._state, self._seen = state, _Seen()
            return
        if state is None or not self.subscribers:
            return
        events = self._changes(state)
        if not events:
            return
        for subscriber in list(self.subscribers):
            viewer = subscriber.viewer
            for change in events:
                if _visible(viewer, state, change):
                    subscriber.push(change.record)
            if subscriber.closed is not None:
                self.subscribers.remove(subscriber)

    def _changes(self, state: MasterState) -> list[_Event]:
        about, seen = self.about(), self._seen
        usage: operator_json.Usage | None = None

        def usage_now() -> operator_json.Usage:
            nonlocal usage
            usage = usage or operator_json.Usage(state)
            return usage

        added_agents, removed_agents = [], []
        for agent_id, agent in state.agents.items():
            was = seen.agents.get(agent_id)
            if agent.reachable and not was:
                drain = state.maintenance.get(agent_id)
                shaped = operator_json.agent_v1(agent, usage_now(), about, drain)
                added_agents.append(_Event(_record("AGENT_ADDED", {"agent": shaped})))
            elif was and not agent.reachable:
                removed_agents.append(_agent_removed(agent_id))
        removed_agents += [
            _agent_removed(a) for a, was in seen.agents.items() if was and a not in state.agents
        ]
        framework_events, removed_frameworks = [], []
        for framework_id, record in state.frameworks.items():
            before = seen.frameworks.get(framework_id)
            mark = _framework_mark(record)
            if before is None or before[1] != mark:
                kind = "FRAMEWORK_ADDED" if before is None else "FRAMEWORK_UPDATED"
                offers = state.offers.of_framework(framework_id)
                shaped = operator_json.framework_v1(record, usage_now(), about, offers)
                body = {"framework": shaped}
                framework_events.append(_Event(_record(kind, body), framework=record))
        for framework_id, (record, _) in seen.frameworks.items():
            if framework_id not in state.frameworks:
                body = {"framework_info": operator_json.framework_info_v1(record)}
                removed_frameworks.append(
                    _Event(_record("FRAMEWORK_REMOVED", body), framework=record)
                )
        task_events = self._task_changes(state, about)
        seen.agents = {a: r.reachable for a, r in state.agents.items()}
        seen.frameworks = {f: (r, _framework_mark(r)) for f, r in state.frameworks.items()}
        return added_agents + framework_events + task_events + removed_frameworks + removed_agents

    def _task_changes(self, state: MasterState, about: About) -> list[_Event]:
        """The tasks' events; what was seen is updated in place (at 10,000
        live tasks, rebuilding it on every change would cost more than the
        comparison)."""
        seen, events = self._seen.tasks, []
        for task_id, record in state.tasks.items():
            before = seen.get(task_id)
            if before is None:
                body = {"task": operator_json.task_v1(record, about)}
                events.append(self._task_event("TASK_ADDED", body, state, record))
            elif record.status is not before:
                events.append(self._updated(state, record, about))
            else:
                continue
            seen[task_id] = record.status
        if len(seen) > len(state.tasks):
            for task_id in [t for t in seen if t not in state.tasks]:
                before = seen.pop(task_id)
                # Ended since: its last status is on its completed record.
                ended = state.completed.get(task_id)
                if ended is not None and ended.status is not before:
                    events.append(self._updated(state, ended, about))
        return events

    def _updated(self, state: MasterState, record: TaskRecord, about: About) -> _Event:
        body = {
            "framework_id": id_json(record.framework_id),
            "status": operator_json.status_v1(record.status, about),
            "state": record.state.value,
        }
        return self._task_event("TASK_UPDATED", body, state, record)

    def _task_event(
        self, kind: str, body: dict[str, Any], state: MasterState, record: TaskRecord
    ) -> _Event:
        framework = state.frameworks.get(record.framework_id)
        if framework is None:
            before = self._seen.frameworks.get(record.framework_id)
            framework = None if before is None else before[0]
        return _Event(_record(kind, body), framework=framework, task=record)


def _record(kind: str, body: dict[str, Any] | None = None) -> bytes:
    return recordio.encode(orjson.dumps(operator_json.event(kind, body)))


def _agent_removed(agent_id: str) -> _Event:
    return _Event(_record("AGENT_REMOVED", {"agent_id": id_json(agent_id)}))


def _visible(viewer: Viewer, state: MasterState, change: _Event) -> bool:
    if viewer.sees_everything:
        return True
    if change.framework is None:
        # An agent's event; or a task whose framework is unknown here, which
        # no view ACL can be checked for.
        return change.task is None
    if not viewer.sees_framework(change.framework):
        return False
    return change.task is None or viewer.sees_task(state, change.task)


HEARTBEAT = _record("HEARTBEAT")
