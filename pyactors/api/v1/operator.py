"""Mesos's v1 operator API at `POST /api/v1` (include/mesos/v1/master/
master.proto's `Call`, answered as src/master/http.cpp's `api` answers):
a JSON `Call` such as `{"type": "GET_STATE"}` in, a `Response` such as
`{"type": "GET_STATE", "get_state": {...}}` out (`operator_json`).

- Reads (200): GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS, GET_STATE,
  GET_AGENTS, GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS, GET_ROLES,
  GET_WEIGHTS, GET_QUOTA, GET_MASTER; frameworks and tasks filtered by the
  caller's view ACLs, as the v0 reads are (`pyactors.api.access`);
  GET_MAINTENANCE_SCHEDULE and GET_MAINTENANCE_STATUS, the machines the
  caller's maintenance ACLs let it see.
- Changes, through the same `MasterState` operations and ACL checks as
  the REST operator endpoints (`pyactors.api.http`): UPDATE_WEIGHTS,
  UPDATE_QUOTA (all configs or none), DRAIN_AGENT, REACTIVATE_AGENT,
  TEARDOWN, UPDATE_MAINTENANCE_SCHEDULE, START_MAINTENANCE and
  STOP_MAINTENANCE (`pyactors.api.maintenance_routes`'s operations) answer
  200; RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES and
  DESTROY_VOLUMES answer 202, as Mesos's do.
- SUBSCRIBE: 200 and a chunked RecordIO stream (`<length>\\n<json>`) of
  `Event`s: SUBSCRIBED with the state now, a HEARTBEAT at once and every
  15 s, then what changes (`operator_events`).

Refused, with nothing changed: a body that is not a JSON `Call` (400), a
body of another type such as protobuf (415), an `Accept` without JSON
(406), an unknown type or a missing field (400), an unknown agent or
framework (400, as Mesos answers), a call Mesos has that pyactors does not
serve (501), a denied ACL (403). A standby answers 307 to the leader
(`pyactors.api.http`'s redirecting middleware).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import orjson
from aiohttp import web

from pyactors._core import Resources
from pyactors.api import maintenance_routes, state_json, state_view
from pyactors.api.access import Viewer
from pyactors.api.auth import principal_of
from pyactors.api.state_json import About
from pyactors.api.v1 import compat, mesos_json, operator_json, recordio
from pyactors.api.v1.mesos_json import V1FormatError, array, id_value, number, obj, text
from pyactors.api.v1.operator_events import HEARTBEAT, OperatorEvents, StreamClosed
from pyactors.core.allocator import Allocator
from pyactors.core.protocol import Effect
from pyactors.errors import NotLeaderError, UnknownAgentError, UnknownFrameworkError
from pyactors.master.maintenance import (
    MachineId,
    MaintenanceError,
    machine_ids_from_json,
    windows_from_json,
)
from pyactors.master.state import MasterState

PATH = "/api/v1"
JSON = "application/json"

Change = Callable[[MasterState, float], list[Effect]]
# A read's body from the state as the caller may see it.
Shape = Callable[[MasterState, About], Mapping[str, Any]]


class OperatorHost(Protocol):
    """What the operator API needs from the master serving it (a subset of
    `pyactors.api.http.Host`)."""

    operator_events: OperatorEvents

    def leading_state(self) -> MasterState | None: ...

    def about(self) -> About: ...

    def operate(self, change: Change) -> None: ...

    def teardown_framework(self, framework_id: str, principal: str | None) -> None: ...


class CallError(Exception):
    """A call refused before anything changed: its HTTP status and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# Mesos's calls pyactors does not serve (501 rather than "unknown").
NOT_SERVED = frozenset(
    {
        "GET_LOGGING_LEVEL",
        "SET_LOGGING_LEVEL",
        "LIST_FILES",
        "READ_FILE",
        "GET_OPERATIONS",
        "GROW_VOLUME",
        "SHRINK_VOLUME",
        "DEACTIVATE_AGENT",
        "SET_QUOTA",
        "REMOVE_QUOTA",
        "MARK_AGENT_GONE",
    }
)


