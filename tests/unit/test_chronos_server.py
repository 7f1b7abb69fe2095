"""The jobs framework's Chronos and Metronome server without Ray: a framework
made of a bare `JobBook` behind it (no offers: runs wait), real HTTP
(aiohttp's client) in front, with and without credentials."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from pyactors.core.version import VERSION
from pyactors.frameworks.jobs.book import JobBook
from pyactors.frameworks.jobs.chronos.server import ChronosServer
from pyactors.frameworks.jobs.definitions import parse_job
from pyactors.security.credentials import Credentials

NIGHTLY = {"name": "nightly", "command": "echo hi", "schedule": "R/2030-01-01T00:00:00Z/P1D"}
REPORT = {"name": "report", "command": "echo report", "parents": ["nightly"], "owner": "a@b.c"}
SPEC = {
    "id": "backup",
    "description": "nightly backup",
    "run": {"cmd": "sleep 100", "cpus": 0.1, "mem": 16, "disk": 0},
    "schedules": [{"id": "nightly", "cron": "0 3 * * *", "concurrencyPolicy": "FORBID"}],
}


class BookOnly:
    """The scheduler's calls on its book alone (nothing launches)."""

    def __init__(self) -> None:
        self.book = JobBook()
        self.revive_calls = 0

    def add(self, definition: Mapping[str, Any] | str) -> str:
        job = parse_job(definition)
        self.book.add(job, time.time())
        return job.name

    def run(self, name: str) -> str:
        run, _ = self.book.run_now(name, time.time())
        return run.id

    def remove(self, name: str) -> None:
        self.book.remove(name, time.time())

    def kill(self, name: str, run_id: str | None = None) -> None:
        self.book.kill(name, time.time(), run_id)


Scenario = Callable[[aiohttp.ClientSession, BookOnly], Awaitable[None]]


def served(scenario: Scenario, credentials: Credentials | None = None) -> None:
    async def main() -> None:
        framework = BookOnly()
        server = ChronosServer(framework, credentials=credentials)
        server.start()
        try:
            async with aiohttp.ClientSession(server.url) as http:
                for _ in range(200):
                    try:
                        async with http.get("/leader"):
                            break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.05)
                await scenario(http, framework)
        finally:
            server.stop()

    asyncio.run(main())


def test_chronos_jobs_added_listed_searched_run_killed_and_deleted() -> None:
    async def scenario(http: aiohttp.ClientSession, framework: BookOnly) -> None:
        async with http.post("/v1/scheduler/iso8601", json=NIGHTLY) as added:
            assert added.status == 204
        # Without the /v1 prefix (Chronos 2.x), and as PUT (older clients' update).
        async with http.put("/scheduler/dependency", json=REPORT) as added:
            assert added.status == 204
        async with http.get("/v1/scheduler/jobs") as listed:
            jobs = {job["name"]: job for job in await listed.json()}
        assert jobs["nightly"]["schedule"] == NIGHTLY["schedule"]
        assert jobs["report"]["parents"] == ["nightly"] and "schedule" not in jobs["report"]
        assert jobs["report"]["owner"] == "a@b.c" and jobs["report"]["successCount"] == 0
        async with http.get("/v1/scheduler/job/report") as one:
            assert await one.json() == jobs["report"]
        async with http.get("/v1/scheduler/jobs/search?name=REP") as found:
            assert [job["name"] for job in await found.json()] == ["report"]
        async with http.get("/scheduler/jobs/search?command=echo") as found:
            assert len(await found.json()) == 2

        # Run now: a PUT with no body and no content type.
        async with http.put("/v1/scheduler/job/nightly") as run:
            assert run.status == 204 and await run.read() == b""
        (manual,) = framework.book.jobs["nightly"].runs
        assert manual.trigger == "manual" and manual.state == "QUEUED"
        async with http.get("/v1/scheduler/graph/csv") as graph:
            assert (await graph.text()).splitlines() == [
                "node,nightly,fresh,queued",
                "node,report,fresh,idle",
                "link,nightly,report",
            ]
        async with http.get("/v1/scheduler/jobs/summary") as summary:
            assert (await summary.json())["jobs"][0] == {
                "name": "nightly",
                "status": "fresh",
                "state": "queued",
                "schedule": NIGHTLY["schedule"],
                "parents": [],
                "disabled": False,
            }
        async with http.get("/scheduler/graph/dot") as dot:
            assert (await dot.text()).splitlines() == [
                "digraph G {",
                '  1 [ label="nightly" ];',
                '  2 [ label="report" ];',
                "  1 -> 2;",
                "}",
            ]
        async with http.delete("/v1/scheduler/task/kill/nightly") as killed:
            assert killed.status == 204
        assert manual.state == "KILLED"
        async with http.get("/v1/scheduler/job/stat/nightly") as stat:
            body = await stat.json()
        assert body["histogram"]["count"] == 0 and body["taskStatHistory"] == []

        # A parent is not deleted from under its child (Chronos would rewire it).
        async with http.delete("/v1/scheduler/job/nightly") as refused:
            assert refused.status == 400
            assert (await refused.json())["status"] == "Bad Request"
        async with http.delete("/v1/scheduler/job/report") as deleted:
            assert deleted.status == 204
        async with http.delete("/scheduler/job/nightly") as deleted:
            assert deleted.status == 204
        assert framework.book.jobs == {}
        async with http.get("/scheduler/graph/csv") as empty:
            assert empty.status == 204

    served(scenario)


