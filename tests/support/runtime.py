"""What the tests that drive real actors share: waiting for a condition
(never for a duration), a recording scheduler, and finding a task's sandbox
and processes."""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest

import pyactors
from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.tasks import TaskStatus
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster
from pyactors.scheduler.api import Driver, Scheduler

# How long a test waits for a condition before it gives up. A slow or busy
# machine only makes a wait longer, never fails it: the bound is there for a
# condition that will never come, and stays under pytest-timeout's 300 s so
# that the failure says what was awaited rather than where pytest stopped.
PATIENCE = 240.0


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = PATIENCE,
    what: str = "",
    seen: Callable[[], Any] | None = None,
    every: float = 0.1,
) -> Any:
    """The first truthy value of `predicate`, polled every `every` s. After
    `timeout` s without one, an AssertionError naming `what` and what was
    last seen: `seen()` when given, else the predicate's last value."""
    started = time.monotonic()
    while True:
        value = predicate()
        if value:
            return value
        waited = time.monotonic() - started
        if waited > timeout:
            last = seen() if seen is not None else value
            raise AssertionError(
                f"gave up after {waited:.0f} s waiting for {what or predicate}; last saw: {last!r}"
            )
        time.sleep(every)


def allocation_runs(cluster: Cluster) -> int:
    return int(cluster.state()["counters"].get("allocation_runs", 0))


def allocation_cycles_pass(cluster: Cluster, count: int = 10) -> None:
    """Return once the leading master has run `count` more allocation cycles.

    What a check that something does not happen waits for: on a busy machine
    a fixed sleep may cover no cycle at all, while each cycle is a chance for
    the unwanted offer (or launch) to be made."""
    first = allocation_runs(cluster)
    wait_for(
        lambda: allocation_runs(cluster) >= first + count,
        what=f"{count} allocation cycles after the {first}th",
        seen=lambda: allocation_runs(cluster),
    )


def suppressed_with_no_offer_out(cluster: Cluster, framework_id: str) -> bool:
    """Whether the master holds every role of the framework suppressed and no
    offer of it is outstanding: every offer made to it before it suppressed
    has reached it (and been answered), so none is still on its way."""
    allocator = cluster.state()["allocator"]["frameworks"].get(framework_id)
    if allocator is None or set(allocator["suppressed_roles"]) != set(allocator["roles"]):
        return False
    with urllib.request.urlopen(cluster.url + "/master/state", timeout=30) as response:
        state = orjson.loads(response.read())
    return all(not f["offers"] for f in state["frameworks"] if f["id"] == framework_id)


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


def sandbox_of(cluster: Cluster, agent: str, framework: str, task: str) -> Path:
    return Path(cluster.work_dir) / agent / "frameworks" / framework / "tasks" / task


def task_agent(cluster: Cluster, framework_id: str, task_id: str) -> str:
    for framework in cluster.state()["frameworks"]:
        for task in framework["tasks"] + framework["completed_tasks"]:
            if framework["id"] == framework_id and task["id"] == task_id:
                return str(task["agent_id"])
    raise AssertionError(f"no task {task_id} of {framework_id}")


def small_cluster(tmp_path_factory: pytest.TempPathFactory, **options: Any) -> Iterator[Cluster]:
    """Two agents of cpus:2;mem:512 and 0.2 s cycles (options override),
    for a module's tests; shut down after them."""
    started = pyactors.start(
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


def ha_cluster(zookeeper: Any, tmp_path: Path, path: str | None = None, **options: Any) -> Cluster:
    """Two masters on the test session's ZooKeeper (under `path`, else a
    fresh one) and one agent of cpus:1;mem:256 (options override). A long
    ZooKeeper session: a killed leader is replaced on Ray's word, not its
    session's end, so a busy machine's pauses do not cost one."""
    return pyactors.start(
        **{
            "agents": 1,
            "agent_resources": "cpus:1;mem:256",
            "work_dir": str(tmp_path),
            "allocation_interval": 0.2,
            "masters": 2,
            "zk": f"zk://{zookeeper.hosts}{path or '/pyactors-' + uuid.uuid4().hex[:8]}",
            "zk_session_timeout": 30.0,
            **options,
        }
    )


def dead(handle: Any) -> bool:
    """Whether the actor is gone (`ray.kill` returns before it is); for
    `wait_for`, so an answer that is only late counts as not gone yet."""
    try:
        ray_calls.ask(handle, "heartbeat", timeout=5)
    except ray_calls.RayActorError:
        return True
    except TimeoutError:
        pass
    return False


def leading(cluster: Cluster) -> list[Any]:
    """The live masters that say they lead."""
    found = []
    for master in cluster.masters:
        try:
            if ray_calls.ask(master, "status")["leading"]:
                found.append(master)
        except ray_calls.RayActorError:
            continue
    return found
