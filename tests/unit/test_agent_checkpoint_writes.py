"""The agent's checkpoint written off its event loop (no Ray): nothing is
spawned, signalled or sent before the checkpoint holding it is durable,
whatever comes during a write goes into one next write, and a teardown
waits for no launcher that cannot record anything."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import processes

from pyactors import Resources
from pyactors.agent import checkpoint
from pyactors.agent.state import AgentState
from pyactors.agent.task_process import TaskProcess, read_pids, sandbox_path
from pyactors.core.operations import TaskInfo
from pyactors.core.tasks import TaskState, TaskStatus

RESOURCES = Resources.parse("cpus:0.1;mem:32")
# Generous: a loaded machine is slow, and every wait here ends on a condition.
PATIENCE = 30.0


def task(task_id: str, command: str = "true") -> TaskInfo:
    return TaskInfo(task_id, task_id, RESOURCES, command=command)


class SlowDisk:
    """Holds each checkpoint write until the test lets it through, and
    counts the writes that reached the file."""

    def __init__(self, file: checkpoint.CheckpointFile) -> None:
        self.write = file.write
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.written: list[bytes] = []

    def __call__(self, data: bytes) -> None:
        self.entered.set()
        if not self.gate.wait(PATIENCE):
            raise TimeoutError("the test never let the write through")
        self.write(data)
        self.written.append(data)


def on_thread(agent: AgentState, loop: asyncio.AbstractEventLoop) -> list[str]:
    """The agent's writes on a thread, their ends brought to `loop` as
    the agent actor does; the list records them."""
    ends: list[str] = []

    def deliver(done: checkpoint.Done, error: OSError | None) -> None:
        def end() -> None:
            ends.append("failed" if error else "durable")
            done(error)

        loop.call_soon_threadsafe(end)

    agent.write_checkpoints_on_thread(deliver)
    return ends


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def held_in_checkpoint(work_dir: Path) -> set[str]:
    found = checkpoint.read(work_dir, "agent-1")
    return set() if found is None else set(found.tasks)


def test_a_task_is_spawned_only_once_its_checkpoint_is_synced(
    tmp_path: Path, agents: list[AgentState], monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = AgentState("agent-1", tmp_path)
    agents.append(agent)
    disk = SlowDisk(agent._checkpoint_file)
    monkeypatch.setattr(agent._checkpoint_file, "write", disk)

    async def scenario() -> None:
        ends = on_thread(agent, asyncio.get_running_loop())
        agent.launch("fw", [task("t")], time.monotonic())
        # The loop is free while the disk syncs: it runs this.
        await until(disk.entered.is_set, "the write to start")
        await asyncio.sleep(0.05)
        assert agent.processes == {} and not sandbox_path(tmp_path, "fw", "t").exists()
        assert "t" not in held_in_checkpoint(tmp_path)
        # Held all the same: a registration reports it.
        assert [r.task.task_id for r in agent.report()] == ["t"]
        disk.gate.set()
        await until(lambda: ends == ["durable"], "the write's end")
        assert "t" in held_in_checkpoint(tmp_path)
        processes.started.append(agent.processes["t"])
        await until(
            lambda: read_pids(agent.processes["t"].sandbox) is not None, "the task to start"
        )

    asyncio.run(scenario())


def test_updates_are_sent_only_once_durable_and_writes_are_grouped(
    tmp_path: Path, agents: list[AgentState], monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = AgentState("agent-1", tmp_path)
    agents.append(agent)
    disk = SlowDisk(agent._checkpoint_file)
    monkeypatch.setattr(agent._checkpoint_file, "write", disk)
    disk.gate.set()

    async def scenario() -> None:
        ends = on_thread(agent, asyncio.get_running_loop())
        agent.launch("fw", [task("a")], time.monotonic())
        await until(lambda: "a" in agent.processes, "the first launch")
        processes.started.append(agent.processes["a"])
        await until(
            lambda: read_pids(agent.processes["a"].sandbox) is not None, "the first task to start"
        )
        # A write held on the disk: everything meanwhile waits for the next.
        ends_before = len(ends)
        disk.gate.clear()
        disk.entered.clear()
        assert agent.poll(time.monotonic()) == []  # RUNNING, not yet durable
        await until(disk.entered.is_set, "the RUNNING update's write")
        for task_id in ("b", "c", "d"):
            agent.launch("fw", [task(task_id, "sleep 60")], time.monotonic())
        agent.kill(["c"], time.monotonic(), grace=0.0)
        assert agent.poll(time.monotonic()) == []
        assert set(agent.processes) == {"a"}
        writes_before = len(disk.written)
        disk.gate.set()
        await until(lambda: len(ends) == ends_before + 2, "the held write and the next")
        # One write for the three launches, the kill and the poll after them.
        assert len(disk.written) == writes_before + 2
        assert {"b", "c", "d"} <= held_in_checkpoint(tmp_path)
        for task_id in ("b", "c", "d"):
            processes.started.append(agent.processes[task_id])
        sent = agent.take_updates()
        assert [(s.task_id, s.state) for s in sent] == [("a", TaskState.TASK_RUNNING)]
        # The kill came after its task's launch, and reaches its process.
        await until(lambda: read_pids(agent.processes["c"].sandbox) is not None, "c to start")
        statuses: list[TaskStatus] = []

        def c_killed() -> bool:
            statuses.extend(agent.poll(time.monotonic()))
            statuses.extend(agent.take_updates())
            return any(s.task_id == "c" for s in statuses)

        await until(c_killed, "c's first update")
        by_task = {s.task_id: s.state for s in statuses}
        assert by_task.get("c") in (TaskState.TASK_RUNNING, TaskState.TASK_KILLED)
        assert agent.processes["c"]._kill is not None

    asyncio.run(scenario())


def test_a_write_that_fails_releases_nothing_and_is_tried_again(
    tmp_path: Path, agents: list[AgentState], monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = AgentState("agent-1", tmp_path)
    agents.append(agent)
    write = agent._checkpoint_file.write
    failures = [OSError(28, "No space left on device")]

    def full_disk(data: bytes) -> None:
        if failures:
            raise failures.pop()
        write(data)

    monkeypatch.setattr(agent._checkpoint_file, "write", full_disk)
    agent.launch("fw", [task("t")], time.monotonic())
    assert agent.processes == {} and "t" not in held_in_checkpoint(tmp_path)
    # The next poll writes it again, and the launch goes on.
    assert agent.poll(time.monotonic()) == []
    assert "t" in held_in_checkpoint(tmp_path)
    processes.started.append(agent.processes["t"])


def test_an_agent_shut_down_during_a_write_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = AgentState("agent-1", tmp_path)
    disk = SlowDisk(agent._checkpoint_file)
    monkeypatch.setattr(agent._checkpoint_file, "write", disk)

    async def scenario() -> None:
        on_thread(agent, asyncio.get_running_loop())
        agent.launch("fw", [task("t")], time.monotonic())
        await until(disk.entered.is_set, "the write to start")
        threading.Timer(0.05, disk.gate.set).start()
        agent.shutdown()
        await asyncio.sleep(0.05)  # the write's end, delivered after the shutdown
        assert agent.processes == {}
        assert not sandbox_path(tmp_path, "fw", "t").exists()

    asyncio.run(scenario())


def test_a_task_whose_launch_never_reached_a_server_is_torn_down_at_once(
    tmp_path: Path,
) -> None:
    adopted = TaskProcess.adopt(task("lost"), "fw", "agent-1", tmp_path, None, None)
    started = time.monotonic()
    adopted.terminate_now()
    # Its launcher would have had seconds (`task_process._WAIT`) to answer.
    assert time.monotonic() - started < 1.0
