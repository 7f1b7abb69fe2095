"""`FrameworkServer`: a built-in framework's own HTTP API (Marathon's,
Chronos's and Metronome's), served from inside its actor.

The socket is bound when the framework is made (its address is known at
once, and a port in use fails the start); the server runs on the actor's
event loop from `serve` on, so its handlers see the scheduler's state
between events, never in the middle of one. Requests pass the same Host
and Origin guards as the master's API (`pyactors.api.guards`) and, when
the cluster has credentials, its authentication (`pyactors.api.auth`:
HTTP Basic, as the Marathon and Chronos clients send it, or a token)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Middleware

from pyactors.api.auth import Authenticator
from pyactors.api.guards import Guards, nosniff
from pyactors.security.credentials import Credentials


class FrameworkServer:
    def __init__(
        self,
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
        self._guards = Guards()
        self._guards.bind([host], self.port)
        self._authenticator = Authenticator(credentials)
        self._runner: web.AppRunner | None = None
        # Held so the loop does not drop the task before the site is up.
        self._serving: asyncio.Task[None] | None = None

    @property
    def advertised_host(self) -> str:
        if self.host in ("0.0.0.0", "::", ""):
            return socket.gethostname()
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def url(self) -> str:
        return f"http://{self.advertised_host}:{self.port}"

    def serve(self, routes: Iterable[web.RouteDef], errors: Middleware) -> None:
        """Serve `routes` on the running event loop (the actor's); `errors`
        turns the handlers' refusals into the API's own error bodies. A
        second call changes nothing, and so does a call with no running
        loop (a scheduler driven by hand, outside an actor)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._runner is not None:
            return
        app = web.Application(
            middlewares=[self._guards.middleware(), self._authenticator.middleware(), errors]
        )
        app.on_response_prepare.append(nosniff)
        app.add_routes(list(routes))
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        self._serving = loop.create_task(self._serve(self._runner))

    async def _serve(self, runner: web.AppRunner) -> None:
        await runner.setup()
        await web.SockSite(runner, self._socket).start()

    def stop(self) -> None:
        """Stop listening (the framework stops)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().create_task(runner.cleanup())
        self._socket.close()
