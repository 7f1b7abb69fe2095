"""Gangs on a real cluster: members meet at a file barrier (a partial launch
would leave them waiting), two gangs that each need most of the cluster
both finish, and a failed member restarts the whole gang."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from support.runtime import wait_for

import pyactors
from pyactors import InvalidArgumentError
from pyactors.frameworks import Batch, Gang, GangJob
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster, Framework

# Every member marks its arrival, then waits (up to 240 s) for all GANG_SIZE
# members of its attempt; then it works until the test, which has seen every
# member of the attempt running, lets it finish (`release_running`).
BARRIER = (
    'dir="$BARRIER/$GANG_NAME-$GANG_ATTEMPT"; mkdir -p "$dir"; touch "$dir/$GANG_RANK"; '
    'n=0; while [ $(ls "$dir" | wc -l) -lt $GANG_SIZE ]; do '
    "n=$((n+1)); [ $n -gt 2400 ] && exit 3; sleep 0.1; done; "
    'while [ ! -e "$dir.go" ]; do sleep 0.1; done; echo met'
)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """No agents yet: each test adds its own after its frameworks subscribed."""
    started = pyactors.start(agents=0, work_dir=str(tmp_path / "work"), allocation_interval=0.2)
    try:
        yield started
    finally:
        started.shutdown()


def add_agents(cluster: Cluster, count: int, resources: str) -> None:
    for n in range(count):
        cluster.add_agent(f"agent-{n}", ray_calls.current_node_id(), resources)


def barrier_job(name: str, size: int, barrier: Path, retries: int = 0) -> GangJob:
    return GangJob(
        name, size, BARRIER, "cpus:1;mem:64", env={"BARRIER": str(barrier)}, retries=retries
    )


def ended(framework: Framework) -> list[dict[str, Any]] | None:
    # Done first: the gangs read after it are final ones.
    if not framework.call("done"):
        return None
    gangs: list[dict[str, Any]] = framework.call("gangs")
    return gangs


def release_running(framework: Framework, barrier: Path) -> None:
    """Let the members of each attempt of the framework's gangs finish once
    the framework knows every one of them running: so they all ran at one
    moment however slowly the agents noticed them."""
    barrier.mkdir(parents=True, exist_ok=True)
    for gang in framework.call("gangs"):
        for number, attempt in enumerate(gang["attempts"]):
            if all(m["running_at"] is not None for m in attempt["members"]):
                (barrier / f"{gang['name']}-{number}.go").touch()


def all_ended(frameworks: list[Framework], barrier: Path) -> list[list[dict[str, Any]]] | None:
    for framework in frameworks:
        release_running(framework, barrier)
    results = [result for framework in frameworks if (result := ended(framework)) is not None]
    return results if len(results) == len(frameworks) else None


def assert_ran_together(gang: dict[str, Any]) -> None:
    """Every member ran and finished, all of them running at one moment."""
    [attempt] = gang["attempts"]
    members = attempt["members"]
    assert len(members) == gang["size"]
    assert {m["state"] for m in members} == {"TASK_FINISHED"}, members
    last_start = max(m["running_at"] for m in members)
    first_end = min(m["ended_at"] for m in members)
    assert last_start < first_end, members


@pytest.mark.timeout(400)
def test_two_gangs_that_each_need_most_of_the_cluster_both_finish(
    cluster: Cluster, tmp_path: Path
) -> None:
    frameworks = [
        cluster.run_framework(
            Gang, [barrier_job(name, 3, tmp_path / "barrier")], 1.0, name=f"gang-{name}"
        )
        for name in ("a", "b")
    ]
    # Two agents of 2 cpus: each gang needs 3, so neither fits on one agent
    # and both cannot run at once.
    add_agents(cluster, 2, "cpus:2;mem:512")
    results = wait_for(
        partial(all_ended, frameworks, tmp_path / "barrier"),
        what="both gangs ended",
        seen=lambda: [f.call("gangs") for f in frameworks],
    )
    gangs = [gang for result in results for gang in result]
    assert [g["state"] for g in gangs] == ["FINISHED", "FINISHED"], gangs
    for gang in gangs:
        assert_ran_together(gang)
    # Each agent was offered to a different gang first: at least one of them
    # had to let go of what it held for the other to fit.
    assert sum(g["releases"] for g in gangs) >= 1
    for gang in gangs:
        agents = {m["agent_id"] for m in gang["attempts"][0]["members"]}
        assert agents == {"agent-0", "agent-1"}
        barrier = tmp_path / "barrier" / f"{gang['name']}-0"
        assert sorted(p.name for p in barrier.iterdir()) == ["0", "1", "2"]


def test_a_gang_that_fits_one_agent_runs_there_and_a_failed_member_restarts_it(
    cluster: Cluster, tmp_path: Path
) -> None:
    flaky = GangJob(
        "flaky",
        2,
        # Rank 1 of the first attempt fails at once; rank 0 would run for ten minutes.
        'if [ "$GANG_ATTEMPT" = 0 ]; then [ "$GANG_RANK" = 1 ] && exit 1; sleep 600; fi; echo ok',
        "cpus:1;mem:64",
        retries=1,
    )
    framework = cluster.run_framework(Gang, [flaky], 1.0, name="flaky")
    add_agents(cluster, 1, "cpus:2;mem:512")
    [gang] = wait_for(lambda: ended(framework), what="the gang ended")
    assert gang["state"] == "FINISHED", gang
    first, second = gang["attempts"]
    assert {m["agent_id"] for m in first["members"] + second["members"]} == {"agent-0"}
    states = {m["rank"]: m["state"] for m in first["members"]}
    assert states == {0: "TASK_KILLED", 1: "TASK_FAILED"}
    assert [m["state"] for m in second["members"]] == ["TASK_FINISHED"] * 2
    assert gang["failures"][0].startswith("attempt 0: flaky-a0-1 TASK_FAILED")
    # Done and nothing left to run: the framework asks for no more offers.
    wait_for(
        lambda: (
            cluster.state()["allocator"]["frameworks"][framework.id]["suppressed_roles"] == ["*"]
        ),
        what="the framework suppressed",
    )


def test_bad_framework_arguments_are_typed_errors(cluster: Cluster) -> None:
    with pytest.raises(InvalidArgumentError, match="hold_timeout"):
        cluster.run_framework(Gang, [], 0.0, name="bad")
    with pytest.raises(InvalidArgumentError, match="locality_wait"):
        cluster.run_framework(Batch, [], -1.0, name="bad")
    assert cluster.frameworks == [] and cluster.state()["frameworks"] == []
