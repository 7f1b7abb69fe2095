"""Metronome's nested JobSpec (what `/v1/jobs` and `dcos job add` take) read
into the jobs framework's flat definition (`definitions.parse_job` reads
the result; it calls `flat` for any definition with `id` or `run`).

Read and kept: `id` (the job's name), `description`, `labels`,
`dependencies` (`[{"id": ...}]`: the jobs it runs after, Chronos's
`parents`), `run.cmd` (by `/bin/sh -c`), `run.env` (plain values),
`run.cpus` (default 1, as Metronome's), `run.mem` (128), `run.disk` (0),
`run.restart.policy` (NEVER: no retries; ON_FAILURE: Chronos's two), and
at most one schedule (Metronome takes no more either): `id`, `cron`,
`timezone` (UTC), `concurrencyPolicy` (ALLOW), `startingDeadlineSeconds`
(900, Metronome's) and `enabled` (false: the job's `disabled`).
Output-only fields (a schedule's `nextRunAt`) are ignored.

Refused with the reason, unless empty or at Metronome's default: what the
framework cannot carry out (`docker`, `ucr`, `artifacts`, `volumes`,
`secrets` and `env` values naming one, `networks`, `args`, `user`, `gpus`,
placement constraints, `taskKillGracePeriodSeconds`), a `maxLaunchDelay`
other than 3600 (runs wait for resources with no launch deadline; only a
schedule's starting deadline bounds scheduled runs) and
`activeDeadlineSeconds` with ON_FAILURE (retries are counted, not timed).

Problems are reported at the JobSpec's own paths (`run.cmd`,
`schedules[0].cron`); `spec_path` names the field a problem of the flat
definition came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pyactors.errors import JobDefinitionError
from pyactors.frameworks.definitions import DefinitionReader, shown

DEFAULT_CPUS = 1.0
DEFAULT_MEM = 128.0
DEFAULT_MAX_LAUNCH_DELAY = 3600
DEFAULT_STARTING_DEADLINE = 900
# Chronos's default retries, for ON_FAILURE (Metronome retries until a deadline).
ON_FAILURE_RETRIES = 2
SCHEDULE_ID = re.compile(r"[a-z0-9][a-z0-9-]*[a-z0-9]+")

_SPEC = ("id", "description", "labels", "dependencies", "schedules", "run")
_RUN = ("cmd", "env", "cpus", "mem", "disk", "gpus", "maxLaunchDelay", "restart", "placement")
_RUN_UNSUPPORTED = (
    "args",
    "artifacts",
    "docker",
    "ucr",
    "volumes",
    "secrets",
    "networks",
    "user",
    "taskKillGracePeriodSeconds",
)
_SCHEDULE = (
    "id",
    "cron",
    "timezone",
    "startingDeadlineSeconds",
    "concurrencyPolicy",
    "enabled",
    "nextRunAt",
)

# Where each field of the flat definition comes from in a JobSpec.
_SPEC_PATHS = {
    "name": "id",
    "command": "run.cmd",
    "env": "run.env",
    "cpus": "run.cpus",
    "mem": "run.mem",
    "disk": "run.disk",
    "retries": "run.restart.policy",
    "parents": "dependencies",
    "cron": "schedules[0].cron",
    "scheduleId": "schedules[0].id",
    "scheduleTimeZone": "schedules[0].timezone",
    "startingDeadlineSeconds": "schedules[0].startingDeadlineSeconds",
    "concurrencyPolicy": "schedules[0].concurrencyPolicy",
    "disabled": "schedules[0].enabled",
}


def is_job_spec(data: Any) -> bool:
    """Whether a definition is Metronome's nested form (Chronos's has a `name`)."""
    return isinstance(data, Mapping) and "name" not in data and ("id" in data or "run" in data)


def spec_path(field: str) -> str:
    """The JobSpec path of a flat definition's field (itself if the same)."""
    return _SPEC_PATHS.get(field, field)


