"""The launcher server: one per agent process, forking a launcher per task
(no Ray)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
from support.processes import run_until_terminal, started
from support.runtime import wait_for

from pyactors import Resources
from pyactors.agent import launcher
from pyactors.agent.task_process import (
    STDOUT,
    TaskProcess,
    launchers,
    read_outcome,
    read_pids,
    sandbox_path,
)
from pyactors.core.operations import TaskInfo
from pyactors.core.tasks import Reason, TaskState


def start(tmp_path: Path, task_id: str, command: str) -> TaskProcess:
    task = TaskInfo(task_id, task_id, Resources.parse("cpus:1;mem:64"), command=command)
    process = TaskProcess(task, "fw", "agent-1", tmp_path, now=0.0)
    started.append(process)
    return process


def test_launchers_leave_this_process_tree_and_outlive_their_server(tmp_path: Path) -> None:
    long = start(tmp_path, "long", "sleep 600")
    long.pid  # noqa: B018 (waits for the launcher's record)
    pids = long.pids
    assert pids is not None
    own_tree = {p.pid for p in psutil.Process().children(recursive=True)}
    server = psutil.Process(pids.launcher).ppid()
    assert pids.launcher not in own_tree and server not in own_tree
    # Each launcher leads a session of its own, apart from the server's.
    assert os.getsid(pids.launcher) == pids.launcher != os.getsid(server)

    os.kill(server, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(server), what="the server gone")
    assert launcher.alive(pids.launcher, pids.launcher_started)
    assert launcher.alive(pids.task, pids.task_started)

    # The next launch starts a new server, and runs once.
    again = start(tmp_path, "again", "echo ran")
    states = [s.state for s in run_until_terminal(again)]
    assert states == [TaskState.TASK_RUNNING, TaskState.TASK_FINISHED]
    assert (again.sandbox / STDOUT).read_text() == "ran\n"
    assert launcher.alive(pids.task, pids.task_started)


def test_a_launch_the_launcher_cannot_prepare_is_recorded_as_failed(tmp_path: Path) -> None:
    sandbox = sandbox_path(tmp_path, "fw", "broken")
    sandbox.mkdir(parents=True)
    # The second file of the same name is refused (files are written with
    # O_EXCL): nothing may start.
    spec = {
        "argv": ["/bin/sh", "-c", "touch started"],
        "cwd": str(sandbox),
        "env": {},
        "user": None,
        "max_log_bytes": None,
        "log_files": 0,
        "files": [("task.json", b"{}"), ("task.json", b"{}")],
    }
    launchers.launch(sandbox, spec)
    wait_for(lambda: read_outcome(sandbox) is not None, what="the failure recorded")
    outcome = read_outcome(sandbox)
    assert outcome is not None and "could not prepare the sandbox" in outcome["error"]
    assert read_pids(sandbox) is None and not (sandbox / "started").exists()

    task = TaskInfo("broken", "broken", Resources.parse("cpus:1"), command="true")
    adopted = TaskProcess.adopt(task, "fw", "agent-1", tmp_path, None, None)
    status = adopted.poll(time.monotonic())
    assert status is not None and status.state is TaskState.TASK_FAILED
    assert status.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED


def test_the_launchers_records_are_read_through_no_link_and_from_no_fifo(tmp_path: Path) -> None:
    sandbox = sandbox_path(tmp_path, "fw", "sly")
    sandbox.mkdir(parents=True)
    elsewhere = tmp_path / "outcome.json"
    elsewhere.write_bytes(b'{"code": 0}')
    (sandbox / launcher.STATUS).symlink_to(elsewhere)
    os.mkfifo(sandbox / launcher.PIDS)  # a read would wait for a writer forever
    assert read_outcome(sandbox) is None
    assert read_pids(sandbox) is None
    (sandbox / launcher.STATUS).unlink()
    (sandbox / launcher.STATUS).write_bytes(b'{"code": 0}')
    assert read_outcome(sandbox) == {"code": 0}


def test_a_sandbox_the_launcher_cannot_make_fails_its_task_and_runs_nothing(
    tmp_path: Path,
) -> None:
    # A sandbox left by an earlier task of the same id (not yet collected).
    taken = sandbox_path(tmp_path, "fw", "again")
    taken.mkdir(parents=True)
    process = start(tmp_path, "again", "touch ran")
    last = run_until_terminal(process)[-1]
    assert last.state is TaskState.TASK_FAILED
    assert last.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
    assert "could not make the sandbox" in last.message
    assert list(taken.iterdir()) == []
