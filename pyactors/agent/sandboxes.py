"""The sandboxes one agent keeps: where each task's is, how much of its logs
were rotated away, and which finished ones are due for garbage collection.

Mesos's agent removes a finished executor's sandbox after `--gc_delay`;
here a sandbox goes `gc_seconds` after its task ended. Only `ended` makes a
sandbox a candidate, so a running task's sandbox never is. The decision
(`expired(now)`) is bookkeeping with the time as argument; the removal is
file-system work the agent actor does off its event loop (`remove`).

Logs rotate past `max_log_bytes` (the options are checked here): each
task's launcher rotates them by rename as it writes them, and records the
bytes rotated away, which reads add so that offsets keep counting from the
task's first byte (`pyactors.agent.launcher`).
"""

from __future__ import annotations

import logging
import shutil
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pyactors.agent import sandbox_files
from pyactors.agent.sandbox_files import FileChunk
from pyactors.agent.task_process import STDERR, STDOUT
from pyactors.errors import InvalidArgumentError, SandboxGoneError

log = logging.getLogger(__name__)

LOGS = (STDOUT, STDERR)


@dataclass(slots=True)
class _Sandbox:
    path: Path
    ended_at: float | None = None


def check_options(gc_seconds: float, max_log_bytes: int | None, log_files: int) -> None:
    """InvalidArgumentError for options no agent can use."""
    if gc_seconds < 0:
        raise InvalidArgumentError(f"sandbox_gc_seconds must be >= 0, got {gc_seconds}")
    if max_log_bytes is not None and max_log_bytes <= 0:
        raise InvalidArgumentError(f"max_log_bytes must be positive or None, got {max_log_bytes}")
    if log_files < 0:
        raise InvalidArgumentError(f"log_files must be >= 0, got {log_files}")


class Sandboxes:
    def __init__(
        self, gc_seconds: float, max_log_bytes: int | None = None, log_files: int = 0
    ) -> None:
        """`max_log_bytes` None: logs never rotate; `log_files`: how many
        rotated copies of each log are kept (the launchers do it)."""
        check_options(gc_seconds, max_log_bytes, log_files)
        self.gc_seconds = gc_seconds
        self.max_log_bytes = max_log_bytes
        self.log_files = log_files
        self._by_task: dict[str, _Sandbox] = {}
        # (ended at, task id) in the order tasks ended, so the oldest are first.
        self._ended: deque[tuple[float, str]] = deque()

    def __contains__(self, task_id: str) -> bool:
        return task_id in self._by_task

    def add(self, task_id: str, path: Path) -> None:
        self._by_task[task_id] = _Sandbox(path)

    def ended(self, task_id: str, now: float) -> None:
        """The task ended at `now`: its sandbox goes `gc_seconds` later."""
        sandbox = self._by_task.get(task_id)
        if sandbox is not None and sandbox.ended_at is None:
            sandbox.ended_at = now
            self._ended.append((now, task_id))

    def expired(self, now: float) -> list[Path]:
        """The sandboxes whose task ended at least `gc_seconds` before `now`,
        forgotten here; the caller removes them (`remove`)."""
        due = []
        while self._ended and self._ended[0][0] + self.gc_seconds <= now:
            _, task_id = self._ended.popleft()
            due.append(self._by_task.pop(task_id).path)
        return due

    def read(self, task_id: str, name: str, offset: int, length: int | None) -> FileChunk:
        """A chunk of a file of the task's sandbox (`sandbox_files.read`)."""
        sandbox = self._by_task.get(task_id)
        if sandbox is None:
            raise SandboxGoneError(
                f"the sandbox of task '{task_id}' is gone: garbage-collected, or never here"
            )
        # Read again if a rotation came between: the base must be the file's.
        while True:
            base = sandbox_files.rotated(sandbox.path, name)
            chunk = sandbox_files.read(sandbox.path, name, offset, length, base)
            if sandbox_files.rotated(sandbox.path, name) == base:
                return chunk


def remove(paths: Iterable[Path]) -> None:
    """Delete sandboxes (blocking file-system work: run it in a thread)."""
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
