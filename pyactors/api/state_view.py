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

A task's JSON is cached on its record (`state_json.task_json`); the copy
renders with the cache it was taken with and hands back what it made, so
the next request reuses it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson

from pyactors._core import Resources
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

# A live task's fields the master replaces while it lives.
_LiveTask = tuple[TaskRecord, Any, bool, dict[str, float] | None, tuple[Any, ...] | None]


class _TakenAllocator:
    """The allocator's snapshot as it was when the view was taken."""

    def __init__(self, snapshot: dict[str, Any] | None) -> None:
        self._snapshot = snapshot

    def snapshot(self) -> dict[str, Any]:
        if self._snapshot is None:
            raise RuntimeError("this state view was taken without the allocator's snapshot")
        return self._snapshot


@dataclass
class StateView:
    """What `state_json` reads of a `MasterState`, as it was at one point."""

    config: MasterConfig
    agents: dict[str, AgentRecord]
    frameworks: dict[str, FrameworkRecord]
    live: list[_LiveTask]
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
        self.tasks: dict[str, TaskRecord] = {}

    def thaw(self) -> None:
        """Build the live tasks' copies (in the rendering thread, not on the
        loop: at 10,000 tasks that is most of the copying)."""
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
            for record, status, holds, statistics, rendered in self.live
        }

    def hand_back(self) -> None:
        """Give the originals the task JSON made for the status they still
        have (one made for an older status would only miss later)."""
        for original, status, _, _, _ in self.live:
            made = self.tasks[original.task.task_id].rendered
            if made is not None and original.status is status:
                original.rendered = made


def take(state: MasterState, allocator: bool) -> StateView:
    """A copy of what the state JSON reads, on the loop (cheap: references to
    immutable values, one small tuple per task); `allocator`: with the
    allocator's snapshot (roles' shares and consumed quotas)."""
    return StateView(
        config=state.config,
        agents={
            agent_id: AgentRecord(
                a.agent_id,
                a.hostname,
                a.total,
                a.attributes,
                a.registered_at,
                a.last_seen,
                a.reachable,
            )
            for agent_id, a in state.agents.items()
        },
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
        live=[(r, r.status, r.holds, r.statistics, r.rendered) for r in state.tasks.values()],
        # A completed task's record no longer changes (but for its cache).
        completed=OrderedDict(state.completed),
        offers=list(state.offers),
        maintenance=dict(state.maintenance),
        recovering=dict(state.recovering),
        weights=dict(state.weights),
        quotas=dict(state.quotas),
        reservations=dict(state.reservations),
        counters=Counter(state.counters),
        allocator=_TakenAllocator(state.allocator.snapshot() if allocator else None),
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
