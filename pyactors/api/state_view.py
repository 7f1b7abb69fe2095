"""The master's state read off its event loop: a point-in-time copy taken
on the loop, rendered and encoded in a worker thread.

At thousands of agents and tasks, rendering `/master/state` takes about a
second; done on the master's loop, it would hold back offers, heartbeats
and status updates that long. `take` copies what `state_json` reads (every
record whose fields the master changes in place, the containers, the
allocator's snapshot when the shape needs it) in one step between two
messages, so the answer is the state at one point in time. `rendered` then
shapes and encodes that copy in a thread, while the loop goes on (sharing
the interpreter with it: the loop waits at most a switch interval at a
time, not the whole render).

What the loop does per agent and per task is C code only: the records'
changing fields are read by `operator.attrgetter` mapped over the records
(no Python frame per record, and one tuple each where a copied record
would be a dataclass and its dict); the copies the shapes read are built
from those tuples in the thread (`thaw`). At 50,000 agents that is about
a fifteenth of copying the records on the loop. The allocator's snapshot,
when a shape needs it, is still written on the loop (the allocator is
changed only there, and it has no cheaper read of the roles' shares), as
text: it is parsed in the thread.

A task's JSON is cached on its record (`state_json.task_json`); the copy
renders with the cache it was taken with and hands back what it made, so
the next request reuses it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import operator
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import orjson

from pyactors._core import Resources
from pyactors.api import state_json
from pyactors.api.access import Viewer
from pyactors.api.state_json import About
from pyactors.core.offer import OfferInfo
from pyactors.master.executor_book import ExecutorRecord
from pyactors.master.records import (
    AgentRecord,
    FrameworkRecord,
    MasterConfig,
    TaskRecord,
)
from pyactors.master.registry_records import AgentEntry, MaintenanceEntry, QuotaEntry
from pyactors.master.state import MasterState

# A state JSON shape (a `state_json` function) as the HTTP API serves it.
Shape = Callable[[MasterState, About], Any]
T = TypeVar("T")

# An agent's and a live task's fields the master changes in place: read on
# the loop at C speed, the records themselves rebuilt from them in the thread.
_AGENT_FIELDS = operator.attrgetter("total", "last_seen", "reachable", "disconnected_at")
_TASK_FIELDS = operator.attrgetter("status", "holds", "statistics", "rendered")
_AgentFields = tuple[Resources, float, bool, float | None]
_TaskFields = tuple[Any, bool, dict[str, float] | None, tuple[Any, ...] | None]


class _TakenAllocator:
    """The allocator's snapshot as it was when the view was taken: its text,
    parsed when first read (in the rendering thread)."""

    def __init__(self, text: str | None) -> None:
        self._text = text
        self._snapshot: dict[str, Any] | None = None

    def snapshot(self) -> dict[str, Any]:
        if self._text is None:
            raise RuntimeError("this state view was taken without the allocator's snapshot")
        if self._snapshot is None:
            self._snapshot = orjson.loads(self._text)
        return self._snapshot


@dataclass
class StateView:
    """What `state_json` reads of a `MasterState`, as it was at one point."""

    config: MasterConfig
    # The originals and their changing fields as they were, in the same order.
    agent_records: list[AgentRecord]
    agent_fields: list[_AgentFields]
    frameworks: dict[str, FrameworkRecord]
    task_records: list[TaskRecord]
    task_fields: list[_TaskFields]
    completed: OrderedDict[str, TaskRecord]
    offers: list[OfferInfo]
    maintenance: dict[str, MaintenanceEntry]
    recovering: dict[str, AgentEntry]
    weights: dict[str, float]
    quotas: dict[str, QuotaEntry]
    reservations: dict[str, Resources]
    counters: Counter[str]
    allocator: _TakenAllocator
    executors: list[ExecutorRecord]

    def __post_init__(self) -> None:
        self.agents: dict[str, AgentRecord] = {}
        self.tasks: dict[str, TaskRecord] = {}

    def thaw(self) -> None:
        """Build the agents' and live tasks' copies as they were (in the
        rendering thread, not on the loop)."""
        self.agents = {
            agent.agent_id: AgentRecord(
                agent.agent_id,
                agent.hostname,
                total,
                agent.attributes,
                agent.registered_at,
                last_seen,
                reachable,
                disconnected_at,
            )
            for agent, (total, last_seen, reachable, disconnected_at) in zip(
                self.agent_records, self.agent_fields, strict=True
            )
        }
        self.tasks = {
            record.task.task_id: TaskRecord(
                record.task,
                record.framework_id,
                record.agent_id,
                record.role,
                status,
                holds,
                record.launched_at,
                statistics,
                rendered,
            )
            for record, (status, holds, statistics, rendered) in zip(
                self.task_records, self.task_fields, strict=True
            )
        }

    def hand_back(self) -> None:
        """Give the originals the task JSON made for the status they still
        have (one made for an older status would only miss later)."""
        for original, (status, _, _, _) in zip(self.task_records, self.task_fields, strict=True):
            made = self.tasks[original.task.task_id].rendered
            if made is not None and original.status is status:
                original.rendered = made


def take(state: MasterState, allocator: bool) -> StateView:
    """A copy of what the state JSON reads, on the loop (cheap: references to
    immutable values, one tuple per agent and per task made in C);
    `allocator`: with the allocator's snapshot (roles' shares and consumed
    quotas). An agent's id, hostname, attributes and registration time,
    and a task's other fields, are never changed in place."""
    agents = list(state.agents.values())
    tasks = list(state.tasks.values())
    return StateView(
        config=state.config,
        agent_records=agents,
        agent_fields=list(map(_AGENT_FIELDS, agents)),
        frameworks={
            framework_id: FrameworkRecord(
                f.framework_id,
                f.name,
                list(f.roles),
                f.capabilities,
                f.failover_timeout,
                f.registered_at,
                f.connected,
                f.disconnected_at,
                f.recovery_grace,
                f.principal,
                f.user,
                f.webui_url,
            )
            for framework_id, f in state.frameworks.items()
        },
        task_records=tasks,
        task_fields=list(map(_TASK_FIELDS, tasks)),
        # A completed task's record no longer changes (but for its cache).
        completed=OrderedDict(state.completed),
        offers=list(state.offers),
        maintenance=dict(state.maintenance),
        recovering=dict(state.recovering),
        weights=dict(state.weights),
        quotas=dict(state.quotas),
        reservations=dict(state.reservations),
        counters=Counter(state.counters),
        allocator=_TakenAllocator(state.allocator.snapshot_json() if allocator else None),
        executors=[dataclasses.replace(e) for e in state.executors],
    )