def read_call(request_body: bytes) -> tuple[str, Mapping[str, Any]]:
    """The call's type and its body's field (`{}` if absent): CallError 400
    for what is not a v1 master `Call`."""
    try:
        call = orjson.loads(request_body)
    except orjson.JSONDecodeError as error:
        raise CallError(400, f"Failed to parse body into JSON: {error}") from None
    if not isinstance(call, dict):
        raise CallError(400, "Failed to convert JSON into Call protobuf: not a JSON object")
    kind = call.get("type")
    if not isinstance(kind, str):
        raise CallError(400, "Failed to validate master::Call: Expecting 'type' to be present")
    if kind not in CALLS and kind not in NOT_SERVED and kind != "SUBSCRIBE":
        raise CallError(
            400, f"Failed to convert JSON into Call protobuf: unknown call type {kind!r}"
        )
    body = call.get(kind.lower(), {})
    if not isinstance(body, dict):
        raise CallError(400, f"Failed to validate master::Call: '{kind.lower()}' must be an object")
    return kind, body


def _required(body: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    if not body:
        raise CallError(
            400, f"Failed to validate master::Call: Expecting '{kind.lower()}' to be present"
        )
    return body


def accepts_json(accept: str | None) -> bool:
    """Whether an `Accept` header (absent: anything) allows JSON."""
    if accept is None or not accept.strip():
        return True
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() in (JSON, "application/*", "*/*") and "q=0" not in params:
            return True
    return False


# ------------------------------------------------------------------ arguments


def duration_seconds(value: Any, what: str) -> float:
    """A `google.protobuf.Duration` in JSON: `"600s"` (protobuf's mapping)
    or `{"seconds", "nanos"}` (as Mesos's docs write it)."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            seconds = float(value[:-1])
        except ValueError:
            raise V1FormatError(f"{what} must be a duration such as '600s'") from None
    else:
        duration = obj(value, what)
        seconds = number(duration.get("seconds", 0), f"{what}.seconds")
        seconds += number(duration.get("nanos", 0), f"{what}.nanos") / 1e9
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise V1FormatError(f"{what} must be a non-negative duration")
    return seconds


def weights_from_v1(body: Mapping[str, Any]) -> list[tuple[str, float]]:
    infos = array(body.get("weight_infos"), "update_weights.weight_infos")
    if not infos:
        raise V1FormatError("update_weights.weight_infos must name at least one role")
    weights = []
    for index, raw in enumerate(infos):
        info = obj(raw, f"weight_infos[{index}]")
        role = text(info.get("role"), f"weight_infos[{index}].role")
        weights.append((role, number(info.get("weight"), f"weight_infos[{index}].weight")))
    return weights


def _quantity_text(value: Any, what: str, zero_ok: bool) -> str:
    """`map<string, Value.Scalar>` as quota text (`cpus:1;mem:64`). Quota
    text cannot hold a zero (resource text drops it), so a zero limit,
    which would become no limit at all, is refused."""
    parts = []
    for name, scalar in obj(value, what).items():
        amount = number(obj(scalar, f"{what}.{name}").get("value"), f"{what}.{name}.value")
        if amount < 0 or (amount == 0 and not zero_ok):
            raise V1FormatError(
                f"{what}.{name} must be {'non-negative' if zero_ok else 'positive'}"
            )
        parts.append(f"{name}:{amount:g}")
    return ";".join(parts)


def quota_configs_from_v1(body: Mapping[str, Any]) -> list[tuple[str, str, str | None]]:
    """(role, guarantee, limit) per `QuotaConfig`: no limits is no limit,
    and a config with neither removes the role's quota (Mesos's defaults)."""
    configs = array(body.get("quota_configs"), "update_quota.quota_configs")
    out, roles = [], set()
    for index, raw in enumerate(configs):
        what = f"quota_configs[{index}]"
        config = obj(raw, what)
        role = text(config.get("role"), f"{what}.role")
        if role in roles:
            raise V1FormatError(f"{what}: role '{role}' is configured twice")
        roles.add(role)
        guarantee = _quantity_text(config.get("guarantees", {}), f"{what}.guarantees", True)
        limits = config.get("limits")
        limit = None if limits is None else _quantity_text(limits, f"{what}.limits", False)
        out.append((role, guarantee, limit))
    return out


def _agent_resources(body: Mapping[str, Any], kind: str, listed: str) -> tuple[str, Resources]:
    where = kind.lower()
    agent_id = id_value(body.get("agent_id"), f"{where}.agent_id")
    resources = mesos_json.resources_from_v1(body.get(listed), f"{where}.{listed}")
    if resources.is_empty():
        raise V1FormatError(f"{where}.{listed} must not be empty")
    return agent_id, resources


# ------------------------------------------------------------------ the calls


class _Call:
    """One request's call, with what it reads from the master."""

    def __init__(self, host: OperatorHost, request: web.Request, kind: str, body: Any) -> None:
        self.host, self.request, self.kind, self.body = host, request, kind, body
        self.principal = principal_of(request)

    def leading(self) -> MasterState:
        state = self.host.leading_state()
        if state is None:
            raise NotLeaderError("this master is not the leader")
        return state

    def viewer(self) -> Viewer:
        return Viewer(self.leading().config.acls, self.principal)

    def answer(self, body: Mapping[str, Any] | None) -> web.Response:
        return _json(operator_json.response(self.kind, body))

    async def rendered(self, shape: Shape, allocator: bool = False) -> web.Response:
        """A read of the state as the caller may see it, rendered off the
        master's loop (`pyactors.api.state_view`); `allocator`: the shape
        reads the allocator's snapshot."""
        kind = self.kind

        def answer(state: MasterState, about: About) -> dict[str, Any]:
            return operator_json.response(kind, shape(state, about))

        body = await state_view.rendered(
            self.leading(), answer, self.viewer(), self.host.about(), allocator
        )
        return web.Response(body=body, content_type=JSON)

    def operate(self, change: Change, status: int) -> web.Response:
        try:
            self.host.operate(change)
        except (UnknownAgentError, UnknownFrameworkError) as error:
            # Mesos answers 400 for an id it does not know.
            raise CallError(400, str(error)) from None
        return web.Response(status=status)


