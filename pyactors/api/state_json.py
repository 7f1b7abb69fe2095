"""The master's state as the HTTP API shows it, in Mesos's JSON shapes.

Pure functions of a `MasterState` (no Ray, no clock, no HTTP): the HTTP
layer (`pyactors/api/http.py`) encodes what they return with orjson, and
tests call them directly.

Resources appear as Mesos's resource model (an object: scalar totals over
all roles, ranges as "[31000-31999]", sets as "{a,b}", with cpus, gpus, mem
and disk always present); `*_full` fields hold the full list form. Times
are seconds since the epoch: the master keeps monotonic time, and `About`
carries the offset between the two clocks.

Agents are `slaves` and their ids `slave_id`, as in Mesos's v0 endpoints.

`cluster_state` is the one shape that is not Mesos's: what `Cluster.state()`
returns to Python callers, with resources as text and the allocator's own
snapshot.
"""

from __future__ import annotations

import functools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pyactors._core import Resources
from pyactors.api.v1.executor_json import executor_info_to_v1
from pyactors.core.quota import quota_quantities
from pyactors.core.tasks import TERMINAL_STATES, TaskState, TaskStatus
from pyactors.errors import InvalidArgumentError
from pyactors.master.records import AgentRecord, FrameworkRecord, TaskRecord
from pyactors.master.registry_records import MaintenanceEntry
from pyactors.master.state import MasterState

# The scalars Mesos's resource model always shows.
ALWAYS = ("cpus", "gpus", "mem", "disk")
LIVE_STATES = tuple(
    s for s in TaskState if s not in TERMINAL_STATES and s != TaskState.TASK_UNKNOWN
)


@dataclass(frozen=True)
class About:
    """Who serves the state: the master's id, version, host and times."""

    id: str
    version: str
    hostname: str = "127.0.0.1"
    # Wall-clock seconds when the master started and when it was elected.
    start_time: float = 0.0
    elected_time: float = 0.0
    # Add to the master's monotonic times to get wall-clock seconds.
    clock_offset: float = 0.0
    # The leader's description (its actor name), Mesos's `leader`.
    leader: str = ""
    # Seconds the last allocation cycle took inside the core.
    allocation_run_seconds: float = 0.0
    # Wall-clock seconds now (for uptime).
    now: float = 0.0


# ---------------------------------------------------------------- resources


def resources_model(resources: Resources | None) -> dict[str, Any]:
    """Mesos's JSON model of resources: one value per name, all roles summed."""
    if not resources:
        return dict.fromkeys(ALWAYS, 0.0)
    # Tasks and offers repeat a few shapes: each is modelled once.
    return dict(_model(resources))


@functools.lru_cache(maxsize=4096)
def _model(resources: Resources) -> tuple[tuple[str, Any], ...]:
    model: dict[str, Any] = dict.fromkeys(ALWAYS, 0.0)
    model.update(resources.totals())
    ranges: dict[str, list[tuple[int, int]]] = defaultdict(list)
    sets: dict[str, set[str]] = defaultdict(set)
    for item in resources.to_json():
        if item["type"] == "RANGES":
            ranges[item["name"]] += [(r["begin"], r["end"]) for r in item["ranges"]["range"]]
        elif item["type"] == "SET":
            sets[item["name"]].update(item["set"]["item"])
    for name, spans in ranges.items():
        model[name] = "[" + ", ".join(f"{b}-{e}" for b, e in sorted(spans)) + "]"
    for name, items in sets.items():
        model[name] = "{" + ",".join(sorted(items)) + "}"
    return tuple(model.items())


def per_role_model(resources: Resources) -> dict[str, dict[str, Any]]:
    """Reserved resources by role (Mesos's `reserved_resources`)."""
    by_role: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in resources.reserved().to_json():
        by_role[item["role"]].append(item)
    return {role: resources_model(Resources.from_json(items)) for role, items in by_role.items()}


def _sum(bundles: Iterable[Resources]) -> Resources:
    total = Resources()
    for bundle in bundles:
        total = total + bundle
    return total


# ------------------------------------------------------------------- tasks


