"""The v1 operator API's shapes (include/mesos/v1/master/master.proto's
`Response` and `Event` messages, as protobuf's JSON mapping writes them):
pure functions of a `MasterState` and the master's `About`, no HTTP.

The resources, attributes, offers, tasks and statuses inside them are
`pyactors.api.v1.mesos_json`'s; what only the operator API shows (agents
and frameworks as `GetAgents.Agent` and `GetFrameworks.Framework`, roles,
quota, flags, metrics) is here. They show what the v0 endpoints show
(`pyactors.api.state_json`) for the same state: the same agents, frameworks
and tasks, used and offered resources from the same pass over tasks and
offers. Times are `TimeInfo`s (`{"nanoseconds"}`), wall-clock like the v0
endpoints' seconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pyactors._core import Resources
from pyactors.api import state_json
from pyactors.api.state_json import About
from pyactors.api.v1.executor_json import executor_info_to_v1
from pyactors.api.v1.mesos_json import (
    FrameworkInfo,
    attributes_to_v1,
    framework_info_to_v1,
    id_json,
    offer_to_v1,
    resources_to_v1,
    status_to_v1,
    task_to_v1,
)
from pyactors.core.offer import OfferInfo
from pyactors.core.quota import quota_quantities
from pyactors.core.tasks import TaskState, TaskStatus
from pyactors.master.records import AgentRecord, FrameworkRecord, MasterConfig, TaskRecord
from pyactors.master.registry_records import MaintenanceEntry
from pyactors.master.state import MasterState

# What a pyactors agent can do, in Mesos's AgentInfo.Capability names.
AGENT_CAPABILITIES = ("MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT", "AGENT_DRAINING")
# Every agent's (shared: callers must not change it).
_AGENT_CAPABILITIES_V1 = [{"type": name} for name in AGENT_CAPABILITIES]
# Mesos's DEFAULT_HEARTBEAT_INTERVAL for operator event streams (src/master/constants.hpp).
HEARTBEAT_INTERVAL_SECONDS = 15.0

# Used and offered resources per agent, framework and role: one pass over
# the tasks and offers, the one the v0 endpoints make.
Usage = state_json._Usage


def time_info(seconds: float) -> dict[str, int]:
    """Mesos's TimeInfo (and DurationInfo): whole nanoseconds."""
    return {"nanoseconds": round(seconds * 1e9)}


