"""Tasks run as a user (Mesos's --switch_user): the rule that picks the
user, its environment, and real processes switched to `nobody` by an agent
state machine running as root (no Ray)."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.agents import poll_until, task
from support.runtime import wait_for

from pyactors.agent import health_checks, task_messages
from pyactors.agent.state import AgentState
from pyactors.agent.task_process import STDERR, STDOUT, read_result, sandbox_path
from pyactors.agent.task_user import (
    AgentIdentity,
    TaskUserError,
    effective_user,
    lookup,
    run_as,
    task_environment,
)
from pyactors.core.operations import HealthCheck, TaskInfo
from pyactors.core.tasks import Reason, TaskState
from pyactors.errors import InvalidArgumentError

NOBODY = pwd.getpwnam("nobody")
AS_ROOT = AgentIdentity("root", can_switch=True)

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="switching a task's user needs an agent running as root"
)


# ------------------------------------------------------------ the rule


@pytest.mark.parametrize(
    ("requested", "default", "expected"),
    [
        ("alice", "bob", "alice"),
        (None, "bob", "bob"),
        (None, None, "agent"),
        ("agent", None, "agent"),
    ],
)
def test_the_task_names_the_user_else_the_agent_option_else_the_agent(
    requested: str | None, default: str | None, expected: str
) -> None:
    assert effective_user(requested, default, "agent") == expected


def test_a_root_agent_switches_to_the_user_with_its_groups() -> None:
    how = run_as("nobody", None, AS_ROOT, "a1")
    assert how.note == ""
    assert how.user is not None
    assert (how.user.name, how.user.uid, how.user.gid) == ("nobody", NOBODY.pw_uid, NOBODY.pw_gid)
    assert NOBODY.pw_gid in how.user.groups
    assert how.user.home == NOBODY.pw_dir


def test_the_agent_own_user_needs_no_switch() -> None:
    assert run_as(None, None, AS_ROOT, "a1").user is None
    assert run_as("root", "nobody", AS_ROOT, "a1").user is None


def test_an_unknown_user_is_refused_naming_it_and_the_agent() -> None:
    with pytest.raises(TaskUserError, match="user 'no-such-user' does not exist on agent 'a1'"):
        run_as("no-such-user", None, AS_ROOT, "a1")
    with pytest.raises(TaskUserError, match="does not exist"):
        lookup("bad\0name", "a1")


def test_an_agent_that_cannot_switch_runs_as_itself_and_says_so() -> None:
    how = run_as("nobody", None, AgentIdentity("carol", can_switch=False), "a1")
    assert how.user is None
    assert "running as 'carol', not 'nobody'" in how.note
    assert "not run as root" in how.note
    # It does not look the user up: a user it cannot become is no failure.
    assert run_as("no-such-user", None, AgentIdentity("carol", False), "a1").user is None


def test_the_environment_is_the_agent_s_then_the_user_s_then_the_task_s() -> None:
    user = lookup("nobody", "a1")
    base = {"HOME": "/root", "USER": "root", "LOGNAME": "root", "PATH": "/bin"}
    env = task_environment(base, user, {"LOGNAME": "mine"})
    assert env == {"HOME": NOBODY.pw_dir, "USER": "nobody", "LOGNAME": "mine", "PATH": "/bin"}
    assert task_environment(base, None, {}) == base


def test_an_agent_refuses_a_task_user_no_user_can_have(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="task_user 'a b' is not an OS user name"):
        AgentState("agent-1", tmp_path, task_user="a b")


# ------------------------------------------------------------ real processes


@pytest.fixture
def work_dir() -> Iterator[Path]:
    """A work dir another user can pass through to its sandbox (pytest's
    own temporary directories are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="pyactors-task-user-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def agent_as(
    work_dir: Path,
    agents: list[AgentState],
    task_user: str | None,
    identity: AgentIdentity | None = None,
) -> AgentState:
    agent = AgentState("agent-1", work_dir, kill_grace=0.5, task_user=task_user, identity=identity)
    agents.append(agent)
    return agent


def ended(agent: AgentState, task_id: str) -> list[TaskState]:
    seen = poll_until(
        agent,
        lambda seen: any(s.task_id == task_id and s.state.is_terminal for s in seen),
        acknowledge=True,
    )
    return [s.state for s in seen if s.task_id == task_id]