def status_json(status: TaskStatus, about: About) -> dict[str, Any]:
    shaped = status.to_dict()
    shaped["timestamp"] = status.timestamp + about.clock_offset
    shaped["slave_id"] = status.agent_id
    # An executor's data went to its scheduler; Mesos's master keeps none (MESOS-1746).
    shaped.pop("data", None)
    return shaped


def task_json(record: TaskRecord, about: About) -> dict[str, Any]:
    """The task's JSON, made again only when its status or usage was
    replaced since it was last made (callers must not change it)."""
    cached = record.rendered
    if (
        cached is not None
        and cached[0] is record.status
        and cached[1] is record.statistics
        and cached[2] == about.clock_offset
    ):
        shaped: dict[str, Any] = cached[3]
        return shaped
    shaped = _render_task(record, about)
    record.rendered = (record.status, record.statistics, about.clock_offset, shaped)
    return shaped


def _render_task(record: TaskRecord, about: About) -> dict[str, Any]:
    task = record.task
    return {
        "id": task.task_id,
        "name": task.name,
        "framework_id": record.framework_id,
        "executor_id": "",
        "slave_id": record.agent_id,
        "state": record.state.value,
        "role": record.role,
        "resources": resources_model(task.resources),
        "statuses": [status_json(record.status, about)],
        "labels": [{"key": k, "value": v} for k, v in sorted(task.labels.items())],
        "launched_time": record.launched_at + about.clock_offset,
        **({} if record.statistics is None else {"statistics": record.statistics}),
        **({} if task.user is None else {"user": task.user}),
    }


class _Usage:
    """What tasks use and offers hold, per agent, framework and role: one
    pass over the tasks and the offers. Sums over several agents keep the
    scalars only (one agent's ports cannot be added to another's)."""

    def __init__(self, state: MasterState) -> None:
        used: dict[tuple[str, str], list[Resources]] = defaultdict(list)
        # Custom executors use their resources beside their tasks'.
        for executor in state.executors:
            if executor.holds:
                bundle = executor.info.resources
                used["agent", executor.agent_id].append(bundle)
                used["framework", executor.framework_id].append(bundle.scalars())
                used["role", executor.role].append(bundle.scalars())
        for record in state.tasks.values():
            if record.holds:
                bundle = record.task.resources
                used["agent", record.agent_id].append(bundle)
                used["framework", record.framework_id].append(bundle.scalars())
                used["role", record.role].append(bundle.scalars())
        offered: dict[tuple[str, str], list[Resources]] = defaultdict(list)
        self.offers: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for offer in state.offers:
            offered["agent", offer.agent_id].append(offer.resources)
            offered["framework", offer.framework_id].append(offer.resources.scalars())
            offered["role", offer.role].append(offer.resources.scalars())
            self.offers[offer.framework_id].append(
                {
                    "id": offer.id,
                    "framework_id": offer.framework_id,
                    "slave_id": offer.agent_id,
                    "role": offer.role,
                    "resources": resources_model(offer.resources),
                }
            )
        self._used = {key: _sum(bundles) for key, bundles in used.items()}
        self._offered = {key: _sum(bundles) for key, bundles in offered.items()}

    def used(self, kind: str, name: str) -> Resources:
        return self._used.get((kind, name)) or Resources()

    def offered(self, kind: str, name: str) -> Resources:
        return self._offered.get((kind, name)) or Resources()


# ------------------------------------------------------------------ agents


def drain_json(entry: MaintenanceEntry, used: Resources) -> dict[str, Any]:
    """Mesos's DrainInfo: DRAINING until no task holds resources on the agent."""
    return {
        "state": "DRAINED" if used.is_empty() else "DRAINING",
        "config": {"max_grace_period": entry.grace_period},
    }


def agent_json(
    agent: AgentRecord, usage: _Usage, about: About, drain: MaintenanceEntry | None = None
) -> dict[str, Any]:
    used, offered = usage.used("agent", agent.agent_id), usage.offered("agent", agent.agent_id)
    maintenance = {} if drain is None else {"drain_info": drain_json(drain, used)}
    return {
        "id": agent.agent_id,
        "hostname": agent.hostname,
        "registered_time": agent.registered_at + about.clock_offset,
        "last_seen_time": agent.last_seen + about.clock_offset,
        "active": agent.reachable,
        "deactivated": drain is not None,
        **maintenance,
        "reachable": agent.reachable,
        "attributes": dict(agent.attributes),
        **agent_resources(agent.total, used, offered),
        "version": about.version,
    }


