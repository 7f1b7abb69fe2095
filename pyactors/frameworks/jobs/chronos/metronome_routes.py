"""The handlers of Metronome's `/v1/jobs` API, answered from the jobs
framework's book. A handler reads its body before it looks at the book:
past that await nothing else runs until it returns, so what it checks
still holds when it changes it.

`/ping` answers `pong`, `/info` the version and `/v1/metrics` the
Dropwizard JSON of the metrics Metronome documents that the framework has.

As Metronome: POST answers 201 with the job (409 if its id is taken), PUT
replaces the job's definition but keeps its schedule, DELETE refuses a
job with active runs unless `stopCurrentJobRuns=true` (409), a job has at
most one schedule, `/runs` lists the active runs, and a stopped run is
FAILED. Bad definitions are 422 `{"message": "Object is not valid",
"details": [...]}`; unknown jobs, runs and schedules 404.

Not as Metronome: what the framework cannot carry out is refused, not
ignored (see `job_spec`); deleting a job another depends on is 409 (as
Metronome's dependency conflict)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pyactors.errors import JobDefinitionError
from pyactors.frameworks.jobs import job_spec
from pyactors.frameworks.jobs.book import Job, Run
from pyactors.frameworks.jobs.chronos import metronome_shapes as shapes
from pyactors.frameworks.jobs.chronos.http import ApiError, Framework, json, read_json
from pyactors.frameworks.jobs.definitions import JobDefinition, parse_job

# Clearing a job's schedule: the flat definition's schedule fields unset.
_NO_SCHEDULE = {
    "cron": None,
    "scheduleId": None,
    "startingDeadlineSeconds": None,
    "concurrencyPolicy": None,
    "disabled": False,
}


def _refusal(why: str) -> tuple[int, dict[str, Any]]:
    return 400, shapes.error(why)


class MetronomeApi:
    def __init__(self, framework: Framework) -> None:
        self.framework = framework

    def routes(self) -> list[web.RouteDef]:
        job = "/v1/jobs/{id}"
        return [
            web.get("/ping", self.ping),
            web.get("/info", self.info),
            web.get("/v1/metrics", self.metrics),
            web.get("/v1/jobs", self.list_jobs),
            web.post("/v1/jobs", self.create_job),
            web.get(job, self.get_job),
            web.put(job, self.update_job),
            web.delete(job, self.delete_job),
            web.get(job + "/runs", self.list_runs),
            web.post(job + "/runs", self.start_run),
            web.get(job + "/runs/{run}", self.get_run),
            web.post(job + "/runs/{run}/actions/stop", self.stop_run),
            web.get(job + "/schedules", self.list_schedules),
            web.post(job + "/schedules", self.create_schedule),
            web.get(job + "/schedules/{schedule}", self.get_schedule),
            web.put(job + "/schedules/{schedule}", self.update_schedule),
            web.delete(job + "/schedules/{schedule}", self.delete_schedule),
        ]

    # The instance (Metronome's ApplicationController; `/leader` is
    # Chronos's, of the same shape).

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="pong")

    async def info(self, request: web.Request) -> web.Response:
        return json(shapes.info())

    async def metrics(self, request: web.Request) -> web.Response:
        return json(shapes.metrics(self.framework.book, self.framework.revive_calls))

    # Jobs.

    async def list_jobs(self, request: web.Request) -> web.Response:
        embed = request.query.getall("embed", [])
        book = self.framework.book
        return json([shapes.job_spec(book.jobs[name], embed) for name in book.names()])

    async def create_job(self, request: web.Request) -> web.Response:
        definition = _spec(await read_json(request, _refusal))
        if definition.name in self.framework.book.jobs:
            raise ApiError(409, shapes.error("Job with this id already exists"))
        self.framework.add(definition.to_json())
        return json(shapes.job_spec(self.job(request, definition.name)), 201)

    async def get_job(self, request: web.Request) -> web.Response:
        embed = request.query.getall("embed", [])
        return json(shapes.job_spec(self.job(request), embed))

    async def update_job(self, request: web.Request) -> web.Response:
        """The new definition, with the job's schedule kept (Metronome's
        schedules change only through `/schedules`)."""
        body = await read_json(request, _refusal)
        entry = self.job(request)
        if not isinstance(body, dict):
            raise JobDefinitionError([("(job)", "expected a JSON object")])
        new = _spec({**body, "id": entry.definition.name, "schedules": []})
        old = entry.definition
        kept = {**shapes.schedule_of(old), "schedule": old.schedule, "epsilon": old.epsilon}
        self.framework.add({**new.to_json(), **kept})
        return json(shapes.job_spec(self.job(request)))

    async def delete_job(self, request: web.Request) -> web.Response:
        entry = self.job(request)
        stop = request.query.get("stopCurrentJobRuns", "false").lower() == "true"
        if any(run.active for run in entry.runs) and not stop:
            raise ApiError(
                409,
                shapes.error("There are active job runs. Override with stopCurrentJobRuns=true"),
            )
        deleted = shapes.job_spec(entry)
        try:
            self.framework.remove(entry.definition.name)
        except JobDefinitionError as conflict:
            raise ApiError(409, shapes.error(str(conflict))) from None
        return json(deleted)

    # Runs.

    async def list_runs(self, request: web.Request) -> web.Response:
        return json([shapes.run_json(run) for run in self.job(request).runs if run.active])

    async def start_run(self, request: web.Request) -> web.Response:
        """A run now: a manual run in the ledger, as `cluster.jobs().run`."""
        name = self.job(request).definition.name
        run_id = self.framework.run(name)
        return json(shapes.run_json(self.run(request, run_id)), 201)

    async def get_run(self, request: web.Request) -> web.Response:
        return json(shapes.run_json(self.run(request, request.match_info["run"])))

    async def stop_run(self, request: web.Request) -> web.Response:
        run = self.run(request, request.match_info["run"])
        if not run.active:
            raise ApiError(404, shapes.unknown_run(run.job, run.id))
        self.framework.kill(run.job, run.id)
        return json(shapes.run_json(run))

    # Schedules.

    async def list_schedules(self, request: web.Request) -> web.Response:
        return json(shapes.schedules(self.job(request)))

    async def create_schedule(self, request: web.Request) -> web.Response:
        body = await read_json(request, _refusal)
        entry = self.job(request)
        fields = job_spec.schedule_fields(body)
        d = entry.definition
        if d.cron is not None and (d.schedule_id or "default") == fields.get("scheduleId"):
            raise ApiError(
                409, shapes.error(f"A schedule with id {fields['scheduleId']} already exists")
            )
        if d.cron is not None or d.schedule is not None:
            raise ApiError(409, shapes.error("Only one schedule supported at the moment"))
        return self.scheduled(entry, fields, 201)

    async def get_schedule(self, request: web.Request) -> web.Response:
        entry = self.job(request)
        return json(self.schedule(request, entry))

    async def update_schedule(self, request: web.Request) -> web.Response:
        body = await read_json(request, _refusal)
        entry = self.job(request)
        self.schedule(request, entry)
        if isinstance(body, dict):
            body = {**body, "id": request.match_info["schedule"]}
        return self.scheduled(entry, job_spec.schedule_fields(body), 200)

    async def delete_schedule(self, request: web.Request) -> web.Response:
        entry = self.job(request)
        self.schedule(request, entry)
        self.framework.add({**entry.definition.to_json(), **_NO_SCHEDULE})
        return web.Response(status=200)

    # Helpers.

    def job(self, request: web.Request, name: str | None = None) -> Job:
        job_id = name or request.match_info["id"]
        found = self.framework.book.jobs.get(job_id)
        if found is None:
            raise ApiError(404, shapes.unknown_job(job_id))
        return found

    def run(self, request: web.Request, run_id: str) -> Run:
        entry = self.job(request)
        for run in entry.runs:
            if run.id == run_id:
                return run
        raise ApiError(404, shapes.unknown_run(entry.definition.name, run_id))

    def schedule(self, request: web.Request, entry: Job) -> dict[str, Any]:
        schedule_id = request.match_info["schedule"]
        found = shapes.schedule_json(entry.definition, entry.next_due)
        if found is None or found["id"] != schedule_id:
            raise ApiError(404, shapes.unknown_schedule(schedule_id))
        return found

    def scheduled(self, entry: Job, fields: dict[str, Any], status: int) -> web.Response:
        """Give the job this schedule; answer with it."""
        definition = parse_job({**entry.definition.to_json(), **_NO_SCHEDULE, **fields})
        self.framework.add(definition.to_json())
        updated = self.framework.book.jobs[definition.name]
        return json(shapes.schedule_json(updated.definition, updated.next_due), status)


def _spec(body: Any) -> JobDefinition:
    """A JobSpec read whole (Chronos's flat jobs go to `/v1/scheduler`)."""
    if isinstance(body, dict) and "name" in body:
        raise JobDefinitionError([("name", "unknown field: a JobSpec names its job by id")])
    if not job_spec.is_job_spec(body):
        raise JobDefinitionError([("id", "is required")])
    return parse_job(body)
