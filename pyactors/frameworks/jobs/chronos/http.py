"""What the Chronos and Metronome handlers share: what they need of the jobs
framework's scheduler, refusals carrying their API's own error body, JSON
answers and request bodies.

Handlers run on the framework actor's event loop, as its callbacks do, and
read and change the same `JobBook` through the same scheduler methods as
`cluster.jobs()` (each change stored before it has effects: runs started
here are in the ledger like scheduled ones)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson
from aiohttp import web

from pyactors.frameworks.jobs.book import JobBook


class Framework(Protocol):
    """What the APIs need of the jobs framework's scheduler (`JobScheduler`)."""

    book: JobBook
    revive_calls: int

    def add(self, definition: Mapping[str, Any] | str) -> str: ...
    def run(self, name: str) -> str: ...
    def remove(self, name: str) -> None: ...
    def kill(self, name: str, run_id: str | None = None) -> None: ...


class ApiError(Exception):
    """An answer other than success: its status and the API's error body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("message", status)))
        self.status = status
        self.body = body


def json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def read_json(
    request: web.Request, refusal: Callable[[str], tuple[int, dict[str, Any]]]
) -> Any:
    """The request's JSON body; ApiError (made by `refusal` from why) if it
    is none."""
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as problem:
        status, body = refusal(f"the body is not valid JSON: {problem}")
        raise ApiError(status, body) from None
