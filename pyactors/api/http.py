"""The leading master's HTTP API (aiohttp), served inside the master actor's
own event loop: handlers read the state between messages, never during one.

Reads (Mesos's v0 endpoints and JSON shapes, from `pyactors.api.state_json`):
`/master/state` (`/state`), `/master/state-summary`, `/master/roles`,
`/master/tasks`, `/master/frameworks`, `/master/slaves`, `/master/quota`,
`/master/weights`, `/health`, `/metrics/snapshot`, and `/metrics` in
Prometheus's text format (`pyactors.api.metrics`).

Operator calls take JSON bodies and are checked whole before anything
changes; a refused one is a 4xx whose JSON body names the problem
(`{"code", "error", "message"}`):

- `POST /master/quota` `{"role", "guarantee", "limit"}` (resource text or a
  name -> amount object; `limit` may be null); `DELETE /master/quota/{role}`
- `POST|PUT /master/weights` `[{"role", "weight"}, ...]` (all or none)
- `POST /master/teardown` `{"framework_id"}` (or Mesos's form `frameworkId=`)
- `POST /master/kill` `{"task_id", "framework_id"?}`
- `POST /master/reserve`, `/master/unreserve` `{"agent_id", "resources"}`
  (resource text such as "cpus(web):1", or Mesos's list form)
- `POST /master/create-volumes`, `/master/destroy-volumes` `{"agent_id",
  "volumes"}` (e.g. "disk(web)[data]:64")
- `POST /master/maintenance/drain` `{"agent_id", "grace_period_seconds"?}`:
  no more offers from the agent, its tasks killed with that grace period;
  `POST /master/maintenance/reactivate` `{"agent_id"}` ends it;
  `GET /master/maintenance` lists the agents under maintenance (DRAINING,
  then DRAINED once no task holds resources there)
- Mesos's maintenance primitives (`pyactors.api.maintenance_routes`):
  `GET|POST /master/maintenance/schedule`, `GET /master/maintenance/status`,
  `POST /master/machine/down`, `POST /master/machine/up`

Task logs and sandbox files, read by the task's agent wherever it runs:
`GET /tasks/{task_id}/logs/stdout|stderr?offset=N&length=M` and Mesos's
`GET /files/read?path=TASK_ID/FILE`, answering `{"data", "offset",
"next_offset"}` (offset -1: the size). `GET /monitor/statistics`: running
tasks' CPU times, resident memory and limits (Mesos's shape).

Mesos's v1 operator API, `POST /api/v1` (JSON `Call`s, a RecordIO event
stream for SUBSCRIBE), is `pyactors.api.v1.operator`'s.

`/openapi.json` describes all of it (`pyactors.api.openapi`).

Every request first passes the guards (`pyactors.api.guards`: a foreign
Host 421, a change from another origin 403, a body that is not JSON 415,
nosniff on every answer), then, on a master with credentials,
authentication (`pyactors.api.auth`: HTTP Basic or a bearer token from
`POST /auth/token`; 401 otherwise; `/health` and the UI's static files are
public). Operator calls are authorized by the master's ACLs (403 naming the
ACL, nothing changed); reads show only what the caller's view ACLs allow
(`pyactors.api.access`).

The web UI (`pyactors.api.webui`) is served at `/`, and `/master/shares`
gives the frameworks' dominant shares over the last minutes for its chart.

Mesos's v1 scheduler API, `POST /api/v1/scheduler` (frameworks such as
pymesos's, relayed as frameworks like any other), is
`pyactors.api.v1.scheduler`'s; `GET /version` and the `.json` names of the
state endpoints Mesos's older tools use are `pyactors.api.v1.compat`'s.

`/master/redirect` answers 307 with the leader's address; a standby
answers every request that needs the leader with a 307 to the same path
there (503 while no leader is known).

Every reply is orjson-encoded. Every master serves, leader or standby.
The state reads are copied on the loop and rendered in a worker thread
(`pyactors.api.state_view`), so a large one does not hold back the master.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

import orjson
from aiohttp import web

from pyactors._core import Resources
from pyactors.agent import sandbox_files
from pyactors.agent.sandbox_files import FileChunk
from pyactors.agent.task_process import STDERR, STDOUT
from pyactors.api import maintenance_routes, openapi, state_json, state_view, webui
from pyactors.api.access import Viewer
from pyactors.api.auth import Authenticator, Unauthenticated, principal_of, unauthorized
from pyactors.api.guards import Guards, nosniff
from pyactors.api.metrics import CONTENT_TYPE, MasterMetrics
from pyactors.api.v1 import compat as v1_compat
from pyactors.api.v1 import operator as v1_operator
from pyactors.api.v1 import scheduler as v1_scheduler
from pyactors.api.v1.operator_events import OperatorEvents
from pyactors.core.protocol import Effect
from pyactors.errors import (
    AgentUnreachableError,
    AuthorizationError,
    InvalidArgumentError,
    NotLeaderError,
    PyactorsError,
    ResourceError,
    SandboxGoneError,
    SandboxPathError,
    UnknownAgentError,
    UnknownFileError,
    UnknownFrameworkError,
    UnknownTaskError,
)
from pyactors.master import task_usage
from pyactors.master.http_frameworks import HttpFrameworks
from pyactors.master.share_history import ShareHistory
from pyactors.master.state import MasterState
from pyactors.security.credentials import Credentials

log = logging.getLogger(__name__)

Change = Callable[[MasterState, float], list[Effect]]


class Host(Protocol):
    """What the server needs from the master actor that runs it."""

    metrics: MasterMetrics
    share_history: ShareHistory
    # The v1 operator API's event subscribers, told of every change.
    operator_events: OperatorEvents

    def leading_state(self) -> MasterState | None:
        """The state while this master leads, else None."""

    def about(self) -> state_json.About: ...

    def operate(self, change: Change) -> None:
        """Apply an operator's change to the leading state and send its
        effects; NotLeaderError if this master does not (or no longer) lead."""

    def teardown_framework(self, framework_id: str, principal: str | None) -> None:
        """The operator's teardown, by `principal`, as its ACL allows."""

    def leader_url(self) -> str | None:
        """The leader's base address (this master's while it leads), if known."""

    async def read_task_file(
        self, task_id: str, name: str, offset: int, length: int | None
    ) -> FileChunk:
        """A chunk of a file in a task's sandbox, read by its agent."""

    @property
    def http_frameworks(self) -> HttpFrameworks | None:
        """The frameworks on Mesos's v1 scheduler API (None: this server
        hosts none)."""

    def master_info(self) -> dict[str, Any]:
        """Mesos's MasterInfo of this master."""