Handler = Callable[[_Call], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type=JSON)


async def _get_health(call: _Call) -> web.Response:
    call.leading()
    return call.answer({"healthy": True})


async def _get_flags(call: _Call) -> web.Response:
    return call.answer(operator_json.get_flags(call.leading().config))


async def _get_version(call: _Call) -> web.Response:
    call.leading()
    return call.answer(operator_json.get_version(compat.version_json()))


async def _get_metrics(call: _Call) -> web.Response:
    # As /metrics/snapshot: every framework's counts, to every caller.
    snapshot = await state_view.metrics(call.leading(), call.host.about())
    return call.answer(operator_json.get_metrics(snapshot))


async def _get_state(call: _Call) -> web.Response:
    return await call.rendered(operator_json.get_state)


async def _get_agents(call: _Call) -> web.Response:
    return await call.rendered(operator_json.get_agents)


async def _get_frameworks(call: _Call) -> web.Response:
    return await call.rendered(operator_json.get_frameworks)


async def _get_executors(call: _Call) -> web.Response:
    return await call.rendered(operator_json.get_executors)


async def _get_tasks(call: _Call) -> web.Response:
    return await call.rendered(operator_json.get_tasks)


async def _get_roles(call: _Call) -> web.Response:
    return await call.rendered(lambda state, about: operator_json.get_roles(state), True)


async def _get_weights(call: _Call) -> web.Response:
    return call.answer(operator_json.get_weights(call.leading()))


async def _get_quota(call: _Call) -> web.Response:
    return call.answer(operator_json.get_quota(call.leading()))


async def _get_master(call: _Call) -> web.Response:
    call.leading()
    about = call.host.about()
    sockname = call.request.transport and call.request.transport.get_extra_info("sockname")
    port = int(sockname[1]) if sockname else 0
    info = mesos_json.master_info(about.id, about.hostname, port, compat.MESOS_VERSION)
    return call.answer(
        {"master_info": info, "start_time": about.start_time, "elected_time": about.elected_time}
    )


async def _update_weights(call: _Call) -> web.Response:
    call.leading()
    weights = weights_from_v1(_required(call.body, call.kind))

    def change(state: MasterState, now: float) -> list[Effect]:
        state.set_weights(weights, call.principal)
        return []

    return call.operate(change, 200)


async def _update_quota(call: _Call) -> web.Response:
    call.leading()
    configs = quota_configs_from_v1(_required(call.body, call.kind))

    def change(state: MasterState, now: float) -> list[Effect]:
        # All or none: every config is authorized and checked (on a scratch
        # allocator) before the first is stored.
        scratch = Allocator()
        for role, guarantee, limit in configs:
            state.config.acls.check("update_quotas", call.principal, role)
            scratch.set_quota(role, guarantee, limit)
        for role, guarantee, limit in configs:
            state.set_quota(role, guarantee, limit, call.principal)
        return []

    return call.operate(change, 200)


