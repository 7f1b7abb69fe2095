"""`MarathonServer`: Marathon's REST API on the service framework's own
HTTP server (`FrameworkServer`: its own socket, inside its actor, with the
master API's guards and authentication), and its event stream."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from pyactors.api.auth import Unauthenticated, unauthorized
from pyactors.frameworks.http_server import FrameworkServer
from pyactors.frameworks.services.marathon import shapes
from pyactors.frameworks.services.marathon.events import EventBus
from pyactors.frameworks.services.marathon.routes import (
    ApiError,
    Framework,
    MarathonApi,
    json,
    marathon_errors,
)
from pyactors.security.credentials import Credentials


class MarathonServer(FrameworkServer):
    def __init__(
        self,
        framework: Framework,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__(host, port, credentials)
        self.bus = EventBus()
        self.api = MarathonApi(framework, self.bus, f"{self.advertised_host}:{self.port}")

    def start(self) -> None:
        """Serve, on the running event loop (the actor's)."""
        routes = [web.get("/v2/events", self.events), web.post("/auth/token", self.issue_token)]
        self.serve([*self.api.routes(), *routes], marathon_errors)

    def stop(self) -> None:
        """End the streams and stop listening (the framework stops)."""
        self.bus.close()
        super().stop()

    async def issue_token(self, request: web.Request) -> web.Response:
        """A bearer token for a principal and its secret (HTTP Basic), as
        the master's `POST /auth/token` answers, good on this server only;
        scripts send it as `Authorization: Bearer <token>` or, as DC/OS's
        clients (marathon-python's `auth_token`), `Authorization: token=<token>`."""
        authenticator = self._authenticator
        if not authenticator.enabled:
            raise ApiError(400, shapes.error("this server requires no credentials"))
        try:
            principal = authenticator.basic_principal(request)
        except Unauthenticated as refused:
            # A token is had for a secret, never for another token.
            return unauthorized(request, str(refused))
        token, expires = authenticator.tokens.issue(principal, authenticator.clock())
        return json({"principal": principal, "token": token, "expires": expires})

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