@functools.lru_cache(maxsize=4096)
def agent_resources(total: Resources, used: Resources, offered: Resources) -> dict[str, Any]:
    """An agent's resources, used and offered, in both of Mesos's forms:
    made once per distinct three (thousands of agents repeat a few), so a
    state read after one agent changed makes only that agent's again. The
    answer is shared: callers must not change it."""
    return {
        "resources": resources_model(total),
        "used_resources": resources_model(used),
        "offered_resources": resources_model(offered),
        "reserved_resources": per_role_model(total),
        "unreserved_resources": resources_model(total.unreserved()),
        "resources_full": total.to_json(),
        "used_resources_full": used.to_json(),
        "offered_resources_full": offered.to_json(),
        "reserved_resources_full": total.reserved().to_json(),
        "unreserved_resources_full": total.unreserved().to_json(),
    }


def slaves(state: MasterState, about: About, usage: _Usage | None = None) -> dict[str, Any]:
    """/master/slaves."""
    usage = usage or _Usage(state)
    return {
        "slaves": [
            agent_json(a, usage, about, state.maintenance.get(a.agent_id))
            for a in state.agents.values()
        ],
        "recovered_slaves": [
            {
                "id": e.agent_id,
                "hostname": e.hostname,
                "resources": resources_model(Resources.parse(e.resources)),
                "attributes": dict(e.attributes),
            }
            for e in state.recovering.values()
        ],
    }


def maintenance(state: MasterState, about: About) -> dict[str, Any]:
    """/master/maintenance: the agents under maintenance and how far their
    draining has got (an agent not back since an election shows no usage)."""
    usage = _Usage(state)
    return {
        "agents": [
            {"agent_id": agent_id, **drain_json(entry, usage.used("agent", agent_id))}
            for agent_id, entry in sorted(state.maintenance.items())
        ]
    }


# -------------------------------------------------------------- frameworks


