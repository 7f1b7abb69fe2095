"""Chronos's JSON for the jobs framework: a job as `/scheduler/jobs` lists
it (Chronos's `JobSerializer` keys, plus `epsilon`), its stats
(`/scheduler/job/stat/{name}`), the dependency graph as CSV, errors
(`ApiResult`: `{"status": "Bad Request", "message": ...}`) and the jobs
Chronos clients post, read into the framework's flat definition.

`successCount`, `errorCount`, `lastSuccess`, `lastError` and
`errorsSinceLastSuccess` are counted over the runs the framework keeps
(its `history_limit` per job), as Chronos counts since the job last
changed. A job scheduled by cron (added through Metronome's API) or run
only on demand shows an empty `schedule`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pyactors.errors import JobDefinitionError
from pyactors.frameworks.definitions import shown
from pyactors.frameworks.jobs.book import FAILED, KILLED, SKIPPED, SUCCESS, Job, Run

# Chronos's fields the framework cannot carry out, with Chronos's defaults:
# a posted job may hold them at these values (clients send back what they
# read), and is refused with any other.
CHRONOS_DEFAULTS: dict[str, Any] = {
    "shell": True,
    "executor": "",
    "executorFlags": "",
    "taskInfoData": "",
    "ownerName": "",
    "async": False,
    "softError": False,
    "dataProcessingJobType": False,
    "highPriority": False,
    "runAsUser": "",
    "maxCompletionTime": 0,
    "fetch": [],
    "uris": [],
    "arguments": [],
    "constraints": [],
}
# What Chronos reports and ignores when posted back.
READ_ONLY = ("successCount", "errorCount", "lastSuccess", "lastError", "errorsSinceLastSuccess")
ERRORS = (FAILED, KILLED)


def iso(t: float | None) -> str:
    """Chronos's timestamps (`2014-03-08T16:57:17.507Z`); "" for none."""
    if t is None:
        return ""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def error(message: str, status: str = "Bad Request") -> dict[str, str]:
    return {"status": status, "message": message}


def definition(body: Any, kind: str) -> dict[str, Any]:
    """The flat definition of a job posted to `/scheduler/iso8601` (`kind`
    "schedule") or `/scheduler/dependency` ("parents"); JobDefinitionError
    naming each problem (`parse_job` reads the rest)."""
    if not isinstance(body, Mapping):
        raise JobDefinitionError([("(job)", f"expected a JSON object, got {shown(body)}")])
    problems: list[tuple[str, str]] = []
    out: dict[str, Any] = {}
    for key, value in body.items():
        if value is None or key in READ_ONLY:
            continue
        if key in CHRONOS_DEFAULTS:
            default = CHRONOS_DEFAULTS[key]
            if value != default:
                problems.append(
                    (
                        key,
                        f"the jobs framework does not support it: leave it out or {shown(default)}",
                    )
                )
        elif key == "environmentVariables":
            env = _environment(value)
            if env is None:
                problems.append((key, f"expected [{{name, value}}, ...], got {shown(value)}"))
            elif env:
                out["env"] = env
        elif key == "container":
            problems.append((key, "containers are not supported: jobs run as shell commands"))
        elif key in ("cpus", "mem", "disk"):
            amount = _amount(value)
            if amount is None:
                problems.append((key, f"expected a number, got {shown(value)}"))
            elif amount != 0:
                # Chronos reads 0 as "the default".
                out[key] = amount
        elif not (key in ("scheduleTimeZone", "schedule") and value == ""):
            out[key] = value
    if kind == "schedule" and not out.get("schedule"):
        problems.append(("schedule", "is required (R[n]/<start>/<period>) at /scheduler/iso8601"))
    if kind == "schedule" and out.get("parents"):
        problems.append(("parents", "post a dependent job to /scheduler/dependency"))
    if kind == "parents" and not out.get("parents"):
        problems.append(("parents", "is required (a list of job names) at /scheduler/dependency"))
    if kind == "parents" and out.get("schedule"):
        problems.append(("schedule", "post a scheduled job to /scheduler/iso8601"))
    if problems:
        raise JobDefinitionError(problems)
    return out


def _environment(value: Any) -> dict[str, str] | None:
    """Chronos's `[{"name": ..., "value": ...}]` as a mapping; None if it is not one."""
    if not isinstance(value, list):
        return None
    env: dict[str, str] = {}
    for item in value:
        if not isinstance(item, Mapping) or set(item) != {"name", "value"}:
            return None
        env[item["name"]] = item["value"]
    return env


