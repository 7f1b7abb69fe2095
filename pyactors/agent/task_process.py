"""A task as a real OS process in its own sandbox.

Each task runs as the leader of a new session (so a kill reaches every
process it started) in a sandbox directory under the agent's work dir, with
its stdout and stderr in files there and a `task.json` of its metadata. The
process is

- for a command, `/bin/sh -c command`, or with `shell=False` the command's
  argv exec'd directly (no shell to start, and arguments reach the program
  literally);
- for a Python callable, `python -m pyactors.agent.python_task <sandbox>`, which
  calls it and leaves the return value for `read_result(sandbox)`;
- as the user `RunAs` names (`pyactors.agent.task_user`), its sandbox, output
  files, message boxes and working directory then owned by that user so the
  task can write there; the agent, as root, still reads and rotates them.

The agent polls its tasks with the time; each poll may return a status update
(RUNNING once started, then one terminal state):

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
checked without asking the filesystem, and a launch writes only the sandbox
directory, `task.json`, the two output files and, for a callable, the call.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pyactors.agent import python_task
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
    "SessionUsage",
    "TaskProcess",
    "read_result",
    "sandbox_path",
    "session_usage",
]

STDOUT = "stdout"
STDERR = "stderr"
METADATA = "task.json"


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
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
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


class TaskProcess:
    """One running (or finished) task; `poll` drives it."""

    def __init__(
        self,
        task: TaskInfo,
        framework_id: str,
        agent_id: str,
        work_dir: Path,
        now: float,
        base_env: dict[str, str] | None = None,
        run_as: RunAs = AS_AGENT,
    ) -> None:
        self.task = task
        self.agent_id = agent_id
        self.run_as = run_as
        user = run_as.user
        self.sandbox = sandbox_path(work_dir, framework_id, task.task_id)
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
        else:
            raise ValueError(f"task '{task.task_id}' has neither a command nor a function")
        self.sandbox.mkdir(parents=True, exist_ok=False)
        self.mem_limit = int(task.resources.scalar("mem") * 1024 * 1024) or None
        self._kill: _Kill | None = None
        self._limit_exceeded = False
        self._reported: TaskState | None = None
        self._final_rusage: resource.struct_rusage | None = None
        env = {
            **task_environment(base_env if base_env is not None else os.environ, user, task.env),
            "MESOS_SANDBOX": str(self.sandbox),
            "MESOS_TASK_ID": task.task_id,
            "MESOS_FRAMEWORK_ID": framework_id,
            "MESOS_AGENT_ID": agent_id,
        }
        # What a COMMAND health check of the task runs with.
        self.env = env
        (self.sandbox / METADATA).write_bytes(
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
            )
        )
        if call is not None:
            (self.sandbox / python_task.CALL).write_bytes(call)
        persistent_volumes.mount(task, work_dir, self.sandbox, user)
        if cwd != self.sandbox:
            cwd.mkdir(parents=True, exist_ok=True)
        with (
            # O_APPEND: after the agent truncates a rotated log, the task's
            # next write lands at the new end (`pyactors.agent.sandbox_files`).
            open(self.sandbox / STDOUT, "ab", buffering=0) as stdout,
            open(self.sandbox / STDERR, "ab", buffering=0) as stderr,
        ):
            if user is not None:
                # Made now so that they are the task's: the agent later
                # writes messages into the inbox as root, through no link.
                for box in (INBOX, OUTBOX):
                    (self.sandbox / box).mkdir(exist_ok=True)
                owned = [self.sandbox, self.sandbox / STDOUT, self.sandbox / STDERR]
                owned += [self.sandbox / INBOX, self.sandbox / OUTBOX]
                owned += [self.sandbox / p for p in _steps(cwd.relative_to(self.sandbox))]
                for path in owned:
                    user.own(path)
            self.process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
                user=None if user is None else user.uid,
                group=None if user is None else user.gid,
                extra_groups=None if user is None else list(user.groups),
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def reported(self) -> TaskState | None:
        """The last state `poll` reported (None before the first poll)."""
        return self._reported

    def kill(self, grace: float, now: float, reason: Reason | None = None) -> None:
        """SIGTERM the task's process group now, SIGKILL it after `grace`;
        its TASK_KILLED carries `reason`."""
        if self._kill is not None or self._reap() is not None:
            return
        self._kill = _Kill(now, grace, reason)
        self._signal(signal.SIGTERM)

    def terminate_now(self) -> None:
        """SIGKILL the whole group and reap the leader (teardown, no update)."""
        self._signal(signal.SIGKILL)
        self.process.wait()

    def poll(
        self, now: float, sessions: Mapping[int, SessionUsage] | None = None
    ) -> TaskStatus | None:
        """The next status update of this task, if its state changed. With
        `sessions` (from `session_usage()`), the memory limit is checked
        too: the task is its leader's session."""
        if self._reported is None:
            return self._report(TaskState.TASK_RUNNING, now, message=self.run_as.note)
        if self._reported.is_terminal:
            return None
        code = self._reap()
        if code is None:
            session = None if sessions is None else sessions.get(self.process.pid, SessionUsage())
            self._enforce(now, None if session is None else session.rss)
            return None
        # The leader is gone: make sure nothing it started lingers.
        self._signal(signal.SIGKILL)
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

    def usage(self, now: float, sessions: Mapping[int, SessionUsage]) -> dict[str, float]:
        """The task's resource statistics, with the field names of Mesos's
        ResourceStatistics, from `session_usage()` taken at `now` (the
        kernel's final count once the task has ended); a limit the task
        does not have is left out."""
        if self._final_rusage is not None:
            usage = SessionUsage(0, self._final_rusage.ru_utime, self._final_rusage.ru_stime)
        else:
            usage = sessions.get(self.process.pid, SessionUsage())
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

    def _reap(self) -> int | None:
        """The leader's exit code, once it has ended. Reaped with wait4, not
        Popen.poll, for the kernel's count of the CPU time of the leader and
        of every descendant it waited for."""
        if self.process.returncode is None:
            pid, status, rusage = os.wait4(self.process.pid, os.WNOHANG)
            if pid == 0:
                return None
            self.process.returncode = os.waitstatus_to_exitcode(status)
            self._final_rusage = rusage
        return self.process.returncode

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
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

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
