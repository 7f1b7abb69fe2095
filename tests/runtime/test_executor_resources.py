"""Custom executors' resources and teardown on a real cluster: a Python
scheduler's tasks name a pymesos executor (`support.pymesos.
sleep_or_finish_executor`) with resources of its own. After the launch the
agent's offers leave out the task's and the executor's resources; once the
executor's last task is killed and it exits, they are offered again. A
teardown stops an executor left idle (its task finished): its process goes.
The master's state shows the executor with its resources meanwhile. An
agent killed under an idle executor takes it back when Ray restarts it:
the executor subscribes again, keeps its resources, and nothing is
launched twice."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from support.http import request
from support.runtime import Launcher, task_agent, wait_for

from pyactors._core import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import ExecutorInfo, TaskInfo
from pyactors.runtime.cluster import Cluster
from pyactors.runtime.handles import AgentRef
from pyactors.scheduler.api import Driver

TESTS = Path(__file__).resolve().parents[1]
EXECUTOR = TESTS / "support" / "pymesos" / "sleep_or_finish_executor.py"
# The small cluster's agents (support.runtime.small_cluster).
AGENT_TOTAL = {"cpus": 2.0, "mem": 512.0}
TASK = "cpus:0.5;mem:64"
EXECUTOR_RESOURCES = "cpus:0.5;mem:128"


class OnExecutor(Launcher):
    """Launches tasks on one custom executor (a task's "command" is its
    data: what the executor does) and keeps each agent's latest offer."""

    def __init__(self, executor_id: str, executor_log: str) -> None:
        super().__init__([], refuse_seconds=0.2)
        self.executor = ExecutorInfo(
            executor_id,
            f"{sys.executable} {EXECUTOR}",
            EXECUTOR_RESOURCES,
            env={"EXECUTOR_LOG": executor_log},
        )
        self.latest: dict[str, dict[str, float]] = {}
        self.driver: Driver | None = None
        # The one agent to launch on (None: any).
        self.pinned: str | None = None

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        self.driver = driver
        for offer in offers:
            self.latest[offer.agent_id] = {
                name: offer.resources.scalar(name) for name in AGENT_TOTAL
            }
        elsewhere = [o.id for o in offers if self.pinned not in (None, o.agent_id)]
        if elsewhere:
            driver.decline(elsewhere, refuse_seconds=self.refuse_seconds)
        super().offers(driver, [o for o in offers if o.id not in elsewhere])

    def pin(self, agent_id: str) -> None:
        self.pinned = agent_id

    def task_info(self, task_id: str, command: str, resources: str) -> TaskInfo:
        return TaskInfo(
            task_id,
            task_id,
            Resources.parse(resources),
            executor=self.executor,
            data=command.encode(),
        )

    def launch(self, task_id: str, what: str) -> None:
        self.pending.append((task_id, what, TASK))

    def kill(self, task_id: str) -> None:
        assert self.driver is not None
        self.driver.kill(task_id)

    def latest_offer(self, agent_id: str) -> dict[str, float] | None:
        """The agent's latest offer, forgotten once read (the next is fresh)."""
        return self.latest.pop(agent_id, None)


def executor_pid(log: Path) -> int | None:
    if not log.exists():
        return None
    for line in log.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "registered":
            return int(event["pid"])
    return None


def events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line]


def less(*bundles: str) -> dict[str, float]:
    used = Resources()
    for bundle in bundles:
        used = used + Resources.parse(bundle)
    return {name: total - used.scalar(name) for name, total in AGENT_TOTAL.items()}


def executors_shown(cluster: Cluster, framework_id: str) -> list[dict[str, Any]]:
    status, state = request(cluster.url, "/master/state")
    assert status == 200, state
    for framework in state["frameworks"]:
        if framework["id"] == framework_id:
            return list(framework["executors"])
    return []


