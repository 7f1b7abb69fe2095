"""The built-in jobs framework on a real cluster: scheduled runs on time,
dependent jobs, retries, FORBID, refused definitions, and definitions and
history kept in ZooKeeper across a restart."""

from __future__ import annotations

import itertools
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from support.runtime import (
    allocation_cycles_pass,
    small_cluster,
    suppressed_with_no_offer_out,
    wait_for,
)

from pyactors.errors import JobDefinitionError, UnknownJobError
from pyactors.runtime.cluster import Cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from small_cluster(tmp_path_factory)


def soon(seconds: float = 2.0) -> str:
    """An ISO 8601 instant a little ahead, on a whole second."""
    return datetime.fromtimestamp(int(time.time() + seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def runs_in(history: list[dict[str, Any]], state: str) -> list[dict[str, Any]]:
    return [run for run in history if run["state"] == state]


@pytest.mark.timeout(400)
def test_a_repeating_job_runs_on_its_schedule_and_its_child_after_it(
    cluster: Cluster,
) -> None:
    jobs = cluster.jobs()
    assert cluster.jobs() is jobs
    jobs.add(
        {
            "name": "every2",
            "command": "echo tick",
            "schedule": f"R/{soon()}/PT2S",
            "cpus": 0.1,
            "mem": 16,
        }
    )
    jobs.add({"name": "after", "command": "echo after", "parents": ["every2"], "mem": 16})
    wait_for(
        lambda: (
            len(runs_in(jobs.history("every2"), "SUCCESS")) >= 4
            and runs_in(jobs.history("after"), "SUCCESS")
        ),
        what="four scheduled runs and a dependent one",
    )
    parent, child = jobs.history("every2"), jobs.history("after")
    jobs.remove("after")
    jobs.remove("every2")
    assert jobs.jobs() == []
    succeeded = runs_in(parent, "SUCCESS")
    scheduled = [run["scheduled"] for run in succeeded]
    # One run per occurrence, whole periods apart (a busy machine may skip
    # one under FORBID, never run one twice).
    gaps = [b - a for a, b in itertools.pairwise(scheduled)]
    assert all(gap >= 2 and gap % 2 == pytest.approx(0) for gap in gaps), gaps
    # Never early; how late a busy machine starts one is not for a test.
    drift = [run["started"] - run["scheduled"] for run in succeeded]
    assert all(d >= 0 for d in drift), drift
    finished = sorted(run["finished"] for run in succeeded)
    for run in runs_in(child, "SUCCESS"):
        assert run["trigger"] == "parents"
        assert any(f <= run["started"] for f in finished), (run, finished)


def test_a_failing_job_is_retried_then_recorded_failed(cluster: Cluster) -> None:
    jobs = cluster.jobs()
    jobs.add({"name": "fails", "command": "echo no >&2; exit 3", "retries": 2, "mem": 16})
    run_id = jobs.run("fails")
    [run] = wait_for(lambda: runs_in(jobs.history("fails"), "FAILED"), what="the run fails")
    assert run["id"] == run_id and run["attempts"] == 3
    assert run["task_id"] == f"{run_id}.3" and "TASK_FAILED" in run["message"]
    jobs.remove("fails")


def test_forbid_skips_runs_that_would_overlap(cluster: Cluster) -> None:
    jobs = cluster.jobs()
    jobs.add(
        {
            "name": "slow",
            "command": "sleep 4",
            "schedule": f"R/{soon(1)}/PT1S",
            "concurrencyPolicy": "FORBID",
            "mem": 16,
        }
    )
    wait_for(
        lambda: (
            runs_in(jobs.history("slow"), "SUCCESS") and runs_in(jobs.history("slow"), "SKIPPED")
        ),
        what="a run and a skipped one",
    )
    history = jobs.history("slow")
    jobs.remove("slow")
    assert any("FORBID" in run["message"] for run in runs_in(history, "SKIPPED"))
    spans = sorted((r["started"], r["finished"]) for r in history if r["started"] and r["finished"])
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - 0.5, spans  # never two at once


def test_replace_kills_the_running_task_for_the_new_run(
    cluster: Cluster,
) -> None:
    jobs = cluster.jobs()
    jobs.add({"name": "long", "command": "sleep 600", "concurrencyPolicy": "REPLACE", "mem": 16})

    def task_state(task_id: str) -> str | None:
        for framework in cluster.state()["frameworks"]:
            for task in framework["tasks"] + framework["completed_tasks"]:
                if task["id"] == task_id:
                    return str(task["state"])
        return None

    def run_record(run_id: str) -> dict[str, Any]:
        (run,) = [r for r in jobs.history("long") if r["id"] == run_id]
        return run

    # The second run comes once the first one's task runs, however long that takes.
    first_id = jobs.run("long")
    wait_for(
        lambda: (task := run_record(first_id)["task_id"]) and task_state(task) == "TASK_RUNNING",
        what="the first run's task running",
        seen=lambda: run_record(first_id),
    )
    second_id = jobs.run("long")
    first = wait_for(
        lambda: (run := run_record(first_id))["state"] == "KILLED" and run,
        what="the first run replaced",
        seen=lambda: run_record(first_id),
    )
    assert first["message"] == f"replaced by run {second_id}"

    wait_for(lambda: task_state(first["task_id"]) == "TASK_KILLED", what="the old task killed")
    jobs.remove("long")


@pytest.mark.timeout(120)
def test_bad_definitions_and_cycles_are_refused_at_add(cluster: Cluster) -> None:
    jobs = cluster.jobs()
    with pytest.raises(JobDefinitionError) as raised:
        jobs.add({"name": "bad", "command": "true", "cpu": 1, "retries": "two"})
    assert {field for field, _ in raised.value.problems} == {"cpu", "retries"}
    jobs.add({"name": "a", "command": "true"})
    jobs.add({"name": "b", "command": "true", "parents": ["a"]})
    with pytest.raises(JobDefinitionError, match=r"cycle: a -> b -> a"):
        jobs.add({"name": "a", "command": "true", "parents": ["b"]})
    assert [job["name"] for job in jobs.jobs()] == ["a", "b"]
    assert jobs.job("a")["parents"] == []
    with pytest.raises(UnknownJobError):
        jobs.run("nope")
    jobs.remove("b")
    jobs.remove("a")


def offers_made(cluster: Cluster) -> int:
    with urllib.request.urlopen(cluster.url + "/metrics/snapshot", timeout=30) as response:
        return int(orjson.loads(response.read())["master/offers_made"])


def test_offers_come_only_while_a_run_waits(cluster: Cluster) -> None:
    # The jobs framework is this cluster's only framework.
    jobs = cluster.jobs()
    framework_id = jobs.framework.id

    def no_offers_while_suppressed() -> int:
        """Offers made so far, once allocation cycles have passed with the
        framework suppressed and not one offer made."""
        wait_for(
            lambda: suppressed_with_no_offer_out(cluster, framework_id),
            what="the jobs framework suppressed, no offer of it out",
        )
        made = offers_made(cluster)
        allocation_cycles_pass(cluster)
        assert offers_made(cluster) == made
        return made

    wait_for(lambda: not any(job["activeRuns"] for job in jobs.jobs()), what="no active run")
    idle = no_offers_while_suppressed()
    jobs.add({"name": "huge", "command": "true", "cpus": 64})
    jobs.run("huge")  # fits no agent: waits, declining what it gets
    wait_for(lambda: offers_made(cluster) >= idle + 2, what="offers while waiting")
    jobs.remove("huge")
    no_offers_while_suppressed()


@pytest.mark.timeout(600)
def test_jobs_and_history_survive_a_restart_with_zookeeper(
    zookeeper: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    zk = f"zk://{zookeeper.hosts}/jobs-restart"
    first = next(small_cluster(tmp_path_factory, zk=zk, agents=1))
    try:
        jobs = first.jobs()
        jobs.add({"name": "kept", "command": "echo kept", "mem": 16})
        run_id = jobs.run("kept")
        wait_for(lambda: runs_in(jobs.history("kept"), "SUCCESS"), what="a run")
    finally:
        first.shutdown()
    second = next(small_cluster(tmp_path_factory, zk=zk, agents=1))
    try:
        jobs = second.jobs()
        assert jobs.job("kept")["command"] == "echo kept"
        [run] = jobs.history("kept")
        assert (run["id"], run["state"]) == (run_id, "SUCCESS")
        jobs.run("kept")
        wait_for(lambda: len(runs_in(jobs.history("kept"), "SUCCESS")) == 2, what="another run")
        jobs.remove("kept")
    finally:
        second.shutdown()
