"""Metronome's JSON for the jobs framework: a job as its JobSpec (with the
`embed`s `activeRuns`, `history`, `historySummary`), its schedule (with
`nextRunAt`), a run (`JobRun`: `id`, `jobId`, `status`, `createdAt`,
`completedAt`, `tasks`), `/info` and `/v1/metrics`, and errors (`{"message": ...}`; validation:
`{"message": "Object is not valid", "details": [{"path", "errors"}]}`;
unknown things: `{"id", "message": "Job not found"}` and the like), with
Metronome's timestamps (`2016-07-15T13:02:59.735+0000`).

Run states as Metronome names them: a run waiting for resources is
STARTING, a launched one ACTIVE; SUCCESS; FAILED for a failed, killed or
skipped one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pyactors.core.version import VERSION
from pyactors.frameworks.jobs.book import (
    ACTIVE,
    FAILED,
    KILLED,
    QUEUED,
    RUNNING,
    SKIPPED,
    STARTING,
    SUCCESS,
    Job,
    JobBook,
    Run,
)
from pyactors.frameworks.jobs.definitions import JobDefinition
from pyactors.frameworks.jobs.job_spec import DEFAULT_MAX_LAUNCH_DELAY, spec_path

EMBEDS = ("activeRuns", "schedules", "history", "historySummary")
_STATUS = {
    QUEUED: "STARTING",
    STARTING: "ACTIVE",
    RUNNING: "ACTIVE",
    SUCCESS: "SUCCESS",
    FAILED: "FAILED",
    KILLED: "FAILED",
    SKIPPED: "FAILED",
}
_TASK_STATE = {
    STARTING: "TASK_STAGING",
    RUNNING: "TASK_RUNNING",
    SUCCESS: "TASK_FINISHED",
    FAILED: "TASK_FAILED",
    KILLED: "TASK_KILLED",
}


def timestamp(t: float | None) -> str | None:
    if t is None:
        return None
    moment = datetime.fromtimestamp(t, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def error(message: str) -> dict[str, Any]:
    return {"message": message}


def not_valid(problems: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Metronome's 422 body; `problems` at JobSpec paths (`run.cmd`) or flat
    definition fields, shown as JSON paths (`/run/cmd`, `/schedules(0)/cron`)."""
    details: dict[str, list[str]] = {}
    for field, message in problems:
        details.setdefault(_json_path(spec_path(field)), []).append(message)
    return {
        "message": "Object is not valid",
        "details": [{"path": path, "errors": errors} for path, errors in details.items()],
    }


def _json_path(path: str) -> str:
    if path.startswith("("):
        return "/"
    return "/" + path.replace(".", "/").replace("[", "(").replace("]", ")")


def unknown_job(job_id: str) -> dict[str, Any]:
    return {"id": job_id, "message": "Job not found"}


def unknown_run(job_id: str, run_id: str) -> dict[str, Any]:
    return {"jobSpec": job_id, "id": run_id, "message": "Job Run not found"}


def unknown_schedule(schedule_id: str) -> dict[str, Any]:
    return {"id": schedule_id, "message": "Schedule not found"}


def job_spec(entry: Job, embed: Iterable[str] = ()) -> dict[str, Any]:
    """A job as Metronome's JobSpec, with what `embed` asks for."""
    d = entry.definition
    data: dict[str, Any] = {
        "id": d.name,
        "description": d.description,
        "dependencies": [{"id": parent} for parent in d.parents],
        "labels": dict(d.labels),
        "run": {
            "cmd": d.command,
            "cpus": d.cpus,
            "mem": d.mem,
            "disk": d.disk,
            "maxLaunchDelay": DEFAULT_MAX_LAUNCH_DELAY,
            "restart": {"policy": "ON_FAILURE" if d.retries else "NEVER"},
            "placement": {"constraints": []},
            "artifacts": [],
            "env": dict(d.env),
            "volumes": [],
        },
        "schedules": schedules(entry),
    }
    wanted = set(embed)
    if "activeRuns" in wanted:
        data["activeRuns"] = [run_json(run) for run in entry.runs if run.active]
    if "history" in wanted:
        data["history"] = history(entry, finished_runs=True)
    if "historySummary" in wanted:
        data["historySummary"] = history(entry, finished_runs=False)
    return data