def encode(shape: Shape, viewer: Viewer, view: StateView, about: About) -> bytes:
    """The shape of the view as the viewer may see it, encoded (anywhere:
    it reads only the view)."""
    view.thaw()
    # `state_json` reads only what a MasterState has, and the view has it.
    body = orjson.dumps(shape(viewer.state(cast(MasterState, view)), about))
    view.hand_back()
    return body


async def rendered(
    state: MasterState, shape: Shape, viewer: Viewer, about: About, allocator: bool
) -> bytes:
    """The encoded shape of `state` now, rendered in a worker thread."""
    view = take(state, allocator)
    return await asyncio.to_thread(encode, shape, viewer, view, about)


async def computed(state: MasterState, work: Callable[[MasterState], T]) -> T:
    """`work` done on `state` as it is now, in a worker thread, from a view
    (`work` reads what a MasterState has, but the allocator)."""
    view = take(state, allocator=False)

    def thawed() -> T:
        view.thaw()
        return work(cast(MasterState, view))

    return await asyncio.to_thread(thawed)


async def metrics(state: MasterState, about: About) -> dict[str, float]:
    """/metrics/snapshot's figures of `state` now (every framework's, whoever
    asks, as Mesos's), counted in a worker thread."""
    return await computed(state, lambda seen: state_json.metrics(seen, about))
