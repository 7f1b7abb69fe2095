"""Mesos's v0 maintenance endpoints (src/master/http.cpp), the same
operations as the v1 operator API's maintenance calls
(`pyactors.api.v1.operator`):

- `GET /master/maintenance/schedule`: the schedule (`{"windows": [...]}`,
  `{}` when empty), the machines the caller may see
  (get_maintenance_schedules); `POST` replaces it whole
  (update_maintenance_schedules), 200 with no body;
- `GET /master/maintenance/status`: `draining_machines` with the
  frameworks' latest answers to inverse offers, `down_machines`
  (get_maintenance_statuses);
- `POST /master/machine/down` and `/master/machine/up` with a JSON array of
  machine ids (start_maintenances, stop_maintenances), 200 with no body.

A refused call changes nothing: 400 with Mesos's message (a bad schedule,
a machine in the wrong mode), 403 naming the ACL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from pyactors.api.auth import principal_of
from pyactors.core.protocol import Effect
from pyactors.master.maintenance import (
    MaintenanceError,
    machine_ids_from_json,
    windows_from_json,
)
from pyactors.master.state import MasterState

Change = Callable[[MasterState, float], list[Effect]]


# What moves the master's monotonic clock to the epoch, taken once: taken
# per read, its jitter would show the same answer at different times.
_WALL_OFFSET = time.time() - time.monotonic()


def wall_offset() -> float:
    return _WALL_OFFSET


async def json_body(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as error:
        raise MaintenanceError(f"Failed to parse body into JSON: {error}") from None


def add_routes(
    app: web.Application,
    leading: Callable[[], MasterState],
    operate: Callable[[Change], None],
) -> None:
    async def schedule(request: web.Request) -> web.Response:
        principal = principal_of(request)
        return web.json_response(leading().maintenance_book.schedule_json(principal), dumps=_dumps)

    async def update_schedule(request: web.Request) -> web.Response:
        leading()
        windows = windows_from_json(await json_body(request))
        principal = principal_of(request)
        operate(lambda state, now: state.maintenance_book.update_schedule(windows, principal))
        return web.Response(status=200)

    async def status(request: web.Request) -> web.Response:
        book = leading().maintenance_book
        body = book.status_json(principal_of(request), wall_offset())
        return web.json_response(body, dumps=_dumps)

    async def machine_down(request: web.Request) -> web.Response:
        leading()
        machines = machine_ids_from_json(await json_body(request))
        principal = principal_of(request)
        operate(lambda state, now: state.start_maintenance(machines, now, principal))
        return web.Response(status=200)

    async def machine_up(request: web.Request) -> web.Response:
        leading()
        machines = machine_ids_from_json(await json_body(request))
        principal = principal_of(request)
        operate(lambda state, now: state.maintenance_book.stop(machines, principal))
        return web.Response(status=200)

    app.router.add_get("/master/maintenance/schedule", schedule)
    app.router.add_post("/master/maintenance/schedule", update_schedule)
    app.router.add_get("/master/maintenance/status", status)
    app.router.add_post("/master/machine/down", machine_down)
    app.router.add_post("/master/machine/up", machine_up)


def _dumps(body: Any) -> str:
    return orjson.dumps(body).decode()