def response(kind: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A `Response` of `kind` (e.g. GET_STATE) with its body under the
    field Mesos names after it (`get_state`)."""
    out: dict[str, Any] = {"type": kind}
    if body is not None:
        out[kind.lower()] = body
    return out


def event(kind: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An `Event` of `kind` (e.g. TASK_ADDED) with its body under `task_added`."""
    return response(kind, body)


# ------------------------------------------------------------------ tasks


def status_v1(status: TaskStatus, about: About) -> dict[str, Any]:
    """A status as a Task's `statuses` hold it: wall-clock timestamp, and
    its uuid (acknowledgements are the scheduler's business, not ours)."""
    shaped = status_to_v1(status)
    shaped["timestamp"] = status.timestamp + about.clock_offset
    # An executor's data went to its scheduler; Mesos's master keeps none (MESOS-1746).
    shaped.pop("data", None)
    return shaped


def task_v1(record: TaskRecord, about: About) -> dict[str, Any]:
    """Mesos's `Task`: its TaskInfo's fields a Task carries (no command),
    where it runs, its state and latest status."""
    info = task_to_v1(record.task, record.agent_id)
    out: dict[str, Any] = {
        "name": info["name"],
        "task_id": info["task_id"],
        "framework_id": id_json(record.framework_id),
        "agent_id": info["agent_id"],
        "state": record.state.value,
        "resources": info["resources"],
        "statuses": [status_v1(record.status, about)],
    }
    for optional in ("labels", "health_check"):
        if optional in info:
            out[optional] = info[optional]
    if record.task.user is not None:
        out["user"] = record.task.user
    if record.task.executor is not None:
        out["executor_id"] = id_json(record.task.executor.executor_id)
    return out


def get_tasks(state: MasterState, about: About) -> dict[str, Any]:
    """`GetTasks`: live tasks, those on unreachable agents, and completed ones."""
    live = [task_v1(r, about) for r in state.tasks.values()]
    unreachable = TaskState.TASK_UNREACHABLE.value
    return {
        "tasks": [t for t in live if t["state"] != unreachable],
        "unreachable_tasks": [t for t in live if t["state"] == unreachable],
        "completed_tasks": [task_v1(r, about) for r in state.completed.values()],
    }


# ------------------------------------------------------------------ agents


def _drain_info(entry: MaintenanceEntry, used: Resources) -> dict[str, Any]:
    v0 = state_json.drain_json(entry, used)
    config = (
        {} if entry.grace_period is None else {"max_grace_period": time_info(entry.grace_period)}
    )
    return {"state": v0["state"], "config": config}


def agent_info_v1(
    agent_id: str, hostname: str, resources: Resources, attributes: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "hostname": hostname,
        "id": id_json(agent_id),
        "resources": resources_to_v1(resources),
        "attributes": attributes_to_v1(attributes),
    }


def agent_v1(
    agent: AgentRecord, usage: Usage, about: About, drain: MaintenanceEntry | None = None
) -> dict[str, Any]:
    """`GetAgents.Agent`: `active` and `deactivated` as /master/slaves shows them."""
    used = usage.used("agent", agent.agent_id)
    out: dict[str, Any] = {
        "agent_info": agent_info_v1(agent.agent_id, agent.hostname, agent.total, agent.attributes),
        "active": agent.reachable,
        "deactivated": drain is not None,
        "version": about.version,
        "registered_time": time_info(agent.registered_at + about.clock_offset),
        "total_resources": resources_to_v1(agent.total),
        "allocated_resources": resources_to_v1(used),
        "offered_resources": resources_to_v1(usage.offered("agent", agent.agent_id)),
        "capabilities": _AGENT_CAPABILITIES_V1,
    }
    if drain is not None:
        out["drain_info"] = _drain_info(drain, used)
    return out


def get_agents(state: MasterState, about: About, usage: Usage | None = None) -> dict[str, Any]:
    """`GetAgents`: the agents, and those a new leader still awaits."""
    usage = usage or Usage(state)
    return {
        "agents": [
            agent_v1(a, usage, about, state.maintenance.get(a.agent_id))
            for a in state.agents.values()
        ],
        "recovered_agents": [
            agent_info_v1(e.agent_id, e.hostname, Resources.parse(e.resources), e.attributes)
            for e in state.recovering.values()
        ],
    }


# ------------------------------------------------------------------ frameworks


def framework_info_v1(record: FrameworkRecord) -> dict[str, Any]:
    """The framework's `FrameworkInfo` (its principal, never a secret)."""
    info = FrameworkInfo(
        name=record.name,
        user=record.user,
        roles=list(record.roles),
        framework_id=record.framework_id,
        failover_timeout=record.failover_timeout,
        capabilities=sorted(record.capabilities),
        principal=record.principal,
    )
    return framework_info_to_v1(info)


def offers_by_framework(state: MasterState) -> dict[str, list[OfferInfo]]:
    """The outstanding offers, per framework (one pass)."""
    offers: dict[str, list[OfferInfo]] = defaultdict(list)
    for offer in state.offers:
        offers[offer.framework_id].append(offer)
    return offers


def framework_v1(
    record: FrameworkRecord, usage: Usage, about: About, offers: Sequence[OfferInfo]
) -> dict[str, Any]:
    """`GetFrameworks.Framework`, with its outstanding `offers`."""
    fid = record.framework_id
    out: dict[str, Any] = {
        "framework_info": framework_info_v1(record),
        "active": record.connected,
        "connected": record.connected,
        "recovered": record.recovery_grace > 0,
        "registered_time": time_info(record.registered_at + about.clock_offset),
        "offers": [offer_to_v1(o) for o in offers],
        "inverse_offers": [],
        "allocated_resources": resources_to_v1(usage.used("framework", fid)),
        "offered_resources": resources_to_v1(usage.offered("framework", fid)),
    }
    if record.disconnected_at is not None:
        out["unregistered_time"] = time_info(record.disconnected_at + about.clock_offset)
    return out


def get_frameworks(state: MasterState, about: About, usage: Usage | None = None) -> dict[str, Any]:
    """`GetFrameworks`. Torn-down frameworks are kept by id only, so none
    shows as completed (as /master/frameworks shows none)."""
    usage = usage or Usage(state)
    offers = offers_by_framework(state)
    return {
        "frameworks": [
            framework_v1(f, usage, about, offers.get(f.framework_id, ()))
            for f in state.frameworks.values()
        ],
        "completed_frameworks": [],
    }


def get_executors(state: MasterState, about: About) -> dict[str, Any]:
    """`GetExecutors`: the custom executors running, idle ones too, from
    the launch of the first task until the agent says they exited; command
    tasks have none."""
    return {
        "executors": [
            {
                "executor_info": executor_info_to_v1(record.info, record.framework_id),
                "agent_id": id_json(record.agent_id),
            }
            for record in state.executors
        ]
    }


def get_state(state: MasterState, about: About) -> dict[str, Any]:
    """`GetState`: tasks, executors, frameworks and agents of one moment."""
    usage = Usage(state)
    return {
        "get_tasks": get_tasks(state, about),
        "get_executors": get_executors(state, about),
        "get_frameworks": get_frameworks(state, about, usage),
        "get_agents": get_agents(state, about, usage),
    }


# ------------------------------------------------------------------ roles, weights, quota


def get_roles(state: MasterState) -> dict[str, Any]:
    """`GetRoles`: the roles /master/roles shows, with their weight,
    frameworks and the resources allocated and offered in them."""
    usage = Usage(state)
    return {
        "roles": [
            {
                "name": role["name"],
                "weight": role["weight"],
                "frameworks": [id_json(f) for f in role["frameworks"]],
                "resources": resources_to_v1(
                    usage.used("role", role["name"]) + usage.offered("role", role["name"])
                ),
            }
            for role in state_json.roles(state, usage=usage)["roles"]
        ]
    }


def get_weights(state: MasterState) -> dict[str, Any]:
    return {"weight_infos": [{"role": r, "weight": w} for r, w in sorted(state.weights.items())]}


def _scalar_map(text: str) -> dict[str, dict[str, float]]:
    return {
        name: {"value": millis / 1000} for name, millis in quota_quantities(text, "quota").items()
    }


def get_quota(state: MasterState) -> dict[str, Any]:
    """`GetQuota`: `QuotaStatus` with Mesos 1.9's `configs` (guarantees and
    limits as name -> `Value.Scalar`; no limit: none shown) and the older
    `infos` (the guarantee as scalar resources)."""
    infos, configs = [], []
    for role, entry in sorted(state.quotas.items()):
        infos.append({"role": role, "guarantee": resources_to_v1(_guarantee(entry.guarantee))})
        config: dict[str, Any] = {"role": role, "guarantees": _scalar_map(entry.guarantee)}
        if entry.limit is not None:
            config["limits"] = _scalar_map(entry.limit)
        configs.append(config)
    return {"status": {"infos": infos, "configs": configs}}


def _guarantee(text: str) -> Resources:
    amounts = quota_quantities(text, "guarantee")
    return Resources.parse(";".join(f"{n}:{m / 1000}" for n, m in amounts.items() if m))


# ------------------------------------------------------------------ the master


def _seconds(value: float) -> str:
    """A duration as Mesos prints its flags (`60secs`)."""
    return f"{value:g}secs"


def get_flags(config: MasterConfig, allocation_interval: float | None = None) -> dict[str, Any]:
    """`GetFlags`: the master's configuration under Mesos's flag names
    (pyactors' one agent timeout is Mesos's ping timeout times one ping).
    Credentials show only whether they are set; ACLs not at all."""
    flags = {
        "offer_timeout": _seconds(config.offer_timeout),
        "agent_ping_timeout": _seconds(config.agent_timeout),
        "max_agent_ping_timeouts": "1",
        "agent_reregister_timeout": _seconds(config.agent_reregister_timeout),
        "role_sorter": config.sorter,
        "framework_sorter": config.sorter,
        "max_completed_frameworks": str(config.max_completed_frameworks),
        "max_completed_tasks_per_framework": str(config.max_completed_tasks),
        "authenticate_frameworks": _bool(config.credentials is not None),
        "authenticate_http_readonly": _bool(config.credentials is not None),
        "authenticate_http_readwrite": _bool(config.credentials is not None),
    }
    if allocation_interval is not None:
        flags["allocation_interval"] = _seconds(allocation_interval)
    return {"flags": [{"name": n, "value": v} for n, v in sorted(flags.items())]}


def _bool(value: bool) -> str:
    return "true" if value else "false"


def get_metrics(snapshot: Mapping[str, float]) -> dict[str, Any]:
    """`GetMetrics`: /metrics/snapshot's metrics (`state_json.metrics`) as
    name and value."""
    return {"metrics": [{"name": n, "value": v} for n, v in sorted(snapshot.items())]}


# VersionInfo's fields (include/mesos/v1/mesos.proto).
_VERSION_INFO = ("version", "build_date", "build_time", "build_user", "git_sha")


def get_version(version: Mapping[str, Any]) -> dict[str, Any]:
    """`GetVersion`: /version's answer, in VersionInfo's fields only."""
    return {"version_info": {k: version[k] for k in _VERSION_INFO if k in version}}