@needs_root
def test_a_task_runs_as_nobody_with_its_sandbox_its_own(
    work_dir: Path, agents: list[AgentState]
) -> None:
    agent = agent_as(work_dir, agents, "nobody")
    # Complete messages end in a digit; the loop waits for the scheduler's.
    command = (
        "id -u; id -g; id -G; echo $HOME $USER $LOGNAME; touch written-by-task; "
        "until ls inbox/*[0-9] >/dev/null 2>&1; do sleep 0.05; done; "
        "cat inbox/*[0-9]; rm inbox/*[0-9]"
    )
    agent.launch("fw", [task("t", command)], now=time.monotonic())
    sandbox = sandbox_path(work_dir, "fw", "t")
    agent.deliver_message("t", b"hello")
    assert ended(agent, "t")[-1] is TaskState.TASK_FINISHED
    lines = (sandbox / STDOUT).read_text().splitlines()
    groups = {str(g) for g in os.getgrouplist("nobody", NOBODY.pw_gid)}
    assert lines[0] == str(NOBODY.pw_uid)
    assert lines[1] == str(NOBODY.pw_gid)
    assert set(lines[2].split()) == groups
    assert lines[3] == f"{NOBODY.pw_dir} nobody nobody"
    assert lines[4] == "hello"
    # The task took the message out of the inbox the agent wrote it to.
    assert list((sandbox / "inbox").iterdir()) == []
    for path in (sandbox, sandbox / STDOUT, sandbox / STDERR, sandbox / "written-by-task"):
        assert path.stat().st_uid == NOBODY.pw_uid, path
    # The agent still reads what the task wrote.
    assert agent.read_file("t", STDOUT, 0, None).data.startswith(str(NOBODY.pw_uid).encode())


@needs_root
def test_the_task_own_user_wins_over_the_agent_option(
    work_dir: Path, agents: list[AgentState]
) -> None:
    agent = agent_as(work_dir, agents, "no-such-user")
    agent.launch("fw", [task("t", "id -un", user="nobody")], now=time.monotonic())
    assert ended(agent, "t")[-1] is TaskState.TASK_FINISHED
    assert (sandbox_path(work_dir, "fw", "t") / STDOUT).read_text() == "nobody\n"


@needs_root
def test_an_unknown_user_fails_the_task_before_it_starts(
    work_dir: Path, agents: list[AgentState]
) -> None:
    agent = agent_as(work_dir, agents, "no-such-user")
    agent.launch("fw", [task("t", "touch started")], now=0.0)
    (failed,) = agent.poll(0.0)
    assert failed.state is TaskState.TASK_FAILED
    assert failed.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
    assert (
        failed.message == "could not start: user 'no-such-user' does not exist on agent 'agent-1'"
    )
    assert not sandbox_path(work_dir, "fw", "t").exists()
    assert agent.processes == {}


def test_an_agent_that_cannot_switch_says_so_in_the_running_update(
    work_dir: Path, agents: list[AgentState]
) -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    agent = agent_as(work_dir, agents, "nobody", AgentIdentity(me, can_switch=False))
    agent.launch("fw", [task("t", "id -u")], now=time.monotonic())
    seen = poll_until(agent, lambda seen: any(s.state.is_terminal for s in seen), True)
    running = next(s for s in seen if s.state is TaskState.TASK_RUNNING)
    assert f"running as '{me}', not 'nobody'" in running.message
    stdout = (sandbox_path(work_dir, "fw", "t") / STDOUT).read_text()
    assert stdout == f"{os.geteuid()}\n"


@needs_root
def test_a_task_of_another_user_is_killed_with_everything_it_started(
    work_dir: Path, agents: list[AgentState]
) -> None:
    agent = agent_as(work_dir, agents, "nobody")
    agent.launch("fw", [task("t", "sleep 600 & sleep 600")], now=time.monotonic())
    poll_until(agent, lambda seen: seen, acknowledge=True)
    process = agent.processes["t"]
    wait_for(lambda: len(_session(process.pid)) >= 2, what="the task's two sleeps")
    assert {owner for _, owner in _session(process.pid)} == {NOBODY.pw_uid}
    agent.kill(["t"], time.monotonic())
    assert ended(agent, "t")[-1] is TaskState.TASK_KILLED
    wait_for(lambda: not _session(process.pid), what="no process left in the task's session")