def schedules(entry: Job) -> list[dict[str, Any]]:
    """The job's schedule, if it runs by cron (Metronome schedules nothing else)."""
    schedule = schedule_json(entry.definition, entry.next_due)
    return [] if schedule is None else [schedule]


def schedule_json(d: JobDefinition, next_due: float | None) -> dict[str, Any] | None:
    if d.cron is None:
        return None
    return {
        "id": d.schedule_id or "default",
        "cron": d.cron,
        "timezone": d.schedule_time_zone,
        "startingDeadlineSeconds": int(d.tolerance),
        "concurrencyPolicy": d.policy,
        "enabled": not d.disabled,
        "nextRunAt": timestamp(next_due),
    }


def schedule_of(d: JobDefinition) -> dict[str, Any]:
    """The flat definition's schedule fields of `d` (to carry them over an
    update, or clear them)."""
    return {
        "cron": d.cron,
        "scheduleId": d.schedule_id,
        "scheduleTimeZone": d.schedule_time_zone,
        "startingDeadlineSeconds": d.starting_deadline_seconds,
        "concurrencyPolicy": d.concurrency_policy,
        "disabled": d.disabled,
    }


def run_json(run: Run) -> dict[str, Any]:
    tasks = []
    if run.task_id is not None:
        tasks.append(
            {
                "id": run.task_id,
                "startedAt": timestamp(run.started),
                "completedAt": None if run.active else timestamp(run.finished),
                "status": _TASK_STATE.get(run.state, "TASK_STAGING"),
            }
        )
    return {
        "id": run.id,
        "jobId": run.job,
        "status": _STATUS[run.state],
        "createdAt": timestamp(run.scheduled),
        "completedAt": None if run.active else timestamp(run.finished),
        "tasks": tasks,
    }


def history(entry: Job, finished_runs: bool) -> dict[str, Any]:
    ended = [run for run in entry.runs if run.state not in ACTIVE]
    successes = [run for run in ended if run.state == SUCCESS]
    failures = [run for run in ended if run.state != SUCCESS]
    data: dict[str, Any] = {
        "successCount": len(successes),
        "failureCount": len(failures),
        "lastSuccessAt": timestamp(max((r.finished or 0.0 for r in successes), default=None)),
        "lastFailureAt": timestamp(max((r.finished or 0.0 for r in failures), default=None)),
    }
    if finished_runs:
        data["successfulFinishedRuns"] = [_finished(run) for run in successes]
        data["failedFinishedRuns"] = [_finished(run) for run in failures]
    return data


def _finished(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "createdAt": timestamp(run.scheduled),
        "finishedAt": timestamp(run.finished),
    }


def info() -> dict[str, Any]:
    """`GET /info` as Metronome answers it (`MetronomeInfoWrites`): its
    version, the version of the library it runs on (Marathon's there,
    pyactors' here) and its configuration's settings, of which none of
    Metronome's applies."""
    return {"version": VERSION, "libVersion": VERSION, "config": {}}


def metrics(book: JobBook, revive_calls: int) -> dict[str, Any]:
    """`GET /v1/metrics` in the Dropwizard JSON Metronome serves (Marathon's
    `MetricsConversion`), with the metrics Metronome documents that the
    framework has: runs active, started and failed (or stopped) since
    this instance started, and its REVIVE calls."""
    active = sum(run.active for job in book.jobs.values() for run in job.runs)
    return {
        "version": "4.0.0",
        "counters": {
            "metronome.jobs.started.counter": {"count": book.runs_started},
            "metronome.jobs.failed.counter": {"count": book.runs_failed},
            "metronome.mesos.calls.revive.counter": {"count": revive_calls},
        },
        "gauges": {"metronome.jobs.active.gauge": {"value": float(active)}},
        "histograms": {},
        "meters": {},
        "timers": {},
    }
