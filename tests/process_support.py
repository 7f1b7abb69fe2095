"""Driving a task process by hand, as an agent's polling would."""

from __future__ import annotations

import time

from pyactors.task_process import TaskProcess, session_usage
from pyactors.tasks import TaskStatus


def run_until_terminal(process: TaskProcess, timeout: float = 20.0) -> list[TaskStatus]:
    """Poll (memory limit included) until the task ends; its updates."""
    statuses = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = process.poll(time.monotonic(), session_usage())
        if status is not None:
            statuses.append(status)
            if status.state.is_terminal:
                return statuses
        time.sleep(0.02)
    raise AssertionError(f"task did not end: {statuses}")