def _tasks_by_framework(
    records: Iterable[TaskRecord], about: About
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        out[record.framework_id].append(task_json(record, about))
    return out


def _executors_by_framework(state: MasterState) -> dict[str, list[dict[str, Any]]]:
    """Mesos's `executors` of each framework: its custom executors' ExecutorInfo
    with their agent (`slave_id`) and role."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in state.executors:
        info = record.info
        out[record.framework_id].append(
            {
                "executor_id": info.executor_id,
                "name": info.name,
                "framework_id": record.framework_id,
                "command": executor_info_to_v1(info, record.framework_id)["command"],
                "resources": resources_model(info.resources),
                "role": record.role,
                "slave_id": record.agent_id,
            }
        )
    return out


def framework_json(
    framework: FrameworkRecord,
    usage: _Usage,
    about: About,
    tasks: Mapping[str, list[dict[str, Any]]],
    completed: Mapping[str, list[dict[str, Any]]],
    executors: Mapping[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    fid = framework.framework_id
    used, offered = usage.used("framework", fid), usage.offered("framework", fid)
    live = tasks.get(fid, [])
    return {
        "id": fid,
        "name": framework.name,
        "roles": list(framework.roles),
        "role": framework.roles[0] if framework.roles else "*",
        "capabilities": sorted(framework.capabilities),
        "failover_timeout": framework.failover_timeout,
        "webui_url": framework.webui_url or "",
        "active": framework.connected,
        "connected": framework.connected,
        "recovered": framework.recovery_grace > 0,
        "registered_time": framework.registered_at + about.clock_offset,
        "unregistered_time": (
            0.0
            if framework.disconnected_at is None
            else framework.disconnected_at + about.clock_offset
        ),
        "used_resources": resources_model(used),
        "offered_resources": resources_model(offered),
        "resources": resources_model(used + offered),
        "tasks": [t for t in live if t["state"] != TaskState.TASK_UNREACHABLE.value],
        "unreachable_tasks": [t for t in live if t["state"] == TaskState.TASK_UNREACHABLE.value],
        "completed_tasks": completed.get(fid, []),
        "offers": usage.offers.get(fid, []),
        "executors": executors.get(fid, []),
        # As Mesos shows them: only when set (never the secret).
        **({} if framework.principal is None else {"principal": framework.principal}),
        **({} if framework.user is None else {"user": framework.user}),
    }


def frameworks(state: MasterState, about: About, usage: _Usage | None = None) -> dict[str, Any]:
    """/master/frameworks."""
    usage = usage or _Usage(state)
    tasks = _tasks_by_framework(state.tasks.values(), about)
    completed = _tasks_by_framework(state.completed.values(), about)
    executors = _executors_by_framework(state)
    return {
        "frameworks": [
            framework_json(f, usage, about, tasks, completed, executors)
            for f in state.frameworks.values()
        ],
        "completed_frameworks": [],
        "unregistered_frameworks": [],
    }


# ------------------------------------------------------------------- roles


def roles(
    state: MasterState, snapshot: Mapping[str, Any] | None = None, usage: _Usage | None = None
) -> dict[str, Any]:
    """/master/roles: every role known (by a framework, weight, quota,
    reservation or allocation) with its weight, frameworks, resources and
    quota."""
    snapshot = state.allocator.snapshot() if snapshot is None else snapshot
    usage = usage or _Usage(state)
    core: Mapping[str, Any] = snapshot.get("roles", {})
    names: set[str] = set(core) | set(state.weights) | set(state.quotas)
    for f in state.frameworks.values():
        names.update(f.roles)
    reserved: dict[str, Resources] = {}
    for agent in state.agents.values():
        if agent.reachable:
            for item in agent.total.reserved().to_json():
                role = item["role"]
                names.add(role)
                bundle = Resources.from_json([item]).scalars()
                reserved[role] = reserved[role] + bundle if role in reserved else bundle
    members: dict[str, list[str]] = defaultdict(list)
    for f in state.frameworks.values():
        for role in f.roles:
            members[role].append(f.framework_id)
    out = []
    for name in sorted(names):
        allocated, offered = usage.used("role", name), usage.offered("role", name)
        quota = state.quotas.get(name)
        entry = core.get(name, {})
        out.append(
            {
                "name": name,
                "weight": state.weights.get(name, entry.get("weight", 1.0)),
                "frameworks": sorted(members.get(name, [])),
                "resources": resources_model(allocated + offered),
                "allocated": resources_model(allocated),
                "offered": resources_model(offered),
                "reserved": resources_model(reserved.get(name)),
                "share": entry.get("share", 0.0),
                "quota": {
                    "role": name,
                    "guarantee": _quantities(quota.guarantee if quota else ""),
                    "limit": None
                    if quota is None or quota.limit is None
                    else _quantities(quota.limit),
                    "consumed": dict(entry.get("consumed_quota", {})),
                },
            }
        )
    return {"roles": out}


def _quantities(text: str) -> dict[str, float]:
    """Stored quota text as the allocator reads it: name -> amount."""
    return {name: millis / 1000 for name, millis in quota_quantities(text, "quota").items()}


# ------------------------------------------------------------------- state


def state(state: MasterState, about: About) -> dict[str, Any]:
    """/master/state (and /state)."""
    usage = _Usage(state)
    snapshot = state.allocator.snapshot()
    agents, drained = state.agents.values(), state.maintenance
    return {
        "version": about.version,
        "id": about.id,
        "hostname": about.hostname,
        "leader": about.leader,
        "start_time": about.start_time,
        "elected_time": about.elected_time,
        "activated_slaves": sum(a.reachable and a.agent_id not in drained for a in agents),
        "deactivated_slaves": sum(a.reachable and a.agent_id in drained for a in agents),
        "unreachable_slaves": sum(not a.reachable for a in agents),
        **slaves(state, about, usage),
        **frameworks(state, about, usage),
        "orphan_tasks": [],
        **roles(state, snapshot, usage),
        "weights": dict(state.weights),
        "outstanding_offers": len(state.offers),
    }


def state_summary(state: MasterState, about: About) -> dict[str, Any]:
    """/master/state-summary: agents and frameworks with task counts, no tasks."""
    usage = _Usage(state)
    per_agent: dict[str, Counter[str]] = defaultdict(Counter)
    per_framework: dict[str, Counter[str]] = defaultdict(Counter)
    agents_of: dict[str, set[str]] = defaultdict(set)
    frameworks_on: dict[str, set[str]] = defaultdict(set)
    for records in (state.tasks.values(), state.completed.values()):
        for r in records:
            per_agent[r.agent_id][r.state.value] += 1
            per_framework[r.framework_id][r.state.value] += 1
            if not r.state.is_terminal:
                agents_of[r.framework_id].add(r.agent_id)
                frameworks_on[r.agent_id].add(r.framework_id)
    counted = [s.value for s in TaskState if s is not TaskState.TASK_UNKNOWN]

    def counts(counter: Counter[str]) -> dict[str, int]:
        return {name: counter.get(name, 0) for name in counted}

    return {
        "hostname": about.hostname,
        "cluster": "",
        "slaves": [
            {
                **{
                    k: v
                    for k, v in agent_json(
                        a, usage, about, state.maintenance.get(a.agent_id)
                    ).items()
                    if not k.endswith("_full")
                },
                **counts(per_agent[a.agent_id]),
                "framework_ids": sorted(frameworks_on[a.agent_id]),
            }
            for a in state.agents.values()
        ],
        "frameworks": [
            {
                "id": f.framework_id,
                "name": f.name,
                "roles": list(f.roles),
                "capabilities": sorted(f.capabilities),
                "active": f.connected,
                "connected": f.connected,
                "used_resources": resources_model(usage.used("framework", f.framework_id)),
                "offered_resources": resources_model(usage.offered("framework", f.framework_id)),
                **counts(per_framework[f.framework_id]),
                "slave_ids": sorted(agents_of[f.framework_id]),
            }
            for f in state.frameworks.values()
        ],
    }


def cluster_state(state: MasterState) -> dict[str, Any]:
    """What `Cluster.state()` returns: agents, frameworks with their live and
    completed tasks, counters, the allocator's snapshot, weights, quotas and
    the agents a new leader still awaits (resources as text)."""
    live: dict[str, list[dict[str, Any]]] = defaultdict(list)
    completed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for records, into in ((state.tasks, live), (state.completed, completed)):
        for t in records.values():
            into[t.framework_id].append(
                {
                    "id": t.task.task_id,
                    "name": t.task.name,
                    "state": t.state.value,
                    "agent_id": t.agent_id,
                    "role": t.role,
                    "resources": str(t.task.resources),
                    "user": t.task.user,
                    "status": t.status.to_dict(),
                }
            )
    return {
        "agents": [
            {
                "id": a.agent_id,
                "hostname": a.hostname,
                "resources": str(a.total),
                "attributes": a.attributes,
                "reachable": a.reachable,
            }
            for a in state.agents.values()
        ],
        "frameworks": [
            {
                "id": f.framework_id,
                "name": f.name,
                "roles": f.roles,
                "capabilities": sorted(f.capabilities),
                "failover_timeout": f.failover_timeout,
                "connected": f.connected,
                "principal": f.principal,
                "user": f.user,
                "tasks": live[f.framework_id],
                "completed_tasks": completed[f.framework_id],
            }
            for f in state.frameworks.values()
        ],
        "outstanding_offers": len(state.offers),
        "counters": dict(state.counters),
        "allocator": state.allocator.snapshot(),
        "weights": dict(state.weights),
        "quotas": {
            role: {"guarantee": q.guarantee, "limit": q.limit} for role, q in state.quotas.items()
        },
        "recovering_agents": sorted(state.recovering),
    }


def tasks(
    state: MasterState,
    about: About,
    framework_id: str | None = None,
    task_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
    order: str = "des",
    task_state: str | None = None,
) -> dict[str, Any]:
    """/master/tasks: live and completed tasks by launch time (newest first
    with order "des", Mesos's default), optionally one framework's, one
    task, or those in one state; `offset` then `limit` page through them."""
    if order not in ("asc", "des"):
        raise InvalidArgumentError(f"order must be 'asc' or 'des', got {order!r}")
    if limit < 0 or offset < 0:
        raise InvalidArgumentError("limit and offset must be non-negative")
    if task_state is not None and task_state not in {s.value for s in TaskState}:
        raise InvalidArgumentError(f"no task state {task_state!r}")
    records = [
        r
        for group in (state.tasks.values(), state.completed.values())
        for r in group
        if (framework_id is None or r.framework_id == framework_id)
        and (task_id is None or r.task.task_id == task_id)
        and (task_state is None or r.state.value == task_state)
    ]
    records.sort(key=lambda r: (r.launched_at, r.task.task_id), reverse=order == "des")
    return {"tasks": [task_json(r, about) for r in records[offset : offset + limit]]}


# ----------------------------------------------------------------- metrics

# Metrics that only grow (Prometheus counters); the others are gauges.
COUNTERS = frozenset(
    [f"master/tasks_{s.value.removeprefix('TASK_').lower()}" for s in TERMINAL_STATES]
    + [
        "master/tasks_launched",
        "master/offers_made",
        "master/offers_declined",
        "master/offers_rescinded",
        "master/status_updates",
        "allocator/mesos/allocation_runs",
    ]
)


def metrics(state: MasterState, about: About) -> dict[str, float]:
    """/metrics/snapshot, with Mesos's metric names. Terminal task states
    count the tasks that reached them since this master was elected; live
    states count the tasks in them now. `master/<resource>_percent` is a
    fraction of the total used by tasks, as in Mesos."""
    out: dict[str, float] = {
        "master/elected": 1.0,
        "master/uptime_secs": max(0.0, about.now - about.start_time),
    }
    agents = list(state.agents.values())
    reachable = [a for a in agents if a.reachable]
    inactive = sum(a.agent_id in state.maintenance for a in reachable)
    out["master/slaves_active"] = len(reachable) - inactive
    out["master/slaves_connected"] = len(reachable)
    out["master/slaves_disconnected"] = len(agents) - len(reachable)
    out["master/slaves_inactive"] = inactive
    out["master/slaves_unreachable"] = len(agents) - len(reachable)
    out["master/slaves_recovering"] = len(state.recovering)
    connected = sum(f.connected for f in state.frameworks.values())
    out["master/frameworks_active"] = connected
    out["master/frameworks_connected"] = connected
    out["master/frameworks_disconnected"] = len(state.frameworks) - connected
    out["master/frameworks_inactive"] = len(state.frameworks) - connected
    live = Counter(r.state for r in state.tasks.values())
    for live_state in LIVE_STATES:
        name = f"tasks_{live_state.value.removeprefix('TASK_').lower()}"
        out[f"master/{name}"] = live.get(live_state, 0)
    for terminal in TERMINAL_STATES:
        name = f"tasks_{terminal.value.removeprefix('TASK_').lower()}"
        out[f"master/{name}"] = state.counters.get(name, 0)
    total = _sum(a.total.scalars() for a in reachable).totals()
    used = _sum(r.task.resources.scalars() for r in state.tasks.values() if r.holds).totals()
    offered = _sum(o.resources.scalars() for o in state.offers).totals()
    for name in sorted(set(ALWAYS) | set(total)):
        t, u = total.get(name, 0.0), used.get(name, 0.0)
        out[f"master/{name}_total"] = t
        out[f"master/{name}_used"] = u
        out[f"master/{name}_offered"] = offered.get(name, 0.0)
        out[f"master/{name}_percent"] = u / t if t > 0 else 0.0
    out["master/outstanding_offers"] = len(state.offers)
    out["master/tasks_launched"] = state.counters.get("tasks_launched", 0)
    out["master/offers_made"] = state.counters.get("offers", 0)
    out["master/offers_declined"] = state.counters.get("offers_declined", 0)
    out["master/offers_rescinded"] = state.counters.get("offers_rescinded", 0)
    out["master/status_updates"] = state.counters.get("status_updates", 0)
    out["allocator/mesos/allocation_runs"] = state.counters.get("allocation_runs", 0)
    out["allocator/mesos/allocation_run_ms"] = about.allocation_run_seconds * 1000.0
    return {k: float(v) for k, v in out.items() if math.isfinite(float(v))}


def error_json(status: int, kind: str, message: str) -> dict[str, Any]:
    """The body of a refused request: what went wrong, by name."""
    return {"code": status, "error": kind, "message": message}
