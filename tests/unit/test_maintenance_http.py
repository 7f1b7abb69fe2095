"""Mesos's maintenance endpoints and v1 operator calls over real HTTP (an
aiohttp server on a loopback port, no Ray: the master behind it is a real
`MasterState` that the stand-in applies changes to): Mesos's 400 messages
and the ACLs' 403, nothing changed by either."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from pyactors import Resources
from pyactors.api.http import HttpServer
from pyactors.api.v1.operator_events import OperatorEvents
from pyactors.core.protocol import Effect
from pyactors.master.maintenance import windows_from_json
from pyactors.master.state import MasterConfig, MasterState
from pyactors.security.acls import Acls

SCHEDULE = {
    "windows": [
        {
            "machine_ids": [{"hostname": "host-0"}],
            "unavailability": {"start": {"nanoseconds": 10**18}},
        }
    ]
}


class _Master:
    """Enough of a master: it leads `state` and applies changes at once."""

    metrics: Any = None
    share_history: Any = None

    def __init__(self, state: MasterState) -> None:
        self.state = state
        self.operator_events = OperatorEvents(self.about)

    def about(self) -> Any:
        raise AssertionError("maintenance calls never describe the master")

    def leading_state(self) -> MasterState:
        return self.state

    def leader_url(self) -> None:
        return None

    def operate(self, change: Callable[[MasterState, float], list[Effect]]) -> None:
        change(self.state, 1.0)


Send = Callable[[str, str, Any], Awaitable[tuple[int, Any]]]


def _served(state: MasterState, requests: Callable[[Send], Awaitable[None]]) -> None:
    async def run() -> None:
        server = HttpServer(_Master(state), "127.0.0.1", 0, ())  # type: ignore[arg-type]
        await server.start()
        _, port = await server.wait_bound()
        try:
            async with aiohttp.ClientSession() as session:

                async def send(method: str, path: str, body: Any = None) -> tuple[int, Any]:
                    data = None if body is None else json.dumps(body)
                    headers = {"Content-Type": "application/json"} if data else {}
                    async with session.request(
                        method, f"http://127.0.0.1:{port}{path}", data=data, headers=headers
                    ) as response:
                        text = await response.read()
                        return response.status, json.loads(text) if text else None

                await requests(send)
        finally:
            await server.stop()

    asyncio.run(run())


def _state(acls: Acls | None = None) -> MasterState:
    state = MasterState(MasterConfig(acls=acls or Acls()))
    state.register_agent("agent-0", "host-0", Resources.parse("cpus:1;mem:64"), {}, now=0)
    return state


def test_refusals_carry_mesos_messages_and_change_nothing() -> None:
    state = _state()

    async def requests(send: Send) -> None:
        extra = {**SCHEDULE, "owner": "ops"}
        status, body = await send("POST", "/master/maintenance/schedule", extra)
        assert (status, body["message"]) == (400, "Failed to parse Schedule: unknown field 'owner'")
        status, body = await send("POST", "/master/machine/down", [{"hostname": "host-0"}])
        assert status == 400
        assert body["message"] == (
            'Machine \'{"hostname":"host-0"}\' is not part of a maintenance schedule'
        )
        assert await send("GET", "/master/maintenance/schedule") == (200, {})
        status, body = await send(
            "POST",
            "/api/v1",
            {"type": "START_MAINTENANCE", "start_maintenance": {"machines": [{}]}},
        )
        assert (status, body["message"]) == (
            400,
            "Both 'hostname' and 'ip' for a machine are empty",
        )
        call = {"type": "UPDATE_MAINTENANCE_SCHEDULE", "update_maintenance_schedule": {}}
        status, body = await send("POST", "/api/v1", call)
        assert status == 400, body
        call["update_maintenance_schedule"] = {"schedule": SCHEDULE}
        assert await send("POST", "/api/v1", call) == (200, None)
        status, body = await send("POST", "/api/v1", {"type": "GET_MAINTENANCE_SCHEDULE"})
        assert body == {
            "type": "GET_MAINTENANCE_SCHEDULE",
            "get_maintenance_schedule": {"schedule": SCHEDULE},
        }
        status, body = await send("POST", "/api/v1", {"type": "GET_MAINTENANCE_STATUS"})
        assert body["get_maintenance_status"]["status"] == {
            "draining_machines": [{"id": {"hostname": "host-0"}, "statuses": []}]
        }

    _served(state, requests)


def test_the_maintenance_acls_refuse_and_filter() -> None:
    # "ops" may do anything; an unauthenticated caller (no principal) may
    # read the schedule only.
    rules = [
        {"principals": {"values": ["ops"]}, "machines": {"type": "ANY"}},
        {"principals": {"type": "ANY"}, "machines": {"type": "NONE"}},
    ]
    acls = Acls.load(
        {
            "update_maintenance_schedules": rules,
            "start_maintenances": rules,
            "get_maintenance_statuses": rules,
        }
    )
    state = _state(acls)
    state.maintenance_book.update_schedule(windows_from_json(SCHEDULE), "ops")

    async def requests(send: Send) -> None:
        status, body = await send("POST", "/master/maintenance/schedule", {})
        assert status == 403 and "update_maintenance_schedules" in body["message"], body
        status, body = await send("POST", "/master/machine/down", [{"hostname": "host-0"}])
        assert status == 403 and "start_maintenances" in body["message"], body
        call = {"type": "UPDATE_MAINTENANCE_SCHEDULE", "update_maintenance_schedule": {}}
        call["update_maintenance_schedule"] = {"schedule": {}}
        status, body = await send("POST", "/api/v1", call)
        assert status == 403, body
        assert await send("GET", "/master/maintenance/schedule") == (200, SCHEDULE)
        assert await send("GET", "/master/maintenance/status") == (200, {})
        assert "agent-0" in state.agents

    _served(state, requests)
