"""The agent's state machine with real processes (no Ray)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.agents import poll_until, task
from support.runtime import wait_for

from pyactors import Resources
from pyactors.agent import task_messages
from pyactors.agent.state import AgentState
from pyactors.agent.task_process import read_outcome, read_result, sandbox_path
from pyactors.core.operations import TaskInfo
from pyactors.core.tasks import Reason, TaskState
from pyactors.errors import DuplicateError


def test_updates_are_delivered_in_order_and_resent_until_acknowledged(
    tmp_path: Path, agents: list[AgentState]
) -> None:
    agent = AgentState("agent-1", tmp_path, retry_min=0.2, retry_max=0.2)
    agents.append(agent)
    agent.launch("fw", [task("t")], now=time.monotonic())
    (running,) = poll_until(agent, lambda seen: seen)
    assert running.state is TaskState.TASK_RUNNING
    # Not acknowledged: RUNNING comes again, and FINISHED waits behind it.
    again = poll_until(agent, lambda seen: seen)
    assert [s.uuid for s in again] == [running.uuid]
    agent.acknowledge([("t", running.uuid or "")], time.monotonic())
    (finished,) = poll_until(agent, lambda seen: seen)
    assert finished.state is TaskState.TASK_FINISHED
    assert agent.running() == []
    agent.acknowledge([("t", finished.uuid or "")], time.monotonic())
    assert agent.processes == {}
    assert agent.streams.pending() == []


def test_a_task_that_cannot_start_fails_with_a_reason(tmp_path: Path) -> None:
    agent = AgentState("agent-1", tmp_path)
    agent.launch("fw", [task("bad", cwd="../../..")], now=0.0)
    (failed,) = agent.poll(0.0)
    assert failed.state is TaskState.TASK_FAILED
    assert failed.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
    assert "leaves its sandbox" in failed.message


def test_a_group_starts_whole_or_not_at_all(tmp_path: Path, agents: list[AgentState]) -> None:
    agent = AgentState("agent-1", tmp_path, kill_grace=0.0)
    agents.append(agent)
    now = time.monotonic()
    agent.launch("fw", [], now, groups=[[task("g1", "sleep 30"), task("g2", cwd="../..")]])
    seen = poll_until(
        agent,
        lambda seen: {s.task_id for s in seen if s.state.is_terminal} == {"g1", "g2"},
        acknowledge=True,
    )
    final = {s.task_id: s.state for s in seen if s.state.is_terminal}
    assert final == {"g1": TaskState.TASK_KILLED, "g2": TaskState.TASK_FAILED}


def test_kill_and_running_and_duplicates(tmp_path: Path, agents: list[AgentState]) -> None:
    agent = AgentState("agent-1", tmp_path, kill_grace=0.5)
    agents.append(agent)
    agent.launch("fw", [task("long", "sleep 30")], now=time.monotonic())
    assert agent.running() == ["long"]
    with pytest.raises(DuplicateError):
        agent.launch("fw", [task("long")], now=time.monotonic())
    with pytest.raises(DuplicateError):
        agent.launch("fw", [task("x"), task("x")], now=time.monotonic())
    agent.kill(["long", "unknown"], now=time.monotonic())
    seen = poll_until(agent, lambda seen: any(s.state.is_terminal for s in seen), acknowledge=True)
    assert seen[-1].state is TaskState.TASK_KILLED


def square(x: int) -> int:
    return x * x


def test_callables_and_argv_commands_run_like_shell_commands(
    tmp_path: Path, agents: list[AgentState]
) -> None:
    agent = AgentState("agent-1", tmp_path)
    agents.append(agent)
    resources = Resources.parse("cpus:1;mem:128")
    agent.launch(
        "fw",
        [
            TaskInfo("py", "py", resources, function=square, args=(7,)),
            TaskInfo("argv", "argv", resources, command=["true"], shell=False),
        ],
        now=time.monotonic(),
    )
    seen = poll_until(
        agent,
        lambda seen: {s.task_id for s in seen if s.state.is_terminal} == {"py", "argv"},
        acknowledge=True,
    )
    assert {s.task_id: s.state for s in seen if s.state.is_terminal} == {
        "py": TaskState.TASK_FINISHED,
        "argv": TaskState.TASK_FINISHED,
    }
    assert read_result(sandbox_path(tmp_path, "fw", "py")) == 49


def test_the_report_for_a_new_leader_holds_every_task_until_its_end_is_acknowledged(
    tmp_path: Path, agents: list[AgentState]
) -> None:
    # No retry comes however slowly the task ends: only the explicit resend.
    agent = AgentState("agent-1", tmp_path, retry_min=3600, retry_max=3600)
    agents.append(agent)
    agent.launch("fw", [task("t", "sleep 0.2")], now=time.monotonic(), role="eng")
    (staging,) = agent.report()
    assert (staging.framework_id, staging.role, staging.task.task_id) == ("fw", "eng", "t")
    assert staging.status.state is TaskState.TASK_STAGING
    (running,) = poll_until(agent, lambda seen: seen)
    finished = poll_until(
        agent, lambda seen: agent.streams.pending("t")[-1].state.is_terminal, acknowledge=False
    )
    assert finished == []  # RUNNING is still in flight; FINISHED waits behind it
    # The oldest unacknowledged update: the new leader starts from there.
    (report,) = agent.report()
    assert report.status == running
    agent.acknowledge([("t", running.uuid or "")], time.monotonic())
    (report,) = agent.report()
    assert report.status.state is TaskState.TASK_FINISHED
    # Resent at once for the new leader, then forgotten once acknowledged.
    agent.resend(None, time.monotonic())
    (again,) = agent.poll(time.monotonic())
    assert again == report.status
    agent.acknowledge([("t", again.uuid or "")], time.monotonic())
    assert agent.report() == []


def test_a_task_that_ended_between_polls_queues_both_updates_and_its_end_follows_the_ack(
    tmp_path: Path, agents: list[AgentState]
) -> None:
    agent = AgentState("agent-1", tmp_path, retry_min=3600, retry_max=3600)
    agents.append(agent)
    agent.launch("fw", [task("t", "true")], now=time.monotonic())
    sandbox = sandbox_path(tmp_path, "fw", "t")
    wait_for(lambda: read_outcome(sandbox) is not None, what="the task to end unpolled")
    (running,) = agent.poll(time.monotonic())
    assert running.state is TaskState.TASK_RUNNING
    # Both queued by that one poll, the end behind RUNNING.
    assert [s.state for s in agent.streams.pending("t")] == [
        TaskState.TASK_RUNNING,
        TaskState.TASK_FINISHED,
    ]
    # The acknowledgement makes the end sendable at once, with no poll.
    agent.acknowledge([("t", running.uuid or "")], time.monotonic())
    (finished,) = agent.take_updates()
    assert finished.state is TaskState.TASK_FINISHED
    assert agent.poll(time.monotonic()) == []


def test_outboxes_are_read_from_running_tasks_on_the_slow_timer_and_once_at_the_end(
    tmp_path: Path, agents: list[AgentState]
) -> None:
    agent = AgentState("agent-1", tmp_path)
    agents.append(agent)
    agent.launch("fw", [task("t", "sleep 60")], now=time.monotonic())
    poll_until(agent, lambda seen: seen)  # RUNNING
    sandbox = sandbox_path(tmp_path, "fw", "t")
    task_messages.put(sandbox, task_messages.OUTBOX, b"while running")
    assert agent.take_messages(running_too=False) == []
    assert agent.take_messages(running_too=True) == [("t", b"while running")]
    agent.kill(["t"], time.monotonic(), grace=0.0)
    task_messages.put(sandbox, task_messages.OUTBOX, b"last words")
    # Ended (its update not yet acknowledged: the agent reads at once).
    poll_until(agent, lambda seen: agent.running() == [])
    assert agent.take_messages(running_too=False) == [("t", b"last words")]
    task_messages.put(sandbox, task_messages.OUTBOX, b"after the end")
    assert agent.take_messages(running_too=True) == []
