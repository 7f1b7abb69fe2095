"""The actor runtime on a real Ray instance: master, agents, frameworks and
real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.runtime import small_cluster, wait_for

from pyactors import Resources
from pyactors.agent.task_process import read_result
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.tasks import TaskStatus
from pyactors.runtime.cluster import Cluster
from pyactors.scheduler.api import Driver, Scheduler


class Recorder(Scheduler):
    """Launches `count` tasks running `command` as offers come, records updates."""

    def __init__(self, count: int, command: str, bad: bool = False, prefix: str = "t") -> None:
        self.prefix = prefix
        self.count = count
        self.command = command
        self.bad = bad
        self.held: dict[str, str] = {}
        self.launched = 0
        self.updates: list[tuple[str, str, str | None]] = []
        self.errors: list[str] = []

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        if self.bad:
            # Offers from several agents cannot be accepted together; hold
            # offers until two agents have offered (they may come in
            # different cycles while an earlier test's tasks drain).
            self.held.update({o.agent_id: o.id for o in offers})
            if len(self.held) < 2:
                return
            task = TaskInfo("bad-0", "bad", Resources.parse("cpus:1"), command="true")
            driver.accept(list(self.held.values()), [Launch([task])], refuse_seconds=60)
            self.bad = False
            return
        for offer in offers:
            tasks = []
            left = offer.resources
            need = Resources.parse("cpus:0.5;mem:32")
            while self.launched < self.count and need <= left:
                tasks.append(
                    TaskInfo(f"{self.prefix}-{self.launched}", "t", need, command=self.command)
                )
                left = left - need
                self.launched += 1
            if tasks:
                driver.accept([offer.id], [Launch(tasks)], refuse_seconds=1)
            else:
                driver.decline([offer.id], refuse_seconds=1)

    def update(self, driver: Driver, status: TaskStatus) -> None:
        reason = None if status.reason is None else status.reason.value
        self.updates.append((status.task_id, status.state.value, reason))

    def error(self, driver: Driver, message: str) -> None:
        self.errors.append(message)

    def seen(self) -> tuple[list[tuple[str, str, str | None]], list[str]]:
        return self.updates, self.errors

    def subscribed(self, driver: Driver, framework_id: str, master_info: dict[str, Any]) -> None:
        self.driver = driver

    def kill(self, task_id: str) -> None:
        self.driver.kill(task_id)

    def reconcile(self, task_ids: list[str]) -> None:
        self.driver.reconcile(task_ids)


class Hungry(Scheduler):
    """Keeps launching short tasks of one shape on everything it is offered."""

    def __init__(self, prefix: str, shape: str) -> None:
        self.prefix = prefix
        self.shape = Resources.parse(shape)
        self.serial = 0

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        for offer in offers:
            tasks, left = [], offer.resources
            while self.shape <= left:
                self.serial += 1
                tasks.append(
                    TaskInfo(f"{self.prefix}-{self.serial}", "w", self.shape, command="sleep 0.3")
                )
                left = left - self.shape
            if tasks:
                driver.accept([offer.id], [Launch(tasks)], refuse_seconds=0)
            else:
                driver.decline([offer.id], refuse_seconds=0)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from small_cluster(tmp_path_factory)


def test_tasks_run_as_processes_and_finish(cluster: Cluster) -> None:
    framework = cluster.run_framework(
        Recorder, 4, 'echo "hello from $MESOS_TASK_ID"', name="echo", roles=["echo"]
    )

    def finished() -> set[str]:
        updates, _ = framework.call("seen")
        return {t for t, state, _ in updates if state == "TASK_FINISHED"}

    assert wait_for(lambda: finished() == {f"t-{i}" for i in range(4)})
    updates, errors = framework.call("seen")
    assert errors == []
    for i in range(4):
        states = [state for t, state, _ in updates if t == f"t-{i}"]
        assert states == ["TASK_RUNNING", "TASK_FINISHED"]
    sandbox = cluster.sandbox("t-0")
    assert sandbox is not None
    assert (Path(sandbox) / "stdout").read_text() == "hello from t-0\n"


def test_accepting_offers_of_two_agents_is_an_error(cluster: Cluster) -> None:
    framework = cluster.run_framework(Recorder, 0, "true", True, name="bad", roles=["bad"])

    def refused() -> Any:
        updates, errors = framework.call("seen")
        return errors and updates

    updates, errors = wait_for(lambda: framework.call("seen") if refused() else None)
    assert "more than one agent" in errors[0]
    assert updates == [("bad-0", "TASK_ERROR", "REASON_INVALID_OFFERS")]


def test_kill_and_reconcile(cluster: Cluster) -> None:
    framework = cluster.run_framework(
        Recorder, 1, "sleep 600", False, "k", name="killer", roles=["k"]
    )

    def states() -> list[str]:
        updates, _ = framework.call("seen")
        return [state for task, state, _ in updates if task == "k-0"]

    wait_for(lambda: "TASK_RUNNING" in states())
    framework.call("kill", "k-0")
    wait_for(lambda: "TASK_KILLED" in states())
    # The kill was acknowledged, so the task is completed: implicit
    # reconciliation (of live tasks) leaves it out, explicit names it.
    framework.call("reconcile", ["k-0"])
    updates = wait_for(
        lambda: [u for u in framework.call("seen")[0] if u[2] == "REASON_RECONCILIATION"]
    )
    assert updates == [("k-0", "TASK_KILLED", "REASON_RECONCILIATION")]


def test_two_hungry_frameworks_share_by_drf(cluster: Cluster) -> None:
    a = cluster.run_framework(Hungry, "a", "cpus:0.5;mem:32", name="a", roles=["share-a"])
    b = cluster.run_framework(Hungry, "b", "cpus:0.5;mem:32", name="b", roles=["share-b"])
    # The two start when Ray gets to them; what counts is time both compete.
    samples: list[list[float]] = []
    last: list[float] = []

    def sampled() -> bool:
        nonlocal last
        roles = cluster.state()["allocator"]["roles"]
        last = [roles.get(r, {}).get("share", 0.0) for r in ("share-a", "share-b")]
        if all(last):
            samples.append(last)
        return len(samples) >= 40

    wait_for(
        sampled,
        what="40 samples with both frameworks holding a share",
        seen=lambda: {"samples": len(samples), "shares now": last},
        every=0.2,
    )
    mean_a = sum(s[0] for s in samples) / len(samples)
    mean_b = sum(s[1] for s in samples) / len(samples)
    # Equal demands, equal weights: DRF keeps the two close on average
    # (the cluster is 4 cpus, so one task is 12.5% of it).
    assert abs(mean_a - mean_b) < 0.15, (mean_a, mean_b)
    assert a.id != b.id
    cluster.teardown(a)
    cluster.teardown(b)


def square_and_report(x: int) -> int:
    print(f"squaring {x}")
    return x * x


class CallsFunction(Scheduler):
    """Runs one Python callable as a task on its first offer."""

    def __init__(self) -> None:
        self.launched = False
        self.states: list[str] = []

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        task = TaskInfo(
            "square",
            "square",
            Resources.parse("cpus:0.5;mem:128"),
            function=square_and_report,
            args=(7,),
        )
        for offer in offers:
            if not self.launched and task.resources <= offer.resources:
                self.launched = True
                driver.accept([offer.id], [Launch([task])])
            else:
                driver.decline([offer.id], refuse_seconds=1)

    def update(self, driver: Driver, status: TaskStatus) -> None:
        self.states.append(status.state.value)

    def seen(self) -> list[str]:
        return self.states


def test_a_python_callable_runs_as_a_task(cluster: Cluster) -> None:
    framework = cluster.run_framework(CallsFunction, name="fn", roles=["fn"])
    wait_for(lambda: framework.call("seen") == ["TASK_RUNNING", "TASK_FINISHED"])
    sandbox = cluster.sandbox("square")
    assert sandbox is not None
    assert read_result(Path(sandbox)) == 49
    assert (Path(sandbox) / "stdout").read_text() == "squaring 7\n"
    cluster.teardown(framework)
