"""Agent recovery without Ray: a new `AgentState` on a dead one's work dir
takes back its tasks from the checkpoint (real task processes, which
outlive the state that launched them), and the master keeps a disconnected
agent's tasks and resources until it is back or its recovery timeout
passes."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.agents import poll_until, task
from support.runtime import wait_for

from pyactors import Resources
from pyactors.agent import checkpoint, launcher
from pyactors.agent.checkpoint import Checkpoint, Encoder, TaskEntry
from pyactors.agent.state import AgentState
from pyactors.agent.task_process import Pids, sandbox_path
from pyactors.core.operations import Launch
from pyactors.core.protocol import (
    ForwardUpdates,
    KillTasks,
    LaunchTasks,
    Rescind,
    SendOffers,
    TaskReport,
)
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.errors import UnknownAgentError
from pyactors.master.state import MasterConfig, MasterState

_agents: list[AgentState] = []


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """Every task a test starts is killed however the test ends."""
    yield
    while _agents:
        _agents.pop().shutdown()


def agent(work_dir: Path) -> AgentState:
    state = AgentState("agent-1", work_dir, kill_grace=0.0)
    _agents.append(state)
    return state


def pids_of(state: AgentState, task_id: str) -> Pids:
    """The task's pids, once its launcher recorded them (polling for them,
    as the agent's timer does)."""

    def known() -> Pids | None:
        state.poll(time.monotonic())
        return state.processes[task_id].pids

    found: Pids = wait_for(known, what=f"the pids of {task_id}")
    return found


def states(seen: list[TaskStatus], task_id: str) -> list[TaskState]:
    return [s.state for s in seen if s.task_id == task_id]


def test_a_restarted_agent_adopts_running_tasks_and_reports_ended_ones(tmp_path: Path) -> None:
    go = tmp_path / "go"
    first = agent(tmp_path)
    first.launch(
        "fw",
        [
            task("long", "sleep 600"),
            task("short", f"while [ ! -e {go} ]; do sleep 0.02; done; exit 3"),
        ],
        time.monotonic(),
    )
    seen = poll_until(first, lambda seen: len(seen) == 2, acknowledge=True)
    assert {s.state for s in seen} == {TaskState.TASK_RUNNING}
    long_pids = pids_of(first, "long")
    # The agent dies (its state is dropped, nothing is killed); meanwhile
    # the short task ends.
    _agents.remove(first)
    go.touch()
    short_sandbox = sandbox_path(tmp_path, "fw", "short")
    wait_for((short_sandbox / launcher.STATUS).exists, what="the short task's end")
    second = agent(tmp_path)
    assert second.recover(time.monotonic())
    assert {r.task.task_id: r.status.state for r in second.report()} == {
        "long": TaskState.TASK_RUNNING,
        "short": TaskState.TASK_RUNNING,
    }
    assert second.processes["long"].pids == long_pids
    ended = poll_until(second, lambda seen: states(seen, "short"), acknowledge=True)
    (short,) = [s for s in ended if s.task_id == "short"]
    assert (short.state, short.message) == (TaskState.TASK_FAILED, "exited with status 3")
    assert states(ended, "long") == []
    assert launcher.alive(long_pids.task, long_pids.task_started)
    # The adopted task is killed like any other.
    second.kill(["long"], time.monotonic())
    killed = poll_until(second, lambda seen: states(seen, "long"), acknowledge=True)
    assert states(killed, "long") == [TaskState.TASK_KILLED]
    assert not launcher.alive(long_pids.task, long_pids.task_started)
    assert second.report() == []


def test_a_kill_in_progress_when_the_agent_dies_is_finished_by_the_restarted_agent(
    tmp_path: Path,
) -> None:
    first = agent(tmp_path)
    # It outlives SIGTERM: only the SIGKILL after the grace ends it.
    first.launch("fw", [task("stubborn", "trap '' TERM; sleep 600")], time.monotonic())
    poll_until(first, lambda seen: states(seen, "stubborn"), acknowledge=True)
    pids = pids_of(first, "stubborn")
    first.kill(["stubborn"], time.monotonic(), grace=0.5, reason=Reason.REASON_AGENT_DRAINING)
    # The agent dies within the grace, before its SIGKILL.
    _agents.remove(first)
    time.sleep(1.0)
    assert launcher.alive(pids.task, pids.task_started)
    second = agent(tmp_path)
    assert second.recover(time.monotonic())
    killed = poll_until(second, lambda seen: states(seen, "stubborn"), acknowledge=True)
    (end,) = [s for s in killed if s.task_id == "stubborn"]
    assert (end.state, end.reason) == (TaskState.TASK_KILLED, Reason.REASON_AGENT_DRAINING)
    assert not launcher.alive(pids.task, pids.task_started)
    assert second.report() == []


def test_unacknowledged_updates_are_resent_after_recovery(tmp_path: Path) -> None:
    first = agent(tmp_path)
    first.launch("fw", [task("quick", "exit 0")], time.monotonic())
    seen = poll_until(first, lambda seen: seen)
    # RUNNING sent, never acknowledged: FINISHED waits behind it.
    (running,) = seen
    wait_for(
        (sandbox_path(tmp_path, "fw", "quick") / launcher.STATUS).exists, what="the task's end"
    )
    first.poll(time.monotonic())
    _agents.remove(first)
    second = agent(tmp_path)
    assert second.recover(time.monotonic())
    assert second.poll(time.monotonic()) == [running]
    second.acknowledge([("quick", running.uuid or "")], time.monotonic())
    (finished,) = poll_until(second, lambda seen: seen)
    assert finished.state is TaskState.TASK_FINISHED
    second.acknowledge([("quick", finished.uuid or "")], time.monotonic())
    assert second.report() == []
    # What is acknowledged stays so across another restart.
    second.poll(time.monotonic())
    third = agent(tmp_path)
    assert third.recover(time.monotonic())
    assert third.report() == [] and third.poll(time.monotonic()) == []


