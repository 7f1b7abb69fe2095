"""Mesos's scheduler semantics on real actors (issue 19): explicit
acknowledgements gate the next update, a replaced scheduler is not obeyed,
reconciliation answers even a task's unchanged state, a lost agent's offers
are rescinded, a drain's kill says so, and a torn-down framework's tasks are
TASK_KILLED in the master's records at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import ray
from support.http import get, request
from support.runtime import Launcher, small_cluster, task_agent, wait_for

from pyactors.core.offer import OfferInfo
from pyactors.core.tasks import TaskState, TaskStatus
from pyactors.master.state import MasterConfig
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster, Framework
from pyactors.scheduler.api import Driver

SMALL = "cpus:0.5;mem:32"
# How many resends of an unacknowledged update the gating test waits for.
RESENDS = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from small_cluster(
        tmp_path_factory,
        # How the lost agent's silence is noticed; long enough that a busy
        # machine's late heartbeats lose no live one.
        config=MasterConfig(agent_timeout=10.0),
        status_retry_interval=0.3,
    )


class Controlled(Launcher):
    """A Launcher the test drives: it keeps its driver and records what the
    master tells it beyond updates."""

    def __init__(self, tasks: list[tuple[str, str, str]]) -> None:
        super().__init__(tasks)
        self.driver: Driver | None = None
        self.statuses: list[TaskStatus] = []

    def subscribed(self, driver: Driver, framework_id: str, master_info: dict[str, Any]) -> None:
        self.driver = driver

    def update(self, driver: Driver, status: TaskStatus) -> None:
        super().update(driver, status)
        self.statuses.append(status)

    def kill(self, task_id: str) -> None:
        assert self.driver is not None
        self.driver.kill(task_id)

    def reconcile(self, *task_ids: str) -> None:
        assert self.driver is not None
        self.driver.reconcile(list(task_ids))

    def reconcile_all_then(self, task_id: str) -> None:
        """An implicit reconciliation, then an explicit one of `task_id` in
        the same batch: its answer comes after the first's, so its arrival
        says the first's has been delivered (or dropped)."""
        assert self.driver is not None
        self.driver.reconcile([])
        self.driver.reconcile([task_id])

    def reconciled(self) -> list[tuple[str, str]]:
        return [
            (s.task_id, s.state.value)
            for s in self.statuses
            if s.reason is not None and s.reason.value == "REASON_RECONCILIATION"
        ]


class HoldsRunning(Controlled):
    """Acknowledges every update itself except TASK_RUNNING, which it holds
    until `release`."""

    auto_acknowledge = False

    def __init__(self, tasks: list[tuple[str, str, str]]) -> None:
        super().__init__(tasks)
        self.held: list[TaskStatus] = []

    def update(self, driver: Driver, status: TaskStatus) -> None:
        super().update(driver, status)
        if status.state is TaskState.TASK_RUNNING:
            self.held.append(status)
        else:
            driver.acknowledge(status)

    def release(self) -> None:
        assert self.driver is not None
        for status in self.held:
            self.driver.acknowledge(status)


class Holder(Controlled):
    """Keeps every offer; records rescinds and lost agents."""

    def __init__(self) -> None:
        super().__init__([])
        self.held_offers: dict[str, str] = {}
        self.rescinded: list[str] = []
        self.failures: list[str] = []

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        self.held_offers.update({o.id: o.agent_id for o in offers})

    def rescind(self, driver: Driver, offer_id: str) -> None:
        self.rescinded.append(offer_id)

    def failure(
        self, driver: Driver, agent_id: str, executor_id: str | None, status: int | None
    ) -> None:
        self.failures.append(agent_id)

    def seen_offers(self) -> dict[str, Any]:
        return {
            "held": self.held_offers,
            "rescinded": self.rescinded,
            "failures": self.failures,
        }


def status_updates(cluster: Cluster) -> int:
    return int(cluster.state()["counters"].get("status_updates", 0))


def master_task_state(url: str, task_id: str) -> str | None:
    tasks = get(url, f"/master/tasks?task_id={task_id}")["tasks"]
    return str(tasks[0]["state"]) if tasks else None


def test_an_unacknowledged_update_holds_back_the_next(cluster: Cluster) -> None:
    framework = cluster.run_framework(
        HoldsRunning, [("gated-0", "true", SMALL)], name="gated", roles=["gated"]
    )
    wait_for(lambda: "TASK_RUNNING" in framework.call("states", "gated-0"), what="running")
    # The agent resends RUNNING every status_retry_interval while nobody
    # acknowledges it; FINISHED may only follow an acknowledgement.
    first = status_updates(cluster)
    wait_for(
        lambda: (
            status_updates(cluster) >= first + RESENDS
            or "TASK_FINISHED" in framework.call("states", "gated-0")
        ),
        what=f"{RESENDS} resends of RUNNING",
        seen=lambda: (status_updates(cluster), framework.call("states", "gated-0")),
    )
    assert framework.call("states", "gated-0") == ["TASK_RUNNING"]
    framework.call("release")
    wait_for(
        lambda: "TASK_FINISHED" in framework.call("states", "gated-0"),
        what="FINISHED once RUNNING is acknowledged",
    )
    assert framework.call("states", "gated-0") == ["TASK_RUNNING", "TASK_FINISHED"]
    cluster.teardown(framework)


