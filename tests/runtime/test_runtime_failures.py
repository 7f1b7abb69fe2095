"""Failure handling on a real Ray instance: bad accepts, filters,
suppression, limits, a framework's actor dying (within and past its failover
timeout) and an agent's actor dying."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.runtime import (
    Launcher,
    allocation_cycles_pass,
    processes_in,
    sandbox_of,
    small_cluster,
    suppressed_with_no_offer_out,
    task_agent,
    wait_for,
)

from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.tasks import TaskStatus
from pyactors.errors import UnknownFrameworkError
from pyactors.master.state import MasterConfig
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster
from pyactors.scheduler.api import Driver

SMALL = "cpus:0.5;mem:32"


class BadAccepts(Launcher):
    """On its first offer: an accept of an unknown offer, then one accept
    with a task too big, a task id used twice and a good task."""

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        if self.pending:
            self.pending = []
            unknown = TaskInfo("unknown-offer", "x", Resources.parse(SMALL), command="true")
            driver.accept(["no-such-offer"], [Launch([unknown])])
            tasks = [
                TaskInfo("too-big", "x", Resources.parse("cpus:100"), command="true"),
                TaskInfo("twice", "x", Resources.parse(SMALL), command="true"),
                TaskInfo("twice", "x", Resources.parse(SMALL), command="true"),
            ]
            driver.accept([offers[0].id], [Launch(tasks)], refuse_seconds=0)
        driver.decline([o.id for o in offers[1:]], refuse_seconds=0)


class Suppressor(Launcher):
    """Declines its first offers and suppresses; revives when told."""

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        self.offered += [(time.monotonic(), o.agent_id) for o in offers]
        driver.decline([o.id for o in offers], refuse_seconds=0)
        if self.suppressed_at is None:
            self.suppressed_at = time.monotonic()
            driver.suppress()

    def revive(self) -> float:
        self.driver.revive()
        return time.monotonic()

    def subscribed(self, driver: Driver, framework_id: str, master_info: dict[str, Any]) -> None:
        self.driver = driver


# Echoes every message until told to stop: a scheduler's messages, like
# Mesos's framework messages, are best effort, so the scheduler pings until
# it hears back.
ECHO = (
    "python3 -c 'import time\n"
    "from pyactors import task_messages as m\n"
    "while True:\n"
    "    got = m.receive()\n"
    '    for data in got: m.send(b"echo:" + data)\n'
    '    if b"stop" in got: break\n'
    "    time.sleep(0.05)'"
)


class Messenger(Launcher):
    """Pings its running task every tick until the echo comes back, then
    tells it to stop; records what comes back."""

    tick_interval = 1.0

    def __init__(self, tasks: list[tuple[str, str, str]]) -> None:
        super().__init__(tasks)
        self.received: list[tuple[str, str, bytes]] = []
        self.running_on: dict[str, str] = {}

    def update(self, driver: Driver, status: TaskStatus) -> None:
        super().update(driver, status)
        if status.state.value == "TASK_RUNNING" and status.agent_id:
            self.running_on[status.task_id] = status.agent_id
            driver.message(status.agent_id, "nobody", b"ping")
            self.tick(driver)

    def tick(self, driver: Driver) -> None:
        echoed = {task_id for _, task_id, _ in self.received}
        for task_id, agent_id in self.running_on.items():
            if task_id not in echoed:
                driver.message(agent_id, task_id, b"ping")

    def message(self, driver: Driver, agent_id: str, executor_id: str, data: bytes) -> None:
        if not self.received:
            driver.message(agent_id, executor_id, b"stop")
        self.received.append((agent_id, executor_id, data))

    def got(self) -> list[tuple[str, str, bytes]]:
        return self.received


def master_task_states(cluster: Cluster, framework_id: str) -> dict[str, str]:
    """The framework's tasks and their states, as the master knows them."""
    for framework in cluster.state()["frameworks"]:
        if framework["id"] == framework_id:
            return {t["id"]: t["state"] for t in framework["tasks"] + framework["completed_tasks"]}
    return {}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from small_cluster(
        tmp_path_factory,
        # How the dead agent's silence is noticed; long enough that a busy
        # machine's late heartbeats lose no live one.
        config=MasterConfig(agent_timeout=20.0),
        status_retry_interval=1.0,
        framework_heartbeat_interval=0.3,
    )


