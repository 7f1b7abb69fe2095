"""The agent's checkpoint file written in place, two slots, and the
write-ahead launch it keeps (no Ray)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from pyactors import Resources
from pyactors.agent import checkpoint
from pyactors.agent.checkpoint import Checkpoint, CheckpointError, CheckpointFile, Encoder
from pyactors.agent.state import AgentState
from pyactors.agent.task_process import launchers, sandbox_path
from pyactors.core.operations import TaskInfo
from pyactors.core.protocol import TaskReport
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus

RESOURCES = Resources.parse("cpus:1;mem:64")


def entry(task_id: str) -> checkpoint.TaskEntry:
    task = TaskInfo(task_id, task_id, RESOURCES, command="sleep 9")
    status = TaskStatus(task_id, TaskState.TASK_STAGING, Source.SOURCE_AGENT, 1.0, uuid=None)
    return checkpoint.TaskEntry(TaskReport("fw", "*", task, status))


def encoded(*task_ids: str) -> bytes:
    return Encoder().encode(Checkpoint("agent-1", {t: entry(t) for t in task_ids}))


def held(work_dir: Path) -> list[str]:
    found = checkpoint.read(work_dir, "agent-1")
    assert found is not None
    return sorted(found.tasks)


def test_each_write_is_read_back_and_a_larger_one_gets_a_larger_file(tmp_path: Path) -> None:
    file = CheckpointFile(tmp_path)
    try:
        file.write(encoded("a"))
        assert held(tmp_path) == ["a"]
        inode = os.stat(checkpoint.path(tmp_path)).st_ino
        file.write(encoded("a", "b"))
        assert held(tmp_path) == ["a", "b"]
        file.write(encoded("b"))
        assert held(tmp_path) == ["b"]
        # Written in place while it fits.
        assert os.stat(checkpoint.path(tmp_path)).st_ino == inode
        many = [f"t{i}" for i in range(200)]
        file.write(encoded(*many))
        assert held(tmp_path) == sorted(many)
        file.write(encoded("c"))
        assert held(tmp_path) == ["c"]
        assert sorted(p.name for p in tmp_path.iterdir()) == [checkpoint.FILE]
    finally:
        file.close()


def test_a_torn_write_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    file = CheckpointFile(tmp_path)
    try:
        file.write(encoded("a"))
        file.write(encoded("a", "b"))
    finally:
        file.close()
    data = bytearray(checkpoint.path(tmp_path).read_bytes())
    # The newer checkpoint (the second write, in the first slot) half
    # overwritten, as a machine that stopped mid-write leaves it.
    newer = 0  # sequence 2 is even: the first slot
    data[newer + 100 : newer + 200] = b"x" * 100
    checkpoint.path(tmp_path).write_bytes(bytes(data))
    assert held(tmp_path) == ["a"]
    older = len(data) // 2 - newer
    data[older + 100 : older + 200] = b"x" * 100
    checkpoint.path(tmp_path).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        checkpoint.read(tmp_path, "agent-1")


def test_a_checkpoint_written_before_slots_is_still_read(tmp_path: Path) -> None:
    checkpoint.path(tmp_path).write_bytes(encoded("old"))
    assert held(tmp_path) == ["old"]


class AgentDied(BaseException):
    """The agent's process ending where it is raised."""


def test_an_agent_killed_between_the_checkpoint_and_the_spawn_launches_nothing_twice(
    tmp_path: Path, agents: list[AgentState], monkeypatch: pytest.MonkeyPatch
) -> None:
    def die(sandbox: Path, spec: dict[str, Any]) -> None:
        raise AgentDied

    monkeypatch.setattr(launchers, "launch", die)
    first = AgentState("agent-1", tmp_path)
    task = TaskInfo("once", "once", RESOURCES, command="true")
    with pytest.raises(AgentDied):
        first.launch("fw", [task], time.monotonic())

    launched: list[Path] = []
    monkeypatch.setattr(launchers, "launch", lambda sandbox, spec: launched.append(sandbox))
    second = AgentState("agent-1", tmp_path)
    agents.append(second)
    now = time.monotonic()
    assert second.recover(now)
    # Held (the master hears of it on registration), never launched again.
    assert [(r.task.task_id, r.status.state) for r in second.report()] == [
        ("once", TaskState.TASK_STAGING)
    ]
    assert second.poll(now) == []
    assert launched == [] and not sandbox_path(tmp_path, "fw", "once").exists()
    # The launch it never got ends it, at the launch budget.
    (failed,) = second.poll(now + 61.0)
    assert failed.state is TaskState.TASK_FAILED
    assert failed.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
    assert launched == []
