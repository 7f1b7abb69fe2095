"""Kill grace periods (Mesos's KillPolicy) on their way from a scheduler to
the task: the Driver's kill, the v1 KILL call and TaskInfo, the master's
KillTasks, and the agent's SIGTERM, grace, SIGKILL with real processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.agents import poll_until, task

from pyactors import Resources
from pyactors.agent.state import AgentState
from pyactors.agent.task_process import sandbox_path
from pyactors.api.v1 import mesos_json
from pyactors.api.v1.scheduler_calls import CallError, parse_call
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import Call, Kill, KillTasks, SendOffers
from pyactors.core.tasks import TaskState
from pyactors.errors import InvalidArgumentError
from pyactors.frameworks.services.launch import task_info
from pyactors.frameworks.services.state import ServiceState
from pyactors.master.state import MasterConfig, MasterState
from pyactors.scheduler.api import Driver

# Traps SIGTERM and needs `seconds` to finish its work after it.
TRAPS_TERM = (
    "trap 'sleep {seconds}; echo done > finished; exit 0' TERM; "
    "echo up > up; while :; do sleep 0.05; done"
)
# Ignores SIGTERM: only SIGKILL ends it.
IGNORES_TERM = "trap '' TERM; echo up > up; while :; do sleep 0.05; done"


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentState]:
    # A short default, so a task's own longer policy is what lets it finish.
    made = AgentState("agent-1", tmp_path, kill_grace=0.2)
    yield made
    made.shutdown()


def started(agent: AgentState, *tasks: TaskInfo) -> None:
    agent.launch("fw", list(tasks), now=time.monotonic())
    sandboxes = [sandbox_path(agent.work_dir, "fw", t.task_id) for t in tasks]
    poll_until(agent, lambda _: all((s / "up").exists() for s in sandboxes), acknowledge=True)


def killed_after(agent: AgentState, task_id: str, grace: float | None) -> float:
    """Kill the task; seconds until the agent reports TASK_KILLED."""
    begun = time.monotonic()
    agent.kill([task_id], begun, grace)
    seen = poll_until(
        agent,
        lambda seen: any(s.task_id == task_id and s.state.is_terminal for s in seen),
        acknowledge=True,
    )
    assert [s.state for s in seen if s.task_id == task_id][-1] is TaskState.TASK_KILLED
    return time.monotonic() - begun


def test_a_task_trapping_sigterm_gets_its_kill_policys_grace(agent: AgentState) -> None:
    trapper = task("trapper", TRAPS_TERM.format(seconds=1), kill_grace_period=10.0)  # type: ignore[arg-type]
    started(agent, trapper)
    # Without a grace of its own, the kill uses the task's policy (10 s),
    # not the agent's 0.2 s: the trap has time to finish its work.
    killed_after(agent, "trapper", None)
    assert (sandbox_path(agent.work_dir, "fw", "trapper") / "finished").read_text() == "done\n"


def test_a_kills_own_grace_overrides_the_policy(agent: AgentState) -> None:
    trapper = task("short", TRAPS_TERM.format(seconds=3), kill_grace_period=10.0)  # type: ignore[arg-type]
    started(agent, trapper)
    took = killed_after(agent, "short", 0.5)
    assert took < 3, f"a 0.5 s grace took {took:.1f} s"
    assert not (sandbox_path(agent.work_dir, "fw", "short") / "finished").exists()


def test_a_task_ignoring_sigterm_is_killed_once_its_grace_is_over(agent: AgentState) -> None:
    started(agent, task("deaf", IGNORES_TERM))
    took = killed_after(agent, "deaf", 1.5)
    assert took >= 1.5, f"SIGKILL came {took:.2f} s after SIGTERM, before the grace was over"
    sandbox = sandbox_path(agent.work_dir, "fw", "deaf")
    assert (sandbox / "up").exists()


def test_the_driver_sends_the_grace_period_and_refuses_a_bad_one() -> None:
    sent: list[Call] = []
    driver = Driver(None, "fw", None, sink=lambda _, calls: sent.extend(calls))  # type: ignore[arg-type]
    driver.kill("t1", grace_period=2.5)
    driver.kill("t2")
    for bad in (-1, float("inf"), True, "5"):
        with pytest.raises(InvalidArgumentError, match="grace_period"):
            driver.kill("t3", grace_period=bad)  # type: ignore[arg-type]
    assert sent == [Kill("t1", 2.5), Kill("t2", None)]


def test_the_master_carries_the_grace_period_to_the_agent() -> None:
    master = MasterState(MasterConfig())
    master.register_agent("a1", "host", Resources.parse("cpus:4;mem:1024"), {}, now=0)
    framework_id, _ = master.subscribe("fw", ["*"], now=0)
    (batch,) = [e for e in master.allocate(now=1) if isinstance(e, SendOffers)]
    launch = Launch([TaskInfo("t1", "t1", Resources.parse("cpus:1"), command="true")])
    master.accept(framework_id, [batch.offers[0].id], [launch], refuse_seconds=5, now=1)
    effects = master.kill(framework_id, "t1", now=2, grace_period=7.0)
    assert effects == [KillTasks("a1", framework_id, ["t1"], 7.0)]
    with pytest.raises(InvalidArgumentError, match="grace_period"):
        master.kill(framework_id, "t1", now=2, grace_period=-3.0)


def v1_call(kind: str, **body: Any) -> dict[str, Any]:
    return {"type": kind, "framework_id": {"value": "fw-1"}, **body}


def test_v1_kill_policies_in_kill_and_in_task_info() -> None:
    policy = {"grace_period": {"nanoseconds": 2_500_000_000}}
    kill = v1_call("KILL", kill={"task_id": {"value": "t1"}, "kill_policy": policy})
    assert parse_call(kill, now=0.0).calls == [Kill("t1", 2.5)]
    as_text = {"grace_period": {"nanoseconds": "3000000000"}}
    kill = v1_call("KILL", kill={"task_id": {"value": "t1"}, "kill_policy": as_text})
    assert parse_call(kill, now=0.0).calls == [Kill("t1", 3.0)]
    negative = {"grace_period": {"nanoseconds": -1}}
    with pytest.raises(CallError, match="nanoseconds"):
        parse_call(v1_call("KILL", kill={"task_id": {"value": "t1"}, "kill_policy": negative}), 0.0)
    raw = {
        "task_id": {"value": "t1"},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
        "command": {"value": "true"},
        "kill_policy": policy,
    }
    read = mesos_json.task_from_v1(raw)
    assert read.kill_grace_period == 2.5
    assert mesos_json.task_to_v1(read, "a1")["kill_policy"] == policy


def test_the_services_framework_kills_with_the_apps_grace_period() -> None:
    state = ServiceState()
    app = {"id": "/slow", "cmd": "sleep 100", "cpus": 0.1, "mem": 32, "instances": 1}
    state.deploy(app | {"taskKillGracePeriodSeconds": 12.5}, now=0.0)
    state.deploy({**app, "id": "/quick"}, now=0.0)
    ports = "cpus:4;mem:1024;ports:[31000-31010]"
    offer = OfferInfo("o1", "fw", "a1", "services", Resources.parse(ports))
    (answer,) = state.offers([offer], now=1.0)
    plans = {plan.app.id: plan for plan in answer.launches}
    assert task_info(plans["/slow"]).kill_grace_period == 12.5
    assert task_info(plans["/quick"]).kill_grace_period is None
    # An update's new grace is the new version's: the running task keeps its own.
    state.update(app | {"taskKillGracePeriodSeconds": 1.0}, now=1.5)
    assert state.kill_grace(plans["/slow"].task_id) == 12.5
    state.remove("/slow", now=2.0)
    (killed,) = state.take_kills()
    assert state.kill_grace(killed) == 12.5
    assert state.kill_grace(plans["/quick"].task_id) is None
    assert state.kill_grace("nobody's") is None