def _on_agent(
    listed: str, apply: Callable[[MasterState, str, Resources, str | None], None]
) -> Handler:
    """RESERVE_RESOURCES and the like: `listed` resources on one agent."""

    async def handler(call: _Call) -> web.Response:
        call.leading()
        agent_id, resources = _agent_resources(_required(call.body, call.kind), call.kind, listed)

        def change(state: MasterState, now: float) -> list[Effect]:
            apply(state, agent_id, resources, call.principal)
            return []

        return call.operate(change, 202)

    return handler


async def _drain_agent(call: _Call) -> web.Response:
    call.leading()
    body = _required(call.body, call.kind)
    agent_id = id_value(body.get("agent_id"), "drain_agent.agent_id")
    grace = body.get("max_grace_period")
    seconds = None if grace is None else duration_seconds(grace, "drain_agent.max_grace_period")
    if body.get("mark_gone", False) is not False:
        raise CallError(400, "drain_agent.mark_gone is not supported: agents are never marked gone")
    principal = call.principal
    return call.operate(lambda state, now: state.drain_agent(agent_id, seconds, principal), 200)


async def _reactivate_agent(call: _Call) -> web.Response:
    call.leading()
    agent_id = id_value(_required(call.body, call.kind).get("agent_id"), "agent_id")

    def change(state: MasterState, now: float) -> list[Effect]:
        state.reactivate_agent(agent_id, call.principal)
        return []

    return call.operate(change, 200)


async def _get_maintenance_schedule(call: _Call) -> web.Response:
    book = call.leading().maintenance_book
    return call.answer({"schedule": book.schedule_json(call.principal)})


async def _get_maintenance_status(call: _Call) -> web.Response:
    book = call.leading().maintenance_book
    status = book.status_json(call.principal, maintenance_routes.wall_offset())
    return call.answer({"status": status})


def _maintained(call: _Call, change: Callable[[Mapping[str, Any]], Change]) -> web.Response:
    """A maintenance change made of the call's body: what it refuses is 400
    with Mesos's message, nothing changed."""
    call.leading()
    try:
        return call.operate(change(_required(call.body, call.kind)), 200)
    except MaintenanceError as error:
        raise CallError(400, str(error)) from None


def _machines(body: Mapping[str, Any]) -> tuple[MachineId, ...]:
    return machine_ids_from_json(body.get("machines", []))


async def _update_maintenance_schedule(call: _Call) -> web.Response:
    def change(body: Mapping[str, Any]) -> Change:
        windows = windows_from_json(body.get("schedule", {}))
        return lambda state, now: state.maintenance_book.update_schedule(windows, call.principal)

    return _maintained(call, change)


async def _start_maintenance(call: _Call) -> web.Response:
    def change(body: Mapping[str, Any]) -> Change:
        machines = _machines(body)
        return lambda state, now: state.start_maintenance(machines, now, call.principal)

    return _maintained(call, change)


async def _stop_maintenance(call: _Call) -> web.Response:
    def change(body: Mapping[str, Any]) -> Change:
        machines = _machines(body)
        return lambda state, now: state.maintenance_book.stop(machines, call.principal)

    return _maintained(call, change)


async def _teardown(call: _Call) -> web.Response:
    call.leading()
    framework_id = id_value(_required(call.body, call.kind).get("framework_id"), "framework_id")
    try:
        call.host.teardown_framework(framework_id, call.principal)
    except UnknownFrameworkError as error:
        raise CallError(400, str(error)) from None
    return web.Response(status=200)


CALLS: Mapping[str, Handler] = {
    "GET_HEALTH": _get_health,
    "GET_FLAGS": _get_flags,
    "GET_VERSION": _get_version,
    "GET_METRICS": _get_metrics,
    "GET_STATE": _get_state,
    "GET_AGENTS": _get_agents,
    "GET_FRAMEWORKS": _get_frameworks,
    "GET_EXECUTORS": _get_executors,
    "GET_TASKS": _get_tasks,
    "GET_ROLES": _get_roles,
    "GET_WEIGHTS": _get_weights,
    "GET_QUOTA": _get_quota,
    "GET_MASTER": _get_master,
    "UPDATE_WEIGHTS": _update_weights,
    "UPDATE_QUOTA": _update_quota,
    "RESERVE_RESOURCES": _on_agent("resources", MasterState.reserve),
    "UNRESERVE_RESOURCES": _on_agent("resources", MasterState.unreserve),
    "CREATE_VOLUMES": _on_agent("volumes", MasterState.create_volumes),
    "DESTROY_VOLUMES": _on_agent("volumes", MasterState.destroy_volumes),
    "DRAIN_AGENT": _drain_agent,
    "REACTIVATE_AGENT": _reactivate_agent,
    "TEARDOWN": _teardown,
    "GET_MAINTENANCE_SCHEDULE": _get_maintenance_schedule,
    "GET_MAINTENANCE_STATUS": _get_maintenance_status,
    "UPDATE_MAINTENANCE_SCHEDULE": _update_maintenance_schedule,
    "START_MAINTENANCE": _start_maintenance,
    "STOP_MAINTENANCE": _stop_maintenance,
}


