"""Delay scheduling on a real cluster with racks: a task waits for its rack
when it frees up within the wait, falls back to another rack after it, and
the framework stops and resumes offers as its queue empties and fills."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from support.runtime import wait_for

import pyactors
from pyactors.frameworks import Batch, BatchTask
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster, Framework


@pytest.fixture
def racks(tmp_path: Path) -> Iterator[Cluster]:
    """One agent of one cpu in each of racks r1 and r2."""
    started = pyactors.start(agents=0, work_dir=str(tmp_path / "work"), allocation_interval=0.2)
    try:
        for rack in ("r1", "r2"):
            started.add_agent(
                f"{rack}-agent",
                ray_calls.current_node_id(),
                "cpus:1;mem:512",
                attributes={"rack": rack},
            )
        yield started
    finally:
        started.shutdown()


def on_r1(task_id: str, command: str) -> BatchTask:
    return BatchTask(task_id, command, "cpus:1;mem:64", prefer={"rack": "r1"})


def task_table(framework: Framework) -> dict[str, dict[str, Any]]:
    return {t["task_id"]: t for t in framework.call("tasks")}


def all_ended(framework: Framework) -> dict[str, dict[str, Any]] | None:
    return task_table(framework) if framework.call("done") else None


def suppressed(cluster: Cluster, framework_id: str) -> list[str]:
    roles: list[str] = cluster.state()["allocator"]["frameworks"][framework_id]["suppressed_roles"]
    return roles


def test_a_task_waits_for_its_rack_when_it_frees_within_the_wait(
    racks: Cluster,
) -> None:
    # `busy` holds r1's only cpu for 3 s; `local` must wait for it, though
    # r2 is free all along, because its wait (an hour: longer than a busy
    # machine can take to run `busy` and offer r1 again) is longer.
    framework = racks.run_framework(
        Batch,
        [on_r1("busy", "sleep 3"), on_r1("local", "echo here")],
        3600.0,
        name="etl",
    )
    tasks = wait_for(partial(all_ended, framework), what="both tasks ended")
    assert [tasks[t]["state"] for t in ("busy", "local")] == ["TASK_FINISHED"] * 2
    assert tasks["local"]["agent_id"] == "r1-agent" and tasks["local"]["local"] is True
    assert tasks["busy"]["agent_id"] == "r1-agent"
    # It was passed over (r2 was offered) and still waited.
    assert tasks["local"]["skipped_since"] is not None
    assert tasks["local"]["launched_at"] >= tasks["busy"]["ended_at"] - 0.5


def test_a_task_falls_back_to_another_rack_after_the_wait_and_demand_follows_the_queue(
    racks: Cluster,
) -> None:
    # `busy` holds r1 for longer than the test can take.
    framework = racks.run_framework(
        Batch,
        [on_r1("busy", "sleep 600"), on_r1("elsewhere", "echo there")],
        1.0,
        name="etl",
    )
    wait_for(
        lambda: task_table(framework)["elsewhere"]["state"] == "TASK_FINISHED",
        what="the task ran elsewhere",
    )
    elsewhere = task_table(framework)["elsewhere"]
    assert elsewhere["agent_id"] == "r2-agent" and elsewhere["local"] is False
    assert elsewhere["launched_at"] - elsewhere["skipped_since"] >= 1.0
    # Nothing pending: no more offers for it.
    wait_for(lambda: suppressed(racks, framework.id) == ["*"], what="suppressed")
    # A task without a preference revives offers and runs on the free rack.
    framework.call("add", [BatchTask("any", "echo any", "cpus:1;mem:64")])
    wait_for(lambda: task_table(framework)["any"]["state"] == "TASK_FINISHED", what="'any' ran")
    assert task_table(framework)["any"]["agent_id"] == "r2-agent"
    assert task_table(framework)["any"]["local"] is None
    wait_for(lambda: suppressed(racks, framework.id) == ["*"], what="suppressed again")