class RequestError(Exception):
    """A request the API refuses before anything changes."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (NotLeaderError, 503, "not_leader"),
    (AuthorizationError, 403, "forbidden"),
    (UnknownFrameworkError, 404, "unknown_framework"),
    (UnknownAgentError, 404, "unknown_agent"),
    (UnknownTaskError, 404, "unknown_task"),
    (SandboxPathError, 400, "invalid_path"),
    (UnknownFileError, 404, "unknown_file"),
    (SandboxGoneError, 404, "sandbox_gone"),
    (AgentUnreachableError, 503, "agent_unreachable"),
    (ResourceError, 400, "invalid_resources"),
    (InvalidArgumentError, 400, "invalid_argument"),
    (PyactorsError, 400, "refused"),
    (TypeError, 400, "invalid_argument"),
)


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error_response(status: int, kind: str, message: str) -> web.Response:
    return json_response(state_json.error_json(status, kind, message), status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _redirecting(host: Host) -> Any:
    """A standby sends every request that needs the leader on to it (307
    keeps the method and body), as Mesos's standbys do; with no leader
    known it answers 503."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except NotLeaderError:
            leader = host.leader_url()
            if leader is None or request.path == "/master/redirect":
                raise
            raise web.HTTPTemporaryRedirect(leader + request.path_qs) from None

    return middleware


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return error_response(error.status, error.reason.lower().replace(" ", "_"), error.reason)
    except RequestError as error:
        return error_response(error.status, error.kind, str(error))
    except Exception as error:
        for cls, status, kind in _ERRORS:
            if isinstance(error, cls):
                return error_response(status, kind, str(error))
        log.exception("HTTP %s %s failed", request.method, request.path)
        return error_response(500, "internal", f"{type(error).__name__}: {error}")


# ------------------------------------------------------------------ parsing