# ------------------------------------------------------------------ SUBSCRIBE


async def _subscribe(call: _Call) -> web.StreamResponse:
    """The event stream, until the client leaves or the stream is closed."""
    state = call.leading()
    events = call.host.operator_events
    viewer = call.viewer()
    subscriber = events.subscribe(state, viewer)
    # The state at the moment of subscribing, rendered off the loop: what
    # changes after it comes as events.
    view = state_view.take(state, allocator=False)

    def subscribed(seen: MasterState, about: About) -> dict[str, Any]:
        body = {
            "get_state": operator_json.get_state(seen, about),
            "heartbeat_interval_seconds": operator_json.HEARTBEAT_INTERVAL_SECONDS,
        }
        return operator_json.event("SUBSCRIBED", body)

    about = call.host.about()
    try:
        first = await asyncio.to_thread(state_view.encode, subscribed, viewer, view, about)
    except BaseException:
        events.unsubscribe(subscriber)
        raise
    stream = web.StreamResponse(status=200, headers={"Content-Type": JSON})
    stream.enable_chunked_encoding()
    try:
        await stream.prepare(call.request)
        await stream.write(recordio.encode(first) + HEARTBEAT)
        # A heartbeat every interval, events or not, as Mesos's timer sends them.
        loop, interval = asyncio.get_running_loop(), operator_json.HEARTBEAT_INTERVAL_SECONDS
        beat_at = loop.time() + interval
        while True:
            records = await subscriber.next(max(0.0, beat_at - loop.time()))
            if loop.time() >= beat_at:
                if call.host.leading_state() is not state:
                    # Stepped down with no change to tell of since: the
                    # client must find the new leader.
                    break
                records.append(HEARTBEAT)
                beat_at = loop.time() + interval
            if records:  # an empty chunk would end the stream
                await stream.write(b"".join(records))
    except (StreamClosed, ConnectionError):
        pass
    finally:
        events.unsubscribe(subscriber)
    with contextlib.suppress(ConnectionError):
        await stream.write_eof()
    return stream


# ------------------------------------------------------------------ the route


def add_routes(app: web.Application, host: OperatorHost) -> None:
    """`POST /api/v1` on `app` (behind its guards, authentication and
    redirecting middlewares)."""

    async def api(request: web.Request) -> web.StreamResponse:
        if host.leading_state() is None:
            raise NotLeaderError("this master is not the leader")
        try:
            kind, body = await _read(request)
            call = _Call(host, request, kind, body)
            if kind == "SUBSCRIBE":
                return await _subscribe(call)
            if kind in NOT_SERVED:
                raise CallError(501, f"{kind} is not served by this master")
            return await CALLS[kind](call)
        except CallError as error:
            return _refusal(error.status, str(error))
        except V1FormatError as error:
            return _refusal(400, f"Failed to validate master::Call: {error}")

    async def end_streams(app: web.Application) -> None:
        # Before the server waits for its handlers to finish: streams never do.
        host.operator_events.close_all("the master's HTTP API is stopping")

    app.router.add_post(PATH, api)
    app.on_shutdown.append(end_streams)


def _refusal(status: int, message: str) -> web.Response:
    """Mesos's message, in the body every refusal of the API has."""
    kind = {400: "invalid_call", 406: "not_acceptable", 415: "unsupported_media_type"}.get(
        status, "not_served"
    )
    return _json(state_json.error_json(status, kind, message), status)


async def _read(request: web.Request) -> tuple[str, Mapping[str, Any]]:
    if "Content-Type" not in request.headers:
        raise CallError(400, "Expecting 'Content-Type' to be present")
    if request.content_type != JSON:
        raise CallError(
            415,
            f"Expecting 'Content-Type' of {JSON}: this master speaks Mesos's v1 API in JSON "
            f"only, not {request.content_type}",
        )
    if not accepts_json(request.headers.get("Accept")):
        raise CallError(406, f"Expecting 'Accept' to allow '{JSON}': this master answers in JSON")
    return read_call(await request.read())
