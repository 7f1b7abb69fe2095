"""The actor runtime on a real Ray instance: master, agents, frameworks and
real processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import pyactors.cluster
from pyactors import Resources
from pyactors.offer_book import OfferInfo
from pyactors.operations import Launch, TaskInfo
from pyactors.scheduler import Driver, Scheduler
from pyactors.tasks import TaskStatus


class Recorder(Scheduler):
    """Launches `count` tasks running `command` as offers come, records updates."""

    def __init__(self, count: int, command: str, bad: bool = False) -> None:
        self.count = count
        self.command = command
        self.bad = bad
        self.launched = 0
        self.updates: list[tuple[str, str, str | None]] = []
        self.errors: list[str] = []

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        if self.bad:
            # Offers from several agents cannot be accepted together.
            ids = [o.id for o in offers]
            task = TaskInfo("bad-0", "bad", Resources.parse("cpus:1"), command="true")
            driver.accept(ids, [Launch([task])], refuse_seconds=60)
            self.bad = False
            return
        for offer in offers:
            tasks = []
            left = offer.resources
            need = Resources.parse("cpus:0.5;mem:32")
            while self.launched < self.count and need <= left:
                tasks.append(TaskInfo(f"t-{self.launched}", "t", need, command=self.command))
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


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pyactors.cluster.Cluster]:
    started = pyactors.cluster.start(
        agents=2,
        agent_resources="cpus:2;mem:512",
        work_dir=str(tmp_path_factory.mktemp("work")),
        allocation_interval=0.2,
    )
    yield started
    started.shutdown()


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_tasks_run_as_processes_and_finish(cluster: pyactors.cluster.Cluster) -> None:
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


def test_accepting_offers_of_two_agents_is_an_error(cluster: pyactors.cluster.Cluster) -> None:
    framework = cluster.run_framework(Recorder, 0, "true", True, name="bad", roles=["bad"])

    def refused() -> Any:
        updates, errors = framework.call("seen")
        return errors and updates

    updates, errors = wait_for(lambda: framework.call("seen") if refused() else None)
    assert "more than one agent" in errors[0]
    assert updates == [("bad-0", "TASK_ERROR", "REASON_INVALID_OFFERS")]
