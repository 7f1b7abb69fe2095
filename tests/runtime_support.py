"""What the tests that drive real actors share: polling, a recording
scheduler, and finding a task's sandbox and processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

import pyactors.cluster
from pyactors import Resources, ray_calls
from pyactors.offer_book import OfferInfo
from pyactors.operations import Launch, TaskInfo
from pyactors.scheduler import Driver, Scheduler
from pyactors.tasks import TaskStatus


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """The first truthy value of `predicate`, polled every 0.1 s; an
    AssertionError naming `what` if none comes within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met in {timeout} s: {what or predicate}")


class Launcher(Scheduler):
    """Launches the given (task id, command, resources) once, on the first
    offer that fits, declines the rest; records updates, errors and offers."""

    def __init__(self, tasks: list[tuple[str, str, str]], refuse_seconds: float = 1.0) -> None:
        self.pending = list(tasks)
        self.refuse_seconds = refuse_seconds
        self.updates: list[tuple[str, str, str | None, str]] = []
        self.errors: list[str] = []
        self.offered: list[tuple[float, str]] = []
        self.suppressed_at: float | None = None

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        self.offered += [(time.monotonic(), o.agent_id) for o in offers]
        for offer in offers:
            fits = [t for t in self.pending if Resources.parse(t[2]) <= offer.resources]
            if fits:
                self.pending.remove(fits[0])
                task = self.task_info(*fits[0])
                driver.accept([offer.id], [Launch([task])], refuse_seconds=self.refuse_seconds)
            else:
                driver.decline([offer.id], refuse_seconds=self.refuse_seconds)

    def task_info(self, task_id: str, command: str, resources: str) -> TaskInfo:
        """The task to launch (subclasses name or label it)."""
        return TaskInfo(task_id, task_id, Resources.parse(resources), command=command)

    def update(self, driver: Driver, status: TaskStatus) -> None:
        reason = None if status.reason is None else status.reason.value
        self.updates.append((status.task_id, status.state.value, reason, status.message))

    def error(self, driver: Driver, message: str) -> None:
        self.errors.append(message)

    def seen(self) -> dict[str, Any]:
        return {"updates": self.updates, "errors": self.errors, "offered": self.offered}

    def states(self, task_id: str) -> list[str]:
        return [state for t, state, _, _ in self.updates if t == task_id]


def processes_in(sandbox: Path) -> list[psutil.Process]:
    """Live processes whose working directory is the sandbox."""
    found = []
    for process in psutil.process_iter(["cwd"]):
        try:
            if process.info["cwd"] == str(sandbox) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found


def sandbox_of(cluster: pyactors.cluster.Cluster, agent: str, framework: str, task: str) -> Path:
    return Path(cluster.work_dir) / agent / "frameworks" / framework / "tasks" / task


def task_agent(cluster: pyactors.cluster.Cluster, framework_id: str, task_id: str) -> str:
    for framework in cluster.state()["frameworks"]:
        for task in framework["tasks"] + framework["completed_tasks"]:
            if framework["id"] == framework_id and task["id"] == task_id:
                return str(task["agent_id"])
    raise AssertionError(f"no task {task_id} of {framework_id}")


def small_cluster(
    tmp_path_factory: pytest.TempPathFactory, **options: Any
) -> Iterator[pyactors.cluster.Cluster]:
    """Two agents of cpus:2;mem:512 and 0.2 s cycles (options override),
    for a module's tests; shut down after them."""
    started = pyactors.cluster.start(
        **{
            "agents": 2,
            "agent_resources": "cpus:2;mem:512",
            "work_dir": str(tmp_path_factory.mktemp("work")),
            "allocation_interval": 0.2,
            **options,
        }
    )
    yield started
    started.shutdown()


def dead(handle: Any) -> bool:
    """Whether the actor is gone (`ray.kill` returns before it is)."""
    try:
        ray_calls.ask(handle, "heartbeat", timeout=5)
    except ray_calls.RayActorError:
        return True
    return False
