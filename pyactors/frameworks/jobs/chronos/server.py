"""`ChronosServer`: Chronos's and Metronome's REST APIs on the jobs
framework's own HTTP server (`FrameworkServer`: its own socket, inside its
actor, with the master API's guards and authentication), and the errors
each API answers in its own shape."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pyactors.errors import FencedError, JobDefinitionError, RegistryError, UnknownJobError
from pyactors.frameworks.http_server import FrameworkServer
from pyactors.frameworks.jobs.chronos import metronome_shapes, shapes
from pyactors.frameworks.jobs.chronos.chronos_routes import ChronosApi
from pyactors.frameworks.jobs.chronos.http import ApiError, Framework, json
from pyactors.frameworks.jobs.chronos.metronome_routes import MetronomeApi
from pyactors.security.credentials import Credentials


class ChronosServer(FrameworkServer):
    def __init__(
        self,
        framework: Framework,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__(host, port, credentials)
        self.chronos = ChronosApi(framework, f"{self.advertised_host}:{self.port}")
        self.metronome = MetronomeApi(framework)

    def start(self) -> None:
        """Serve, on the running event loop (the actor's)."""
        self.serve([*self.chronos.routes(), *self.metronome.routes()], api_errors)


@web.middleware
async def api_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """The framework's refusals in the shape of the API asked: Metronome's
    under `/v1/jobs`, Chronos's elsewhere (Chronos answers 400 for an
    unknown job too)."""
    metronome = request.path.startswith("/v1/jobs")
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as refused:
        return json(refused.body, refused.status)
    except JobDefinitionError as invalid:
        if metronome:
            return json(metronome_shapes.not_valid(invalid.problems), 422)
        return json(shapes.error(str(invalid)), 400)
    except UnknownJobError as missing:
        if metronome:
            return json(metronome_shapes.error(str(missing)), 404)
        return json(shapes.error(str(missing)), 400)
    except (FencedError, RegistryError) as unavailable:
        # Held by the framework and written once its store answers (or
        # this instance was replaced): not done yet.
        if metronome:
            return json(metronome_shapes.error(str(unavailable)), 503)
        return json(shapes.error(str(unavailable), "Internal Server Error"), 500)