def test_a_recycled_pid_is_never_adopted_nor_signalled(tmp_path: Path) -> None:
    stranger = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        started = launcher.start_time(stranger.pid)
        assert started is not None
        # The checkpoint names the stranger's pid, with another start time.
        recycled = Pids(stranger.pid, started - 1, stranger.pid, started - 1)
        info = task("old", "sleep 600")
        running = TaskStatus("old", TaskState.TASK_RUNNING, Source.SOURCE_EXECUTOR, 1.0)
        entry = TaskEntry(TaskReport("fw", "*", info, running), recycled, ())
        checkpoint.write(tmp_path, Encoder().encode(Checkpoint("agent-1", {"old": entry})))
        recovered = agent(tmp_path)
        assert recovered.recover(time.monotonic())
        (failed,) = poll_until(recovered, lambda seen: seen)
        assert failed.state is TaskState.TASK_FAILED
        assert failed.reason is Reason.REASON_EXECUTOR_TERMINATED
        assert stranger.poll() is None  # untouched
    finally:
        stranger.kill()
        stranger.wait()


def test_an_unreadable_checkpoint_starts_clean_and_kills_what_it_can_name(
    tmp_path: Path,
) -> None:
    first = agent(tmp_path)
    first.launch("fw", [task("orphan", "sleep 600")], time.monotonic())
    poll_until(first, lambda seen: seen, acknowledge=True)
    pids = pids_of(first, "orphan")
    _agents.remove(first)
    checkpoint.path(tmp_path).write_bytes(b'{"version": 1, "agent_id": "agent-1", "ta')
    second = agent(tmp_path)
    assert second.recover(time.monotonic())
    assert second.report() == [] and second.processes == {}
    assert not checkpoint.path(tmp_path).exists()
    wait_for(lambda: not launcher.alive(pids.task, pids.task_started), what="the orphan killed")


# ------------------------------------------------------------------ master


def master_with_tasks() -> tuple[MasterState, str]:
    master = MasterState(MasterConfig(agent_timeout=10, agent_recovery_timeout=60))
    master.register_agent("agent-0", "host-0", Resources.parse("cpus:4;mem:1024"), {}, now=0)
    framework_id, _ = master.subscribe("fw", ["*"], now=0)
    (batch,) = [e for e in master.allocate(now=1) if isinstance(e, SendOffers)]
    tasks = [task(t, "sleep 600") for t in ("kept", "vanished")]
    effects = master.accept(framework_id, [batch.offers[0].id], [Launch(tasks)], 0, now=2)
    assert [e for e in effects if isinstance(e, LaunchTasks)]
    for task_id in ("kept", "vanished"):
        running = TaskStatus(task_id, TaskState.TASK_RUNNING, Source.SOURCE_EXECUTOR, 3)
        master.status_updates("agent-0", [running])
    return master, framework_id


def offered(master: MasterState, now: float) -> list[str]:
    offers = [e for e in master.allocate(now=now) if isinstance(e, SendOffers)]
    return [str(o.resources) for batch in offers for o in batch.offers]


def test_a_disconnected_agent_keeps_its_tasks_and_resources_until_it_is_back() -> None:
    master, framework_id = master_with_tasks()
    outstanding = offered(master, now=4)
    assert outstanding == ["cpus:2;mem:768"]
    effects = master.agent_disconnected("agent-0", now=5)
    assert [type(e) for e in effects] == [Rescind]
    # Nobody hears of it; nothing is offered there; heartbeats are refused
    # (a live old actor would register again).
    assert offered(master, now=6) == []
    assert master.expire(now=5 + 59) == []
    with pytest.raises(UnknownAgentError):
        master.heartbeat("agent-0", now=7)
    assert {t: r.state for t, r in master.tasks.items()} == {
        "kept": TaskState.TASK_RUNNING,
        "vanished": TaskState.TASK_RUNNING,
    }
    # Back, recovered, with one of its two tasks.
    report = TaskReport(
        framework_id,
        "*",
        master.tasks["kept"].task,
        TaskStatus("kept", TaskState.TASK_RUNNING, Source.SOURCE_EXECUTOR, 3),
    )
    back = master.register_agent(
        "agent-0", "host-0", Resources.parse("cpus:4;mem:1024"), {}, 10, [report], True
    )
    (forward,) = [e for e in back if isinstance(e, ForwardUpdates)]
    (gone,) = forward.statuses
    assert (gone.task_id, gone.state, gone.reason) == (
        "vanished",
        TaskState.TASK_GONE,
        Reason.REASON_AGENT_RESTARTED,
    )
    assert not [e for e in back if isinstance(e, KillTasks)]
    assert master.tasks["kept"].state is TaskState.TASK_RUNNING
    # The vanished task's resources are free again; the kept one's are not.
    assert offered(master, now=11) == ["cpus:3;mem:896"]


def test_a_disconnected_agent_is_unreachable_after_its_recovery_timeout() -> None:
    master, _ = master_with_tasks()
    master.agent_disconnected("agent-0", now=5)
    effects = master.expire(now=5 + 60)
    updates = [s for e in effects if isinstance(e, ForwardUpdates) for s in e.statuses]
    assert {(s.task_id, s.state) for s in updates} == {
        ("kept", TaskState.TASK_UNREACHABLE),
        ("vanished", TaskState.TASK_UNREACHABLE),
    }
    assert not master.agents["agent-0"].reachable