def test_malformed_chronos_jobs_get_chronos_errors_and_change_nothing() -> None:
    async def scenario(http: aiohttp.ClientSession, framework: BookOnly) -> None:
        bad = [
            ("/v1/scheduler/iso8601", {**NIGHTLY, "schedule": "every day"}),
            ("/v1/scheduler/iso8601", {**NIGHTLY, "container": {"type": "DOCKER"}}),
            ("/v1/scheduler/iso8601", {**NIGHTLY, "shell": False}),
            ("/v1/scheduler/iso8601", {"name": "x", "command": "true"}),
            ("/v1/scheduler/dependency", {**REPORT, "parents": ["missing"]}),
            ("/v1/scheduler/dependency", NIGHTLY),
        ]
        for path, job in bad:
            async with http.post(path, json=job) as refused:
                assert refused.status == 400, job
                body = await refused.json()
                assert set(body) == {"status", "message"} and body["status"] == "Bad Request"
        async with http.post(
            "/v1/scheduler/iso8601", data=b"{", headers={"Content-Type": "application/json"}
        ) as refused:
            assert refused.status == 400
        for method, path in [
            ("PUT", "/v1/scheduler/job/missing"),
            ("DELETE", "/v1/scheduler/job/missing"),
            ("GET", "/v1/scheduler/job/stat/missing"),
        ]:
            async with http.request(method, path) as missing:
                assert missing.status == 400
                assert "missing" in (await missing.json())["message"]
        assert framework.book.jobs == {}

    served(scenario)


def test_metronome_jobs_runs_and_schedules() -> None:
    async def scenario(http: aiohttp.ClientSession, framework: BookOnly) -> None:
        async with http.post("/v1/jobs", json=SPEC) as created:
            assert created.status == 201
            job = await created.json()
        assert job["run"]["cmd"] == "sleep 100" and job["schedules"][0]["id"] == "nightly"
        assert job["schedules"][0]["concurrencyPolicy"] == "FORBID"
        async with http.post("/v1/jobs", json=SPEC) as taken:
            assert taken.status == 409
            assert await taken.json() == {"message": "Job with this id already exists"}

        async with http.post("/v1/jobs/backup/runs") as started:
            assert started.status == 201
            run = await started.json()
        assert run["jobId"] == "backup" and run["status"] == "STARTING"
        async with http.get("/v1/jobs/backup/runs") as runs:
            assert [r["id"] for r in await runs.json()] == [run["id"]]
        async with http.get("/v1/jobs?embed=activeRuns&embed=historySummary") as listed:
            (embedded,) = await listed.json()
        assert [r["id"] for r in embedded["activeRuns"]] == [run["id"]]
        assert embedded["historySummary"]["failureCount"] == 0

        # Active runs keep a job unless they are stopped with it.
        async with http.delete("/v1/jobs/backup") as refused:
            assert refused.status == 409
        async with http.post(f"/v1/jobs/backup/runs/{run['id']}/actions/stop") as stopped:
            assert stopped.status == 200
            assert (await stopped.json())["status"] == "FAILED"
        async with http.get("/v1/jobs/backup/runs") as runs:
            assert await runs.json() == []
        async with http.get(f"/v1/jobs/backup/runs/{run['id']}") as ended:
            assert (await ended.json())["status"] == "FAILED"

        # One schedule per job; PUT of the job keeps it.
        schedule = {"id": "hourly", "cron": "0 * * * *"}
        async with http.post("/v1/jobs/backup/schedules", json=schedule) as refused:
            assert refused.status == 409
        async with http.put("/v1/jobs/backup", json={**SPEC, "schedules": []}) as updated:
            assert updated.status == 200
            assert (await updated.json())["schedules"][0]["cron"] == "0 3 * * *"
        async with http.delete("/v1/jobs/backup/schedules/nightly") as removed:
            assert removed.status == 200
        assert framework.book.jobs["backup"].definition.cron is None
        async with http.post("/v1/jobs/backup/schedules", json=schedule) as added:
            assert added.status == 201
            assert (await added.json())["id"] == "hourly"
        async with http.get("/v1/jobs/backup/schedules/hourly") as read:
            assert (await read.json())["cron"] == "0 * * * *"
        changed = {"cron": "30 * * * *", "timezone": "Europe/Berlin", "enabled": False}
        async with http.put("/v1/jobs/backup/schedules/hourly", json=changed) as put:
            assert put.status == 200
            assert (await put.json())["id"] == "hourly"
        definition = framework.book.jobs["backup"].definition
        assert (definition.cron, definition.schedule_time_zone, definition.disabled) == (
            "30 * * * *",
            "Europe/Berlin",
            True,
        )
        async with http.put("/v1/jobs/backup/schedules/other", json=changed) as missing:
            assert missing.status == 404
            assert await missing.json() == {"id": "other", "message": "Schedule not found"}
        async with http.delete("/v1/jobs/backup?stopCurrentJobRuns=true") as deleted:
            assert deleted.status == 200
            assert (await deleted.json())["id"] == "backup"
        assert framework.book.jobs == {}

    served(scenario)


