"""Driving a task process by hand, as an agent's polling would."""

from __future__ import annotations

import time

from pyactors.agent.task_process import TaskProcess, session_usage
from pyactors.core.tasks import TaskStatus
from support.runtime import wait_for

# Task processes unit tests started; tests/unit/conftest.py kills them after
# each test, however it ends.
started: list[TaskProcess] = []


def run_until_terminal(process: TaskProcess) -> list[TaskStatus]:
    """Poll (memory limit included) until the task ends; its updates."""
    statuses: list[TaskStatus] = []

    def ended() -> bool:
        status = process.poll(time.monotonic(), session_usage())
        if status is not None:
            statuses.append(status)
        return bool(statuses) and statuses[-1].state.is_terminal

    wait_for(ended, what=f"task {process.task.task_id} to end", seen=lambda: statuses, every=0.02)
    return statuses
