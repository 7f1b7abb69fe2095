"""The agent's checkpoint (no Ray): its durable form, strict reading, and
the recovery decision per task."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from pyactors import Resources
from pyactors.agent import checkpoint
from pyactors.agent.checkpoint import Checkpoint, CheckpointError, Encoder, Plan, TaskEntry
from pyactors.agent.task_process import Pids
from pyactors.core.operations import TaskInfo
from pyactors.core.protocol import TaskReport
from pyactors.core.tasks import Source, TaskState, TaskStatus

SOME_PIDS = Pids(10, 100, 11, 101)


def status(task_id: str, state: TaskState) -> TaskStatus:
    return TaskStatus(task_id, state, Source.SOURCE_EXECUTOR, 1.5, agent_id="agent-1")


def entry(
    task_id: str = "t",
    state: TaskState = TaskState.TASK_RUNNING,
    pids: Pids | None = SOME_PIDS,
) -> TaskEntry:
    task = TaskInfo(task_id, task_id, Resources.parse("cpus:1;mem:64"), command="sleep 9")
    latest = status(task_id, state)
    return TaskEntry(TaskReport("fw", "web", task, latest), pids, (latest,))


def test_a_checkpoint_reads_back_as_written(tmp_path: Path) -> None:
    written = Checkpoint("agent-1", {"t": entry(), "u": entry("u", pids=None)})
    checkpoint.write(tmp_path, Encoder().encode(written))
    read = checkpoint.read(tmp_path, "agent-1")
    assert read is not None
    assert read.agent_id == "agent-1"
    for task_id, original in written.tasks.items():
        back = read.tasks[task_id]
        assert back.pids == original.pids
        assert back.updates == original.updates
        assert back.report.status == original.report.status
        assert (back.report.framework_id, back.report.role) == ("fw", "web")
        assert back.report.task.command == "sleep 9"
        assert str(back.report.task.resources) == "cpus:1;mem:64"
    # Replaced whole: no temporary file is left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == [checkpoint.FILE]


def test_no_checkpoint_is_none(tmp_path: Path) -> None:
    assert checkpoint.read(tmp_path, "agent-1") is None


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b'{"version": 1, "agent_id": "agent-1", "tas', "not JSON"),
        (b'{"version": 99, "agent_id": "agent-1", "tasks": {}}', "version 99"),
        (b"[1, 2]", "version None"),
        (b'{"version": 1, "agent_id": "agent-2", "tasks": {}}', "agent 'agent-2'"),
        (b'{"version": 1, "agent_id": "agent-1", "tasks": []}', "no tasks"),
    ],
)
def test_an_unreadable_checkpoint_is_refused_saying_why(
    tmp_path: Path, data: bytes, complaint: str
) -> None:
    checkpoint.write(tmp_path, data)
    with pytest.raises(CheckpointError, match=complaint):
        checkpoint.read(tmp_path, "agent-1")


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("pids", [1, 2, 3], "pids must be 4"),
        ("pids", [1, 2, -3, 4], "positive"),
        ("task", "bm90IGEgcGlja2xl", "TaskInfo cannot be read"),
        ("status", {"task_id": "t", "state": "TASK_NOPE"}, "malformed task status"),
        ("framework_id", 7, "must be strings"),
    ],
)
def test_a_damaged_task_entry_makes_the_whole_checkpoint_unreadable(
    tmp_path: Path, field: str, value: object, complaint: str
) -> None:
    document = orjson.loads(Encoder().encode(Checkpoint("agent-1", {"t": entry()})))
    document["tasks"]["t"][field] = value
    checkpoint.write(tmp_path, orjson.dumps(document))
    with pytest.raises(CheckpointError, match=complaint):
        checkpoint.read(tmp_path, "agent-1")


def test_another_tasks_info_under_a_task_id_is_refused(tmp_path: Path) -> None:
    document = orjson.loads(Encoder().encode(Checkpoint("agent-1", {"u": entry("u")})))
    document["tasks"]["t"] = document["tasks"].pop("u")
    checkpoint.write(tmp_path, orjson.dumps(document))
    with pytest.raises(CheckpointError, match="TaskInfo is TaskInfo"):
        checkpoint.read(tmp_path, "agent-1")


def test_the_encoder_pickles_each_task_once() -> None:
    encoder = Encoder()
    first = entry()
    encoder.encode(Checkpoint("agent-1", {"t": first}))
    cached = encoder._tasks["t"]
    later = TaskEntry(first.report, first.pids, ())
    encoder.encode(Checkpoint("agent-1", {"t": later}))
    assert encoder._tasks["t"] is cached
    # A task no longer held is forgotten.
    encoder.encode(Checkpoint("agent-1", {}))
    assert encoder._tasks == {}


@pytest.mark.parametrize(
    ("state", "pids", "running", "recorded", "decision"),
    [
        (TaskState.TASK_FINISHED, Pids(1, 2, 3, 4), False, True, Plan.RESEND),
        (TaskState.TASK_FAILED, None, False, False, Plan.RESEND),
        (TaskState.TASK_RUNNING, Pids(1, 2, 3, 4), False, True, Plan.REPORT_END),
        (TaskState.TASK_RUNNING, Pids(1, 2, 3, 4), True, True, Plan.REPORT_END),
        (TaskState.TASK_RUNNING, Pids(1, 2, 3, 4), True, False, Plan.ADOPT),
        (TaskState.TASK_STAGING, Pids(1, 2, 3, 4), True, False, Plan.ADOPT),
        (TaskState.TASK_STAGING, None, False, False, Plan.AWAIT_LAUNCH),
        (TaskState.TASK_RUNNING, Pids(1, 2, 3, 4), False, False, Plan.FAILED),
    ],
)
def test_the_recovery_decision(
    state: TaskState, pids: Pids | None, running: bool, recorded: bool, decision: Plan
) -> None:
    assert checkpoint.plan(entry(state=state, pids=pids), running, recorded) is decision


def test_the_encoder_forms_an_entry_again_only_once_it_changed(tmp_path: Path) -> None:
    encoder = Encoder()
    first = entry()
    encoder.encode(Checkpoint("agent-1", {"t": first}))
    formed = encoder._formed["t"][1]
    # The agent builds a new entry per write from the same report and updates.
    same = TaskEntry(first.report, first.pids, tuple(first.updates))
    encoder.encode(Checkpoint("agent-1", {"t": same}))
    assert encoder._formed["t"][1] is formed
    finished = status("t", TaskState.TASK_FINISHED)
    changed = TaskEntry(first.report, first.pids, (*first.updates, finished))
    checkpoint.write(tmp_path, encoder.encode(Checkpoint("agent-1", {"t": changed})))
    read = checkpoint.read(tmp_path, "agent-1")
    assert read is not None and read.tasks["t"].updates == changed.updates
    encoder.encode(Checkpoint("agent-1", {}))
    assert encoder._formed == {}
