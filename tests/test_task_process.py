"""Tasks as real processes in sandboxes (no Ray)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pyactors import Resources
from pyactors.errors import InvalidArgumentError
from pyactors.operations import TaskInfo
from pyactors.task_process import STDERR, STDOUT, TaskProcess
from pyactors.tasks import Reason, TaskState


def start(tmp_path: Path, command: str, task_id: str = "t", mem: int = 256) -> TaskProcess:
    task = TaskInfo(task_id, task_id, Resources.parse(f"cpus:1;mem:{mem}"), command=command)
    return TaskProcess(task, "fw", "agent-1", tmp_path, now=0.0)


def run_until_terminal(process: TaskProcess, timeout: float = 20.0) -> list:
    statuses = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = process.poll(time.monotonic())
        if status is not None:
            statuses.append(status)
            if status.state.is_terminal:
                return statuses
        time.sleep(0.02)
    raise AssertionError(f"task did not end: {statuses}")


def test_a_task_runs_in_its_sandbox_with_its_output_kept(tmp_path: Path) -> None:
    process = start(tmp_path, 'echo "out $MESOS_TASK_ID"; echo err >&2; pwd')
    states = [s.state for s in run_until_terminal(process)]
    assert states == [TaskState.TASK_RUNNING, TaskState.TASK_FINISHED]
    out = (process.sandbox / STDOUT).read_text().splitlines()
    assert out == ["out t", str(process.sandbox)]
    assert (process.sandbox / STDERR).read_text() == "err\n"
    assert process.sandbox.is_relative_to(tmp_path)


def test_a_failing_command_is_task_failed_with_its_code(tmp_path: Path) -> None:
    last = run_until_terminal(start(tmp_path, "exit 3"))[-1]
    assert last.state is TaskState.TASK_FAILED
    assert last.reason is Reason.REASON_COMMAND_EXECUTOR_FAILED
    assert "status 3" in last.message


def test_kill_escalates_to_sigkill_after_the_grace_period(tmp_path: Path) -> None:
    process = start(tmp_path, "trap '' TERM; sleep 60 & wait; sleep 60")
    assert process.poll(0.0).state is TaskState.TASK_RUNNING
    time.sleep(0.2)
    process.kill(grace=0.3, now=time.monotonic())
    last = run_until_terminal(process)[-1]
    assert last.state is TaskState.TASK_KILLED


def test_memory_limit_kills_the_task(tmp_path: Path) -> None:
    command = 'python3 -c "import time; b = bytearray(200 * 1024 * 1024); time.sleep(30)"'
    last = run_until_terminal(start(tmp_path, command, mem=64))[-1]
    assert last.state is TaskState.TASK_FAILED
    assert last.reason is Reason.REASON_CONTAINER_LIMITATION_MEMORY


@pytest.mark.parametrize("task_id", ["../escape", "a/b", "..", ".hidden"])
def test_task_ids_cannot_leave_the_work_dir(tmp_path: Path, task_id: str) -> None:
    with pytest.raises(InvalidArgumentError):
        start(tmp_path, "true", task_id=task_id)
    assert list(tmp_path.iterdir()) == []


def test_cwd_cannot_leave_the_sandbox(tmp_path: Path) -> None:
    task = TaskInfo("t", "t", Resources.parse("cpus:1"), command="true", cwd="../../..")
    with pytest.raises(ValueError, match="leaves its sandbox"):
        TaskProcess(task, "fw", "agent-1", tmp_path, now=0.0)
