"""Custom executors as processes: the agent's `ExecutorBook` with the
executors' processes, their environment and their secrets.

Each executor runs through the task launcher (`pyactors.agent.task_process`),
so it is a session leader (pymesos kills its own process group on SHUTDOWN)
that outlives the agent's Ray worker, in a sandbox of its own beside its
framework's tasks' (`frameworks/<framework>/tasks/executor.<executor id>`),
with the environment a Mesos agent gives an executor: MESOS_AGENT_ENDPOINT,
MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, MESOS_DIRECTORY and MESOS_SANDBOX,
MESOS_CHECKPOINT ("1": this agent checkpoints and its executors reconnect),
MESOS_RECOVERY_TIMEOUT, MESOS_SUBSCRIPTION_BACKOFF_MAX,
MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD (with a unit, "5secs"),
MESOS_HTTP_COMMAND_EXECUTOR=0 and MESOS_EXECUTOR_AUTHENTICATION_TOKEN.

The token authenticates the executor's calls (`Authorization: Bearer`), as
Mesos's executor authentication does: an HMAC of the framework and executor
ids under a key the agent keeps in its work dir (0600), so no token is
stored, logged or shown, and a restarted agent still knows its executors'.
The executor's process is given it only in its environment, which the
launcher receives on its stdin.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from pyactors._core import Resources
from pyactors.agent.executors import ExecutorBook, ExecutorRecord, Key
from pyactors.agent.task_process import TaskProcess
from pyactors.agent.task_user import AS_AGENT, RunAs
from pyactors.core.operations import ExecutorInfo, TaskInfo
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.errors import InvalidArgumentError

log = logging.getLogger(__name__)

SECRET_FILE = "executor_secret"
# Mesos's agent defaults, given to executors as it gives them.
RECOVERY_TIMEOUT = "15mins"
SUBSCRIPTION_BACKOFF_MAX = "2secs"


def sandbox_id(executor_id: str) -> str:
    """The name of an executor's sandbox among its framework's tasks'."""
    return f"executor.{executor_id}"