def test_bad_accepts_get_task_error_with_reasons(cluster: Cluster) -> None:
    framework = cluster.run_framework(BadAccepts, [("go", "", "")], name="bad", roles=["bad"])

    def five_updates() -> dict[str, Any] | None:
        seen: dict[str, Any] = framework.call("seen")
        return seen if len(seen["updates"]) >= 5 else None

    seen = wait_for(five_updates, what="five updates")
    by_task: dict[str, list[tuple[str, str | None, str]]] = {}
    for task_id, state, reason, message in seen["updates"]:
        by_task.setdefault(task_id, []).append((state, reason, message))
    assert by_task["unknown-offer"][0][:2] == ("TASK_ERROR", "REASON_INVALID_OFFERS")
    assert "'no-such-offer' is unknown" in by_task["unknown-offer"][0][2]
    assert any("'no-such-offer' is unknown" in e for e in seen["errors"])
    assert by_task["too-big"][0][:2] == ("TASK_ERROR", "REASON_TASK_INVALID")
    assert "needs cpus:100" in by_task["too-big"][0][2]
    # The first "twice" runs; the second is refused for reusing the id.
    twice = [state for state, _, _ in by_task["twice"]]
    assert twice == ["TASK_ERROR", "TASK_RUNNING", "TASK_FINISHED"]
    assert "'twice' is already in use" in by_task["twice"][0][2]
    cluster.teardown(framework)


def test_declined_agents_are_not_offered_again_until_the_filter_expires(
    cluster: Cluster,
) -> None:
    framework = cluster.run_framework(Launcher, [], 2.0, name="decliner", roles=["decline"])

    def offered_thrice() -> list[tuple[float, str]]:
        offered: list[tuple[float, str]] = framework.call("seen")["offered"]
        counts = [sum(a == agent for _, a in offered) for agent in ("agent-0", "agent-1")]
        return offered if min(counts) >= 3 else []

    # Each agent offered again after its filter expired, twice over.
    offered = wait_for(offered_thrice, what="three offers of each agent")
    cluster.teardown(framework)
    for agent in ("agent-0", "agent-1"):
        times = [t for t, a in offered if a == agent]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        # Never before the filter's 2 s.
        assert min(gaps) >= 1.9, gaps


def test_a_suppressed_framework_gets_no_offers_until_it_revives(
    cluster: Cluster,
) -> None:
    framework = cluster.run_framework(Suppressor, [], name="quiet", roles=["quiet"])
    wait_for(lambda: framework.call("seen")["offered"], what="a first offer")
    wait_for(
        lambda: suppressed_with_no_offer_out(cluster, framework.id),
        what="the master holding it suppressed, no offer of it on its way",
    )
    offered = len(framework.call("seen")["offered"])
    allocation_cycles_pass(cluster)
    assert len(framework.call("seen")["offered"]) == offered
    revived_at = framework.call("revive")
    wait_for(
        lambda: [t for t, _ in framework.call("seen")["offered"] if t > revived_at],
        what="an offer after revive",
    )
    cluster.teardown(framework)


def test_a_task_above_its_memory_is_failed_for_it(cluster: Cluster) -> None:
    hog = "python3 -c 'import time; x = bytearray(300 * 2**20); time.sleep(600)'"
    framework = cluster.run_framework(
        Launcher, [("hog", hog, "cpus:0.5;mem:64")], name="hog", roles=["hog"]
    )
    wait_for(lambda: "TASK_FAILED" in framework.call("states", "hog"), what="hog failed")
    updates = framework.call("seen")["updates"]
    (failed,) = [u for u in updates if u[1] == "TASK_FAILED"]
    assert failed[2] == "REASON_CONTAINER_LIMITATION_MEMORY"
    assert "memory limit" in failed[3]
    cluster.teardown(framework)


