"""Agent recovery on a real Ray instance: an agent actor's process killed
with SIGKILL while its tasks run comes back (Ray restarts it on its node)
with the same id, re-adopts the tasks still running and reports those that
ended meanwhile, once, with their real exit status."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from support.http import get
from support.runtime import Launcher, processes_in, sandbox_of, small_cluster, wait_for

from pyactors.agent import launcher
from pyactors.core.offer import OfferInfo
from pyactors.runtime.cluster import Cluster
from pyactors.runtime.handles import AgentRef
from pyactors.scheduler.api import Driver

LONG = [f"long-{i}" for i in range(3)]
SHORT = {"short-ok": 0, "short-bad": 3}
# Ray refused a restarted agent's call to itself about once in fifteen
# restarts (it had not marked the actor alive yet), and that agent never
# registered again: this many kills in a row all but always hit it.
KILLS = 15


class Recorder(Launcher):
    """A Launcher that also keeps every offer's cpus, per agent."""

    def __init__(self, tasks: list[tuple[str, str, str]]) -> None:
        super().__init__(tasks, refuse_seconds=0.2)
        self.cpus_offered: list[tuple[float, str, float]] = []

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        self.cpus_offered += [(time.time(), o.agent_id, o.resources.scalar("cpus")) for o in offers]
        super().offers(driver, offers)

    def offered_since(self, since: float) -> list[tuple[float, str, float]]:
        return [offer for offer in self.cpus_offered if offer[0] >= since]


@pytest.fixture(scope="module")
def one_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from small_cluster(tmp_path_factory, agents=1, agent_resources="cpus:4;mem:1024")


def _pids(sandbox: Path) -> list[int]:
    return list(orjson.loads((sandbox / launcher.PIDS).read_bytes())["task"])


@pytest.mark.timeout(600)
def test_a_killed_agent_comes_back_with_its_tasks(one_agent: Cluster, tmp_path: Path) -> None:
    cluster = one_agent
    go = tmp_path / "go"
    tasks = [(task_id, "sleep 600", "cpus:1;mem:32") for task_id in LONG]
    tasks += [
        (task_id, f"while [ ! -e {go} ]; do sleep 0.05; done; exit {code}", "cpus:0.25;mem:32")
        for task_id, code in SHORT.items()
    ]
    framework = cluster.run_framework(Recorder, tasks, name="recovery", roles=["r"])
    every = [*LONG, *SHORT]
    wait_for(
        lambda: all("TASK_RUNNING" in framework.call("states", t) for t in every),
        what="every task running",
    )
    (agent_id,) = cluster.agents
    agent = AgentRef(cluster.agents[agent_id])
    sandboxes = {t: sandbox_of(cluster, agent_id, framework.id, t) for t in every}
    before = {t: _pids(sandboxes[t]) for t in LONG}
    old_pid = agent.pid()
    killed_at = time.time()
    try:
        os.kill(old_pid, signal.SIGKILL)
        go.touch()
        # Back under the same id, in a new process.
        wait_for(lambda: _new_pid(agent, old_pid), what="the agent restarted by Ray")
        wait_for(
            lambda: all(framework.call("states", t)[-1:] != ["TASK_RUNNING"] for t in SHORT),
            what="the short tasks' ends",
        )
        seen = framework.call("seen")["updates"]
        ends = {
            t: [(s, m) for task, s, _, m in seen if task == t and s != "TASK_RUNNING"]
            for t in SHORT
        }
        assert ends == {
            "short-ok": [("TASK_FINISHED", "exited with status 0")],
            "short-bad": [("TASK_FAILED", "exited with status 3")],
        }
        # The long tasks: the same processes, still running, still RUNNING.
        for task_id in LONG:
            assert _pids(sandboxes[task_id]) == before[task_id]
            assert launcher.alive(*before[task_id])
            assert framework.call("states", task_id) == ["TASK_RUNNING"]
        (record,) = [a for a in cluster.state()["agents"] if a["id"] == agent_id]
        assert record["reachable"]
        # Nothing offered there while it was away (or since) counted the
        # long tasks' 3 cpus as free.
        offered = [
            cpus for _, on, cpus in framework.call("offered_since", killed_at) if on == agent_id
        ]
        assert all(cpus <= 1.0 for cpus in offered), offered
        # The recovered agent still kills its adopted tasks.
        cluster.teardown(framework)
        wait_for(
            lambda: all(not launcher.alive(*before[t]) for t in LONG),
            what="the long tasks killed by the teardown",
        )
        assert not any(s in ("TASK_LOST", "TASK_UNREACHABLE", "TASK_GONE") for _, s, _, _ in seen)
    finally:
        go.touch()
        for sandbox in sandboxes.values():
            for process in processes_in(sandbox):
                process.kill()


@pytest.mark.timeout(600)
def test_an_agent_killed_again_and_again_registers_after_each_restart(
    one_agent: Cluster,
) -> None:
    cluster = one_agent
    (agent_id,) = cluster.agents
    for kill in range(1, KILLS + 1):
        _kill_and_await_registration(cluster, agent_id, kill)


def _kill_and_await_registration(cluster: Cluster, agent_id: str, kill: int) -> None:
    agent = AgentRef(cluster.agents[agent_id])
    old_pid = agent.pid()
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: _new_pid(agent, old_pid), what=f"the agent restarted ({kill})")
    restarted_at = time.time()
    # Heartbeats come only from an agent that registered.
    wait_for(
        lambda: _heard_since(cluster, agent_id, restarted_at),
        what=f"the master hearing the agent after restart {kill}",
    )


def _heard_since(cluster: Cluster, agent_id: str, since: float) -> bool:
    (agent,) = [a for a in get(cluster.url, "/master/slaves")["slaves"] if a["id"] == agent_id]
    return bool(agent["reachable"]) and float(agent["last_seen_time"]) > since


def _new_pid(agent: AgentRef, old: int) -> bool:
    try:
        return agent.pid() != old
    except Exception:  # restarting: not answering yet
        return False