def test_an_executor_holds_its_resources_until_it_exits(cluster: Cluster, tmp_path: Path) -> None:
    log = tmp_path / "executor.jsonl"
    framework = cluster.run_framework(OnExecutor, "Holder", str(log), name="executor-holds")
    try:
        framework.call("launch", "sleeper", "sleep")
        wait_for(
            lambda: framework.call("states", "sleeper") == ["TASK_RUNNING"],
            what="the task running on its executor",
            seen=lambda: framework.call("seen"),
        )
        agent = task_agent(cluster, framework.id, "sleeper")
        # Offers of that agent now leave out the task and its executor.
        framework.call("latest_offer", agent)
        wait_for(
            lambda: framework.call("latest_offer", agent) == less(TASK, EXECUTOR_RESOURCES),
            what="offers without the task's and the executor's resources",
        )
        (shown,) = executors_shown(cluster, framework.id)
        assert shown["executor_id"] == "Holder" and shown["slave_id"] == agent
        assert shown["resources"]["cpus"] == 0.5 and shown["resources"]["mem"] == 128
        pid = executor_pid(log)
        assert pid is not None
        # Its last task killed, the executor is shut down and exits: the
        # whole agent is offered again.
        framework.call("kill", "sleeper")
        wait_for(
            lambda: "TASK_KILLED" in framework.call("states", "sleeper"), what="the task killed"
        )
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), what="the executor exits")
        wait_for(
            lambda: framework.call("latest_offer", agent) == AGENT_TOTAL,
            what="the executor's resources offered again",
        )
        assert executors_shown(cluster, framework.id) == []
    finally:
        cluster.teardown(framework)


def test_a_teardown_stops_an_idle_executor(cluster: Cluster, tmp_path: Path) -> None:
    log = tmp_path / "executor.jsonl"
    framework = cluster.run_framework(OnExecutor, "Idle", str(log), name="executor-idle")
    torn_down = False
    try:
        framework.call("launch", "quick", "finish")
        wait_for(
            lambda: framework.call("states", "quick") == ["TASK_RUNNING", "TASK_FINISHED"],
            what="the task finished by its executor",
            seen=lambda: framework.call("seen"),
        )
        agent = task_agent(cluster, framework.id, "quick")
        pid = executor_pid(log)
        assert pid is not None
        # Idle, it stays, and so do its resources.
        framework.call("latest_offer", agent)
        wait_for(
            lambda: framework.call("latest_offer", agent) == less(EXECUTOR_RESOURCES),
            what="offers without the idle executor's resources",
        )
        assert Path(f"/proc/{pid}").exists()
        cluster.teardown(framework)
        torn_down = True
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), what="the idle executor stopped")
        shutdowns = [
            json.loads(line)
            for line in log.read_text().splitlines()
            if json.loads(line)["event"] == "shutdown"
        ]
        assert len(shutdowns) == 1, "the executor heard SHUTDOWN before it was stopped"
    finally:
        if not torn_down:
            cluster.teardown(framework)


def _restarted(agent: AgentRef, old_pid: int) -> bool:
    try:
        return agent.pid() != old_pid
    except Exception:  # restarting: not answering yet
        return False


@pytest.mark.timeout(600)
def test_an_idle_executor_survives_its_agents_restart(cluster: Cluster, tmp_path: Path) -> None:
    log = tmp_path / "executor.jsonl"
    framework = cluster.run_framework(OnExecutor, "Survivor", str(log), name="executor-survives")
    try:
        framework.call("launch", "before", "finish")
        wait_for(
            lambda: framework.call("states", "before") == ["TASK_RUNNING", "TASK_FINISHED"],
            what="the task finished by its executor",
            seen=lambda: framework.call("seen"),
        )
        agent_id = task_agent(cluster, framework.id, "before")
        pid = executor_pid(log)
        assert pid is not None
        agent = AgentRef(cluster.agents[agent_id])
        old_pid = agent.pid()
        os.kill(old_pid, signal.SIGKILL)
        wait_for(lambda: _restarted(agent, old_pid), what="the agent restarted by Ray")
        wait_for(
            lambda: any(e["event"] == "reregistered" for e in events(log)),
            what="the idle executor subscribing to the restarted agent",
            seen=lambda: events(log),
        )
        # The same process, still counted by the master, its task not run again.
        assert {e["pid"] for e in events(log)} == {pid}
        assert [e["task_id"] for e in events(log) if e["event"] == "launch"] == ["before"]
        (shown,) = executors_shown(cluster, framework.id)
        assert shown["executor_id"] == "Survivor" and shown["slave_id"] == agent_id
        framework.call("latest_offer", agent_id)
        wait_for(
            lambda: framework.call("latest_offer", agent_id) == less(EXECUTOR_RESOURCES),
            what="offers of the restarted agent without the idle executor's resources",
        )
        # It runs a new task as the executor it is.
        framework.call("pin", agent_id)
        framework.call("launch", "after", "finish")
        wait_for(
            lambda: framework.call("states", "after") == ["TASK_RUNNING", "TASK_FINISHED"],
            what="a task on the taken-back executor",
            seen=lambda: (framework.call("seen"), events(log)),
        )
        assert {e["pid"] for e in events(log)} == {pid}
        assert [e["event"] for e in events(log)].count("registered") == 1
    finally:
        cluster.teardown(framework)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), what="the executor stopped by teardown")
