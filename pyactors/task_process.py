"""A task as a real OS process in its own sandbox.

Each task runs `/bin/sh -c command` as the leader of a new session (so a kill
reaches every process it started) in a sandbox directory under the agent's
work dir, with its stdout and stderr in files there and a `task.json` of its
metadata. The agent polls its tasks with the time; each poll may return a
status update (RUNNING once started, then one terminal state):

- exit 0: TASK_FINISHED; other exit: TASK_FAILED with the code or signal;
- the process tree's resident memory above the task's `mem`: the group is
  killed and the task is TASK_FAILED, REASON_CONTAINER_LIMITATION_MEMORY
  (psutil; cgroup v2 enforcement can replace this where it is writable);
- `kill(grace)`: SIGTERM to the group, SIGKILL after the grace period,
  TASK_KILLED.

Task ids are checked before they name a directory, so no task id reaches
outside the work dir.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import orjson
import psutil

from pyactors.operations import TaskInfo, check_task_id
from pyactors.tasks import Reason, Source, TaskState, TaskStatus

STDOUT = "stdout"
STDERR = "stderr"
METADATA = "task.json"


def sandbox_path(work_dir: Path, framework_id: str, task_id: str) -> Path:
    """Where a task's sandbox lives; refuses ids that would escape work_dir."""
    check_task_id(task_id)
    check_task_id(framework_id)
    path = (work_dir / "frameworks" / framework_id / "tasks" / task_id).resolve()
    if work_dir.resolve() not in path.parents:
        raise ValueError(f"sandbox of task '{task_id}' would leave the work dir")
    return path


@dataclass
class _Kill:
    requested_at: float
    grace: float
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
    ) -> None:
        if task.command is None:
            raise ValueError(f"task '{task.task_id}' has no command to run as a process")
        self.task = task
        self.agent_id = agent_id
        self.sandbox = sandbox_path(work_dir, framework_id, task.task_id)
        cwd = (self.sandbox / task.cwd).resolve() if task.cwd else self.sandbox
        if cwd != self.sandbox and self.sandbox not in cwd.parents:
            raise ValueError(f"cwd {task.cwd!r} of task '{task.task_id}' leaves its sandbox")
        self.sandbox.mkdir(parents=True, exist_ok=False)
        self.mem_limit = int(task.resources.scalar("mem") * 1024 * 1024) or None
        self._kill: _Kill | None = None
        self._limit_exceeded = False
        self._reported: TaskState | None = None
        env = {
            **(base_env if base_env is not None else dict(os.environ)),
            **task.env,
            "MESOS_SANDBOX": str(self.sandbox),
            "MESOS_TASK_ID": task.task_id,
            "MESOS_FRAMEWORK_ID": framework_id,
            "MESOS_AGENT_ID": agent_id,
        }
        (self.sandbox / METADATA).write_bytes(
            orjson.dumps(
                {
                    "task_id": task.task_id,
                    "name": task.name,
                    "framework_id": framework_id,
                    "agent_id": agent_id,
                    "command": task.command,
                    "resources": task.resources.to_json(),
                    "started_at": now,
                },
                option=orjson.OPT_INDENT_2,
            )
        )
        cwd.mkdir(parents=True, exist_ok=True)
        with (
            open(self.sandbox / STDOUT, "wb") as stdout,
            open(self.sandbox / STDERR, "wb") as stderr,
        ):
            self.process = subprocess.Popen(
                ["/bin/sh", "-c", task.command],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def reported(self) -> TaskState | None:
        """The last state `poll` reported (None before the first poll)."""
        return self._reported

    def kill(self, grace: float, now: float) -> None:
        """SIGTERM the task's process group now, SIGKILL it after `grace`."""
        if self._kill is not None or self.process.poll() is not None:
            return
        self._kill = _Kill(now, grace)
        self._signal(signal.SIGTERM)

    def terminate_now(self) -> None:
        """SIGKILL the whole group and reap the leader (teardown, no update)."""
        self._signal(signal.SIGKILL)
        self.process.wait()

    def poll(self, now: float) -> TaskStatus | None:
        """The next status update of this task, if its state changed."""
        if self._reported is None:
            return self._report(TaskState.TASK_RUNNING, now)
        if self._reported.is_terminal:
            return None
        code = self.process.poll()
        if code is None:
            self._enforce(now)
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
            return self._report(TaskState.TASK_KILLED, now, message="killed")
        if code == 0:
            return self._report(TaskState.TASK_FINISHED, now, message="exited with status 0")
        how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return self._report(TaskState.TASK_FAILED, now, Reason.REASON_COMMAND_EXECUTOR_FAILED, how)

    def _enforce(self, now: float) -> None:
        kill = self._kill
        if kill is not None and not kill.escalated and now - kill.requested_at >= kill.grace:
            kill.escalated = True
            self._signal(signal.SIGKILL)
        limit = self.mem_limit
        if limit is not None and not self._limit_exceeded and self._tree_rss() > limit:
            self._limit_exceeded = True
            self._signal(signal.SIGKILL)

    def _tree_rss(self) -> int:
        try:
            leader = psutil.Process(self.process.pid)
            processes = [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

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
