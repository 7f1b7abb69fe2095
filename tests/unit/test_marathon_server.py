"""The Marathon REST server without Ray: a framework made of a bare
`ServiceState` behind it, real HTTP (aiohttp's client) in front, with and
without credentials."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from pyactors.frameworks.services.marathon.server import MarathonServer
from pyactors.frameworks.services.state import ServiceState
from pyactors.security.credentials import Credentials

SLEEPER = {"id": "/shop", "cmd": "sleep 100", "cpus": 0.1, "mem": 16, "portDefinitions": []}


class StateOnly:
    """The scheduler's calls, on its state alone (no offers: nothing runs)."""

    def __init__(self) -> None:
        self.state = ServiceState()
        self.framework_id: str | None = "fw-1"

    def deploy(self, definition: Mapping[str, Any]) -> str:
        return self.state.deploy(definition, time.time())

    def update_app(self, definition: Mapping[str, Any]) -> str:
        return self.state.update(definition, time.time())

    def scale(self, app_id: str, instances: int) -> str:
        return self.state.scale(app_id, instances, time.time())

    def restart(self, app_id: str) -> str:
        return self.state.restart(app_id, time.time())

    def remove(self, app_id: str) -> str:
        return self.state.remove(app_id, time.time())

    def kill_tasks(self, task_ids: list[str], scale: bool) -> str | None:
        return self.state.kill_tasks(task_ids, scale, time.time())

    def reset_delay(self, app_id: str) -> None:
        self.state.reset_delay(app_id)

    def cancel_deployment(self, deployment_id: str, rollback: bool) -> str | None:
        return self.state.cancel_deployment(deployment_id, rollback, time.time())

    def metrics(self) -> dict[str, Any]:
        return {"tasks_launched": 0}


async def serving(server: MarathonServer) -> None:
    server.start()
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(server.url + "/ping"):
                    return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)


def test_marathon_pythons_habits_and_the_lock() -> None:
    async def scenario() -> None:
        framework = StateOnly()
        server = MarathonServer(framework)
        await serving(server)
        try:
            async with aiohttp.ClientSession(server.url) as http:
                async with http.post("/v2/apps", json=SLEEPER) as created:
                    assert created.status == 201
                    app = await created.json()
                # A deployment holds the app (nothing runs here): locked.
                async with http.put("/v2/apps//shop?force=False", json={"instances": 3}) as put:
                    assert put.status == 409
                    refused = await put.json()
                assert refused["deployments"] == app["deployments"]
                assert "force=true" in refused["message"]
                assert framework.state.apps["/shop"].app.instances == 1
                async with http.put("/v2/apps//shop?force=True", json={"instances": 3}) as put:
                    assert put.status == 200
                    changed = await put.json()
                assert framework.state.apps["/shop"].app.instances == 3
                async with http.get("/v2/deployments") as listed:
                    [deployment] = await listed.json()
                assert deployment["id"] == changed["deploymentId"]
                async with http.put("/v2/apps/shop?force=maybe", json={"instances": 1}) as bad:
                    assert bad.status == 400 and (await bad.json())["message"]
                async with http.get("/v2/apps/nothing/here") as missing:
                    assert missing.status == 404
                    assert await missing.json() == {"message": "App '/nothing/here' does not exist"}
                async with http.get("/ping") as pong:
                    assert await pong.text() == "pong"
        finally:
            server.stop()

    asyncio.run(scenario())


def test_with_credentials_every_call_needs_them() -> None:
    async def scenario() -> None:
        server = MarathonServer(StateOnly(), credentials=Credentials({"ops": "s3cret"}))
        await serving(server)
        try:
            async with aiohttp.ClientSession(server.url) as http:
                async with http.get("/v2/apps") as anonymous:
                    assert anonymous.status == 401
                wrong = aiohttp.BasicAuth("ops", "nope")
                async with http.post("/v2/apps", json=SLEEPER, auth=wrong) as refused:
                    assert refused.status == 401
                    assert "s3cret" not in await refused.text()
                right = aiohttp.BasicAuth("ops", "s3cret")
                async with http.post("/v2/apps", json=SLEEPER, auth=right) as created:
                    assert created.status == 201
                async with http.get("/v2/apps", auth=right) as listed:
                    assert [a["id"] for a in (await listed.json())["apps"]] == ["/shop"]
        finally:
            server.stop()

    asyncio.run(scenario())


def test_a_token_for_the_secret_is_good_as_bearer_and_as_dcos_token() -> None:
    async def scenario() -> None:
        server = MarathonServer(StateOnly(), credentials=Credentials({"ops": "s3cret"}))
        await serving(server)
        try:
            async with aiohttp.ClientSession(server.url) as http:
                right = aiohttp.BasicAuth("ops", "s3cret")
                async with http.post("/auth/token", auth=right) as issued:
                    assert issued.status == 200
                    token = (await issued.json())["token"]
                for header in (f"Bearer {token}", f"token={token}"):
                    async with http.get("/v2/apps", headers={"Authorization": header}) as listed:
                        assert listed.status == 200
                    async with http.post("/auth/token", headers={"Authorization": header}) as again:
                        assert again.status == 401
                async with http.get("/v2/apps", headers={"Authorization": "token="}) as empty:
                    assert empty.status == 401
        finally:
            server.stop()

    asyncio.run(scenario())


def test_a_foreign_origin_cannot_change_anything() -> None:
    async def scenario() -> None:
        framework = StateOnly()
        server = MarathonServer(framework)
        await serving(server)
        try:
            async with aiohttp.ClientSession(server.url) as http:
                headers = {"Origin": "http://evil.example"}
                async with http.post("/v2/apps", json=SLEEPER, headers=headers) as refused:
                    assert refused.status == 403
            assert framework.state.apps == {}
        finally:
            server.stop()

    asyncio.run(scenario())


def test_versions_and_a_rollback_to_one() -> None:
    async def scenario() -> None:
        framework = StateOnly()
        server = MarathonServer(framework)
        await serving(server)
        try:
            async with aiohttp.ClientSession(server.url) as http:
                async with http.post("/v2/apps", json=SLEEPER) as created:
                    first = (await created.json())["version"]
                changed = {"cmd": "sleep 200"}
                async with http.put("/v2/apps/shop?force=true", json=changed) as put:
                    assert put.status == 200
                async with http.get("/v2/apps/shop/versions") as listed:
                    versions = (await listed.json())["versions"]
                assert versions[1] == first and len(versions) == 2
                async with http.get(f"/v2/apps/shop/versions/{first}") as old:
                    assert (await old.json())["cmd"] == "sleep 100"
                back = {"version": first}
                async with http.put("/v2/apps/shop?force=true", json=back) as put:
                    assert put.status == 200
                assert framework.state.apps["/shop"].app.cmd == "sleep 100"
                async with http.put("/v2/apps/shop?force=true", json={"version": "x"}) as bad:
                    assert bad.status == 404
        finally:
            server.stop()

    asyncio.run(scenario())
