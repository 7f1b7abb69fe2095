"""The agent's executor endpoint (pyactors.agent.executor_http) over real
HTTP, with a real AgentState and no Ray: Mesos's refusals change nothing,
a token is checked when given, a subscription streams SUBSCRIBED then its
tasks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from pyactors.agent.executor_http import ExecutorApi
from pyactors.agent.state import AgentState
from pyactors.api.v1 import executor_json
from pyactors.core.operations import ExecutorInfo, TaskInfo

IDS = {"executor_id": {"value": "ex"}, "framework_id": {"value": "fw"}}


async def post(
    session: aiohttp.ClientSession, endpoint: str, body: Any, **headers: str
) -> tuple[int, str]:
    async with session.post(
        f"http://{endpoint}/api/v1/executor",
        data=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
    ) as response:
        return response.status, await response.text()


def test_refusals_tokens_and_a_subscription(tmp_path: Path) -> None:
    asyncio.run(_exercise(tmp_path))


async def _exercise(tmp_path: Path) -> None:
    state = AgentState("agent", tmp_path)
    api = ExecutorApi(
        state, lambda port: executor_json.agent_info("agent", "localhost", port, "cpus:1", {})
    )
    endpoint = await api.start()
    # Launched with no process behind it: the book alone is exercised.
    state.executors.book.launch(
        "fw", TaskInfo("t1", "t1", "cpus:0.1", executor=ExecutorInfo("ex", "true")), 0.0
    )
    token = state.executors.token(("fw", "ex"))
    subscribe = {"type": "SUBSCRIBE", **IDS, "subscribe": {}}
    try:
        async with aiohttp.ClientSession() as session:
            assert (await post(session, endpoint, subscribe, **{"Content-Type": "text/plain"}))[
                0
            ] == 415
            assert (
                await post(
                    session,
                    endpoint,
                    b"{",
                )
            )[0] == 400
            status, text = await post(session, endpoint, {"type": "UPDATE", **IDS})
            assert (status, text) == (
                400,
                "Failed to validate Executor::Call: Expecting 'update' to be present",
            )
            other = {**subscribe, "executor_id": {"value": "nobody"}}
            status, text = await post(session, endpoint, other)
            assert status == 400 and "cannot be found" in text
            wrong = await post(session, endpoint, subscribe, Authorization="Bearer nope")
            assert wrong[0] == 401
            assert (await post(session, endpoint, subscribe, Origin="http://evil"))[0] == 403
            # Nothing above subscribed it.
            assert state.executors.book.executors[("fw", "ex")].phase.value == "LAUNCHED"
            async with session.post(
                f"http://{endpoint}/api/v1/executor",
                data=json.dumps(subscribe).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            ) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("application/json")
                events = []
                while len(events) < 2:
                    length = int((await response.content.readline()).strip())
                    events.append(json.loads(await response.content.readexactly(length)))
        assert [e["type"] for e in events] == ["SUBSCRIBED", "LAUNCH"]
        assert events[0]["subscribed"]["executor_info"]["executor_id"] == {"value": "ex"}
        assert events[1]["launch"]["task"]["task_id"] == {"value": "t1"}
    finally:
        await api.stop()
