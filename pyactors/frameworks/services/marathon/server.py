"""`MarathonServer`: Marathon's REST API on the service framework's own
HTTP server, inside its actor.

The socket is bound when the framework is made (its address is known at
once, and a port in use fails the start); the server runs on the actor's
event loop from the first subscription on. Requests pass the same Host
and Origin guards as the master's API (`pyactors.api.guards`) and, when
the cluster has credentials, its authentication (`pyactors.api.auth`:
HTTP Basic, as marathon-python's username and password send it)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from typing import Any

import orjson
from aiohttp import web

from pyactors.api.auth import Authenticator
from pyactors.api.guards import Guards, nosniff
from pyactors.frameworks.services.marathon import shapes
from pyactors.frameworks.services.marathon.events import EventBus
from pyactors.frameworks.services.marathon.routes import Framework, MarathonApi, marathon_errors
from pyactors.security.credentials import Credentials


class MarathonServer:
    def __init__(
        self,
        framework: Framework,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Credentials | None = None,
    ) -> None:
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._socket.listen(128)
        self._socket.setblocking(False)
        self.port = int(self._socket.getsockname()[1])
        self.bus = EventBus()
        self.api = MarathonApi(framework, self.bus, f"{self.advertised_host}:{self.port}")
        self._guards = Guards()
        self._guards.bind([host], self.port)
        self._authenticator = Authenticator(credentials)
        self._runner: web.AppRunner | None = None

    @property
    def advertised_host(self) -> str:
        if self.host in ("0.0.0.0", "::", ""):
            return socket.gethostname()
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def url(self) -> str:
        return f"http://{self.advertised_host}:{self.port}"

    def start(self) -> None:
        """Serve, on the running event loop (the actor's)."""
        if self._runner is not None:
            return
        app = web.Application(
            middlewares=[
                self._guards.middleware(),
                self._authenticator.middleware(),
                marathon_errors,
            ]
        )
        app.on_response_prepare.append(nosniff)
        app.add_routes([*self.api.routes(), web.get("/v2/events", self.events)])
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        asyncio.get_running_loop().create_task(self._serve(self._runner))

    async def _serve(self, runner: web.AppRunner) -> None:
        await runner.setup()
        await web.SockSite(runner, self._socket).start()

    def stop(self) -> None:
        """End the streams and stop listening (the framework stops)."""
        self.bus.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().create_task(runner.cleanup())
        self._socket.close()

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: `event_stream_attached` first, then every
        event (only the `event_type`s asked for, if any) as it happens."""
        wanted = set(request.query.getall("event_type", []))
        stream = self.bus.attach()
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        attached = shapes.event(
            "event_stream_attached", time.time(), remoteAddress=request.remote or ""
        )
        try:
            await _send(response, attached, wanted)
            while True:
                event = await stream.get()
                if event is None:
                    break
                await _send(response, event, wanted)
        except ConnectionResetError:
            # The reader went away.
            pass
        finally:
            self.bus.detach(stream)
        return response


async def _send(response: web.StreamResponse, event: dict[str, Any], wanted: set[str]) -> None:
    if wanted and event["eventType"] not in wanted:
        return
    data = orjson.dumps(event).decode()
    await response.write(f"event: {event['eventType']}\ndata: {data}\n\n".encode())
