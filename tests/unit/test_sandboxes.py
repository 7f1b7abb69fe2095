"""Sandbox files without Ray: reads confined to the sandbox, log rotation
(as a task's launcher does it), and the garbage collection of finished
sandboxes (time as an argument)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.agents import poll_until, task
from support.runtime import wait_for

import pyactors
from pyactors.agent import launcher, sandbox_files
from pyactors.agent.sandbox_files import FileChunk
from pyactors.agent.sandboxes import Sandboxes, remove
from pyactors.agent.state import AgentState
from pyactors.core.tasks import TaskState
from pyactors.errors import (
    InvalidArgumentError,
    SandboxGoneError,
    SandboxPathError,
    UnknownFileError,
)


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    path = tmp_path / "sandbox"
    path.mkdir()
    (path / "stdout").write_bytes(b"0123456789\n")
    (path / "sub").mkdir()
    (path / "sub" / "notes").write_bytes(b"inside")
    (tmp_path / "secret").write_bytes(b"outside")
    return path


def test_reads_take_offsets_and_lengths_and_minus_one_is_the_size(sandbox: Path) -> None:
    assert sandbox_files.read(sandbox, "stdout", 0, None) == FileChunk(b"0123456789\n", 0)
    assert sandbox_files.read(sandbox, "stdout", 3, 4) == FileChunk(b"3456", 3)
    assert sandbox_files.read(sandbox, "stdout", 3, 4).next_offset == 7
    assert sandbox_files.read(sandbox, "stdout", -1, None) == FileChunk(b"", 11)
    assert sandbox_files.read(sandbox, "stdout", 50, 10) == FileChunk(b"", 50)
    assert sandbox_files.read(sandbox, "sub/notes", 0, None).data == b"inside"
    with pytest.raises(SandboxPathError, match="offset"):
        sandbox_files.read(sandbox, "stdout", -2, None)
    with pytest.raises(SandboxPathError, match="length"):
        sandbox_files.read(sandbox, "stdout", 0, -1)
    with pytest.raises(UnknownFileError):
        sandbox_files.read(sandbox, "nothing", 0, None)


def test_a_chunk_never_ends_inside_a_character(sandbox: Path) -> None:
    (sandbox / "stdout").write_bytes("aé€".encode())  # 1 + 2 + 3 bytes
    cut = sandbox_files.read(sandbox, "stdout", 0, 5)
    assert cut == FileChunk("aé".encode(), 0)
    rest = sandbox_files.read(sandbox, "stdout", cut.next_offset, None)
    assert rest.data.decode() == "€"
    # A length shorter than the character still makes progress.
    assert sandbox_files.read(sandbox, "stdout", 3, 1).data == "€".encode()[:1]


@pytest.mark.parametrize(
    "name",
    [
        "../secret",
        "sub/../../secret",
        "/etc/passwd",
        "",
        ".",
        "sub//notes",
        "stdout\0",
    ],
)
def test_names_that_would_leave_the_sandbox_are_refused(sandbox: Path, name: str) -> None:
    with pytest.raises(SandboxPathError):
        sandbox_files.read(sandbox, name, 0, None)


def test_symlinks_out_of_the_sandbox_are_refused_and_inside_ones_work(
    sandbox: Path, tmp_path: Path
) -> None:
    (sandbox / "escape").symlink_to(tmp_path / "secret")
    (sandbox / "outdir").symlink_to(tmp_path)
    (sandbox / "inner").symlink_to(sandbox / "sub")
    with pytest.raises(SandboxPathError):
        sandbox_files.read(sandbox, "escape", 0, None)
    with pytest.raises(SandboxPathError, match="outside the sandbox"):
        sandbox_files.read(sandbox, "outdir/secret", 0, None)
    assert sandbox_files.read(sandbox, "inner/notes", 0, None).data == b"inside"


def test_a_fifo_or_a_directory_is_refused_without_blocking(sandbox: Path) -> None:
    os.mkfifo(sandbox / "pipe")
    with pytest.raises(SandboxPathError, match="not a regular file"):
        sandbox_files.read(sandbox, "pipe", 0, None)
    with pytest.raises(SandboxPathError, match="not a regular file"):
        sandbox_files.read(sandbox, "sub", 0, None)


def test_a_removed_sandbox_is_gone(sandbox: Path) -> None:
    remove([sandbox])
    with pytest.raises(SandboxGoneError):
        sandbox_files.read(sandbox, "stdout", 0, None)


def _launcher_logs(sandbox: Path, max_bytes: int, keep: int) -> Iterator[Callable[[bytes], None]]:
    """A write into the sandbox's stdout through a pipe, as a task's
    launcher copies it (rotating, recording the bytes rotated away)."""
    directory = os.open(sandbox, os.O_RDONLY | os.O_DIRECTORY)
    read_end, write_end = os.pipe()
    logs = {read_end: launcher.RotatingLog(directory, "stdout", max_bytes, keep, None)}

    def write(data: bytes) -> None:
        os.write(write_end, data)
        launcher.read_ready(logs, [read_end], directory)

    yield write
    os.close(write_end)
    launcher.read_ready(logs, [read_end], directory)
    os.close(directory)


def test_rotation_keeps_the_newest_copies_and_offsets_count_on(sandbox: Path) -> None:
    sandboxes = Sandboxes(gc_seconds=60.0, max_log_bytes=10, log_files=2)
    sandboxes.add("t", sandbox)
    log = sandbox / "stdout"
    log.write_bytes(b"")
    written = b""
    for write in _launcher_logs(sandbox, 10, 2):
        for round_ in range(4):
            line = f"round {round_}\n".encode()
            write(line)
            written += line
    assert sorted(p.name for p in sandbox.iterdir() if p.name.startswith("stdout")) == [
        "stdout",
        "stdout.1",
        "stdout.2",
    ]
    # Cut at exactly 10 bytes, the oldest copy dropped: nothing else is lost.
    assert (sandbox / "stdout.2").read_bytes() == written[10:20]
    assert (sandbox / "stdout.1").read_bytes() == written[20:30]
    assert log.read_bytes() == written[30:]
    # Offsets count from the task's first byte; before the current file
    # they start at it.
    assert sandboxes.read("t", "stdout", -1, None).offset == 32
    assert sandboxes.read("t", "stdout", 30, None) == FileChunk(b"3\n", 30)
    assert sandboxes.read("t", "stdout", 0, None) == FileChunk(b"3\n", 30)
    assert sandboxes.read("t", "stdout", 31, 1) == FileChunk(b"\n", 31)


def test_a_cluster_refuses_unusable_options_before_starting() -> None:
    with pytest.raises(InvalidArgumentError, match="max_log_bytes must be positive"):
        pyactors.start(max_log_bytes=-5)
    with pytest.raises(InvalidArgumentError, match="sandbox_gc_seconds"):
        pyactors.start(sandbox_gc_seconds=-1.0)


def test_rotation_never_writes_through_links_the_task_left(sandbox: Path, tmp_path: Path) -> None:
    (sandbox / "stdout.1").symlink_to(tmp_path / "secret")
    for write in _launcher_logs(sandbox, 11, 1):
        write(b"x")
    assert (tmp_path / "secret").read_bytes() == b"outside"
    assert not (sandbox / "stdout.1").is_symlink()
    assert (sandbox / "stdout.1").read_bytes() == b"0123456789\n"
    assert (sandbox / "stdout").read_bytes() == b"x"
    # A new log is never opened through a link the task left in its place.
    os.unlink(sandbox / "stdout")
    (sandbox / "stdout").symlink_to(tmp_path / "secret")
    with pytest.raises(OSError):
        for write in _launcher_logs(sandbox, 11, 1):
            write(b"y")
    assert (tmp_path / "secret").read_bytes() == b"outside"


def test_rotation_without_copies_only_cuts(sandbox: Path) -> None:
    sandboxes = Sandboxes(gc_seconds=60.0, max_log_bytes=11, log_files=0)
    sandboxes.add("t", sandbox)
    for write in _launcher_logs(sandbox, 11, 0):
        write(b"abc")
    assert [p.name for p in sandbox.iterdir() if p.name.startswith("stdout")] == ["stdout"]
    assert (sandbox / "stdout").read_bytes() == b"abc"
    assert sandboxes.read("t", "stdout", -1, None).offset == 14


def test_rotation_options_are_checked() -> None:
    with pytest.raises(InvalidArgumentError, match="max_log_bytes"):
        Sandboxes(60.0, max_log_bytes=0)
    with pytest.raises(InvalidArgumentError, match="log_files"):
        Sandboxes(60.0, log_files=-1)
    with pytest.raises(InvalidArgumentError, match="sandbox_gc_seconds"):
        Sandboxes(-1.0)


def test_gc_takes_finished_sandboxes_after_their_age_and_never_running_ones(
    tmp_path: Path,
) -> None:
    sandboxes = Sandboxes(gc_seconds=10.0)
    for task_id in ("early", "late", "running"):
        sandboxes.add(task_id, tmp_path / task_id)
    sandboxes.ended("early", now=100.0)
    sandboxes.ended("late", now=105.0)
    sandboxes.ended("early", now=107.0)  # a second end changes nothing
    assert sandboxes.expired(now=109.9) == []
    assert sandboxes.expired(now=110.0) == [tmp_path / "early"]
    assert sandboxes.expired(now=1e9) == [tmp_path / "late"]
    assert "running" in sandboxes and "early" not in sandboxes
    with pytest.raises(SandboxGoneError, match="the sandbox of task 'early' is gone"):
        sandboxes.read("early", "stdout", 0, None)


def test_the_agent_removes_a_finished_sandbox_and_keeps_a_running_one(
    tmp_path: Path, agents: list[AgentState]
) -> None:
    agent = AgentState("agent-1", tmp_path, sandbox_gc_seconds=30.0)
    agents.append(agent)
    started = time.monotonic()
    agent.launch("fw", [task("done", "echo bye"), task("busy", "sleep 600")], now=started)
    seen = poll_until(
        agent, lambda seen: any(s.state is TaskState.TASK_FINISHED for s in seen), acknowledge=True
    )
    ended = next(s.timestamp for s in seen if s.state is TaskState.TASK_FINISHED)
    assert agent.read_file("done", "stdout", 0, None).data == b"bye\n"
    assert agent.collect_garbage(ended + 29.0) == []
    (due,) = agent.collect_garbage(ended + 30.0)
    assert due.name == "done" and due.is_dir()
    remove([due])
    assert not due.exists()
    with pytest.raises(SandboxGoneError):
        agent.read_file("done", "stdout", 0, None)
    # However late: the running task's sandbox stays.
    assert agent.collect_garbage(started + 1e9) == []
    assert agent.running() == ["busy"]
    assert agent.read_file("busy", "stdout", -1, None).offset == 0


def test_statistics_of_running_tasks_come_from_the_proc_pass(
    tmp_path: Path, agents: list[AgentState]
) -> None:
    agent = AgentState("agent-1", tmp_path, memory_interval=0.0)
    agents.append(agent)
    agent.launch("fw", [task("spin", "while :; do :; done")], now=time.monotonic())

    def busy() -> tuple[str, dict[str, float]] | None:
        agent.poll(time.monotonic())
        ((task_id, statistics),) = agent.statistics(timestamp=1234.0) or [("", {})]
        return (task_id, statistics) if statistics.get("cpus_user_time_secs", 0.0) > 0.2 else None

    task_id, statistics = wait_for(busy, what="the busy task accruing CPU time", every=0.05)
    assert task_id == "spin"
    assert statistics["timestamp"] == 1234.0
    assert statistics["mem_rss_bytes"] > 0
    assert statistics["mem_limit_bytes"] == 128 * 1024 * 1024
    assert statistics["cpus_limit"] == 1.0
