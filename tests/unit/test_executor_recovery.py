"""Idle custom executors across an agent restart, without Ray: every
executor, idle ones too, is in the agent's checkpoint, and a new
`AgentState` on a dead one's work dir takes each back (its process, which
outlived the state that started it, watched again), lists it in its
registration and awaits its subscription, or kills it past the
registration timeout and reports it exited, as Mesos's agent does with the
executors it checkpointed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.runtime import wait_for

from pyactors import Resources
from pyactors.agent import checkpoint
from pyactors.agent.checkpoint import Checkpoint, CheckpointError, Encoder
from pyactors.agent.executors import (
    ExecutorBook,
    ExecutorRecord,
    Launch,
    Phase,
    Shutdown,
    Subscribed,
)
from pyactors.agent.state import AgentState
from pyactors.core.operations import ExecutorInfo, TaskInfo
from pyactors.core.protocol import ExitedExecutor
from pyactors.core.tasks import Source, TaskState, TaskStatus

AGENT = "agent-1"
FRAMEWORK = "fw"
# Never subscribes: it stands for an executor whose agent went away.
IDLE = ExecutorInfo("idle", "sleep 600", "cpus:0.5;mem:32")
KEY = (FRAMEWORK, "idle")


def task(task_id: str) -> TaskInfo:
    return TaskInfo(task_id, task_id, Resources.parse("cpus:0.5;mem:16"), executor=IDLE)


def started_with_an_idle_executor(
    work_dir: Path, agents: list[AgentState]
) -> tuple[AgentState, int]:
    """An agent whose executor ran one task to its end (acknowledged), and
    the executor's pid: it is idle and runs on."""
    state = AgentState(AGENT, work_dir, kill_grace=0.0)
    agents.append(state)
    state.executors.endpoint = "127.0.0.1:1"  # never called: the executor is `sleep`
    now = time.monotonic()
    state.launch(FRAMEWORK, [task("t1")], now, role="web")
    state.executor_subscribe(KEY, [], [], now)
    finished = TaskStatus("t1", TaskState.TASK_FINISHED, Source.SOURCE_EXECUTOR, now, uuid="a" * 32)
    state.executor_update(KEY, finished, now)
    (sent,) = state.poll(now)
    state.acknowledge([("t1", sent.uuid or "")], now)
    state.poll(now)
    assert state.report() == [] and state.executors.book.report()[0].role == "web"

    def pid() -> int | None:
        state.poll(time.monotonic())
        pids = state.executors.processes[KEY].pids
        return None if pids is None else pids.task

    found: int = wait_for(pid, what="the executor's pid")
    return state, found


def test_a_restarted_agent_takes_back_an_idle_executor(
    tmp_path: Path, agents: list[AgentState]
) -> None:
    _, pid = started_with_an_idle_executor(tmp_path, agents)
    # The first incarnation dies without a word (its processes live on).
    second = AgentState(AGENT, tmp_path, kill_grace=0.0)
    agents.append(second)
    assert second.recover(time.monotonic())
    (report,) = second.executors.book.report()
    assert (report.framework_id, report.role, report.executor) == (FRAMEWORK, "web", IDLE)
    assert Path(f"/proc/{pid}").exists()
    # Awaited: it subscribes again and hears SUBSCRIBED alone (no task twice).
    second.executor_subscribe(KEY, [], [], time.monotonic())
    events = second.executors.book.take_events()
    assert [type(event) for _, event in events] == [Subscribed]
    for _ in range(3):
        assert second.poll(time.monotonic()) == []
    assert second.take_exits() == []
    assert Path(f"/proc/{pid}").exists()
    # And a new task for it reaches the executor it has, none is started.
    second.launch(FRAMEWORK, [task("t2")], time.monotonic(), role="web")
    assert list(second.executors.processes) == [KEY]
    pids = second.executors.processes[KEY].pids
    assert pids is not None and pids.task == pid
    assert [type(e) for _, e in second.executors.book.take_events()] == [Launch]


def test_an_idle_executor_that_does_not_come_back_is_killed_and_reported(
    tmp_path: Path, agents: list[AgentState]
) -> None:
    _, pid = started_with_an_idle_executor(tmp_path, agents)
    second = AgentState(AGENT, tmp_path, kill_grace=0.0)
    agents.append(second)
    recovered_at = time.monotonic()
    second.recover(recovered_at)
    late = recovered_at + second.executors.book.registration_timeout

    def reported() -> list[ExitedExecutor]:
        second.poll(late)
        return second.take_exits()

    (exit,) = wait_for(reported, what="the executor killed and its exit reported")
    assert (exit.agent_id, exit.framework_id, exit.executor_id) == (AGENT, FRAMEWORK, "idle")
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), what="the executor's process gone")
    assert second.executors.book.report() == []
    # Written at that poll: a third incarnation has nothing to take back.
    third = AgentState(AGENT, tmp_path, kill_grace=0.0)
    agents.append(third)
    third.recover(time.monotonic())
    assert third.executors.book.report() == [] and third.executors.processes == {}


def test_an_executor_being_shut_down_is_killed_by_the_restarted_agent() -> None:
    book = ExecutorBook(AGENT, shutdown_grace=5.0)
    record = ExecutorRecord(FRAMEWORK, "*", IDLE, terminating=True)
    assert book.recover_executor(record, now=100.0)
    assert book.executors[KEY].phase is Phase.TERMINATING
    assert book.due(100.0) == [KEY]
    # One already taken back with its tasks is left as it is.
    assert not book.recover_executor(ExecutorRecord(FRAMEWORK, "*", IDLE), now=100.0)


def test_records_follow_the_executors_lifecycle() -> None:
    book = ExecutorBook(AGENT)
    assert book.take_changed() is False
    book.launch(FRAMEWORK, task("t1"), 0.0, role="web")
    assert book.take_changed() and book.records() == [ExecutorRecord(FRAMEWORK, "web", IDLE)]
    book.subscribe(KEY, [], [], 1.0)
    assert not book.take_changed()
    book.shut_down(KEY, 2.0)
    assert [type(e) for _, e in book.take_events()][-1] is Shutdown
    assert book.take_changed() and book.records()[0].terminating
    book.exited(KEY, 3.0, "killed")
    assert book.take_changed() and book.records() == []


def test_the_checkpoint_holds_executors_and_refuses_a_broken_one() -> None:
    records = (
        ExecutorRecord(FRAMEWORK, "web", IDLE),
        ExecutorRecord("fw2", "*", IDLE, terminating=True),
    )
    data = Encoder().encode(Checkpoint(AGENT, {}, records))
    assert checkpoint.decode(data, AGENT).executors == records
    # Written before executors were kept: none.
    assert checkpoint.decode(Encoder().encode(Checkpoint(AGENT)), AGENT).executors == ()
    old = b'{"version": 1, "agent_id": "agent-1", "tasks": {}}'
    assert checkpoint.decode(old, AGENT).executors == ()
    broken = data.replace(b'"terminating":true', b'"terminating":"yes"')
    with pytest.raises(CheckpointError, match="an executor in the checkpoint"):
        checkpoint.decode(broken, AGENT)
    not_pickled = data.replace(records[0].to_json()["info"].encode(), b"bm90IGEgcGlja2xl")
    with pytest.raises(CheckpointError, match="ExecutorInfo cannot be read"):
        checkpoint.decode(not_pickled, AGENT)
