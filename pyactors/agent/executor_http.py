"""Mesos's v1 executor HTTP API on the agent: `POST /api/v1/executor`.

An aiohttp server on the agent's event loop, on loopback unless told
otherwise; its address is every executor's MESOS_AGENT_ENDPOINT. A
restarted agent listens on the port its work dir recorded, so executors
that outlived it subscribe again at the same address. SUBSCRIBE answers
`200` with a chunked RecordIO stream of events (SUBSCRIBED first, then
LAUNCH, KILL, ACKNOWLEDGED, MESSAGE, SHUTDOWN, and HEARTBEAT every
`heartbeat_interval`); UPDATE, MESSAGE and HEARTBEAT calls answer `202`.
Refusals are Mesos's: 415 for another content type, 406 for a stream
the client does not accept as JSON, 400 for a call Mesos would not parse
or validate and for an executor or framework the agent does not run
("Executor cannot be found"), 403 for an executor being killed, 401 for
a wrong token. A browser's request (any `Origin`) is refused.

Authentication: a call carrying `Authorization: Bearer <token>` must
carry its executor's token (`executor_runs.Executors.token`); with
`require_authentication` (Mesos's `--authenticate_http_executors`) every
call must. pymesos sends none, so it is off by default, as in Mesos.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from pyactors.agent.executors import (
    ExecutorCallError,
    ExecutorTerminatingError,
    Key,
    UnknownExecutorError,
)
from pyactors.agent.state import AgentState
from pyactors.api.v1 import executor_json, recordio
from pyactors.api.v1.executor_json import ExecutorCall

log = logging.getLogger(__name__)

JSON = "application/json"
PORT_FILE = "executor_port"
# How often a stream looks whether its client has gone.
POLL_SECONDS = 0.5


@dataclass
class _Stream:
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)


class ExecutorApi:
    """The endpoint of one agent (`AgentState`), started by its actor."""

    def __init__(
        self,
        state: AgentState,
        agent_info: Callable[[int], dict[str, Any]],
        heartbeat_interval: float = 30.0,
        require_authentication: bool = False,
    ) -> None:
        """`agent_info(port)`: this agent's v1 AgentInfo."""
        self.state = state
        self.agent_info = agent_info
        self.heartbeat_interval = heartbeat_interval
        self.require_authentication = require_authentication
        self.port = 0
        self._streams: dict[Key, _Stream] = {}
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1") -> str:
        """Listen (on the recorded port if there is one and it is free);
        the endpoint's `host:port`, also given to `state.executors`."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/api/v1/executor", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port_file = Path(self.state.work_dir, PORT_FILE)
        recorded = _recorded_port(port_file)
        try:
            sock = _bind(host, recorded)
        except OSError:
            sock = _bind(host, 0)  # taken meanwhile: executors must be told anew
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.port = int(sock.getsockname()[1])
        port_file.parent.mkdir(parents=True, exist_ok=True)
        port_file.write_text(str(self.port))
        endpoint = f"{host}:{self.port}"
        self.state.executors.endpoint = endpoint
        return endpoint

    async def stop(self) -> None:
        for stream in self._streams.values():
            stream.queue.put_nowait(None)
        if self._runner is not None:
            await self._runner.cleanup()

    def flush(self) -> None:
        """Move the book's events onto the executors' streams."""
        events = self.state.executors.book.take_events()
        if not events:
            return
        agent = self.agent_info(self.port)
        user = self.state.identity.name
        for key, event in events:
            stream = self._streams.get(key)
            if stream is not None:
                stream.queue.put_nowait(executor_json.event_to_v1(event, key[0], agent, user))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if "Origin" in request.headers:
            return _text(403, "the executor API is not for browsers")
        if request.content_type != JSON:
            return _text(415, f"Expecting 'Content-Type' of {JSON}")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as error:
            return _text(400, f"Failed to parse body into Call protobuf: {error}")
        try:
            call = executor_json.parse_call(body)
        except executor_json.ExecutorCallError as error:
            return _text(400, str(error))
        refusal = self._authenticate(request, call.key)
        if refusal is not None:
            return refusal
        now = time.monotonic()
        try:
            match call.type:
                case "SUBSCRIBE":
                    return await self._subscribe(request, call, now)
                case "UPDATE":
                    assert call.status is not None  # parse_call read it
                    self.state.executor_update(call.key, call.status, now)
                case "MESSAGE":
                    self.state.executors.book.message_from(call.key, call.data)
                case "HEARTBEAT":
                    self.state.executors.book.heartbeat(call.key)
                case _:
                    return _text(501, "Received 'UNKNOWN' call")
        except (ExecutorCallError, UnknownExecutorError) as error:
            return _text(400, str(error))
        except ExecutorTerminatingError as error:
            return _text(403, str(error))
        return web.Response(status=202)

    def _authenticate(self, request: web.Request, key: Key) -> web.Response | None:
        header = request.headers.get("Authorization")
        if header is None:
            if self.require_authentication:
                return _unauthorized()
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not self.state.executors.authentic(key, token.strip()):
            return _unauthorized()
        return None

    async def _subscribe(
        self, request: web.Request, call: ExecutorCall, now: float
    ) -> web.StreamResponse:
        accept = request.headers.get("Accept")
        if accept is not None and not {
            p.split(";", 1)[0].strip().lower() for p in accept.split(",")
        } & {JSON, "application/*", "*/*"}:
            return _text(406, f"Expecting 'Accept' to allow '{JSON}'")
        stream = _Stream()
        earlier = self._streams.get(call.key)
        self._streams[call.key] = stream
        try:
            self.state.executor_subscribe(
                call.key, call.unacknowledged_tasks, call.unacknowledged_updates, now
            )
        except BaseException:
            self._streams.pop(call.key)
            if earlier is not None:
                self._streams[call.key] = earlier
            raise
        if earlier is not None:
            earlier.queue.put_nowait(None)  # a new subscription replaces it
        self.flush()
        response = web.StreamResponse(status=200)
        response.content_type = JSON
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            await self._relay(request, response, stream)
        finally:
            if self._streams.get(call.key) is stream:
                del self._streams[call.key]
                self.state.executors.book.disconnected(call.key, time.monotonic())
        return response

    async def _relay(
        self, request: web.Request, response: web.StreamResponse, stream: _Stream
    ) -> None:
        last_write = time.monotonic()
        while True:
            try:
                event = await asyncio.wait_for(stream.queue.get(), POLL_SECONDS)
            except TimeoutError:
                transport = request.transport
                if transport is None or transport.is_closing():
                    return
                if time.monotonic() - last_write < self.heartbeat_interval:
                    continue
                event = executor_json.heartbeat()
            if event is None:
                with contextlib.suppress(ConnectionError):
                    await response.write_eof()
                return
            await response.write(recordio.encode(orjson.dumps(event)))
            last_write = time.monotonic()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _recorded_port(path: Path) -> int:
    try:
        port = int(path.read_text().strip())
    except (OSError, ValueError):
        return 0
    return port if 0 < port < 65536 else 0


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message)


def _unauthorized() -> web.Response:
    return web.Response(
        status=401,
        text="Executor authentication failed",
        headers={"WWW-Authenticate": 'Bearer realm="mesos-agent-executor"'},
    )
