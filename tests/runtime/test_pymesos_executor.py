"""A custom executor through Mesos's v1 executor HTTP API: pymesos 0.3.15's
MesosExecutorDriver (`support.pymesos.sleep_or_finish_executor`), launched by a pymesos
scheduler (`support.pymesos.executor_scheduler`) against a real cluster.
The executor subscribes once for both its tasks, their updates reach the
scheduler (and its acknowledgements come back to the executor), framework
messages go both ways, a kill reaches the executor, and the kill of its
last task shuts it down. An agent killed under a running executor comes
back (Ray restarts it), and the executor, which outlived it, subscribes
again at the same address and goes on."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.http import request
from support.runtime import Launcher, wait_for

from pyactors._core import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import ExecutorInfo, LaunchGroup, TaskInfo
from pyactors.core.tasks import TaskStatus
from pyactors.runtime.cluster import Cluster
from pyactors.runtime.handles import AgentRef
from pyactors.scheduler.api import Driver

TESTS = Path(__file__).resolve().parents[1]
EXECUTOR = TESTS / "support" / "pymesos" / "sleep_or_finish_executor.py"


class Scheduler:
    """The scheduler's process: its JSON lines, read as they come."""

    def __init__(self, master: str, executor_log: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(TESTS)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "support.pymesos.executor_scheduler", master, str(executor_log)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def seen(self) -> list[dict[str, Any]]:
        while not self._lines.empty():
            self.events.append(json.loads(self._lines.get()))
        return self.events

    def states(self, task_id: str) -> list[str]:
        return [
            e["state"] for e in self.seen() if e["event"] == "update" and e["task_id"] == task_id
        ]

    def send(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.send(do="stop")
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


def executor_events(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line]
    except FileNotFoundError:
        return []


@pytest.fixture
def scheduler(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[Scheduler, Path]]:
    log = tmp_path / "executor.jsonl"
    master = cluster.url.removeprefix("http://").rstrip("/")
    started = Scheduler(master, log)
    yield started, log
    started.stop()


def test_a_pymesos_executor_runs_its_tasks_talks_and_is_killed(
    cluster: Cluster, scheduler: tuple[Scheduler, Path]
) -> None:
    sched, log = scheduler
    wait_for(lambda: "FINISHED" in str(sched.states("finish")), what="finish ends", seen=sched.seen)
    assert sched.states("finish") == ["TASK_RUNNING", "TASK_FINISHED"]
    wait_for(lambda: sched.states("sleep") == ["TASK_RUNNING"], what="sleep runs", seen=sched.seen)
    events = executor_events(log)
    registered = [e for e in events if e["event"] == "registered"]
    # One executor for both tasks, with Mesos's environment.
    assert len(registered) == 1 and len({e["pid"] for e in events}) == 1
    (launched,) = [e for e in sched.seen() if e["event"] == "launched"]
    assert registered[0]["executor_id"] == "SleepOrFinish"
    assert registered[0]["agent_id"] == launched["agent_id"]
    assert registered[0]["grace"] == "5secs"
    assert registered[0]["sandbox"].endswith("/tasks/executor.SleepOrFinish")
    assert [(e["task_id"], e["data"]) for e in events if e["event"] == "launch"] == [
        ("finish", "finish"),
        ("sleep", "sleep"),
    ]
    updates = [e for e in sched.seen() if e["event"] == "update"]
    assert all(u["source"] == "SOURCE_EXECUTOR" for u in updates)
    assert "TASK_FINISHED from the executor" in [u["message"] for u in updates]
    # Each update's data, as the executor attached it.
    assert [u["data"] for u in updates if u["task_id"] == "finish"] == [
        "TASK_RUNNING:finish",
        "TASK_FINISHED:finish",
    ]

    # The operator API shows it once, and names it on its tasks.
    status, executors = request(cluster.url, "/api/v1", {"type": "GET_EXECUTORS"})
    assert status == 200, executors
    (shown,) = executors["get_executors"]["executors"]
    assert shown["executor_info"]["executor_id"] == {"value": "SleepOrFinish"}
    assert shown["agent_id"] == {"value": launched["agent_id"]}

    sched.send(do="message", data="ping")
    reply = wait_for(
        lambda: [e for e in sched.seen() if e["event"] == "message"],
        what="the executor's answer",
        seen=lambda: executor_events(log),
    )
    assert reply == [
        {
            "event": "message",
            "executor_id": "SleepOrFinish",
            "agent_id": launched["agent_id"],
            "data": "pong:ping",
        }
    ]
    assert {"event": "message", "pid": registered[0]["pid"], "data": "ping"} in executor_events(log)

    sched.send(do="kill", task_id="sleep")
    wait_for(lambda: "TASK_KILLED" in sched.states("sleep"), what="sleep killed", seen=sched.seen)
    assert any(e["event"] == "kill" and e["task_id"] == "sleep" for e in executor_events(log))
    # Its last task killed, the executor is told to shut down and goes.
    wait_for(
        lambda: any(e["event"] == "shutdown" for e in executor_events(log)),
        what="SHUTDOWN reaches the executor",
        seen=lambda: executor_events(log),
    )
    pid = registered[0]["pid"]
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), what="the executor exits")


