"""`POST /api/v1/scheduler`: Mesos's v1 scheduler HTTP API, JSON only, as
Mesos's master serves it (src/master/http.cpp, `Master::Http::scheduler`);
and `GET /version`, which Mesos's clients read first.

SUBSCRIBE answers 200 with a chunked RecordIO stream of events
(`Content-Type: application/json`, `Mesos-Stream-Id`): SUBSCRIBED and a
first HEARTBEAT at once, then OFFERS, RESCIND, UPDATE, MESSAGE, FAILURE,
ERROR and HEARTBEAT as the master sends them. A subscription that the
master refuses (credentials, ACLs, a torn-down id) is answered, as in Mesos,
with a stream holding one ERROR event. Every other call names its
framework and carries the stream's id in `Mesos-Stream-Id`, and answers
202 at once, its effects following on the stream. The framework is relayed
by `pyactors.master.http_frameworks`: a framework like any other.

Refused before anything changes: a standby answers 307 to the leader; a
body that is not JSON 415 (protobuf is not served); a malformed or invalid
call, a missing or wrong stream id, a call for a framework this master does
not know 400 with Mesos's message; a framework not subscribed (or not over
HTTP) 403. Acknowledgements of updates the master does not know (already
acknowledged, or of a task it forgot) answer 202 and do nothing, as in
Mesos: clients treat any other answer as fatal.

With credentials, a framework authenticates with HTTP Basic as its
principal; `FrameworkInfo.principal`, if given, must be that principal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from typing import Any, Protocol

import orjson
from aiohttp import web

from pyactors.api.auth import principal_of
from pyactors.api.v1 import recordio, scheduler_events
from pyactors.api.v1.compat import MESOS_VERSION
from pyactors.api.v1.scheduler_calls import CallError, SchedulerCall, parse_call
from pyactors.core.protocol import Acknowledge, Call
from pyactors.errors import NotLeaderError, PyactorsError
from pyactors.master.http_frameworks import HttpFrameworks, Subscription
from pyactors.master.records import TaskRecord
from pyactors.master.state import MasterState
from pyactors.security.credentials import basic_credentials

STREAM_ID = "Mesos-Stream-Id"
JSON = "application/json"
# How often a stream's writer looks whether its client, its term and its
# framework are still there while no event comes.
POLL_SECONDS = 1.0


class SchedulerHost(Protocol):
    """What the endpoint needs of the master serving it."""

    @property
    def http_frameworks(self) -> HttpFrameworks | None:
        """The relay (None: this server hosts no frameworks)."""

    def leading_state(self) -> MasterState | None: ...

    def master_info(self) -> dict[str, Any]:
        """Mesos's MasterInfo of this master."""


def _text(status: int, message: str) -> web.Response:
    """Mesos answers its scheduler API's refusals as text; pyactors as every
    API error, JSON with Mesos's message."""
    kind = {400: "bad_request", 403: "forbidden", 406: "not_acceptable", 415: "unsupported"}
    body = {"code": status, "error": kind.get(status, "error"), "message": message}
    return web.Response(body=orjson.dumps(body), status=status, content_type=JSON)


def add_routes(app: web.Application, host: SchedulerHost) -> None:
    app.router.add_post("/api/v1/scheduler", functools.partial(_scheduler, host))


async def _scheduler(host: SchedulerHost, request: web.Request) -> web.StreamResponse:
    state = host.leading_state()
    if state is None:
        raise NotLeaderError("this master is not the leader")
    frameworks = host.http_frameworks
    if frameworks is None:
        raise NotLeaderError("this server hosts no frameworks")
    if "Content-Type" not in request.headers:
        return _text(400, "Expecting 'Content-Type' to be present")
    if request.content_type != JSON:
        return _text(415, f"Expecting 'Content-Type' of {JSON} (protobuf is not served: send JSON)")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as error:
        return _text(400, f"Failed to parse body into JSON: {error}")
    try:
        call = parse_call(body, time.monotonic())
    except CallError as error:
        return _text(400, str(error))
    principal = principal_of(request)
    if call.type == "SUBSCRIBE":
        return await _subscribe(host, frameworks, state, call, request, principal)
    return await _call(frameworks, state, call, request, principal)


def _accepts_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept")
    if accept is None:
        return True
    types = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return bool(types & {JSON, "application/*", "*/*"})


