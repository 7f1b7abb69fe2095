"""Emulated agents and pooled frameworks: the same protocol as the real
actors, many per actor (the state machine without Ray, then a small
cluster of them on Ray)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from support.http import get, request
from support.runtime import wait_for

import pyactors
from pyactors import Resources
from pyactors.agent.pool import AgentPoolActor, EmulatedAgents
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.tasks import TaskState, TaskStatus
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster
from pyactors.scheduler.api import Driver, Scheduler
from pyactors.scheduler.pool import FrameworkPoolActor


def task(task_id: str, duration: float | None = None) -> TaskInfo:
    labels = {} if duration is None else {"duration": str(duration)}
    return TaskInfo(task_id, "t", Resources.parse("cpus:1"), command="x", labels=labels)


def states(batches: list[tuple[str, list[TaskStatus]]]) -> list[tuple[str, str, TaskState]]:
    return [(agent, s.task_id, s.state) for agent, statuses in batches for s in statuses]


def test_emulated_tasks_run_for_their_time_and_updates_wait_for_acks() -> None:
    agents = EmulatedAgents(["a", "b"], task_seconds=30.0, seed=1, retry=5.0)
    agents.launch("a", "f", "r", [task("t1", 2.0)], [], now=0.0)
    agents.launch("b", "f", "r", [], [[task("t2", 1.0), task("t3", 1.0)]], now=0.0)
    first = agents.poll(0.0)
    assert sorted(states(first)) == [
        ("a", "t1", TaskState.TASK_RUNNING),
        ("b", "t2", TaskState.TASK_RUNNING),
        ("b", "t3", TaskState.TASK_RUNNING),
    ]
    # Not acknowledged: nothing new is sent before the retry interval...
    assert agents.poll(1.5) == []
    # ...then the same RUNNING updates again, in order before FINISHED.
    again = states(agents.poll(5.0))
    assert ("b", "t2", TaskState.TASK_RUNNING) in again
    for _, statuses in first:
        agents.acknowledge([(s.task_id, s.uuid or "") for s in statuses], now=5.0)
    finished = states(agents.poll(5.0))
    assert sorted(finished) == [
        ("a", "t1", TaskState.TASK_FINISHED),
        ("b", "t2", TaskState.TASK_FINISHED),
        ("b", "t3", TaskState.TASK_FINISHED),
    ]
    assert agents.finished == 3


def test_kill_and_launch_overhead_per_agent() -> None:
    agents = EmulatedAgents(["a"], task_seconds=30.0, seed=1)
    agents.launch("a", "f", "r", [task("t1", 5.0)], [], now=0.0)
    agents.kill(["t1"], now=1.0)
    assert [s.state for _, ss in agents.poll(1.0) for s in ss] == [TaskState.TASK_RUNNING]
    # Registration reports the oldest update not yet acknowledged.
    (report,) = agents.reports()["a"]
    assert (report.task.task_id, report.status.state) == ("t1", TaskState.TASK_RUNNING)
    # Freed at 1.0, the next launch there at 1.25: an overhead of 0.25 s.
    agents.launch("a", "f", "r", [task("t2")], [], now=1.25)
    assert agents.launch_overheads == [0.25]
    # Without a duration label the time is drawn, seeded.
    again = EmulatedAgents(["a"], task_seconds=30.0, seed=1)
    again.launch("a", "f", "r", [task("t2")], [], now=1.25)
    assert again.tasks["t2"].finish_at == agents.tasks["t2"].finish_at


class Quick(Scheduler):
    """Launches short tasks on every offer, counts what finishes."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.serial = 0
        self.finished = 0

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        for offer in offers:
            self.serial += 1
            labels = {"duration": "0.2"}
            one = TaskInfo(
                f"{self.prefix}-{self.serial}",
                "q",
                Resources.parse("cpus:1"),
                command="x",
                labels=labels,
            )
            driver.accept([offer.id], [Launch([one])], refuse_seconds=0)

    def update(self, driver: Driver, status: TaskStatus) -> None:
        self.finished += status.state is TaskState.TASK_FINISHED

    def count(self) -> int:
        return self.finished


@pytest.fixture
def master_only() -> Iterator[Cluster]:
    cluster = pyactors.start(agents=0, allocation_interval=0.1)
    yield cluster
    cluster.shutdown()


def test_pools_of_agents_and_frameworks_run_tasks(
    master_only: Cluster,
) -> None:
    agents = ray_calls.spawn(AgentPoolActor, master_only.leader(), 200, "cpus:1;mem:64")
    frameworks = None
    try:
        # Both pools answer `start` at once and register or subscribe after.
        ray_calls.ask(agents, "start", agents)
        wait_for(lambda: len(master_only.state()["agents"]) == 200, what="200 agents registered")
        assert ray_calls.ask(agents, "figures")["registered"] == 200
        specs = [(Quick, (f"q{i}",), f"quick-{i}", [f"r{i}"]) for i in range(3)]
        ray_calls.ship_by_value(Quick)
        frameworks = ray_calls.spawn(FrameworkPoolActor, master_only.location, specs)
        ray_calls.ask(frameworks, "start", frameworks)
        wait_for(
            lambda: len(ray_calls.ask(frameworks, "subscribed")) == 3,
            what="3 frameworks subscribed",
        )
        ids = ray_calls.ask(frameworks, "subscribed")
        assert len(set(ids)) == 3
        # Every framework gets work done through the shared actors: 300
        # tasks on 200 agents, so slots were freed and launched on again.
        wait_for(
            lambda: all(ray_calls.ask(frameworks, "call", f, "count") >= 100 for f in ids),
            what="100 finished tasks per framework",
        )
        figures = ray_calls.ask(agents, "figures")
        assert figures["launch_overheads"]
        # Emulated agents run no processes: there are no logs to read.
        (task,) = get(master_only.url, "/master/tasks?limit=1")["tasks"]
        status, body = request(master_only.url, f"/tasks/{quote(task['id'], safe='')}/logs/stdout")
        assert status == 404 and body["error"] == "sandbox_gone", body
    finally:
        for handle in (agents, frameworks):
            if handle is not None:
                ray_calls.stop(handle)