async def _body(request: web.Request) -> Any:
    """The JSON body (or, for a form post, its fields)."""
    if request.content_type == "application/x-www-form-urlencoded":
        return dict(await request.post())
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RequestError(400, "malformed_json", f"the body is not JSON: {error}") from None


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise RequestError(400, "invalid_argument", "the body must be a JSON object")
    return body


def _string(body: Mapping[str, Any], *names: str, required: bool = True) -> str | None:
    """The first of `names` present (Mesos's and pyactors' spellings)."""
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(value.get("value"), str):
            value = value["value"]  # Mesos's {"value": id} form
        if not isinstance(value, str) or not value:
            raise RequestError(400, "invalid_argument", f"{name} must be a non-empty string")
        return value
    if required:
        raise RequestError(400, "invalid_argument", f"missing field {names[0]!r}")
    return None


def _quota_text(value: Any, what: str) -> str:
    """Quota as resource text: text as given, or a name -> amount object."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        parts = []
        for name, amount in value.items():
            if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
                raise RequestError(
                    400, "invalid_argument", f"{what}: {name} must be a non-negative number"
                )
            parts.append(f"{name}:{amount}")
        return ";".join(parts)
    raise RequestError(400, "invalid_argument", f"{what} must be resource text or an object")


def _resources(value: Any) -> Resources:
    if isinstance(value, str):
        return Resources.parse(value)
    if isinstance(value, list):
        return Resources.from_json(value)
    raise RequestError(
        400, "invalid_argument", "resources must be resource text or Mesos's list form"
    )


def _int_query(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise RequestError(400, "invalid_argument", f"{name} must be an integer") from None
    if value < 0:
        raise RequestError(400, "invalid_argument", f"{name} must be non-negative")
    return value


# ------------------------------------------------------------------ the app


def make_app(
    host: Host, guards: Guards | None = None, authenticator: Authenticator | None = None
) -> web.Application:
    """The API's router; `guards` refuses foreign hosts, cross-site changes
    and non-JSON bodies (`pyactors.api.guards`), then `authenticator` lets
    in only callers with credentials, if it has any (`pyactors.api.auth`)."""
    guards = guards or Guards()
    authenticator = authenticator or Authenticator(None)

    def leading() -> MasterState:
        state = host.leading_state()
        if state is None:
            raise NotLeaderError("this master is not the leader")
        return state

    def viewer(request: web.Request) -> Viewer:
        return Viewer(leading().config.acls, principal_of(request))

    def seen(request: web.Request) -> MasterState:
        """The leading state as the caller may see it."""
        return viewer(request).state(leading())

    def read(shape: state_view.Shape, allocator: bool = False) -> Handler:
        """A read rendered off the loop (`pyactors.api.state_view`);
        `allocator`: the shape reads the allocator's snapshot."""

        async def handler(request: web.Request) -> web.Response:
            body = await state_view.rendered(
                leading(), shape, viewer(request), host.about(), allocator
            )
            return web.Response(body=body, content_type="application/json")

        return handler

    async def openapi_document(request: web.Request) -> web.Response:
        return json_response(openapi.document(authenticator.enabled))

    async def redirect(request: web.Request) -> web.Response:
        leader = host.leader_url()
        if leader is None:
            raise NotLeaderError("no leading master is known")
        raise web.HTTPTemporaryRedirect(leader)

    async def health(request: web.Request) -> web.Response:
        leading()
        return web.Response(status=200)

    async def tasks(request: web.Request) -> web.Response:
        shaped = state_json.tasks(
            seen(request),
            host.about(),
            framework_id=request.query.get("framework_id"),
            task_id=request.query.get("task_id"),
            limit=_int_query(request, "limit", 100),
            offset=_int_query(request, "offset", 0),
            order=request.query.get("order", "des"),
            task_state=request.query.get("state"),
        )
        return json_response(shaped)

    async def metrics_snapshot(request: web.Request) -> web.Response:
        return json_response(await state_view.metrics(leading(), host.about()))

    async def prometheus(request: web.Request) -> web.Response:
        # Its series name every framework.
        leading().config.acls.check("view_frameworks", principal_of(request), None)
        body = await host.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def quota(request: web.Request) -> web.Response:
        state = leading()
        return json_response(
            {
                "infos": [
                    {"role": q.role, "guarantee": q.guarantee, "limit": q.limit}
                    for q in state.quotas.values()
                ]
            }
        )

    async def set_quota(request: web.Request) -> web.Response:
        body = _object(await _body(request))
        role = _string(body, "role")
        assert role is not None
        guarantee = _quota_text(body.get("guarantee", ""), "guarantee")
        limit = None if body.get("limit") is None else _quota_text(body["limit"], "limit")

        def change(state: MasterState, now: float) -> list[Effect]:
            state.set_quota(role, guarantee, limit, principal_of(request))
            return []

        host.operate(change)
        return json_response({"role": role, "guarantee": guarantee, "limit": limit})

    async def remove_quota(request: web.Request) -> web.Response:
        role = request.match_info["role"]
        if role not in leading().quotas:
            raise RequestError(404, "unknown_quota", f"no quota is set for role '{role}'")

        def change(state: MasterState, now: float) -> list[Effect]:
            state.set_quota(role, "", None, principal_of(request))
            return []

        host.operate(change)
        return json_response({"role": role})

    async def weights(request: web.Request) -> web.Response:
        state = leading()
        return json_response([{"role": r, "weight": w} for r, w in sorted(state.weights.items())])

    async def set_weights(request: web.Request) -> web.Response:
        body = await _body(request)
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list) or not body:
            raise RequestError(400, "invalid_argument", "expected a list of {role, weight}")
        changes: list[tuple[str, float]] = []
        for item in body:
            item = _object(item)
            role, weight = _string(item, "role"), item.get("weight")
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise RequestError(400, "invalid_argument", f"weight of {role!r} must be a number")
            assert role is not None
            changes.append((role, float(weight)))

        def change(state: MasterState, now: float) -> list[Effect]:
            state.set_weights(changes, principal_of(request))
            return []

        host.operate(change)
        return json_response([{"role": r, "weight": w} for r, w in changes])

    async def teardown(request: web.Request) -> web.Response:
        body = _object(await _body(request))
        framework_id = _string(body, "framework_id", "frameworkId")
        assert framework_id is not None
        host.teardown_framework(framework_id, principal_of(request))
        return json_response({"framework_id": framework_id})

    async def kill(request: web.Request) -> web.Response:
        body = _object(await _body(request))
        task_id = _string(body, "task_id", "taskId")
        framework_id = _string(body, "framework_id", "frameworkId", required=False)
        assert task_id is not None
        principal = principal_of(request)
        host.operate(lambda state, now: state.operator_kill(task_id, framework_id, now, principal))
        return json_response({"task_id": task_id})

    def agent_operation(
        field: str, apply: Callable[[MasterState, str, Resources, str | None], None]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """An operation on one agent's available resources, named by `field`."""

        async def handler(request: web.Request) -> web.Response:
            body = _object(await _body(request))
            agent_id = _string(body, "agent_id", "slave_id", "slaveId")
            assert agent_id is not None
            resources = _resources(body.get(field))

            def change(state: MasterState, now: float) -> list[Effect]:
                apply(state, agent_id, resources, principal_of(request))
                return []

            host.operate(change)
            return json_response({"agent_id": agent_id, field: str(resources)})

        return handler

    async def drain(request: web.Request) -> web.Response:
        body = _object(await _body(request))
        agent_id = _string(body, "agent_id", "slave_id", "slaveId")
        assert agent_id is not None
        grace = body.get("grace_period_seconds")
        if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int | float)):
            raise RequestError(
                400, "invalid_argument", "grace_period_seconds must be a number of seconds"
            )
        principal = principal_of(request)
        host.operate(lambda state, now: state.drain_agent(agent_id, grace, principal))
        return json_response({"agent_id": agent_id, "grace_period_seconds": grace})

    async def reactivate(request: web.Request) -> web.Response:
        body = _object(await _body(request))
        agent_id = _string(body, "agent_id", "slave_id", "slaveId")
        assert agent_id is not None

        def change(state: MasterState, now: float) -> list[Effect]:
            state.reactivate_agent(agent_id, principal_of(request))
            return []

        host.operate(change)
        return json_response({"agent_id": agent_id})

    async def issue_token(request: web.Request) -> web.Response:
        if not authenticator.enabled:
            raise RequestError(400, "authentication_off", "this master requires no credentials")
        try:
            principal = authenticator.basic_principal(request)
        except Unauthenticated as error:
            # A token is had for a secret, never for another token.
            return unauthorized(request, str(error))
        token, expires = authenticator.tokens.issue(principal, authenticator.clock())
        return json_response({"principal": principal, "token": token, "expires": expires})

    app = web.Application(
        middlewares=[
            guards.middleware(),
            authenticator.middleware(),
            _errors,
            _redirecting(host),
        ]
    )
    app.on_response_prepare.append(nosniff)
    reads: dict[str, tuple[state_view.Shape, bool]] = {
        "state": (state_json.state, True),
        "state-summary": (state_json.state_summary, False),
        "frameworks": (state_json.frameworks, False),
        "slaves": (state_json.slaves, False),
        "roles": (lambda state, about: state_json.roles(state), True),
    }
    for name, (shape, allocator) in reads.items():
        app.router.add_get(f"/master/{name}", read(shape, allocator))
        app.router.add_get(f"/{name}", read(shape, allocator))
    app.router.add_get("/master/tasks", tasks)
    app.router.add_get("/tasks", tasks)
    app.router.add_get("/openapi.json", openapi_document)
    app.router.add_post("/auth/token", issue_token)
    app.router.add_get("/master/redirect", redirect)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/health", health)
    app.router.add_get("/master/health", health)
    app.router.add_get("/metrics/snapshot", metrics_snapshot)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/master/quota", quota)
    app.router.add_post("/master/quota", set_quota)
    app.router.add_delete("/master/quota/{role}", remove_quota)
    app.router.add_get("/master/weights", weights)
    app.router.add_post("/master/weights", set_weights)
    app.router.add_put("/master/weights", set_weights)
    app.router.add_post("/master/teardown", teardown)
    app.router.add_post("/master/kill", kill)
    app.router.add_post("/master/reserve", agent_operation("resources", MasterState.reserve))
    app.router.add_post("/master/unreserve", agent_operation("resources", MasterState.unreserve))
    app.router.add_post(
        "/master/create-volumes", agent_operation("volumes", MasterState.create_volumes)
    )
    app.router.add_post(
        "/master/destroy-volumes", agent_operation("volumes", MasterState.destroy_volumes)
    )
    app.router.add_get("/master/maintenance", read(state_json.maintenance))
    app.router.add_post("/master/maintenance/drain", drain)
    app.router.add_post("/master/maintenance/reactivate", reactivate)
    maintenance_routes.add_routes(app, leading, lambda change: host.operate(change))

    # The web UI, and the share history its chart draws.
    async def shares(request: web.Request) -> web.Response:
        state, visible = leading(), seen(request).frameworks
        names = {f.framework_id: f.name for f in state.frameworks.values()}
        history = host.share_history.to_json(names)
        if visible is not state.frameworks:
            history["series"] = [s for s in history["series"] if s["framework_id"] in visible]
        return json_response(history)

    app.router.add_get("/master/shares", shares)
    app.add_routes(webui.routes(leading))
    _add_sandbox_routes(app, host, leading, viewer)
    v1_scheduler.add_routes(app, host)
    v1_compat.add_routes(app)
    v1_operator.add_routes(app, host)
    return app


