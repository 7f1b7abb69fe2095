"""Tasks as real processes in sandboxes (no Ray)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
import psutil
import pytest
from support.processes import run_until_terminal, started
from support.runtime import wait_for

from pyactors import Resources
from pyactors.agent import cgroups
from pyactors.agent.task_process import (
    METADATA,
    STDERR,
    STDOUT,
    SessionUsage,
    TaskProcess,
    session_usage,
)
from pyactors.core.operations import TaskInfo
from pyactors.core.tasks import Reason, TaskState
from pyactors.errors import InvalidArgumentError


def start(
    tmp_path: Path,
    command: str | Sequence[str],
    task_id: str = "t",
    mem: int = 256,
    shell: bool = True,
) -> TaskProcess:
    resources = Resources.parse(f"cpus:1;mem:{mem}")
    task = TaskInfo(task_id, task_id, resources, command=command, shell=shell)
    process = TaskProcess(task, "fw", "agent-1", tmp_path, now=0.0)
    started.append(process)
    return process


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
    process = start(tmp_path, "trap '' TERM; sleep 600 & wait; sleep 600")
    running = wait_for(lambda: process.poll(0.0), what="the task started")
    assert running.state is TaskState.TASK_RUNNING
    # The shell sets its trap before it starts its child: with the child
    # there, TERM is ignored and only the escalation can end the task.
    wait_for(lambda: psutil.Process(process.pid).children(), what="the shell's child, its trap set")
    process.kill(grace=0.3, now=time.monotonic())
    last = run_until_terminal(process)[-1]
    assert last.state is TaskState.TASK_KILLED


def test_memory_limit_kills_the_task(tmp_path: Path) -> None:
    command = 'python3 -c "import time; b = bytearray(200 * 1024 * 1024); time.sleep(600)"'
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


@pytest.mark.parametrize(
    "command", [["printf", "%s|", "$HOME", "a b", "*"], 'printf "%s|" $HOME "a b" *']
)
def test_without_a_shell_the_argv_is_passed_literally(
    tmp_path: Path, command: str | list[str]
) -> None:
    # A string is split like a shell splits words, but nothing is expanded.
    process = start(tmp_path, command, shell=False)
    assert run_until_terminal(process)[-1].state is TaskState.TASK_FINISHED
    assert (process.sandbox / STDOUT).read_text() == "$HOME|a b|*|"
    metadata = orjson.loads((process.sandbox / METADATA).read_bytes())
    assert metadata["kind"] == "command"
    assert metadata["command"] == ["printf", "%s|", "$HOME", "a b", "*"]


def test_a_missing_program_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        start(tmp_path, ["no-such-program-anywhere"], shell=False)


@pytest.mark.parametrize(
    ("command", "shell", "problem"),
    [
        (["echo", "hi"], True, "one string"),
        ('echo "unbalanced', False, "cannot split"),
        ([], False, "non-empty argv"),
        ("", False, "non-empty argv"),
    ],
)
def test_commands_are_validated(command: str | list[str], shell: bool, problem: str) -> None:
    task = TaskInfo("t", "t", Resources.parse("cpus:1"), command=command, shell=shell)
    assert any(problem in p for p in task.problems())


def test_usage_counts_the_cpu_time_and_memory_of_the_task(tmp_path: Path) -> None:
    started = time.monotonic()
    process = start(tmp_path, "while :; do :; done", mem=64)
    process.poll(started)

    def cpu_seconds(usage: dict[str, float]) -> float:
        return usage["cpus_user_time_secs"] + usage["cpus_system_time_secs"]

    def busy() -> dict[str, float] | None:
        usage = process.usage(123.0, session_usage())
        return usage if cpu_seconds(usage) >= 0.1 else None

    running = wait_for(busy, what="the busy loop accruing cpu time", every=0.05)
    # One process: at most one core's worth of the time it has been running.
    assert cpu_seconds(running) <= time.monotonic() - started
    assert running["timestamp"] == 123.0
    assert running["cpus_limit"] == 1.0
    assert running["mem_limit_bytes"] == 64 * 1024 * 1024
    assert 0 < running["mem_rss_bytes"] < 64 * 1024 * 1024
    process.kill(grace=0.0, now=time.monotonic())
    assert run_until_terminal(process)[-1].state is TaskState.TASK_KILLED
    # The kernel's final count, from when the task's process was reaped.
    ended = process.usage(124.0, session_usage())
    assert cpu_seconds(ended) >= cpu_seconds(running)
    assert ended["mem_rss_bytes"] == 0


def test_usage_keeps_the_cpu_time_of_children_that_ended(tmp_path: Path) -> None:
    loop = "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"
    process = start(tmp_path, f"sh -c '{loop}'; touch looped; sleep 600")
    process.poll(time.monotonic())
    wait_for((process.sandbox / "looped").exists, what="the loop to end", every=0.02)
    # The loop's process is gone; the shell that waited for it counts it.
    assert process.usage(0.0, session_usage())["cpus_user_time_secs"] > 0.05


def fake_proc(tmp_path: Path, controllers: str, delegated: str, mounted: bool = True) -> Path:
    """A /proc/self and a cgroup v2 tree where this process is in /agent."""
    proc = tmp_path / "proc"
    proc.mkdir()
    mount_point = tmp_path / "cgroup v2"
    cgroup = mount_point / "agent"
    cgroup.mkdir(parents=True)
    (cgroup / "cgroup.controllers").write_text(controllers + "\n")
    (cgroup / "cgroup.subtree_control").write_text(delegated + "\n")
    escaped = str(mount_point).replace(" ", "\\040")
    (proc / "mountinfo").write_text(
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        + (f"41 31 0:38 / {escaped} rw,relatime - cgroup2 cgroup2 rw\n" if mounted else "")
    )
    (proc / "cgroup").write_text("4:memory:/agent\n0::/agent\n")
    return proc


@pytest.mark.parametrize(
    ("controllers", "delegated", "mounted", "usable", "reason"),
    [
        ("hugetlb", "", True, False, "offers no memory controller (it offers: hugetlb)"),
        ("cpu memory pids", "cpu", True, False, "does not delegate the memory controller"),
        ("cpu memory pids", "cpu memory", True, True, "per-task cgroups under"),
        ("cpu memory", "memory", False, False, "no cgroup v2 hierarchy"),
    ],
)
def test_cgroup_v2_memory_limits_are_detected(
    tmp_path: Path, controllers: str, delegated: str, mounted: bool, usable: bool, reason: str
) -> None:
    support = cgroups.probe(fake_proc(tmp_path, controllers, delegated, mounted))
    assert support.usable is usable
    assert reason in support.reason
    assert support.path == (tmp_path / "cgroup v2" / "agent" if usable else None)


def test_cgroup_detection_on_this_machine_gives_an_answer() -> None:
    support = cgroups.probe()
    assert support.reason
    assert support.usable == (support.path is not None)


def test_session_usage_counts_a_whole_session(tmp_path: Path) -> None:
    # A session leader whose child holds 100 MiB: the session's total shows it.
    hog = "python3 -c 'x = bytearray(100 * 2**20); import time; time.sleep(600)'"
    leader = subprocess.Popen(["/bin/sh", "-c", f"{hog} & wait"], start_new_session=True)
    try:
        wait_for(
            lambda: session_usage().get(leader.pid, SessionUsage()).rss >= 100 * 2**20,
            what="the session's 100 MiB",
            seen=lambda: session_usage().get(leader.pid),
            every=0.05,
        )
        ours = session_usage()[os.getsid(0)]  # for comparison
        assert ours.rss > 0 and ours.user + ours.system > 0
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()


def test_logs_rotate_by_rename_and_lose_no_line(tmp_path: Path) -> None:
    # Fast and flushed line by line, across dozens of rotations.
    write = "import sys\nfor i in range(20000):\n    print(f'{i:06d}', flush=True)"
    resources = Resources.parse("cpus:1;mem:256")
    task = TaskInfo("t", "t", resources, command=["python3", "-c", write], shell=False)
    process = TaskProcess(task, "fw", "agent-1", tmp_path, 0.0, max_log_bytes=5000, log_files=100)
    started.append(process)
    assert run_until_terminal(process)[-1].state is TaskState.TASK_FINISHED
    rotated = sorted(
        (p for p in process.sandbox.iterdir() if p.name.startswith(f"{STDOUT}.")),
        key=lambda p: -int(p.suffix[1:]),
    )
    # 140 000 bytes: 27 full files rotated away, the 28th full and current
    # (a file rotates when the next byte would not fit).
    assert len(rotated) == 27
    assert all(p.stat().st_size == 5000 for p in [*rotated, process.sandbox / STDOUT])
    text = b"".join(p.read_bytes() for p in [*rotated, process.sandbox / STDOUT])
    assert text.decode().splitlines() == [f"{i:06d}" for i in range(20000)]
    recorded = orjson.loads((process.sandbox / "rotated.json").read_bytes())
    assert recorded[STDOUT] == 5000 * len(rotated)