async def _subscribe(
    host: SchedulerHost,
    frameworks: HttpFrameworks,
    state: MasterState,
    call: SchedulerCall,
    request: web.Request,
    principal: str | None,
) -> web.StreamResponse:
    if not _accepts_json(request):
        return _text(406, f"Expecting 'Accept' to allow '{JSON}'")
    if STREAM_ID in request.headers:
        return _text(400, f"Subscribe calls should not include the '{STREAM_ID}' header")
    info = call.framework_info
    assert info is not None
    if principal is not None and info.principal not in (None, principal):
        return _text(
            400,
            f"Failed to validate scheduler::Call: Authenticated principal '{principal}' does "
            f"not match principal '{info.principal}' set in `FrameworkInfo`",
        )
    info = dataclasses.replace(info, principal=principal or info.principal)
    given = basic_credentials(request.headers.get("Authorization"))
    secret = given[1] if given is not None and given[0] == info.principal else None
    try:
        subscription = await frameworks.subscribe(info, state, info.principal, secret)
    except NotLeaderError:
        raise
    except PyactorsError as error:
        return await _refused(request, str(error))
    master_info = {**host.master_info(), "version": MESOS_VERSION}
    first = [
        scheduler_events.subscribed(
            subscription.framework_id, frameworks.heartbeat_interval, master_info
        ),
        scheduler_events.HEARTBEAT,
    ]
    response = _stream(subscription.stream_id)
    await response.prepare(request)
    try:
        await response.write(_records(first))
        await _relay(host, subscription, request, response)
    except (ConnectionError, asyncio.CancelledError):
        subscription.client_gone()
        raise
    finally:
        frameworks.forget(subscription)
    return response


def _stream(stream_id: str) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={STREAM_ID: stream_id})
    response.content_type = JSON
    response.enable_chunked_encoding()
    return response


def _records(events: list[dict[str, Any]]) -> bytes:
    return recordio.encode_all(orjson.dumps(event) for event in events)


async def _refused(request: web.Request, message: str) -> web.StreamResponse:
    """A subscription the master refused: one ERROR event, and the end."""
    response = _stream("")
    await response.prepare(request)
    await response.write(_records([scheduler_events.error(message)]))
    await response.write_eof()
    return response


async def _relay(
    host: SchedulerHost,
    subscription: Subscription,
    request: web.Request,
    response: web.StreamResponse,
) -> None:
    """Write the subscription's events as they come, a batch per write,
    until it ends; ConnectionError when the client has gone."""
    while True:
        batch = await subscription.next_batch(POLL_SECONDS)
        if batch:
            await response.write(_records(batch))
        if subscription.ended:
            rest = await subscription.next_batch(0)
            if rest:
                await response.write(_records(rest))
            await response.write_eof()
            return
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client closed the stream")
        if host.leading_state() is not subscription.term:
            subscription.end("this master no longer leads")
        elif subscription.framework_id not in subscription.term.frameworks:
            subscription.end("the framework was removed")


async def _call(
    frameworks: HttpFrameworks,
    state: MasterState,
    call: SchedulerCall,
    request: web.Request,
    principal: str | None,
) -> web.Response:
    framework_id = call.framework_id
    assert framework_id is not None
    record = state.frameworks.get(framework_id)
    if record is None:
        return _text(400, "Framework cannot be found")
    if principal is not None and principal != record.principal:
        return _text(
            400,
            f"Authenticated principal '{principal}' does not match principal "
            f"'{record.principal}' set in `FrameworkInfo`",
        )
    subscription = frameworks.current(framework_id)
    if not record.connected:
        return _text(403, "Framework is not subscribed")
    if subscription is None or subscription.ended:
        return _text(403, "Framework is not connected via HTTP")
    stream_id = request.headers.get(STREAM_ID)
    if stream_id is None:
        return _text(400, f"All non-subscribe calls should include the '{STREAM_ID}' header")
    if stream_id != subscription.stream_id:
        return _text(
            400,
            f"The stream ID '{stream_id}' included in this request didn't match the stream ID "
            f"currently associated with framework ID {framework_id}",
        )
    if call.type == "UNKNOWN":
        return web.Response(status=501)
    if call.refused_tasks:
        subscription.push([scheduler_events.update(s, 0.0) for s in call.refused_tasks])
    if call.dropped_operations:
        subscription.push(
            [scheduler_events.operation_error(i, why) for i, why in call.dropped_operations]
        )
    calls = _known_acknowledgements(state, framework_id, call.calls)
    if calls:
        await frameworks.carry_out(subscription, (framework_id, calls))
    if call.type == "TEARDOWN":
        subscription.end("the framework tore itself down")
    if call.type == "RECONCILE_OPERATIONS":
        reconciled = {"type": "RECONCILE_OPERATIONS", "reconcile_operations": {}}
        return web.Response(body=orjson.dumps(reconciled), content_type=JSON)
    return web.Response(status=202)


def _known_acknowledgements(state: MasterState, framework_id: str, calls: list[Call]) -> list[Call]:
    """The calls without acknowledgements of tasks the master does not hold
    for this framework: Mesos drops those (a client acknowledges what it
    got, and a duplicate may come after the task was forgotten)."""
    kept: list[Call] = []
    for call in calls:
        if isinstance(call, Acknowledge):
            known = [
                (task_id, uuid)
                for task_id, uuid in call.acknowledgements
                if _held_for(state.task_book.find(task_id), framework_id)
            ]
            if not known:
                continue
            call = Acknowledge(known)
        kept.append(call)
    return kept


def _held_for(record: TaskRecord | None, framework_id: str) -> bool:
    return record is not None and record.framework_id == framework_id
