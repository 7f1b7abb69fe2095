"""A task as a real OS process in its own sandbox.

Each task runs as the leader of a new session (so a kill reaches every
process it started) in a sandbox directory under the agent's work dir, with
its stdout and stderr in files there and a `task.json` of its metadata. It
is started through its launcher (`pyactors.agent.launcher`), which outlives
the agent's Ray worker, logs the task's output (rotating it by rename, so
nothing is lost) and records its pids and, once it ended, its exit status
in the sandbox: the agent watches those files, never a child process, so a
restarted agent watches the same task the same way (`TaskProcess.adopt`).
The task is

- for a command, `/bin/sh -c command`, or with `shell=False` the command's
  argv exec'd directly (no shell to start, and arguments reach the program
  literally);
- for a Python callable, `python -m pyactors.agent.python_task <sandbox>`, which
  calls it and leaves the return value for `read_result(sandbox)`;
- as the user `RunAs` names (`pyactors.agent.task_user`), its sandbox, output
  files, message boxes and working directory then owned by that user so the
  task can write there; the agent and the launcher, as root, still read and
  rotate them.

The agent polls its tasks with the time; each poll may return a status update
(RUNNING once the launcher started it, then one terminal state):

- exit 0: TASK_FINISHED; other exit: TASK_FAILED with the code or signal, or
  with the exception a callable raised;
- the resident memory of the task's session (its leader and everything it
  started) above the task's `mem`, as the agent's periodic `session_usage()`
  pass over /proc finds it: the group is killed and the task is TASK_FAILED,
  REASON_CONTAINER_LIMITATION_MEMORY (`pyactors.agent.cgroups` says why cgroup v2
  does not enforce it here);
- `kill(grace)`: SIGTERM to the group, SIGKILL after the grace period,
  TASK_KILLED.

`usage(now, sessions)` gives the task's resource statistics in Mesos's
shape: its session's CPU times and resident memory from that same pass
while it runs, the kernel's final CPU times once it has ended.

Task ids are checked before they name a directory, so no task id reaches
outside the work dir. Launching is on the agent's hot path: paths are
checked without asking the filesystem, the agent makes only the sandbox
directory (and, for a task run as another user, what that user must own),
and hands the rest to its launcher server (`LauncherServer`, one per agent
process), which forks the task's launcher: it writes `task.json` (and a
callable's call) and the output files before the task starts.
A signal goes to the task only while its leader's pid still names the
process the launcher started (same start time).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import marshal
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from pyactors.agent import launcher, python_task
from pyactors.agent import volumes as persistent_volumes
from pyactors.agent.python_task import read_result
from pyactors.agent.task_messages import INBOX, OUTBOX
from pyactors.agent.task_user import AS_AGENT, RunAs, task_environment
from pyactors.core.operations import TaskInfo, check_task_id
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus

__all__ = [
    "METADATA",
    "STDERR",
    "STDOUT",
    "Pids",
    "SessionUsage",
    "TaskProcess",
    "read_result",
    "sandbox_path",
    "session_usage",
]

STDOUT = launcher.STDOUT
STDERR = launcher.STDERR
METADATA = "task.json"
# The launcher, run by path: `python -m` would import the pyactors package.
LAUNCHER = launcher.__file__


@dataclass(frozen=True)
class SessionUsage:
    """What one session's live processes use: resident bytes, and CPU
    seconds including those of the descendants they waited for."""

    rss: int = 0
    user: float = 0.0
    system: float = 0.0


def session_usage() -> dict[int, SessionUsage]:
    """Resident bytes and CPU times of every session on the machine, from one
    pass over /proc: an agent checks all its tasks' memory (and gathers
    their statistics) with it at once instead of walking each task's
    process tree."""
    page = os.sysconf("SC_PAGE_SIZE")
    ticks = os.sysconf("SC_CLK_TCK")
    totals: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        # os.open and os.read: a buffered file object costs more than the
        # read itself, and every agent does this for every process.
        try:
            fd = os.open(f"/proc/{entry.name}/stat", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue  # gone meanwhile
        try:
            fields = os.read(fd, 4096).rsplit(b")", 1)[1].split()
        except OSError:
            continue
        finally:
            os.close(fd)
        # proc(5) fields after the command, from 3 (state): session is 6,
        # utime, stime, cutime, cstime 14-17 (clock ticks), rss 24 (pages).
        # A process's c*time counts the children it waited for, which have
        # left /proc: nothing is counted twice.
        total = totals.setdefault(int(fields[3]), [0, 0, 0])
        total[0] += int(fields[21])
        total[1] += int(fields[11]) + int(fields[13])
        total[2] += int(fields[12]) + int(fields[14])
    return {
        session: SessionUsage(pages * page, user / ticks, system / ticks)
        for session, (pages, user, system) in totals.items()
    }


def sandbox_path(work_dir: Path, framework_id: str, task_id: str) -> Path:
    """Where a task's sandbox lives; refuses ids that would escape work_dir."""
    check_task_id(task_id)
    check_task_id(framework_id)
    # A checked id is one path component, neither "." nor "..", so the join
    # cannot leave work_dir.
    return Path(os.path.abspath(work_dir), "frameworks", framework_id, "tasks", task_id)