def _session(session_id: int) -> list[tuple[int, int]]:
    """(pid, uid) of the live processes of a session."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()
            uid = os.stat(f"/proc/{entry}").st_uid
        except OSError:
            continue
        if int(fields[3]) == session_id and fields[0] != b"Z":
            found.append((int(entry), uid))
    return found


@needs_root
def test_a_command_health_check_runs_as_the_task_user(work_dir: Path) -> None:
    user = lookup("nobody", "a1")
    check = HealthCheck("COMMAND", command=f'test "$(id -u)" = {NOBODY.pw_uid}')
    assert asyncio.run(health_checks.probe(check, work_dir, dict(os.environ), user))[0]
    assert not asyncio.run(health_checks.probe(check, work_dir, dict(os.environ), None))[0]


@needs_root
def test_a_python_task_runs_as_the_user_or_fails_saying_why(
    work_dir: Path, agents: list[AgentState]
) -> None:
    agent = agent_as(work_dir, agents, "nobody")
    py = TaskInfo("py", "py", "cpus:1;mem:256", function=os.getuid)
    agent.launch("fw", [py], time.monotonic())
    seen = poll_until(agent, lambda seen: any(s.state.is_terminal for s in seen), True)
    if _runs_as_nobody([sys.executable, "-c", "import pyactors, orjson"]):
        assert seen[-1].state is TaskState.TASK_FINISHED
        assert read_result(sandbox_path(work_dir, "fw", "py")) == NOBODY.pw_uid
    else:
        # This machine's Python is not nobody's to run (under root's home).
        assert seen[-1].state is TaskState.TASK_FAILED
        message = seen[-1].message
        assert "could not start as user 'nobody': " in message or "exited with status" in message


def _runs_as_nobody(argv: list[str]) -> bool:
    try:
        done = subprocess.run(
            argv, user=NOBODY.pw_uid, group=NOBODY.pw_gid, capture_output=True, timeout=60
        )
    except PermissionError:
        return False
    return done.returncode == 0


# ------------------------------------------------------------ what the task leaves


def test_a_linked_outbox_is_not_emptied(tmp_path: Path) -> None:
    sandbox, elsewhere = tmp_path / "sandbox", tmp_path / "elsewhere"
    sandbox.mkdir()
    elsewhere.mkdir()
    (elsewhere / "precious").write_bytes(b"secret")
    (sandbox / task_messages.OUTBOX).symlink_to(elsewhere)
    assert task_messages.take(sandbox, task_messages.OUTBOX) == []
    assert (elsewhere / "precious").read_bytes() == b"secret"


def test_a_linked_inbox_receives_nothing(tmp_path: Path) -> None:
    sandbox, elsewhere = tmp_path / "sandbox", tmp_path / "elsewhere"
    sandbox.mkdir()
    elsewhere.mkdir()
    (sandbox / task_messages.INBOX).symlink_to(elsewhere)
    with pytest.raises(InvalidArgumentError, match="not a directory"):
        task_messages.put(sandbox, task_messages.INBOX, b"data")
    assert list(elsewhere.iterdir()) == []


def test_links_and_oversized_files_in_an_outbox_are_no_messages(tmp_path: Path) -> None:
    outbox = tmp_path / task_messages.OUTBOX
    outbox.mkdir()
    secret = tmp_path / "secret"
    secret.write_bytes(b"not for the scheduler")
    (outbox / "1-link").symlink_to(secret)
    (outbox / "2-big").write_bytes(b"x" * (task_messages.MAX_MESSAGE_BYTES + 1))
    (outbox / "3-real").write_bytes(b"real")
    assert task_messages.take(tmp_path, task_messages.OUTBOX) == [b"real"]
    assert list(outbox.iterdir()) == []
    assert secret.read_bytes() == b"not for the scheduler"


def test_a_result_reached_through_a_link_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.pkl").write_bytes(b"")
    (tmp_path / "result.pkl").symlink_to(tmp_path / "elsewhere.pkl")
    with pytest.raises(InvalidArgumentError, match=r"result\.pkl"):
        read_result(tmp_path)