def _new_pid(agent: AgentRef, old: int) -> bool:
    try:
        return agent.pid() != old
    except Exception:  # restarting: not answering yet
        return False


@pytest.mark.timeout(600)
def test_an_executor_outlives_its_agent_and_subscribes_again(
    cluster: Cluster, scheduler: tuple[Scheduler, Path]
) -> None:
    sched, log = scheduler
    wait_for(lambda: sched.states("sleep") == ["TASK_RUNNING"], what="sleep runs", seen=sched.seen)
    # pymesos drops an update it cannot send: none is sent while the agent is away.
    wait_for(lambda: "TASK_FINISHED" in sched.states("finish"), what="finish ends", seen=sched.seen)
    (launched,) = [e for e in sched.seen() if e["event"] == "launched"]
    (registered,) = [e for e in executor_events(log) if e["event"] == "registered"]
    agent = AgentRef(cluster.agents[launched["agent_id"]])
    old_pid = agent.pid()
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: _new_pid(agent, old_pid), what="the agent restarted by Ray")
    wait_for(
        lambda: any(e["event"] == "reregistered" for e in executor_events(log)),
        what="the executor subscribing again",
        seen=lambda: executor_events(log),
    )
    # The same executor process, its task still running and still its.
    assert {e["pid"] for e in executor_events(log)} == {registered["pid"]}
    sched.send(do="message", data="again")
    wait_for(
        lambda: [e["data"] for e in sched.seen() if e["event"] == "message"] == ["pong:again"],
        what="a message through the restarted agent",
        seen=sched.seen,
    )
    sched.send(do="kill", task_id="sleep")
    wait_for(lambda: "TASK_KILLED" in sched.states("sleep"), what="sleep killed", seen=sched.seen)
    assert sched.states("sleep") == ["TASK_RUNNING", "TASK_KILLED"]
    wait_for(lambda: not Path(f"/proc/{registered['pid']}").exists(), what="the executor exits")


class ExecutorLauncher(Launcher):
    """A Python scheduler whose tasks name the pymesos executor; a task's
    "command" here is its data (what the executor does with it)."""

    def __init__(self, tasks: list[tuple[str, str, str]], executor_log: str) -> None:
        super().__init__(tasks, refuse_seconds=0.2)
        # Each update's data, in order.
        self.data: list[str] = []
        self.executor = ExecutorInfo(
            "SleepOrFinish",
            f"{sys.executable} {EXECUTOR}",
            "cpus:0.1;mem:32",
            env={"EXECUTOR_LOG": executor_log},
        )

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        """Every pending task as one group, on the first offer that fits them all."""
        need = sum((Resources.parse(r) for _, _, r in self.pending), Resources())
        for offer in offers:
            if self.pending and need <= offer.resources:
                group = [self.task_info(*task) for task in self.pending]
                self.pending = []
                driver.accept([offer.id], [LaunchGroup(group)], refuse_seconds=0.2)
            else:
                driver.decline([offer.id], refuse_seconds=0.2)

    def task_info(self, task_id: str, command: str, resources: str) -> TaskInfo:
        return TaskInfo(
            task_id,
            task_id,
            Resources.parse(resources),
            executor=self.executor,
            data=command.encode(),
        )

    def update(self, driver: Driver, status: TaskStatus) -> None:
        super().update(driver, status)
        self.data.append(status.data.decode())

    def data_seen(self) -> list[str]:
        return self.data


def test_a_python_scheduler_runs_a_task_group_on_a_custom_executor(
    cluster: Cluster, tmp_path: Path
) -> None:
    log = tmp_path / "executor.jsonl"
    tasks = [(task_id, "finish", "cpus:0.1;mem:16") for task_id in ("py-1", "py-2")]
    framework = cluster.run_framework(ExecutorLauncher, tasks, str(log), name="py-executor")
    try:
        for task_id in ("py-1", "py-2"):
            wait_for(
                lambda t=task_id: framework.call("states", t) == ["TASK_RUNNING", "TASK_FINISHED"],
                what=f"{task_id} finished by the executor",
                seen=lambda: (framework.call("seen")["updates"], executor_events(log)),
            )
        updates = framework.call("seen")["updates"]
        assert {m for _, _, _, m in updates} == {
            "TASK_RUNNING from the executor",
            "TASK_FINISHED from the executor",
        }
        events = executor_events(log)
        # One LAUNCH_GROUP for both.
        assert [e["task_ids"] for e in events if e["event"] == "launch_group"] == [["py-1", "py-2"]]
        assert sorted(framework.call("data_seen")) == sorted(
            f"{state}:{task_id}"
            for task_id in ("py-1", "py-2")
            for state in ("TASK_RUNNING", "TASK_FINISHED")
        )
        assert {e["task_id"] for e in events if e["event"] == "launch"} == {"py-1", "py-2"}
    finally:
        cluster.teardown(framework)
