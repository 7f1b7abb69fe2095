"""Per-task usage, as agents report it riding on their heartbeats, in the
master's shapes: Mesos's `/monitor/statistics` and per-framework sums for
the metrics. No Ray here.

An agent gathers its running tasks' statistics from the /proc pass it
already makes for memory limits (`pyactors.agent.task_process.session_usage`) and
sends them all with its heartbeat, so usage costs no message of its own.
The master keeps the latest on each task's record (`TaskRecord.statistics`),
which is how the state's tasks show them too.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pyactors.core.protocol import Usage
from pyactors.master.state import MasterState

# What the metrics sum per framework, over its running tasks.
SUMMED = ("cpus_user_time_secs", "cpus_system_time_secs", "mem_rss_bytes")


def record(state: MasterState, agent_id: str, usage: Usage) -> None:
    """Keep an agent's report on its tasks' records (tasks this master
    places elsewhere, or no longer knows, are ignored)."""
    for task_id, statistics in usage:
        task = state.tasks.get(task_id)
        if task is not None and task.agent_id == agent_id:
            task.statistics = statistics


def monitor_statistics(state: MasterState) -> list[dict[str, Any]]:
    """/monitor/statistics: one entry per running task (each task is its
    own executor here), in Mesos's shape, with the agent that runs it."""
    return [
        {
            "executor_id": task_id,
            "executor_name": record.task.name,
            "framework_id": record.framework_id,
            "source": task_id,
            "slave_id": record.agent_id,
            "statistics": record.statistics,
        }
        for task_id, record in state.tasks.items()
        if record.statistics is not None and not record.state.is_terminal
    ]


def framework_totals(state: MasterState) -> dict[str, dict[str, float]]:
    """Per framework, the sums of `SUMMED` over its running tasks."""
    totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(SUMMED, 0.0))
    for record in state.tasks.values():
        if record.statistics is None or record.state.is_terminal:
            continue
        summed = totals[record.framework_id]
        for name in SUMMED:
            summed[name] += record.statistics.get(name, 0.0)
    return dict(totals)