def test_metronome_ping_info_and_metrics() -> None:
    """As Metronome's ApplicationController answers them (`/ping`, `/info`,
    `/v1/metrics` in Dropwizard's JSON with its documented names)."""

    async def scenario(http: aiohttp.ClientSession, framework: BookOnly) -> None:
        async with http.get("/ping") as ping:
            assert ping.status == 200 and ping.content_type == "text/plain"
            assert await ping.text() == "pong"
        async with http.get("/info") as info:
            assert await info.json() == {"version": VERSION, "libVersion": VERSION, "config": {}}

        async def metrics() -> dict[str, Any]:
            async with http.get("/v1/metrics") as answer:
                assert answer.status == 200 and answer.content_type == "application/json"
                body: dict[str, Any] = await answer.json()
                return body

        empty = await metrics()
        assert (empty["version"], empty["histograms"], empty["meters"], empty["timers"]) == (
            "4.0.0",
            {},
            {},
            {},
        )
        assert empty["gauges"] == {"metronome.jobs.active.gauge": {"value": 0.0}}
        async with http.post("/v1/jobs", json=SPEC) as created:
            assert created.status == 201
        for _ in range(2):
            async with http.post("/v1/jobs/backup/runs") as started:
                run = await started.json()
        async with http.post(f"/v1/jobs/backup/runs/{run['id']}/actions/stop"):
            pass
        framework.revive_calls = 3
        counted = await metrics()
        assert counted["counters"] == {
            "metronome.jobs.started.counter": {"count": 2},
            "metronome.jobs.failed.counter": {"count": 1},
            "metronome.mesos.calls.revive.counter": {"count": 3},
        }
        assert counted["gauges"] == {"metronome.jobs.active.gauge": {"value": 1.0}}

    served(scenario)


def test_malformed_metronome_jobs_get_metronome_errors_and_change_nothing() -> None:
    async def scenario(http: aiohttp.ClientSession, framework: BookOnly) -> None:
        bad = {
            "id": "backup",
            "run": {"cpus": "lots", "docker": {"image": "busybox"}},
            "schedules": [{"id": "nightly", "cron": "every night"}],
        }
        async with http.post("/v1/jobs", json=bad) as refused:
            assert refused.status == 422
            body = await refused.json()
        assert body["message"] == "Object is not valid"
        paths = {detail["path"] for detail in body["details"]}
        assert paths == {"/run/docker", "/run/cmd", "/run/cpus", "/schedules(0)/cron"}
        async with http.post("/v1/jobs", json={**SPEC, "dependencies": [{"id": "x"}]}) as refused:
            assert refused.status == 422
            assert (await refused.json())["details"][0]["path"] == "/dependencies"
        async with http.get("/v1/jobs/missing") as missing:
            assert missing.status == 404
            assert await missing.json() == {"id": "missing", "message": "Job not found"}
        async with http.post("/v1/jobs/missing/runs") as missing:
            assert missing.status == 404
        assert framework.book.jobs == {}

    served(scenario)


def test_credentials_are_asked_for_as_by_the_masters_api() -> None:
    async def scenario(http: aiohttp.ClientSession, framework: BookOnly) -> None:
        async with http.get("/v1/scheduler/jobs") as refused:
            assert refused.status == 401
            assert refused.headers["WWW-Authenticate"].startswith("Basic")
        auth = {"Authorization": "Basic " + base64.b64encode(b"ops:s3cret").decode()}
        async with http.post("/v1/scheduler/iso8601", json=NIGHTLY, headers=auth) as added:
            assert added.status == 204
        async with http.post(
            "/v1/jobs", json=SPEC, headers={**auth, "Origin": "http://evil.example"}
        ) as refused:
            assert refused.status == 403
        assert list(framework.book.jobs) == ["nightly"]

    served(scenario, Credentials({"ops": "s3cret"}))
