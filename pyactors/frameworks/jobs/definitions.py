"""Job definitions with Chronos's and Metronome's field names, validated
whole and frozen.

`parse_job` reads a dict (or its JSON text). Every problem is reported at
once in one `JobDefinitionError` naming each field; nothing is returned.
`null` reads as an absent field. Fields and defaults:

- `name` (required; letters, digits, `_`, `.`, `-`), `command` (required,
  run by `/bin/sh -c`), `description`, `owner`, `labels` (string to
  string) and `scheduleId` (the id of its Metronome schedule) kept, not
  used;
- when it runs, at most one of: `schedule` (Chronos: `R[n]/<start>/<period>`,
  see `job_schedule`), `cron` (Metronome), `parents` (Chronos's dependent
  jobs: a run after each success of all its parents); none: on demand only;
- `scheduleTimeZone` (IANA name, default UTC): the zone of a start without
  offset and of cron expressions;
- `epsilon` (ISO 8601 duration, default PT60S): how late a run may start;
  Metronome's `startingDeadlineSeconds`, when given, replaces it;
- `retries` (default 2, Chronos's): how many times a failed run is retried;
- `cpus` (0.1), `mem` (128 MB), `disk` (0: none asked; Chronos's 256 MB would
  keep jobs off agents that offer no disk);
- `env` (string to string): the task's environment variables;
- `disabled` (false): no scheduled or dependent runs, `run` still works;
- overlapping runs: Metronome's `concurrencyPolicy` ALLOW, FORBID (the new
  run is skipped) or REPLACE (the running one is killed); else Chronos's
  `concurrent` (true: ALLOW, false: FORBID); else ALLOW for cron jobs
  (Metronome's default) and FORBID for the others (Chronos's).

Metronome's nested JobSpec (`id`, `run.cmd`, `schedules[]`, ...) is read
too: `job_spec.flat` turns it into these fields, and problems are
reported at the JobSpec's paths (`run.cmd`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyactors._core import Resources
from pyactors.errors import JobDefinitionError
from pyactors.frameworks.definitions import DefinitionReader, decoded, shown
from pyactors.frameworks.jobs import job_spec
from pyactors.frameworks.jobs import schedule as job_schedule
from pyactors.frameworks.jobs.schedule import Schedule

POLICIES = ("ALLOW", "FORBID", "REPLACE")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
_FIELDS = (
    "name",
    "command",
    "description",
    "owner",
    "schedule",
    "cron",
    "parents",
    "scheduleTimeZone",
    "epsilon",
    "retries",
    "cpus",
    "mem",
    "disk",
    "disabled",
    "concurrent",
    "concurrencyPolicy",
    "startingDeadlineSeconds",
    "labels",
    "scheduleId",
    "env",
)


@dataclass(frozen=True)
class JobDefinition:
    name: str
    command: str
    description: str = ""
    owner: str = ""
    schedule: str | None = None
    cron: str | None = None
    parents: tuple[str, ...] = ()
    schedule_time_zone: str = "UTC"
    epsilon: str = "PT60S"
    retries: int = 2
    cpus: float = 0.1
    mem: float = 128.0
    disk: float = 0.0
    disabled: bool = False
    concurrent: bool | None = None
    concurrency_policy: str | None = None
    starting_deadline_seconds: int | None = None
    labels: tuple[tuple[str, str], ...] = ()
    schedule_id: str | None = None
    env: tuple[tuple[str, str], ...] = ()

    @property
    def policy(self) -> str:
        """ALLOW, FORBID or REPLACE: what a run due while another is active does."""
        if self.concurrency_policy is not None:
            return self.concurrency_policy
        if self.concurrent is not None:
            return "ALLOW" if self.concurrent else "FORBID"
        return "ALLOW" if self.cron is not None else "FORBID"

    @property
    def tolerance(self) -> float:
        """Seconds after its scheduled time within which a run may still start."""
        if self.starting_deadline_seconds is not None:
            return float(self.starting_deadline_seconds)
        return job_schedule.duration_seconds(self.epsilon)

    def timetable(self, added_at: float) -> Schedule | None:
        """When scheduled runs are due (None: never by schedule); an empty
        start in `schedule` is `added_at`."""
        zone = job_schedule.time_zone(self.schedule_time_zone)
        if self.schedule is not None:
            return job_schedule.parse_repeating(self.schedule, zone, added_at)
        if self.cron is not None:
            return job_schedule.parse_cron(self.cron, zone)
        return None

    def resources(self) -> Resources:
        text = f"cpus:{self.cpus};mem:{self.mem}"
        return Resources.parse(text + (f";disk:{self.disk}" if self.disk > 0 else ""))

    def to_json(self) -> dict[str, Any]:
        """The definition with Chronos's and Metronome's field names; `parse_job`
        reads it back equal."""
        data: dict[str, Any] = {
            "name": self.name,
            "command": self.command,
            "description": self.description,
            "owner": self.owner,
            "schedule": self.schedule,
            "cron": self.cron,
            "parents": list(self.parents),
            "scheduleTimeZone": self.schedule_time_zone,
            "epsilon": self.epsilon,
            "retries": self.retries,
            "cpus": self.cpus,
            "mem": self.mem,
            "disk": self.disk,
            "disabled": self.disabled,
            "concurrent": self.concurrent,
            "concurrencyPolicy": self.concurrency_policy,
            "startingDeadlineSeconds": self.starting_deadline_seconds,
            "labels": dict(self.labels),
            "scheduleId": self.schedule_id,
            "env": dict(self.env),
        }
        return data


def parse_job(definition: Mapping[str, Any] | str | bytes) -> JobDefinition:
    """A validated `JobDefinition`; JobDefinitionError listing every problem
    otherwise."""
    data, not_json = decoded(definition)
    if not_json is not None:
        raise JobDefinitionError([("(job)", not_json)])
    if job_spec.is_job_spec(data):
        fields, problems = job_spec.flat(data)
        try:
            read = parse_job(fields)
        except JobDefinitionError as error:
            problems += [(job_spec.spec_path(field), text) for field, text in error.problems]
        if problems:
            raise JobDefinitionError(problems)
        return read
    reader = _JobReader()
    job = reader.job(data)
    if reader.problems or job is None:
        raise JobDefinitionError(reader.problems)
    return job


class _JobReader(DefinitionReader):
    """Reads each field, collecting every problem. A job's fields are all at
    its top, so every path is a field name."""

    def __init__(self) -> None:
        super().__init__("(job)", "Chronos/Metronome")

    def text(self, data: Mapping[str, Any], key: str) -> str | None:
        return self.string(data, key, "", None)

    def job(self, value: Any) -> JobDefinition | None:
        data = self.object(value, "", _FIELDS)
        if data is None:
            return None
        name = self.text(data, "name")
        if "name" not in data:
            self.fail("name", "is required")
        elif name is not None and (not _NAME.fullmatch(name) or ".." in name):
            self.fail(
                "name",
                f"use 1-100 characters of [A-Za-z0-9_.-], not starting with '.' or '-', "
                f"without '..'; got {shown(name)}",
            )
            name = None
        command = self.text(data, "command")
        if "command" not in data or command == "":
            self.fail("command", "is required (a shell command)")
        zone_name = self.text(data, "scheduleTimeZone") or "UTC"
        try:
            zone = job_schedule.time_zone(zone_name)
        except ValueError as error:
            self.fail("scheduleTimeZone", str(error))
            zone = job_schedule.time_zone("UTC")
        schedule = self.text(data, "schedule")
        if schedule is not None:
            try:
                job_schedule.parse_repeating(schedule, zone, 0.0)
            except ValueError as error:
                self.fail("schedule", str(error))
        cron = self.text(data, "cron")
        if cron is not None:
            try:
                job_schedule.parse_cron(cron, zone)
            except ValueError as error:
                self.fail("cron", str(error))
        parents = self.parents(data, name)
        when = [key for key in ("schedule", "cron", "parents") if data.get(key)]
        if len(when) > 1:
            self.fail(when[1], f"a job runs by one of schedule, cron or parents; got {when}")
        epsilon = self.text(data, "epsilon") or "PT60S"
        try:
            job_schedule.duration_seconds(epsilon)
        except ValueError as error:
            self.fail("epsilon", str(error))
        policy = self.text(data, "concurrencyPolicy")
        if policy is not None and policy not in POLICIES:
            self.fail("concurrencyPolicy", f"expected one of {list(POLICIES)}, got {shown(policy)}")
        concurrent = self.typed(data, "concurrent", "", bool, "true or false")
        if concurrent is not None and policy in POLICIES and (policy == "ALLOW") != concurrent:
            self.fail("concurrent", f"contradicts concurrencyPolicy {policy}")
        retries = self.integer(data, "retries", "", 2, minimum=0)
        deadline = (
            self.integer(data, "startingDeadlineSeconds", "", 0, minimum=1)
            if "startingDeadlineSeconds" in data
            else None
        )
        cpus = self.number(data, "cpus", "", 0.1, minimum=0.0, above_minimum=True)
        mem = self.number(data, "mem", "", 128.0, minimum=0.0, above_minimum=True)
        disk = self.number(data, "disk", "", 0.0, minimum=0.0)
        disabled = self.typed(data, "disabled", "", bool, "true or false")
        description = self.text(data, "description") or ""
        owner = self.text(data, "owner") or ""
        labels = self.strings(data, "labels")
        env = self.strings(data, "env")
        schedule_id = self.text(data, "scheduleId")
        if schedule_id is not None and not job_spec.SCHEDULE_ID.fullmatch(schedule_id):
            self.fail(
                "scheduleId", f"digits, lowercase letters and dashes; got {shown(schedule_id)}"
            )
        if self.problems or name is None or command is None:
            return None
        return JobDefinition(
            name=name,
            command=command,
            description=description,
            owner=owner,
            schedule=schedule,
            cron=cron,
            parents=parents,
            schedule_time_zone=zone_name,
            epsilon=epsilon,
            retries=retries,
            cpus=float(cpus),
            mem=float(mem),
            disk=float(disk),
            disabled=bool(disabled),
            concurrent=concurrent,
            concurrency_policy=policy,
            starting_deadline_seconds=deadline,
            labels=labels,
            schedule_id=schedule_id,
            env=env,
        )

    def strings(self, data: Mapping[str, Any], key: str) -> tuple[tuple[str, str], ...]:
        """An object of strings (`labels`, `env`), as sorted pairs."""
        value = self.typed(data, key, "", dict, "an object of strings")
        if value is None:
            return ()
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            self.wrong(key, "an object of strings", value)
            return ()
        return tuple(sorted(value.items()))

    def parents(self, data: Mapping[str, Any], name: str | None) -> tuple[str, ...]:
        value = self.typed(data, "parents", "", list, "a list of job names")
        if value is None:
            return ()
        bad = [p for p in value if not isinstance(p, str) or not _NAME.fullmatch(p)]
        if bad:
            self.fail("parents", f"expected job names, got {shown(bad)}")
        elif len(set(value)) != len(value):
            self.fail("parents", f"names a parent twice: {shown(value)}")
        elif name in value:
            self.fail("parents", f"a job cannot be its own parent (cycle: {name} -> {name})")
        return tuple(value)