def _amount(value: Any) -> float | None:
    """A resource amount; Chronos's own examples send them as strings ("0.5")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def job(entry: Job) -> dict[str, Any]:
    """A job as Chronos lists it."""
    d = entry.definition
    runs = entry.runs
    successes = [run for run in runs if run.state == SUCCESS]
    errors = [run for run in runs if run.state in ERRORS]
    last_success = max((run.finished or 0.0 for run in successes), default=None)
    since = [run for run in errors if last_success is None or (run.finished or 0) > last_success]
    data: dict[str, Any] = {
        "name": d.name,
        "command": d.command,
        "shell": True,
        "epsilon": d.epsilon,
        "executor": "",
        "executorFlags": "",
        "taskInfoData": "",
        "retries": d.retries,
        "owner": d.owner,
        "ownerName": "",
        "description": d.description,
        "successCount": len(successes),
        "errorCount": len(errors),
        "lastSuccess": iso(last_success),
        "lastError": iso(max((run.finished or 0.0 for run in errors), default=None)),
        "cpus": d.cpus,
        "disk": d.disk,
        "mem": d.mem,
        "disabled": d.disabled,
        "softError": False,
        "dataProcessingJobType": False,
        "errorsSinceLastSuccess": len(since),
        "fetch": [],
        "uris": [],
        "environmentVariables": [{"name": k, "value": v} for k, v in d.env],
        "arguments": [],
        "highPriority": False,
        "runAsUser": "",
        "concurrent": d.policy == "ALLOW",
        "maxCompletionTime": 0,
        "constraints": [],
    }
    if d.parents:
        data["parents"] = list(d.parents)
    else:
        data["schedule"] = d.schedule or ""
        data["scheduleTimeZone"] = d.schedule_time_zone
    return data


def matches(entry: Job, name: str, command: str, any_term: str) -> bool:
    """Chronos's search: each term given is contained, case-insensitively,
    in the job's name or command; `any` matches either when the others do
    not."""
    job_name, job_command = entry.definition.name.lower(), entry.definition.command.lower()
    valid = (not name or name.lower() in job_name) and (
        not command or command.lower() in job_command
    )
    if not valid and any_term:
        term = any_term.lower()
        valid = term in job_name or term in job_command
    return valid


def current_state(entry: Job) -> str:
    """Chronos's `idle`, `queued` or `N running`."""
    running = sum(1 for run in entry.runs if run.state in ("STARTING", "RUNNING"))
    if running:
        return f"{running} running"
    return "queued" if any(run.state == "QUEUED" for run in entry.runs) else "idle"


def last_state(entry: Job) -> str:
    """Chronos's `fresh`, `success` or `failure`: how its latest ended run ended."""
    ended = [run for run in entry.runs if run.state in (SUCCESS, *ERRORS)]
    if not ended:
        return "fresh"
    latest = max(ended, key=lambda run: run.finished or 0.0)
    return "success" if latest.state == SUCCESS else "failure"


def summary(entry: Job) -> dict[str, Any]:
    """A job as `/scheduler/jobs/summary` lists it (Chronos's `status` is
    how it last ended, its `state` what it does now)."""
    d = entry.definition
    return {
        "name": d.name,
        "status": last_state(entry),
        "state": current_state(entry),
        "schedule": "" if d.parents else d.schedule or "",
        "parents": list(d.parents),
        "disabled": d.disabled,
    }


def graph_csv(entries: Iterable[Job]) -> str:
    """`node,<name>,<last state>,<current state>` per job, then
    `link,<parent>,<child>` per dependency."""
    entries = list(entries)
    lines = [f"node,{e.definition.name},{last_state(e)},{current_state(e)}" for e in entries]
    lines += [f"link,{p},{e.definition.name}" for e in entries for p in e.definition.parents]
    return "".join(line + "\n" for line in lines)


def graph_dot(entries: Iterable[Job]) -> str:
    """The dependency graph in Graphviz's DOT, as Chronos's `/graph/dot`:
    nodes numbered, labelled with the jobs' names."""
    entries = list(entries)
    number = {e.definition.name: i for i, e in enumerate(entries, start=1)}
    lines = ["digraph G {"]
    lines += [f'  {i} [ label="{name}" ];' for name, i in number.items()]
    lines += [
        f"  {number[p]} -> {number[e.definition.name]};"
        for e in entries
        for p in e.definition.parents
        if p in number
    ]
    return "\n".join([*lines, "}"]) + "\n"


def stat(entry: Job) -> dict[str, Any]:
    """Chronos's `JobStatWrapper`: run durations (ms) and the runs kept."""
    durations = sorted(
        (run.finished - run.started) * 1000
        for run in entry.runs
        if run.state == SUCCESS and run.started is not None and run.finished is not None
    )
    return {
        "histogram": _histogram(durations),
        "taskStatHistory": [_task_stat(run) for run in entry.runs if run.task_id is not None],
    }


def _histogram(values: list[float]) -> dict[str, float | int]:
    def percentile(q: float) -> float:
        if not values:
            return 0.0
        return values[min(len(values) - 1, round(q * (len(values) - 1)))]

    return {
        "75thPercentile": percentile(0.75),
        "95thPercentile": percentile(0.95),
        "98thPercentile": percentile(0.98),
        "99thPercentile": percentile(0.99),
        "median": percentile(0.5),
        "mean": sum(values) / len(values) if values else 0.0,
        "count": len(values),
    }


def _task_stat(run: Run) -> dict[str, Any]:
    def when(t: float | None) -> str:
        return "N/A" if t is None else datetime.fromtimestamp(t, UTC).strftime("%m/%d/%y %H:%M:%S")

    status = {SUCCESS: "Success", FAILED: "Fail", KILLED: "Fail", SKIPPED: "Fail"}
    data: dict[str, Any] = {
        "taskId": run.task_id,
        "jobName": run.job,
        "slaveId": run.agent_id or "",
        "startTime": when(run.started),
        "endTime": when(run.finished if not run.active else None),
    }
    if run.started is not None and run.finished is not None:
        seconds = int(run.finished - run.started)
        data["duration"] = (
            f"{seconds // 86400}d{seconds // 3600 % 24}h{seconds // 60 % 60}m{seconds % 60}s"
        )
    data["status"] = "Running" if run.active else status.get(run.state, "Idle")
    return data