class Executors:
    """The executor book and the processes it runs, for one agent."""

    def __init__(
        self,
        agent_id: str,
        work_dir: Path,
        shutdown_grace: float = 5.0,
        registration_timeout: float = 60.0,
    ) -> None:
        self.book = ExecutorBook(agent_id, shutdown_grace, registration_timeout)
        self.agent_id = agent_id
        self.work_dir = work_dir
        self.processes: dict[Key, TaskProcess] = {}
        # host:port of this agent's executor API (set once it listens).
        self.endpoint: str | None = None
        self._secret: bytes | None = None

    def token(self, key: Key) -> str:
        """The executor's bearer token."""
        digest = hmac.new(self._key(), f"{key[0]}\0{key[1]}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")

    def authentic(self, key: Key, token: str) -> bool:
        return hmac.compare_digest(self.token(key).encode(), token.encode())

    def launch(
        self,
        framework_id: str,
        tasks: Sequence[TaskInfo],
        now: float,
        run_as: RunAs,
        log_limits: tuple[int | None, int],
        group: bool = False,
        role: str = "*",
    ) -> list[TaskStatus]:
        """Give the tasks (one, or a group naming one executor; allocated to
        `role`) to their executor, starting that first if it is not running;
        the updates of what could not start."""
        try:
            if group:
                start = self.book.launch_group(framework_id, tasks, now, role)
            else:
                (task,) = tasks
                start = self.book.launch(framework_id, task, now, role)
        except InvalidArgumentError as error:
            return [_failed(task.task_id, str(error), now, self.agent_id) for task in tasks]
        if not start:
            return []
        info = tasks[0].executor
        assert info is not None  # the book took it
        key = (framework_id, info.executor_id)
        try:
            self.processes[key] = self._start(key, info, now, run_as, log_limits)
        except (OSError, ValueError) as error:
            log.warning("agent %s: executor '%s': %s", self.agent_id, key[1], error)
            failed = self.book.exited(key, now, f"could not start: {error}")
            return [
                TaskStatus(
                    s.task_id,
                    s.state,
                    s.source,
                    now,
                    self.agent_id,
                    Reason.REASON_CONTAINER_LAUNCH_FAILED,
                    s.message,
                )
                for s in failed
            ]
        return []

    def _start(
        self,
        key: Key,
        info: ExecutorInfo,
        now: float,
        run_as: RunAs,
        log_limits: tuple[int | None, int],
    ) -> TaskProcess:
        if self.endpoint is None:
            raise OSError("the executor API is not listening yet")
        framework_id, executor_id = key
        sandbox = self.work_dir / "frameworks" / framework_id / "tasks" / sandbox_id(executor_id)
        grace = self.book.shutdown_grace
        environment = {
            **os.environ,
            "MESOS_AGENT_ENDPOINT": self.endpoint,
            "MESOS_FRAMEWORK_ID": framework_id,
            "MESOS_EXECUTOR_ID": executor_id,
            "MESOS_DIRECTORY": str(sandbox.absolute()),
            "MESOS_CHECKPOINT": "1",
            "MESOS_RECOVERY_TIMEOUT": RECOVERY_TIMEOUT,
            "MESOS_SUBSCRIPTION_BACKOFF_MAX": SUBSCRIPTION_BACKOFF_MAX,
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": f"{grace:g}secs",
            "MESOS_HTTP_COMMAND_EXECUTOR": "0",
            "MESOS_SLAVE_ID": self.agent_id,
            "MESOS_EXECUTOR_AUTHENTICATION_TOKEN": self.token(key),
        }
        max_log_bytes, log_files = log_limits
        return TaskProcess(
            _process_info(info),
            framework_id,
            self.agent_id,
            self.work_dir,
            now,
            base_env=environment,
            run_as=run_as,
            max_log_bytes=max_log_bytes,
            log_files=log_files,
        )

    def recover(
        self,
        framework_id: str,
        task: TaskInfo,
        state: TaskState,
        pending: Sequence[str],
        now: float,
        run_as: RunAs,
        role: str = "*",
    ) -> None:
        """A task of a previous incarnation of this agent: back in the book,
        and its executor's process watched again (through its launcher's
        records: one that ended meanwhile fails its tasks at the next poll)."""
        if not self.book.recover(framework_id, task, state, pending, now, role):
            return
        assert task.executor is not None  # the book took it
        self._adopt(framework_id, task.executor, run_as)

    def recover_executors(self, records: Sequence[ExecutorRecord], now: float) -> None:
        """The executors a previous incarnation of this agent ran, idle ones
        too (those `recover` took back with their tasks stay as they are):
        each process is watched again and awaited to subscribe; one that
        ended meanwhile is reported exited at the next poll."""
        for record in records:
            if self.book.recover_executor(record, now):
                # Its tasks' users are unknown once they are gone: only the
                # adopted process's environment would show it, and it runs.
                self._adopt(record.framework_id, record.info, AS_AGENT)

    def _adopt(self, framework_id: str, info: ExecutorInfo, run_as: RunAs) -> None:
        self.processes[(framework_id, info.executor_id)] = TaskProcess.adopt(
            _process_info(info),
            framework_id,
            self.agent_id,
            self.work_dir,
            None,
            TaskState.TASK_RUNNING,
            run_as,
        )

    def poll(self, now: float) -> list[TaskStatus]:
        """Watch the executors: kill those the book says are due, and fail
        the tasks of those that exited."""
        for key in self.book.due(now):
            process = self.processes.get(key)
            if process is not None:
                log.info("agent %s: killing executor '%s' of %s", self.agent_id, key[1], key[0])
                process.kill(0.0, now)
        updates = []
        for key, process in list(self.processes.items()):
            status = process.poll(now)
            if status is not None and status.state.is_terminal:
                del self.processes[key]
                updates += self.book.exited(key, now, status.message or status.state.value)
        return updates

    def kill(self, task_id: str, now: float, grace: float | None) -> list[TaskStatus]:
        return self.book.kill(task_id, now, grace)

    def shutdown(self) -> None:
        """Kill every executor at once (agent teardown)."""
        for process in self.processes.values():
            process.terminate_now()
        self.processes.clear()

    def _key(self) -> bytes:
        if self._secret is None:
            self._secret = _read_or_make_secret(self.work_dir / SECRET_FILE)
        return self._secret


def _process_info(info: ExecutorInfo) -> TaskInfo:
    """The executor as the launcher runs it: a task of its sandbox's name;
    no memory limit of its own (its tasks run inside it)."""
    cpus = info.resources.scalar("cpus")
    return TaskInfo(
        sandbox_id(info.executor_id),
        info.name or info.executor_id,
        Resources.parse(f"cpus:{cpus}") if cpus else Resources(),
        command=info.command,
        shell=info.shell,
        env=info.env,
    )


def _read_or_make_secret(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, os.urandom(32))
            os.fsync(fd)
        finally:
            os.close(fd)
    secret = path.read_bytes()
    if len(secret) != 32:
        raise InvalidArgumentError(f"{path} is not a 32-byte executor key")
    return secret


def _failed(task_id: str, message: str, now: float, agent_id: str) -> TaskStatus:
    return TaskStatus(
        task_id,
        TaskState.TASK_FAILED,
        Source.SOURCE_AGENT,
        now,
        agent_id,
        Reason.REASON_CONTAINER_LAUNCH_FAILED,
        message,
    )
