"""Chronos's JSON for the jobs framework: posted jobs read into the flat
definition (Chronos's defaults and read-only fields accepted, what cannot
be carried out refused), jobs as Chronos lists them, stats and the graph."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pyactors.core.tasks import TaskState
from pyactors.errors import JobDefinitionError
from pyactors.frameworks.jobs.book import JobBook
from pyactors.frameworks.jobs.chronos import shapes
from pyactors.frameworks.jobs.definitions import parse_job
from pyactors.frameworks.jobs.job_spec import DEFAULT_CPUS

T0 = 1_800_000_000.0
# Every key Chronos's JobSerializer writes for a schedule-based job, and epsilon.
SERIALIZED = {
    "name", "command", "shell", "epsilon", "executor", "executorFlags", "taskInfoData",
    "retries", "owner", "ownerName", "description", "successCount", "errorCount",
    "lastSuccess", "lastError", "cpus", "disk", "mem", "disabled", "softError",
    "dataProcessingJobType", "errorsSinceLastSuccess", "fetch", "uris",
    "environmentVariables", "arguments", "highPriority", "runAsUser", "concurrent",
    "maxCompletionTime", "constraints", "schedule", "scheduleTimeZone",
}  # fmt: skip


def book_with(*definitions: dict[str, Any]) -> JobBook:
    book = JobBook()
    for definition in definitions:
        book.add(parse_job(definition), T0)
    return book


def test_a_job_read_back_from_chronos_is_accepted_as_it_was_listed() -> None:
    """What a client lists it may post back: defaults, counts and empty
    strings are taken, Chronos's 0 resources and string amounts too."""
    book = book_with({"name": "n", "command": "true", "schedule": "R/2030-01-01T00:00:00Z/PT1H"})
    listed = shapes.job(book.jobs["n"])
    assert set(listed) == SERIALIZED
    fields = shapes.definition({**listed, "cpus": "0.5", "mem": 0}, "schedule")
    assert fields["cpus"] == 0.5 and "mem" not in fields and "successCount" not in fields
    # The listing says `concurrent` outright: the same policy, FORBID.
    expected = dataclasses.replace(book.jobs["n"].definition, cpus=0.5, concurrent=False)
    assert parse_job(fields) == expected


def test_environment_variables_are_chronos_name_value_pairs() -> None:
    posted = {
        "name": "e",
        "command": "env",
        "schedule": "R//PT1H",
        "environmentVariables": [{"name": "A", "value": "1"}],
    }
    book = book_with(shapes.definition(posted, "schedule"))
    assert book.jobs["e"].definition.env == (("A", "1"),)
    assert shapes.job(book.jobs["e"])["environmentVariables"] == posted["environmentVariables"]
    with pytest.raises(JobDefinitionError, match="environmentVariables"):
        shapes.definition({**posted, "environmentVariables": [{"A": "1"}]}, "schedule")


def test_what_the_framework_cannot_do_is_refused_all_at_once() -> None:
    posted = {
        "name": "n",
        "command": "run.sh",
        "schedule": "R//PT1H",
        "shell": False,
        "arguments": ["-v"],
        "container": {"type": "DOCKER", "image": "busybox"},
        "cpus": "many",
        "parents": ["p"],
    }
    with pytest.raises(JobDefinitionError) as refused:
        shapes.definition(posted, "schedule")
    assert [field for field, _ in refused.value.problems] == [
        "shell", "arguments", "container", "cpus", "parents",
    ]  # fmt: skip
    with pytest.raises(JobDefinitionError, match="schedule"):
        shapes.definition({"name": "c", "command": "true", "schedule": "R//PT1H"}, "parents")
    with pytest.raises(JobDefinitionError, match="parents"):
        shapes.definition({"name": "c", "command": "true"}, "parents")
    with pytest.raises(JobDefinitionError, match="JSON object"):
        shapes.definition(["n"], "schedule")


def test_counts_last_times_state_and_stats_come_from_the_runs_kept() -> None:
    book = book_with(
        {"name": "p", "command": "true", "retries": 0},
        {"name": "c", "command": "true", "parents": ["p"]},
    )
    run, _ = book.run_now("p", T0)
    task = book.launched(run, T0 + 1, "agent-1")
    book.task_update(task, TaskState.TASK_RUNNING, "", T0 + 2)
    book.task_update(task, TaskState.TASK_FINISHED, "", T0 + 7)
    failed, _ = book.run_now("p", T0 + 10)
    book.task_update(book.launched(failed, T0 + 11), TaskState.TASK_FAILED, "exit 1", T0 + 12)
    parent = shapes.job(book.jobs["p"])
    assert (parent["successCount"], parent["errorCount"], parent["errorsSinceLastSuccess"]) == (
        1,
        1,
        1,
    )
    assert parent["lastSuccess"] == shapes.iso(T0 + 7) and parent["lastSuccess"].endswith("Z")
    assert parent["lastError"] == shapes.iso(T0 + 12)
    child = shapes.job(book.jobs["c"])
    assert child["parents"] == ["p"] and "schedule" not in child
    # The parent's success started the child's run.
    assert shapes.current_state(book.jobs["c"]) == "queued"
    assert shapes.graph_csv(book.jobs[name] for name in book.names()).splitlines() == [
        "node,c,fresh,queued",
        "node,p,failure,idle",
        "link,p,c",
    ]
    stat = shapes.stat(book.jobs["p"])
    assert stat["histogram"]["count"] == 1 and stat["histogram"]["median"] == 5000.0
    first, second = stat["taskStatHistory"]
    assert first["status"] == "Success" and first["slaveId"] == "agent-1"
    assert first["duration"] == "0d0h0m5s" and second["status"] == "Fail"


def test_search_matches_as_chronos_does() -> None:
    book = book_with({"name": "Nightly-Backup", "command": "pg_dump db"})
    job = book.jobs["Nightly-Backup"]
    assert shapes.matches(job, "backup", "", "")
    assert shapes.matches(job, "", "PG_DUMP", "")
    assert not shapes.matches(job, "backup", "rsync", "")
    assert shapes.matches(job, "other", "", "dump")


def test_a_cron_job_shows_an_empty_schedule_and_metronome_defaults() -> None:
    book = book_with({"id": "m", "run": {"cmd": "true"}})
    listed = shapes.job(book.jobs["m"])
    assert listed["schedule"] == "" and listed["cpus"] == DEFAULT_CPUS