def test_a_replaced_scheduler_is_not_obeyed(cluster: Cluster, url: str) -> None:
    old = cluster.run_framework(
        Controlled,
        [("fenced-0", "sleep 600", SMALL)],
        name="fenced",
        roles=["fenced"],
        failover_timeout=60,
    )
    wait_for(lambda: "TASK_RUNNING" in old.call("states", "fenced-0"), what="running")
    new = cluster.run_framework(
        Controlled, [], name="fenced", roles=["fenced"], failover_timeout=60, framework_id=old.id
    )
    wait_for(
        lambda: any("failed over" in e for e in old.call("seen")["errors"]),
        what="the old scheduler told it was replaced",
    )
    old.call("kill", "fenced-0")

    def refused() -> bool:
        return sum("failed over" in e for e in old.call("seen")["errors"]) >= 2

    wait_for(
        lambda: refused() or "TASK_KILLED" in new.call("states", "fenced-0"),
        what="the old scheduler's kill refused",
        seen=lambda: (old.call("seen")["errors"], new.call("states", "fenced-0")),
    )
    assert "TASK_KILLED" not in new.call("states", "fenced-0")
    assert any(e.startswith("kill: ") for e in old.call("seen")["errors"])
    assert master_task_state(url, "fenced-0") == "TASK_RUNNING"
    ray_calls.stop(old.handle)
    cluster.frameworks.remove(old)
    # The current scheduler's kill is carried out.
    new.call("kill", "fenced-0")
    wait_for(lambda: "TASK_KILLED" in new.call("states", "fenced-0"), what="killed by the new")
    cluster.teardown(new)


def test_reconciling_a_running_task_answers_its_state(cluster: Cluster) -> None:
    framework = cluster.run_framework(
        Controlled, [("live-0", "sleep 600", SMALL)], name="reconciled", roles=["rec"]
    )
    wait_for(lambda: "TASK_RUNNING" in framework.call("states", "live-0"), what="running")
    # Explicit: the unknown task's answer follows the live one's.
    framework.call("reconcile", "live-0", "unknown-0")
    wait_for(
        lambda: ("unknown-0", "TASK_UNKNOWN") in framework.call("reconciled"),
        what="the answer about the unknown task",
    )
    assert framework.call("reconciled") == [
        ("live-0", "TASK_RUNNING"),
        ("unknown-0", "TASK_UNKNOWN"),
    ]
    # Implicit: every live task of the framework is answered.
    framework.call("reconcile_all_then", "unknown-1")
    wait_for(
        lambda: ("unknown-1", "TASK_UNKNOWN") in framework.call("reconciled"),
        what="the answer about the second unknown task",
    )
    assert framework.call("reconciled")[2:] == [
        ("live-0", "TASK_RUNNING"),
        ("unknown-1", "TASK_UNKNOWN"),
    ]
    # No answer counts as a new state of the task.
    assert framework.call("states", "live-0") == ["TASK_RUNNING"] * 3
    cluster.teardown(framework)


def test_a_drained_tasks_kill_says_draining(cluster: Cluster, url: str) -> None:
    framework = cluster.run_framework(
        Controlled, [("drained-0", "sleep 600", SMALL)], name="drained", roles=["drained"]
    )
    wait_for(lambda: "TASK_RUNNING" in framework.call("states", "drained-0"), what="running")
    agent = task_agent(cluster, framework.id, "drained-0")
    status, body = request(
        url, "/master/maintenance/drain", {"agent_id": agent, "grace_period_seconds": 1}
    )
    assert status == 200, body
    try:
        wait_for(lambda: "TASK_KILLED" in framework.call("states", "drained-0"), what="killed")
        (killed,) = [u for u in framework.call("seen")["updates"] if u[1] == "TASK_KILLED"]
        assert killed[2] == "REASON_AGENT_DRAINING"
    finally:
        status, body = request(url, "/master/maintenance/reactivate", {"agent_id": agent})
        assert status == 200, body
    cluster.teardown(framework)


def test_a_torn_down_frameworks_tasks_are_killed_in_the_record_at_once(
    cluster: Cluster, url: str
) -> None:
    # It ignores SIGTERM: the agent's kill takes its grace period, so the
    # agent's TASK_KILLED cannot be what the record shows at once.
    stubborn = "trap '' TERM; while true; do sleep 0.1; done"
    framework = cluster.run_framework(
        Controlled, [("torn-0", stubborn, SMALL)], name="torn", roles=["torn"]
    )
    wait_for(lambda: "TASK_RUNNING" in framework.call("states", "torn-0"), what="running")
    killed = int(cluster.state()["counters"].get("tasks_killed", 0))
    cluster.teardown(framework)
    assert master_task_state(url, "torn-0") == "TASK_KILLED"
    assert cluster.state()["counters"]["tasks_killed"] == killed + 1


def test_a_lost_agents_offers_are_rescinded(cluster: Cluster) -> None:
    node = ray.get_runtime_context().get_node_id()
    cluster.add_agent("doomed", node, resources="cpus:1;mem:64")
    framework: Framework = cluster.run_framework(Holder, name="holder", roles=["hold"])
    doomed = wait_for(
        lambda: [o for o, a in framework.call("seen_offers")["held"].items() if a == "doomed"],
        what="an offer of the doomed agent held",
    )
    ray_calls.stop(cluster.agents.pop("doomed"))
    seen = wait_for(
        lambda: (s := framework.call("seen_offers"))["failures"] and s,
        what="the agent's loss",
    )
    assert seen["failures"] == ["doomed"]
    # Rescinded before (or with) the failure event.
    assert set(doomed) <= set(seen["rescinded"]), seen
    cluster.teardown(framework)
