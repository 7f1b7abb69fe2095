"""Chronos and Metronome job definitions: defaults, round trips, and every
bad field named, without Ray."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyactors import Resources
from pyactors.errors import InvalidArgumentError, JobDefinitionError
from pyactors.frameworks.jobs.definitions import parse_job


def problems(definition: object) -> dict[str, str]:
    with pytest.raises(JobDefinitionError) as raised:
        parse_job(definition)  # type: ignore[arg-type]
    return dict(raised.value.problems)


def test_a_chronos_job_with_defaults() -> None:
    job = parse_job(
        {"name": "etl", "command": "echo hi", "schedule": "R/2026-11-24T00:00:00Z/PT1H"}
    )
    assert (job.retries, job.cpus, job.mem, job.disk) == (2, 0.1, 128.0, 0.0)
    assert job.epsilon == "PT60S" and job.tolerance == 60.0
    assert job.policy == "FORBID"  # Chronos: concurrent is false by default
    assert job.resources() == Resources.parse("cpus:0.1;mem:128")
    assert job.timetable(0.0) is not None


def test_a_metronome_cron_job() -> None:
    job = parse_job(
        {
            "name": "nightly",
            "command": "backup",
            "cron": "0 3 * * *",
            "scheduleTimeZone": "Europe/Berlin",
            "concurrencyPolicy": "REPLACE",
            "startingDeadlineSeconds": 30,
            "disk": 64,
        }
    )
    assert job.policy == "REPLACE" and job.tolerance == 30.0
    assert job.resources() == Resources.parse("cpus:0.1;mem:128;disk:64")
    assert parse_job({"name": "c", "command": "x", "cron": "* * * * *"}).policy == "ALLOW"
    assert parse_job({"name": "c", "command": "x", "concurrent": True}).policy == "ALLOW"


def test_json_text_and_round_trip() -> None:
    text = orjson.dumps(
        {"name": "a.b_c-1", "command": "true", "parents": ["x", "y"], "retries": 0, "mem": 32}
    )
    job = parse_job(text)
    assert job.parents == ("x", "y")
    assert parse_job(job.to_json()) == job


def test_unknown_fields_and_wrong_types_are_named() -> None:
    found = problems(
        {
            "name": "etl",
            "command": "true",
            "cpu": 1,
            "retries": "2",
            "mem": True,
            "disabled": "no",
            "parents": "etl2",
        }
    )
    assert set(found) == {"cpu", "retries", "mem", "disabled", "parents"}
    assert found["cpu"] == "unknown field"
    assert "integer" in found["retries"]


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"command": "true"}, "name"),
        ({"name": "../x", "command": "true"}, "name"),
        ({"name": "a..b", "command": "true"}, "name"),
        ({"name": "x"}, "command"),
        ({"name": "x", "command": ""}, "command"),
        ({"name": "x", "command": "t", "schedule": "every hour"}, "schedule"),
        ({"name": "x", "command": "t", "schedule": "R/2026-11-24T00:00:00Z/PT0S"}, "schedule"),
        ({"name": "x", "command": "t", "cron": "61 * * * *"}, "cron"),
        ({"name": "x", "command": "t", "scheduleTimeZone": "Nowhere/Town"}, "scheduleTimeZone"),
        ({"name": "x", "command": "t", "epsilon": "60"}, "epsilon"),
        ({"name": "x", "command": "t", "epsilon": "P1M"}, "epsilon"),
        ({"name": "x", "command": "t", "concurrencyPolicy": "SOMETIMES"}, "concurrencyPolicy"),
        ({"name": "x", "command": "t", "startingDeadlineSeconds": 0}, "startingDeadlineSeconds"),
        ({"name": "x", "command": "t", "retries": -1}, "retries"),
        ({"name": "x", "command": "t", "cpus": 0}, "cpus"),
        ({"name": "x", "command": "t", "parents": ["x"]}, "parents"),
        ({"name": "x", "command": "t", "parents": ["y", "y"]}, "parents"),
        ({"name": "x", "command": "t", "cron": "* * * * *", "parents": ["y"]}, "parents"),
        (
            {"name": "x", "command": "t", "concurrent": True, "concurrencyPolicy": "FORBID"},
            "concurrent",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_field(definition: dict[str, object], field: str) -> None:
    assert field in problems(definition)


def test_every_problem_is_reported_at_once_in_a_typed_error() -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        parse_job({"name": 3, "command": None, "epsilon": "soon"})
    message = str(raised.value)
    assert "name" in message and "command" in message and "epsilon" in message
    assert "not valid JSON" in str(problems("{not json"))
    assert "(job)" in problems([1, 2])


names = st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True)


@given(
    name=names,
    retries=st.integers(min_value=0, max_value=10),
    cpus=st.floats(min_value=0.01, max_value=64),
    policy=st.sampled_from([None, "ALLOW", "FORBID", "REPLACE"]),
    hours=st.integers(min_value=1, max_value=48),
    disabled=st.booleans(),
)
def test_valid_definitions_round_trip(
    name: str, retries: int, cpus: float, policy: str | None, hours: int, disabled: bool
) -> None:
    job = parse_job(
        {
            "name": name,
            "command": "echo $PYACTORS_JOB_NAME",
            "schedule": f"R5/2026-01-01T00:00:00Z/PT{hours}H",
            "retries": retries,
            "cpus": cpus,
            "concurrencyPolicy": policy,
            "disabled": disabled,
        }
    )
    assert parse_job(orjson.dumps(job.to_json())) == job
