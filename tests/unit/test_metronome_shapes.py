"""Metronome's JobSpec read into the jobs framework's definition and shown
back, its schedules, runs and errors."""

from __future__ import annotations

from typing import Any

import pytest

from pyactors.core.tasks import TaskState
from pyactors.errors import JobDefinitionError
from pyactors.frameworks.jobs.book import JobBook
from pyactors.frameworks.jobs.chronos import metronome_shapes as shapes
from pyactors.frameworks.jobs.definitions import parse_job

T0 = 1_800_000_000.0
SPEC: dict[str, Any] = {
    "id": "prod.backup",
    "description": "Nightly backup",
    "labels": {"team": "storage"},
    "run": {
        "cmd": "pg_dump db",
        "cpus": 0.5,
        "mem": 64,
        "disk": 10,
        "maxLaunchDelay": 3600,
        "restart": {"policy": "ON_FAILURE"},
        "placement": {"constraints": []},
        "env": {},
        "artifacts": [],
        "volumes": [],
    },
    "schedules": [
        {
            "id": "nightly",
            "cron": "0 3 * * *",
            "timezone": "Europe/Berlin",
            "startingDeadlineSeconds": 120,
            "concurrencyPolicy": "FORBID",
            "enabled": True,
        }
    ],
}


def test_a_job_spec_reads_into_the_definition_and_shows_back_the_same() -> None:
    job = parse_job(SPEC)
    assert (job.name, job.command, job.cron, job.schedule_time_zone) == (
        "prod.backup",
        "pg_dump db",
        "0 3 * * *",
        "Europe/Berlin",
    )
    assert (job.cpus, job.mem, job.disk, job.retries, job.policy) == (0.5, 64, 10, 2, "FORBID")
    assert job.tolerance == 120 and job.schedule_id == "nightly"
    assert dict(job.labels) == {"team": "storage"}
    book = JobBook()
    book.add(job, T0)
    shown = shapes.job_spec(book.jobs["prod.backup"])
    schedule = shown["schedules"][0]
    assert schedule.pop("nextRunAt").endswith("+0000")
    assert {**shown, "schedules": [schedule]} == {**SPEC, "dependencies": []}
    assert parse_job(shown) == job


def test_metronome_defaults_and_a_disabled_schedule() -> None:
    spec = {"id": "j", "run": {"cmd": "true"}, "schedules": [{"id": "every", "cron": "* * * * *"}]}
    job = parse_job({**spec, "schedules": [{**spec["schedules"][0], "enabled": False}]})
    assert (job.cpus, job.mem, job.disk, job.retries) == (1.0, 128.0, 0.0, 0)
    assert job.policy == "ALLOW" and job.tolerance == 900 and job.disabled
    assert parse_job(
        {"id": "k", "run": {"cmd": "true"}, "dependencies": [{"id": "j"}]}
    ).parents == ("j",)


@pytest.mark.parametrize(
    ("run", "path"),
    [
        ({"cmd": "true", "docker": {"image": "busybox"}}, "run.docker"),
        ({"cmd": "true", "args": ["-v"]}, "run.args"),
        ({"cmd": "true", "gpus": 1}, "run.gpus"),
        ({"cmd": "true", "maxLaunchDelay": 60}, "run.maxLaunchDelay"),
        ({"cmd": "true", "placement": {"constraints": [{"attribute": "rack"}]}}, None),
        ({"cmd": "true", "restart": {"policy": "ALWAYS"}}, "run.restart.policy"),
        ({"cpus": 0.1}, "run.cmd"),
    ],
)
def test_what_cannot_be_carried_out_is_refused_at_its_path(
    run: dict[str, Any], path: str | None
) -> None:
    with pytest.raises(JobDefinitionError) as refused:
        parse_job({"id": "j", "run": run})
    paths = [field for field, _ in refused.value.problems]
    assert paths == [path or "run.placement.constraints"]


def test_environment_variables_reach_the_definition_but_secrets_are_refused() -> None:
    job = parse_job({"id": "j", "run": {"cmd": "env", "env": {"B": "2", "A": "1"}}})
    assert job.env == (("A", "1"), ("B", "2"))
    book = JobBook()
    book.add(job, T0)
    assert shapes.job_spec(book.jobs["j"])["run"]["env"] == {"A": "1", "B": "2"}
    with pytest.raises(JobDefinitionError) as refused:
        parse_job({"id": "j", "run": {"cmd": "env", "env": {"TOKEN": {"secret": "s"}}}})
    assert "run.env.TOKEN" in [field for field, _ in refused.value.problems]


def test_every_problem_of_a_spec_at_once_as_metronome_shows_them() -> None:
    bad = {
        "id": "j",
        "run": {"cmd": "true", "cpus": -1},
        "schedules": [{"id": "Nightly", "cron": "never"}, {"id": "b", "cron": "* * * * *"}],
    }
    with pytest.raises(JobDefinitionError) as refused:
        parse_job(bad)
    assert [field for field, _ in refused.value.problems] == ["schedules", "run.cpus"]
    with pytest.raises(JobDefinitionError) as refused:
        parse_job({**bad, "schedules": bad["schedules"][:1]})
    body = shapes.not_valid(refused.value.problems)
    assert body["message"] == "Object is not valid"
    assert [d["path"] for d in body["details"]] == [
        "/schedules(0)/id",
        "/schedules(0)/cron",
        "/run/cpus",
    ]


def test_runs_as_metronome_shows_them() -> None:
    book = JobBook()
    book.add(parse_job({"id": "j", "run": {"cmd": "true"}}), T0)
    run, _ = book.run_now("j", T0)
    assert shapes.run_json(run) == {
        "id": run.id,
        "jobId": "j",
        "status": "STARTING",
        "createdAt": shapes.timestamp(T0),
        "completedAt": None,
        "tasks": [],
    }
    task_id = book.launched(run, T0 + 1, "agent-1")
    book.task_update(task_id, TaskState.TASK_RUNNING, "", T0 + 2)
    active = shapes.run_json(run)
    assert active["status"] == "ACTIVE" and active["tasks"][0]["status"] == "TASK_RUNNING"
    book.task_update(task_id, TaskState.TASK_FINISHED, "", T0 + 3)
    done = shapes.run_json(run)
    assert done["status"] == "SUCCESS" and done["completedAt"] == shapes.timestamp(T0 + 3)
    history = shapes.job_spec(book.jobs["j"], ["history"])["history"]
    assert history["successCount"] == 1
    assert history["successfulFinishedRuns"][0]["id"] == run.id