def _steps(relative: Path) -> list[Path]:
    """`a`, `a/b`, `a/b/c` for `a/b/c`: the directories down to a working directory."""
    parts = relative.parts
    return [Path(*parts[: i + 1]) for i in range(len(parts))]


@dataclass
class _Kill:
    requested_at: float
    grace: float
    # What the task's TASK_KILLED says (a drain's), None for a plain kill.
    reason: Reason | None = None
    escalated: bool = False


@dataclass(frozen=True)
class Pids:
    """The launcher's and the task leader's pids, each with its start time
    (`launcher.start_time`), as the launcher recorded them."""

    launcher: int
    launcher_started: int
    task: int
    task_started: int

    def to_json(self) -> list[int]:
        return [self.launcher, self.launcher_started, self.task, self.task_started]

    @classmethod
    def from_json(cls, value: Any) -> Pids:
        """From `to_json`'s form; ValueError for anything else."""
        if not (isinstance(value, list) and len(value) == 4):
            raise ValueError(f"pids must be 4 integers, got {value!r}")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in value):
            raise ValueError(f"pids must be 4 positive integers, got {value!r}")
        return cls(*value)


def _read_record(sandbox: Path, name: str) -> bytes | None:
    """A file the launcher writes for the agent, None if there is none (yet)
    or `name` is not a regular file: a task that put a link, a FIFO or a
    directory in its place is never followed nor waited on. One open for a
    file not there yet: the agent asks at every poll of every task."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(os.path.join(sandbox, name), flags)
    except OSError:
        return None
    try:
        return os.read(fd, _SMALL_FILE) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except OSError:
        return None
    finally:
        os.close(fd)


def read_pids(sandbox: Path) -> Pids | None:
    """What the task's launcher recorded, None before it did (or if it is
    unreadable: the launcher writes it whole)."""
    data = _read_record(sandbox, launcher.PIDS)
    if data is None:
        return None
    try:
        recorded = orjson.loads(data)
        launcher_pid, launcher_started = recorded["launcher"]
        task_pid, task_started = recorded["task"]
        return Pids.from_json([launcher_pid, launcher_started, task_pid, task_started])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def read_outcome(sandbox: Path) -> dict[str, Any] | None:
    """The exit status the launcher wrote once the task ended and its
    output was drained, None before."""
    data = _read_record(sandbox, launcher.STATUS)
    if data is None:
        return None
    try:
        outcome = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return outcome if isinstance(outcome, dict) and isinstance(outcome.get("code"), int) else None


# More than any file the launcher writes for the agent.
_SMALL_FILE = 64 * 1024
# How long a launch may take before its launcher is given up on: a busy
# machine starts Python slowly, but never this slowly.
_LAUNCH_BUDGET = 60.0
# Tests and teardown wait this long for a launcher to answer.
_WAIT = 10.0
# The launch pipe's size (Linux's default limit for an unprivileged process).
_PIPE_BYTES = 1 << 20


class LauncherServer:
    """This process's launcher server (`pyactors.agent.launcher`), started
    at its first launch and again after it died; it ends when this process
    does (its end of the pipe closes), and the launchers it forked live on.
    Launchers report sandboxes they could not make on a pipe kept for the
    life of this process (across servers), read without waiting."""

    def __init__(self) -> None:
        self._requests: IO[bytes] | None = None
        # (read end, write end), the write end passed to every server.
        self._failures: tuple[int, int] | None = None
        self._reported = b""
        # Sandbox -> why it could not be made, until its task asks.
        self._failed: dict[str, str] = {}
        # A forked copy of this process starts its own server and pipe:
        # launches must come from the process whose tasks they are.
        self._owner = 0
        self._lock = threading.Lock()

    def launch(self, sandbox: Path, spec: dict[str, Any]) -> None:
        """Hand a launch to the server (OSError if no server can be
        started). A launch is never forked twice: the server forks only
        once it has read a whole frame, and a frame is written again only
        to a new server after the write found no reader."""
        data = launcher.frame(str(sandbox), spec)
        with self._lock:
            try:
                self._write(data)
            except BrokenPipeError:
                self._drop()
                self._write(data)

    def failure(self, sandbox: Path) -> str | None:
        """Why this sandbox's launcher could not make it, if it said so."""
        with self._lock:
            if self._failures is not None and self._owner == os.getpid():
                self._collect(self._failures[0])
            return self._failed.pop(str(sandbox), None)

    def _collect(self, fd: int) -> None:
        with contextlib.suppress(BlockingIOError):
            while data := os.read(fd, _SMALL_FILE):
                self._reported += data
        while len(self._reported) >= 4:
            size = int.from_bytes(self._reported[:4], "big")
            if len(self._reported) < 4 + size:
                break
            sandbox, report = marshal.loads(self._reported[4 : 4 + size])
            self._reported = self._reported[4 + size :]
            self._failed[sandbox] = report["error"]

    def _drop(self) -> None:
        requests, self._requests = self._requests, None
        if requests is not None:
            with contextlib.suppress(OSError):  # what it held is lost with its reader
                requests.close()

    def _write(self, data: bytes) -> None:
        if self._owner != os.getpid():
            # This process's copies of its parent's pipes stay unused.
            self._requests, self._failures, self._reported = None, None, b""
            self._failed.clear()
            self._owner = os.getpid()
        if self._failures is None:
            read_end, write_end = os.pipe()
            os.set_blocking(read_end, False)
            self._failures = (read_end, write_end)
        if self._requests is None:
            self._requests = self._start(self._failures[1])
        self._requests.write(data)
        self._requests.flush()

    @staticmethod
    def _start(failures: int) -> IO[bytes]:
        first = subprocess.Popen(
            [sys.executable, "-I", "-S", LAUNCHER, str(failures)],
            stdin=subprocess.PIPE,
            pass_fds=(failures,),
            start_new_session=True,
        )
        # The first process only forks the server and exits.
        code = first.wait()
        assert first.stdin is not None  # asked for above
        if code != 0:
            first.stdin.close()
            raise OSError(f"the launcher server could not start: exit status {code}")
        # Room for a few hundred launches, so that handing over a launch
        # batch does not wait for the server's forks (a smaller pipe where
        # the system refuses this size: then the write waits).
        with contextlib.suppress(OSError):
            fcntl.fcntl(first.stdin.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        return first.stdin


launchers = LauncherServer()


class TaskProcess:
    """One running (or finished) task, through its launcher; `poll` drives it."""

    # What the task (and a COMMAND health check of it) runs with.
    env: dict[str, str]

    def __init__(
        self,
        task: TaskInfo,
        framework_id: str,
        agent_id: str,
        work_dir: Path,
        now: float,
        base_env: dict[str, str] | None = None,
        run_as: RunAs = AS_AGENT,
        max_log_bytes: int | None = None,
        log_files: int = 0,
    ) -> None:
        self._setup(task, framework_id, agent_id, work_dir, run_as, base_env)
        user = run_as.user
        # The sandbox is new, so nothing in it is a symlink: the path alone
        # says where cwd is.
        cwd = Path(os.path.normpath(self.sandbox / task.cwd)) if task.cwd else self.sandbox
        if not cwd.is_relative_to(self.sandbox):
            raise ValueError(f"cwd {task.cwd!r} of task '{task.task_id}' leaves its sandbox")
        metadata: dict[str, Any]
        call = None
        if task.function is not None:
            # Before the sandbox exists: a callable that cannot be pickled
            # leaves nothing behind.
            call = python_task.dump_call(task.function, task.args, task.kwargs)
            argv = [sys.executable, "-m", "pyactors.agent.python_task", str(self.sandbox)]
            metadata = {"kind": "function", "function": python_task.describe(task.function)}
        elif task.command is not None:
            argv = task.argv()
            metadata = {
                "kind": "command",
                "shell": task.shell,
                "command": task.command if task.shell else argv,
            }
            _check_program(argv[0], self.env)
        else:
            raise ValueError(f"task '{task.task_id}' has neither a command nor a function")
        # A plain task's launcher makes its sandbox (a directory creation
        # is slow on a busy disk, and the agent's loop would wait for it);
        # what the agent must prepare in it, it makes here.
        make_sandbox = (
            user is None
            and cwd == self.sandbox
            and not persistent_volumes.persistence_ids(task.resources)
        )
        if not make_sandbox:
            self.sandbox.mkdir(parents=True, exist_ok=False)
        # The launcher writes these (the agent's loop is spared the file
        # creations): no task starts before they are whole.
        files = [
            (
                METADATA,
                orjson.dumps(
                    {
                        "task_id": task.task_id,
                        "name": task.name,
                        "framework_id": framework_id,
                        "agent_id": agent_id,
                        **metadata,
                        **({"user": user.name} if user is not None else {}),
                        "resources": task.resources.to_json(),
                        "started_at": now,
                    },
                    option=orjson.OPT_INDENT_2,
                ),
            )
        ]
        if call is not None:
            files.append((python_task.CALL, call))
        if not make_sandbox:
            persistent_volumes.mount(task, work_dir, self.sandbox, user)
        if cwd != self.sandbox:
            cwd.mkdir(parents=True, exist_ok=True)
        if user is not None:
            # Made now so that they are the task's: the agent later
            # writes messages into the inbox as root, through no link.
            for name in (STDOUT, STDERR):
                (self.sandbox / name).touch()
            for box in (INBOX, OUTBOX):
                (self.sandbox / box).mkdir(exist_ok=True)
            # The sandbox itself, the launcher gives once its files are in.
            owned = [self.sandbox / STDOUT, self.sandbox / STDERR]
            owned += [self.sandbox / INBOX, self.sandbox / OUTBOX]
            owned += [self.sandbox / p for p in _steps(cwd.relative_to(self.sandbox))]
            for path in owned:
                user.own(path)
        launchers.launch(
            self.sandbox,
            {
                "argv": argv,
                "cwd": str(cwd),
                "env": self.env,
                "user": None
                if user is None
                else {"uid": user.uid, "gid": user.gid, "groups": list(user.groups)},
                "max_log_bytes": max_log_bytes,
                "log_files": log_files,
                "files": files,
                "make_sandbox": make_sandbox,
            },
        )
        self._handed = True

    @classmethod
    def adopt(
        cls,
        task: TaskInfo,
        framework_id: str,
        agent_id: str,
        work_dir: Path,
        pids: Pids | None,
        reported: TaskState | None,
        run_as: RunAs = AS_AGENT,
    ) -> TaskProcess:
        """A task a previous incarnation of this agent launched: its
        launcher is watched again (if `pids` still name the same processes),
        or its recorded outcome reported; `reported` is the last state the
        agent sent."""
        process = cls.__new__(cls)
        process._setup(task, framework_id, agent_id, work_dir, run_as, None)
        process._pids = pids or read_pids(process.sandbox)
        process._reported = reported
        return process

    def _setup(
        self,
        task: TaskInfo,
        framework_id: str,
        agent_id: str,
        work_dir: Path,
        run_as: RunAs,
        base_env: dict[str, str] | None,
    ) -> None:
        self.task = task
        self.agent_id = agent_id
        self.run_as = run_as
        self.sandbox = sandbox_path(work_dir, framework_id, task.task_id)
        self.mem_limit = int(task.resources.scalar("mem") * 1024 * 1024) or None
        self._kill: _Kill | None = None
        self._limit_exceeded = False
        self._reported: TaskState | None = None
        self._outcome: dict[str, Any] | None = None
        self._pids: Pids | None = None
        # When the task was first seen without its launcher's record.
        self._unrecorded_since: float | None = None
        # Whether this process handed its launch to a launcher server (an
        # adopted task's launch, if any, came from an earlier incarnation).
        self._handed = False
        self.env = {
            **task_environment(
                base_env if base_env is not None else os.environ, run_as.user, task.env
            ),
            "MESOS_SANDBOX": str(self.sandbox),
            "MESOS_TASK_ID": task.task_id,
            "MESOS_FRAMEWORK_ID": framework_id,
            "MESOS_AGENT_ID": agent_id,
        }

    @property
    def pids(self) -> Pids | None:
        """The launcher's and the task's pids, once the launcher recorded them."""
        return self._pids

    @property
    def pid(self) -> int:
        """The task leader's pid (waiting, a few seconds at most, for the
        launcher to start it)."""
        deadline = time.monotonic() + _WAIT
        while self._learn_pids() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the launcher of task '{self.task.task_id}' never started it")
            time.sleep(0.005)
        assert self._pids is not None  # learnt above
        return self._pids.task

    @property
    def reported(self) -> TaskState | None:
        """The last state `poll` reported (None before the first poll)."""
        return self._reported

    def kill(self, grace: float, now: float, reason: Reason | None = None) -> None:
        """SIGTERM the task's process group now (once it has one), SIGKILL
        it after `grace`; its TASK_KILLED carries `reason`."""
        if self._kill is not None or self._ended():
            return
        self._kill = _Kill(now, grace, reason)
        self._signal(signal.SIGTERM)

    def terminate_now(self) -> None:
        """SIGKILL the whole group and wait (seconds at most) until the
        launcher recorded its end (teardown, no update); at once when no
        launcher is left to record it."""
        deadline = time.monotonic() + _WAIT
        while self._may_be_recorded() and time.monotonic() < deadline:
            self._signal(signal.SIGKILL)
            time.sleep(0.01)
        self._signal(signal.SIGKILL)

    def _may_be_recorded(self) -> bool:
        """Whether a launcher may still record this task's end: its own
        launcher runs, or this process handed the launch to a server and
        neither a record nor a failure came back yet. A launch that failed
        or was given up on, a launcher gone without its record and an
        adopted task that never had one leave nothing to wait for."""
        if self._ended() or (self._reported is not None and self._reported.is_terminal):
            return False
        pids = self._learn_pids()
        if pids is not None:
            return launcher.alive(pids.launcher, pids.launcher_started)
        return self._handed and launchers.failure(self.sandbox) is None

    def poll(
        self, now: float, sessions: Mapping[int, SessionUsage] | None = None
    ) -> TaskStatus | None:
        """The next status update of this task, if its state changed. With
        `sessions` (from `session_usage()`), the memory limit is checked
        too: the task is its leader's session."""
        if self._reported is not None and self._reported.is_terminal:
            return None
        if not self._ended():
            pids = self._learn_pids()
            if pids is None:
                unmade = launchers.failure(self.sandbox)
                if unmade is not None:
                    return self._launch_failed(now, unmade)
                # A launch the server lost (it died with the launch unread)
                # has this long to be recorded; a launcher that failed
                # before starting the task recorded why (`_ended`).
                if self._unrecorded_since is None:
                    self._unrecorded_since = now
                elif now - self._unrecorded_since > _LAUNCH_BUDGET:
                    return self._launch_failed(now, "its launcher never started it")
                return None
            if self._reported is None:
                # Started: its process exists.
                return self._report(TaskState.TASK_RUNNING, now, message=self.run_as.note)
            if launcher.alive(pids.launcher, pids.launcher_started):
                session = None if sessions is None else sessions.get(pids.task, SessionUsage())
                self._enforce(now, None if session is None else session.rss)
                return None
            if not self._ended():
                # Killed without a word: what the task started must not
                # outlive it unwatched.
                self._signal(signal.SIGKILL)
                return self._report(
                    TaskState.TASK_FAILED,
                    now,
                    Reason.REASON_EXECUTOR_TERMINATED,
                    "its launcher ended without recording the task's exit status",
                )
        outcome = self._outcome
        if self._reported is None and not (outcome and outcome.get("error")):
            # It ran, however briefly: RUNNING first, its end at the next poll.
            return self._report(TaskState.TASK_RUNNING, now, message=self.run_as.note)
        return self._ended_report(now)

    def _ended_report(self, now: float) -> TaskStatus:
        outcome = self._outcome
        assert outcome is not None  # the caller saw it
        if outcome.get("error"):
            return self._launch_failed(now, str(outcome["error"]))
        code = int(outcome["code"])
        if self._limit_exceeded:
            return self._report(
                TaskState.TASK_FAILED,
                now,
                Reason.REASON_CONTAINER_LIMITATION_MEMORY,
                f"memory limit of {self.mem_limit} bytes exceeded",
            )
        if self._kill is not None:
            return self._report(TaskState.TASK_KILLED, now, self._kill.reason, "killed")
        if code == 0:
            return self._report(TaskState.TASK_FINISHED, now, message="exited with status 0")
        how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
        if self.task.function is not None:
            how = python_task.read_error(self.sandbox) or how
        return self._report(TaskState.TASK_FAILED, now, Reason.REASON_COMMAND_EXECUTOR_FAILED, how)

    def _launch_failed(self, now: float, why: str) -> TaskStatus:
        as_user = "" if self.run_as.user is None else f" as user '{self.run_as.user.name}'"
        return self._report(
            TaskState.TASK_FAILED,
            now,
            Reason.REASON_CONTAINER_LAUNCH_FAILED,
            f"could not start{as_user}: {why}",
        )

    def usage(self, now: float, sessions: Mapping[int, SessionUsage]) -> dict[str, float]:
        """The task's resource statistics, with the field names of Mesos's
        ResourceStatistics, from `session_usage()` taken at `now` (the
        kernel's final count, as the launcher recorded it, once the task has
        ended); a limit the task does not have is left out."""
        if self._outcome is not None:
            usage = SessionUsage(
                0,
                float(self._outcome.get("user_seconds", 0.0)),
                float(self._outcome.get("system_seconds", 0.0)),
            )
        elif (pids := self._learn_pids()) is not None:
            usage = sessions.get(pids.task, SessionUsage())
        else:
            usage = SessionUsage()
        statistics: dict[str, float] = {
            "timestamp": now,
            "cpus_user_time_secs": usage.user,
            "cpus_system_time_secs": usage.system,
            "mem_rss_bytes": usage.rss,
        }
        cpus = self.task.resources.scalar("cpus")
        if cpus:
            statistics["cpus_limit"] = cpus
        if self.mem_limit is not None:
            statistics["mem_limit_bytes"] = self.mem_limit
        return statistics

    def _ended(self) -> bool:
        """Whether the launcher recorded the task's end (read once, kept)."""
        if self._outcome is None:
            self._outcome = read_outcome(self.sandbox)
        return self._outcome is not None

    def _learn_pids(self) -> Pids | None:
        if self._pids is None:
            self._pids = read_pids(self.sandbox)
            kill = self._kill
            if self._pids is not None and kill is not None:
                # A kill asked for before the task had a process.
                self._signal(signal.SIGKILL if kill.escalated else signal.SIGTERM)
        return self._pids

    def _enforce(self, now: float, resident: int | None) -> None:
        kill = self._kill
        if kill is not None and not kill.escalated and now - kill.requested_at >= kill.grace:
            kill.escalated = True
            self._signal(signal.SIGKILL)
        limit = self.mem_limit
        over = limit is not None and resident is not None and resident > limit
        if over and not self._limit_exceeded:
            self._limit_exceeded = True
            self._signal(signal.SIGKILL)

    def _signal(self, signum: signal.Signals) -> None:
        """Signal the task's session, if its leader is still the process
        the launcher started (a recycled pid is never signalled)."""
        pids = self._pids
        if pids is not None and launcher.alive(pids.task, pids.task_started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pids.task, signum)

    def _report(
        self, state: TaskState, now: float, reason: Reason | None = None, message: str = ""
    ) -> TaskStatus:
        self._reported = state
        return TaskStatus(
            self.task.task_id,
            state,
            Source.SOURCE_EXECUTOR,
            now,
            agent_id=self.agent_id,
            reason=reason,
            message=message,
        )


def _check_program(name: str, env: Mapping[str, str]) -> None:
    """A program missing from the task's PATH is refused now
    (FileNotFoundError), as exec would refuse it, rather than by the
    launcher later."""
    if "/" not in name and shutil.which(name, path=env.get("PATH", os.defpath)) is None:
        raise FileNotFoundError(errno.ENOENT, f"no program {name!r} on the task's PATH", name)