# ------------------------------------------------ task logs, sandbox files, usage


def _offset_query(request: web.Request) -> int:
    text = request.query.get("offset", "0")
    try:
        offset = int(text)
    except ValueError:
        raise RequestError(400, "invalid_argument", "offset must be an integer") from None
    if offset < -1:
        raise RequestError(400, "invalid_argument", "offset must be -1 (the size) or >= 0")
    return offset


def _chunk_json(chunk: FileChunk) -> dict[str, Any]:
    """Mesos's /files/read answer, plus where to read on (`data` is text:
    bytes that are not UTF-8 are replaced, so its length may differ)."""
    return {
        "data": chunk.data.decode("utf-8", "replace"),
        "offset": chunk.offset,
        "next_offset": chunk.next_offset,
    }


def _add_sandbox_routes(
    app: web.Application,
    host: Host,
    leading: Callable[[], MasterState],
    viewer: Callable[[web.Request], Viewer],
) -> None:
    """`GET /tasks/{task_id}/logs/stdout|stderr?offset=N&length=M` and
    Mesos's `GET /files/read?path=TASK_ID/FILE&offset=N&length=M` (any file
    of the sandbox): `{"data", "offset", "next_offset"}`; offset -1 answers
    the size. The task's agent reads it, wherever it is. Offsets count from
    the task's first byte, across log rotations.
    With `format=text` the answer is the chunk itself as text/plain (its
    next offset in `X-Next-Offset`), for a browser.
    `GET /monitor/statistics`: the running tasks' usage, Mesos's shape."""

    async def read(request: web.Request, task_id: str, name: str) -> web.Response:
        offset = _offset_query(request)
        length = None if "length" not in request.query else _int_query(request, "length", 0)
        # The agent checks again; refusing here spares the call.
        sandbox_files.check_name(name)
        viewer(request).check_sandbox(leading(), task_id)
        chunk = await host.read_task_file(task_id, name, offset, length)
        if request.query.get("format") == "text":
            # For a browser (the web UI's links): the bytes, shown as text.
            return web.Response(
                body=chunk.data,
                content_type="text/plain",
                charset="utf-8",
                headers={"X-Next-Offset": str(chunk.next_offset)},
            )
        return json_response(_chunk_json(chunk))

    async def task_log(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in (STDOUT, STDERR):
            raise RequestError(404, "unknown_file", f"no log {name!r}: stdout or stderr")
        return await read(request, request.match_info["task_id"], name)

    async def files_read(request: web.Request) -> web.Response:
        path = request.query.get("path", "")
        task_id, _, name = path.removeprefix("/").partition("/")
        if not task_id or not name:
            raise RequestError(400, "invalid_argument", "path must be TASK_ID/FILE")
        return await read(request, task_id, name)

    async def statistics(request: web.Request) -> web.Response:
        return json_response(task_usage.monitor_statistics(viewer(request).state(leading())))

    app.router.add_get("/tasks/{task_id}/logs/{name}", task_log)
    app.router.add_get("/files/read", files_read)
    app.router.add_get("/monitor/statistics", statistics)
    app.router.add_get("/monitor/statistics.json", statistics)


class HttpServer:
    """Starts and stops the API on `host:port` (port 0: a free one). Starts
    and stops run in the order asked."""

    def __init__(
        self,
        master: Host,
        host: str = "127.0.0.1",
        port: int = 0,
        hostnames: Iterable[str] = (),
        credentials: Credentials | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`hostnames`: the names, beside its addresses, that clients may
        reach this server by (a DNS name, a proxy's); `credentials`: who may
        call it (None: anyone); `ssl_context`: serve HTTPS with it. Tokens
        it issues stay good across restarts of the server, not of the
        master."""
        self.master, self.host, self.port = master, host, port
        self.guards = Guards(hostnames)
        self.authenticator = Authenticator(credentials)
        self.ssl_context = ssl_context
        self._lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._bound: tuple[str, int] | None = None
        self._error: str | None = None
        self._changed = asyncio.Event()

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) while serving."""
        return self._bound

    async def start(self) -> None:
        async with self._lock:
            if self._runner is not None:
                return
            runner = web.AppRunner(
                make_app(self.master, self.guards, self.authenticator), access_log=None
            )
            await runner.setup()
            site = web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context)
            try:
                await site.start()
            except OSError as error:
                await runner.cleanup()
                self._error = f"cannot serve HTTP on {self.host}:{self.port}: {error}"
                log.error("%s", self._error)
                self._changed.set()
                return
            server = site._server  # the bound sockets tell the port chosen
            assert isinstance(server, asyncio.base_events.Server)
            host, port = server.sockets[0].getsockname()[:2]
            self.guards.bind([self.host, str(host)], int(port))
            self._runner, self._bound, self._error = runner, (str(host), int(port)), None
            self._changed.set()

    async def stop(self) -> None:
        async with self._lock:
            runner, self._runner, self._bound = self._runner, None, None
            if runner is not None:
                await runner.cleanup()

    async def wait_bound(self, timeout: float = 10.0) -> tuple[str, int]:
        """The bound address, once the server started (a failure to bind
        raises PyactorsError)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._bound is None:
            if self._error is not None:
                raise PyactorsError(self._error)
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise NotLeaderError("the HTTP API is not serving")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue
        return self._bound