def flat(spec: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The flat definition of a JobSpec, and the problems found reading it
    (at the JobSpec's paths) that the flat definition cannot show."""
    reader = DefinitionReader("(job)", "Metronome")
    data = reader.object(spec, "", _SPEC)
    if data is None:
        return {}, reader.problems
    out: dict[str, Any] = {}
    if "id" not in data:
        reader.fail("id", "is required")
    else:
        out["name"] = data["id"]
    for key in ("description", "labels"):
        if key in data:
            out[key] = data[key]
    parents = reader.array(
        data, "dependencies", "", lambda item, path: _dependency(reader, item, path)
    )
    if parents:
        out["parents"] = list(parents)
    if "run" not in data:
        reader.fail("run", "is required (at least run.cmd)")
    else:
        out.update(_run(reader, data["run"]))
    schedules = data.get("schedules", [])
    if not isinstance(schedules, list):
        reader.wrong("schedules", "an array", schedules)
    elif len(schedules) > 1:
        reader.fail("schedules", f"at most one schedule per job, got {len(schedules)}")
    elif schedules:
        out.update(_schedule(reader, schedules[0], "schedules[0]"))
    return out, reader.problems


def schedule_fields(schedule: Any, path: str = "") -> dict[str, Any]:
    """The flat definition's fields of one ScheduleSpec (`/v1/jobs/{id}/schedules`);
    JobDefinitionError at the schedule's own paths otherwise."""
    reader = DefinitionReader("(schedule)", "Metronome")
    fields = _schedule(reader, schedule, path)
    if reader.problems:
        raise JobDefinitionError(reader.problems)
    return fields


def _dependency(reader: DefinitionReader, item: Any, path: str) -> str | None:
    data = reader.object(item, path, ("id",))
    if data is None:
        return None
    if not isinstance(data.get("id"), str):
        reader.wrong(f"{path}.id", "a job id", data.get("id"))
        return None
    return str(data["id"])


def _run(reader: DefinitionReader, value: Any) -> dict[str, Any]:
    run = reader.object(value, "run", _RUN, _RUN_UNSUPPORTED)
    if run is None:
        return {}
    out: dict[str, Any] = {
        "cpus": run.get("cpus", DEFAULT_CPUS),
        "mem": run.get("mem", DEFAULT_MEM),
        "disk": run.get("disk", 0.0),
    }
    if "cmd" in run:
        out["command"] = run["cmd"]
    if "env" in run:
        out["env"] = run["env"]
        if isinstance(run["env"], dict):
            for name, value in run["env"].items():
                if isinstance(value, dict):
                    reader.fail(f"run.env.{name}", "secrets are not supported: give the value")
    if run.get("gpus", 0) != 0:
        reader.fail("run.gpus", "GPUs are not offered to the jobs framework; use 0")
    delay = run.get("maxLaunchDelay", DEFAULT_MAX_LAUNCH_DELAY)
    if delay != DEFAULT_MAX_LAUNCH_DELAY:
        reader.fail(
            "run.maxLaunchDelay",
            f"runs wait for resources with no launch deadline (only a schedule's "
            f"startingDeadlineSeconds bounds scheduled runs); use {DEFAULT_MAX_LAUNCH_DELAY}, "
            f"got {shown(delay)}",
        )
    placement = reader.object(run.get("placement", {}), "run.placement", ("constraints",))
    if placement and placement.get("constraints") not in (None, []):
        reader.fail("run.placement.constraints", "placement constraints are not supported for jobs")
    out["retries"] = _retries(reader, run.get("restart", {}))
    return out


def _retries(reader: DefinitionReader, value: Any) -> int:
    restart = reader.object(value, "run.restart", ("policy", "activeDeadlineSeconds"))
    if restart is None:
        return 0
    policy = reader.choice(restart, "policy", "run.restart", "NEVER", ("NEVER", "ON_FAILURE"))
    if policy == "ON_FAILURE" and "activeDeadlineSeconds" in restart:
        reader.fail(
            "run.restart.activeDeadlineSeconds",
            f"retries are counted ({ON_FAILURE_RETRIES}), not timed: leave it out",
        )
    return ON_FAILURE_RETRIES if policy == "ON_FAILURE" else 0


def _schedule(reader: DefinitionReader, value: Any, path: str) -> dict[str, Any]:
    schedule = reader.object(value, path, _SCHEDULE)
    if schedule is None:
        return {}
    where = f"{path}." if path else ""
    out: dict[str, Any] = {
        "startingDeadlineSeconds": schedule.get(
            "startingDeadlineSeconds", DEFAULT_STARTING_DEADLINE
        ),
        "concurrencyPolicy": schedule.get("concurrencyPolicy", "ALLOW"),
    }
    schedule_id = schedule.get("id")
    if not isinstance(schedule_id, str) or not SCHEDULE_ID.fullmatch(schedule_id):
        reader.fail(
            f"{where}id",
            "is required: digits, lowercase letters and dashes, not starting or ending "
            f"with a dash; got {shown(schedule_id)}",
        )
    else:
        out["scheduleId"] = schedule_id
    if "cron" not in schedule:
        reader.fail(f"{where}cron", "is required")
    else:
        out["cron"] = schedule["cron"]
    if "timezone" in schedule:
        out["scheduleTimeZone"] = schedule["timezone"]
    enabled = reader.boolean(schedule, "enabled", path, True)
    out["disabled"] = not enabled
    return out
