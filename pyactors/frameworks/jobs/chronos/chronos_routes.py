"""The handlers of Chronos's REST API (2.x and 3.x: under `/v1/scheduler`
and also without the `/v1` prefix), answered from the jobs framework's
book.

Successes answer 204 with no body, or a non-empty body (chronos-python
takes an empty 200 for a failure). Unknown jobs and bad definitions are
Chronos's 400 with `{"status": "Bad Request", "message": ...}`.

Not as Chronos: deleting a job that is another's parent is refused (Chronos
hands the parent's schedule or parents down to its children); `arguments`
of a run now are refused (commands run by the shell)."""

from __future__ import annotations

from aiohttp import web

from pyactors.errors import UnknownJobError
from pyactors.frameworks.jobs.book import Job
from pyactors.frameworks.jobs.chronos import shapes
from pyactors.frameworks.jobs.chronos.http import ApiError, Framework, json, read_json

PREFIXES = ("/v1/scheduler", "/scheduler")
# Chronos's page size for a search without `limit`.
SEARCH_LIMIT = 10


def _refusal(why: str) -> tuple[int, dict[str, str]]:
    return 400, shapes.error(why)


class ChronosApi:
    def __init__(self, framework: Framework, leader: str) -> None:
        self.framework = framework
        self.leader = leader

    def routes(self) -> list[web.RouteDef]:
        routes = [web.get("/leader", self.get_leader)]
        for prefix in PREFIXES:
            routes += [
                web.get(f"{prefix}/jobs", self.list_jobs),
                web.get(f"{prefix}/jobs/search", self.search),
                web.get(f"{prefix}/jobs/summary", self.summary),
                web.post(f"{prefix}/iso8601", self.add_scheduled),
                web.put(f"{prefix}/iso8601", self.add_scheduled),
                web.post(f"{prefix}/dependency", self.add_dependent),
                web.put(f"{prefix}/dependency", self.add_dependent),
                web.get(f"{prefix}/job/stat/{{name}}", self.stat),
                web.get(f"{prefix}/job/{{name}}", self.get_job),
                web.put(f"{prefix}/job/{{name}}", self.run_now),
                web.delete(f"{prefix}/job/{{name}}", self.delete),
                web.delete(f"{prefix}/task/kill/{{name}}", self.kill_tasks),
                web.get(f"{prefix}/graph/csv", self.graph_csv),
                web.get(f"{prefix}/graph/dot", self.graph_dot),
            ]
        return routes

    def jobs(self) -> list[Job]:
        book = self.framework.book
        return [book.jobs[name] for name in book.names()]

    def job(self, name: str) -> Job:
        found = self.framework.book.jobs.get(name)
        if found is None:
            raise UnknownJobError(f"requirement failed: Job '{name}' not found")
        return found

    async def get_leader(self, request: web.Request) -> web.Response:
        return json({"leader": self.leader})

    async def list_jobs(self, request: web.Request) -> web.Response:
        return json([shapes.job(entry) for entry in self.jobs()])

    async def search(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            limit = int(query.get("limit", SEARCH_LIMIT))
            offset = int(query.get("offset", 0))
        except ValueError:
            raise ApiError(400, shapes.error("limit and offset must be integers")) from None
        found = [
            shapes.job(entry)
            for entry in self.jobs()
            if shapes.matches(
                entry, query.get("name", ""), query.get("command", ""), query.get("any", "")
            )
        ]
        return json(found[offset : offset + limit])

    async def summary(self, request: web.Request) -> web.Response:
        return json({"jobs": [shapes.summary(entry) for entry in self.jobs()]})

    async def add_scheduled(self, request: web.Request) -> web.Response:
        return await self._add(request, "schedule")

    async def add_dependent(self, request: web.Request) -> web.Response:
        return await self._add(request, "parents")

    async def _add(self, request: web.Request, kind: str) -> web.Response:
        """Add the job, or replace the one of its name (as Chronos does)."""
        fields = shapes.definition(await read_json(request, _refusal), kind)
        self.framework.add(fields)
        return web.Response(status=204)

    async def get_job(self, request: web.Request) -> web.Response:
        return json(shapes.job(self.job(request.match_info["name"])))

    async def run_now(self, request: web.Request) -> web.Response:
        """Start a run now (a manual run in the ledger, as `cluster.jobs().run`)."""
        name = request.match_info["name"]
        if request.query.get("arguments", "").strip():
            raise ApiError(
                400, shapes.error("arguments are not supported: jobs run as shell commands")
            )
        self.framework.run(self.job(name).definition.name)
        return web.Response(status=204)

    async def delete(self, request: web.Request) -> web.Response:
        self.framework.remove(self.job(request.match_info["name"]).definition.name)
        return web.Response(status=204)

    async def kill_tasks(self, request: web.Request) -> web.Response:
        self.framework.kill(self.job(request.match_info["name"]).definition.name)
        return web.Response(status=204)

    async def stat(self, request: web.Request) -> web.Response:
        return json(shapes.stat(self.job(request.match_info["name"])))

    async def graph_dot(self, request: web.Request) -> web.Response:
        return web.Response(text=shapes.graph_dot(self.jobs()), content_type="text/plain")

    async def graph_csv(self, request: web.Request) -> web.Response:
        csv = shapes.graph_csv(self.jobs())
        if not csv:
            # No jobs: no content, which Chronos clients take as success (an
            # empty 200 they take for a failure).
            return web.Response(status=204)
        return web.Response(text=csv, content_type="text/plain")