def test_a_framework_failing_over_within_its_timeout_keeps_tasks_and_updates(
    cluster: Cluster, tmp_path: Path
) -> None:
    # The tasks end when the test says, once their scheduler is gone.
    go = tmp_path / "go"
    wait = f"while [ ! -e {go} ]; do sleep 0.1; done"
    tasks = [("fo-0", wait, SMALL), ("fo-1", f"{wait}; exit 3", SMALL)]
    first = cluster.run_framework(
        Launcher, tasks, name="failover", roles=["fo"], failover_timeout=60
    )
    wait_for(
        lambda: all("TASK_RUNNING" in first.call("states", t) for t, _, _ in tasks),
        what="both running",
    )
    time.sleep(0.3)  # let the acknowledgements of RUNNING reach the agents
    ray_calls.stop(first.handle)
    wait_for(
        lambda: (
            next(f for f in cluster.state()["frameworks"] if f["id"] == first.id)["connected"]
            is False
        ),
        what="the master noticing the dead scheduler",
    )
    # Both tasks end while no scheduler is there; the agents keep the updates.
    go.touch()
    wait_for(
        lambda: (
            master_task_states(cluster, first.id)
            == {
                "fo-0": "TASK_FINISHED",
                "fo-1": "TASK_FAILED",
            }
        ),
        what="both tasks ended, as the master saw",
        seen=lambda: master_task_states(cluster, first.id),
    )
    second = cluster.run_framework(
        Launcher,
        [("fo-2", "true", SMALL)],
        name="failover",
        roles=["fo"],
        failover_timeout=60,
        framework_id=first.id,
    )
    assert second.id == first.id
    wait_for(
        lambda: (
            "TASK_FINISHED" in second.call("states", "fo-2")
            and "TASK_FAILED" in second.call("states", "fo-1")
            and "TASK_FINISHED" in second.call("states", "fo-0")
        ),
        what="the missed updates and a new task's",
    )
    for task_id, last in (("fo-0", "TASK_FINISHED"), ("fo-1", "TASK_FAILED")):
        states = second.call("states", task_id)
        # At least once, in order, the terminal update exactly once.
        assert states in ([last], ["TASK_RUNNING", last]), states
    cluster.teardown(second)


def test_a_framework_gone_past_its_timeout_is_torn_down(
    cluster: Cluster,
) -> None:
    framework = cluster.run_framework(
        Launcher, [("gone-0", "sleep 600", SMALL)], name="gone", roles=["gone"], failover_timeout=1
    )
    wait_for(lambda: "TASK_RUNNING" in framework.call("states", "gone-0"), what="running")
    sandbox = sandbox_of(
        cluster, task_agent(cluster, framework.id, "gone-0"), framework.id, "gone-0"
    )
    assert processes_in(sandbox)
    ray_calls.stop(framework.handle)
    cluster.frameworks.remove(framework)
    wait_for(
        lambda: framework.id not in [f["id"] for f in cluster.state()["frameworks"]],
        what="teardown after the failover timeout",
    )
    wait_for(lambda: not processes_in(sandbox), what="the task killed")
    roles = cluster.state()["allocator"]["roles"]
    assert roles.get("gone", {}).get("share", 0.0) == 0.0
    with pytest.raises(UnknownFrameworkError, match="torn down"):
        cluster.run_framework(Launcher, [], name="gone", roles=["gone"], framework_id=framework.id)


def test_messages_reach_a_task_and_come_back(cluster: Cluster) -> None:
    framework = cluster.run_framework(
        Messenger, [("echo-0", ECHO, SMALL)], name="messenger", roles=["msg"]
    )
    received = wait_for(lambda: framework.call("got"), what="the echo")
    agent = task_agent(cluster, framework.id, "echo-0")
    assert received[0] == (agent, "echo-0", b"echo:ping")
    errors = framework.call("seen")["errors"]
    assert any("no live task 'nobody'" in e for e in errors), errors
    wait_for(lambda: "TASK_FINISHED" in framework.call("states", "echo-0"), what="finished")
    cluster.teardown(framework)


def test_a_dead_agent_makes_its_tasks_unreachable(cluster: Cluster) -> None:
    framework = cluster.run_framework(
        Launcher, [("lost-0", "sleep 600", SMALL)], name="lost", roles=["lost"]
    )
    wait_for(lambda: "TASK_RUNNING" in framework.call("states", "lost-0"), what="running")
    agent = task_agent(cluster, framework.id, "lost-0")
    sandbox = sandbox_of(cluster, agent, framework.id, "lost-0")
    try:
        ray_calls.stop(cluster.agents[agent])
        wait_for(
            lambda: "TASK_UNREACHABLE" in framework.call("states", "lost-0"),
            what="TASK_UNREACHABLE",
        )
        (reachable,) = [a["reachable"] for a in cluster.state()["agents"] if a["id"] == agent]
        assert reachable is False
    finally:
        # The agent's actor died without reaping its task: stop it here.
        for process in processes_in(sandbox):
            process.kill()
    cluster.teardown(framework)
