"""The invariants a chaos run must keep, checked over the ledger: pure
functions of what the workload recorded and what the harness did.

- lost: a launched batch task that never reached a terminal state (nor is
  running at the end), or one the master answered it does not know
  (reconciliation: TASK_LOST, TASK_UNKNOWN, TASK_GONE) without a fault
  that explains it (a launch that never started is dropped in flight, not
  lost: see `batch_figures`);
- failed unexpectedly: a batch task that ended other than TASK_FINISHED
  without a fault that explains it (its process killed by the harness:
  TASK_FAILED or TASK_KILLED; its Ray node removed: TASK_UNREACHABLE,
  TASK_LOST or TASK_GONE; its agent's actor killed while launching it, so
  that it never started: TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED).
  Those expected ones are counted apart;
- run twice: a task id whose command started in two processes, or a job's
  scheduled time run twice (but a run again after its machine was lost:
  its Ray node removed after the run's process started there, before its
  end was heard, is counted apart; whether a lost machine ran an attempt is
  unknowable, so such a run is run at least once);
- duplicate update: an update (its uuid) delivered twice to one
  incarnation of the framework, or a second terminal update of a task;
- a job skipped: a scheduled time in the run's window with no run, or a
  run of it with no run of its dependent job after it;
- every fault recovered (`recovery`), the service healthy behind HAProxy
  at the end, every gang submitted done.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyactors.core.tasks import TaskState
from pyactors.tools.chaos.ledger import JobRun, Start

RECONCILIATION = "REASON_RECONCILIATION"
_TERMINAL = frozenset(s.value for s in TaskState if s.is_terminal)
_UNREACHABLE = TaskState.TASK_UNREACHABLE.value
_FORGOTTEN = frozenset({"TASK_LOST", "TASK_UNKNOWN", "TASK_GONE", "TASK_DROPPED"})
_INVALID_OFFERS = "REASON_INVALID_OFFERS"
_LAUNCH_FAILED = "REASON_CONTAINER_LAUNCH_FAILED"
_KILLED = frozenset({"TASK_FAILED", "TASK_KILLED"})
_NODE_GONE = frozenset({_UNREACHABLE, "TASK_LOST", "TASK_GONE"})


@dataclass
class BatchFigures:
    launched: int = 0
    finished: int = 0
    lost: list[str] = field(default_factory=list)
    failed_unexpectedly: list[str] = field(default_factory=list)
    killed_by_faults: list[str] = field(default_factory=list)
    unreachable_by_faults: list[str] = field(default_factory=list)
    duplicate_updates: list[str] = field(default_factory=list)
    redelivered_after_failover: int = 0
    dropped_in_flight: list[str] = field(default_factory=list)
    launch_failed_by_faults: list[str] = field(default_factory=list)


# How long before a launch is written down its agent's kill may come and
# still be the cause of the launch failing (the offer it used was made
# before the master heard of the kill).
_LAUNCH_KILL_SLACK = 2.0


def batch_figures(
    records: Iterable[Mapping[str, Any]],
    killed_tasks: set[str],
    removed_agents: set[str],
    started: set[str],
    agent_kills: Mapping[str, Sequence[float]] | None = None,
) -> BatchFigures:
    """Each launched batch task's fate, from the framework's records and the
    tasks whose command `started`. A launch that never started and that the
    master, asked, says it does not know was dropped in flight (lost with a
    master before it reached the agent, which Mesos tells by
    reconciliation), as was one the master refused because its offer was
    rescinded meanwhile (TASK_ERROR, REASON_INVALID_OFFERS): counted apart,
    as the framework is told. Updates the master makes without a uuid
    (reconciliation answers, a removed agent's TASK_UNREACHABLE) are told
    apart from the agents' reliable ones. A launch that failed because its
    agent's actor was killed meanwhile (`agent_kills`: agent -> when) and
    that never started is counted apart too."""
    figures = BatchFigures()
    agent_of: dict[str, str] = {}
    launched_at: dict[str, float] = {}
    launch_failed_at: dict[str, float] = {}
    reliable: dict[str, list[str]] = defaultdict(list)
    answered: dict[str, str] = {}
    refused: dict[str, str] = {}
    seen: dict[str, int] = {}
    for record in records:
        event = record.get("event")
        if event == "launch":
            agent_of[str(record["task"])] = str(record["agent"])
            launched_at[str(record["task"])] = float(record.get("t", 0.0))
            continue
        if event != "update":
            continue
        task, state = str(record["task"]), str(record["state"])
        if record.get("uuid") is None and state == "TASK_ERROR":
            # The master refusing the launch itself (an offer rescinded meanwhile).
            refused[task] = str(record.get("reason"))
            continue
        if record.get("reason") == RECONCILIATION or record.get("uuid") is None:
            answered[task] = state
            continue
        uuid, incarnation = str(record["uuid"]), int(record.get("incarnation", 0))
        if uuid in seen:
            if seen[uuid] == incarnation:
                figures.duplicate_updates.append(f"{task} {state} uuid {uuid}")
            else:
                # Resent to a new incarnation: at least once is Mesos's rule
                # when the old one may have died before acknowledging.
                figures.redelivered_after_failover += 1
            continue
        seen[uuid] = incarnation
        if state in _TERMINAL and any(s in _TERMINAL for s in reliable[task]):
            figures.duplicate_updates.append(f"{task} second terminal update {state}")
            continue
        reliable[task].append(state)
        if record.get("reason") == _LAUNCH_FAILED:
            launch_failed_at[task] = float(record.get("t", 0.0))
    figures.launched = len(agent_of)
    for task, agent in sorted(agent_of.items()):
        states = reliable.get(task, [])
        answer = answered.get(task)
        ended = next((s for s in states if s in _TERMINAL), None)
        if ended is None and answer in _TERMINAL - _FORGOTTEN:
            # Its end told by a reconciliation answer: the master then
            # acknowledges the agent's update itself rather than deliver
            # the same terminal state twice.
            ended = answer
        last = ended or (states[-1] if states else answer)
        if ended == "TASK_FINISHED":
            figures.finished += 1
        elif task in killed_tasks and last in _KILLED:
            figures.killed_by_faults.append(task)
        elif agent in removed_agents and (last in _NODE_GONE or answer in _NODE_GONE | _FORGOTTEN):
            figures.unreachable_by_faults.append(task)
        elif (
            ended == "TASK_FAILED"
            and task in launch_failed_at
            and task not in started
            and any(
                launched_at[task] - _LAUNCH_KILL_SLACK <= killed <= launch_failed_at[task]
                for killed in (agent_kills or {}).get(agent, ())
            )
        ):
            figures.launch_failed_by_faults.append(task)
        elif ended is None and refused.get(task) == _INVALID_OFFERS and task not in started:
            figures.dropped_in_flight.append(task)
        elif ended is not None:
            figures.failed_unexpectedly.append(f"{task} {ended}")
        elif answer in _FORGOTTEN and not states and task not in started:
            figures.dropped_in_flight.append(task)
        elif answer in _FORGOTTEN:
            figures.lost.append(f"{task} (the master answered {answer})")
        elif last == _UNREACHABLE:
            figures.lost.append(f"{task} (unreachable on {agent}, never back)")
        else:
            figures.lost.append(f"{task} (last {last or 'no update'})")
    return figures


def run_twice(starts: Iterable[Start]) -> list[str]:
    """Task ids whose command started in more than one process."""
    pids: dict[str, set[int]] = defaultdict(set)
    for start in starts:
        pids[start.task_id].add(start.pid)
    return sorted(f"{task} (pids {sorted(p)})" for task, p in pids.items() if len(p) > 1)


@dataclass
class JobFigures:
    runs: int = 0
    skipped: list[float] = field(default_factory=list)
    doubled: list[float] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)
    rerun_after_node_loss: list[float] = field(default_factory=list)


def job_figures(
    runs: Iterable[JobRun],
    job: str,
    scheduled_of: Mapping[str, float],
    expected: Iterable[float],
    removed_at: Mapping[str, float] | None = None,
) -> JobFigures:
    """A repeating job's runs against its schedule: `expected` are the
    scheduled times that must each run exactly once; a run's scheduled time
    is what its command was told, else what the framework's history says
    for its run id (`scheduled_of`); a run with neither is `unplaced`. A
    time run more than once, each time but the last on an agent whose Ray
    node the harness removed after that process started and before the
    last one did (`removed_at`: agent -> epoch), was run again after its
    machine was lost: `rerun_after_node_loss`, not doubled."""
    figures = JobFigures()
    removed = removed_at or {}
    processes: dict[float, set[tuple[float, str, int, str | None]]] = defaultdict(set)
    for run in runs:
        if run.job != job:
            continue
        figures.runs += 1
        scheduled = run.scheduled if run.scheduled is not None else scheduled_of.get(run.run_id)
        if scheduled is None:
            figures.unplaced.append(run.run_id)
            continue
        processes[round(scheduled, 3)].add((run.at, run.run_id, run.pid, run.agent))
    for at, ran in sorted(processes.items()):
        if len(ran) < 2:
            continue
        *earlier, last = sorted(ran)
        if all(
            agent is not None and started <= removed.get(agent, -1.0) <= last[0]
            for started, *_, agent in earlier
        ):
            figures.rerun_after_node_loss.append(at)
        else:
            figures.doubled.append(at)
    figures.skipped = sorted(t for t in (round(e, 3) for e in expected) if t not in processes)
    return figures


def dependents_skipped(
    runs: Iterable[JobRun], parent: str, child: str, scheduled: Iterable[float]
) -> int:
    """How many of the parent's runs of these scheduled times had no run of
    the child after them (a child runs once per success of its parent)."""
    wanted = {round(t, 3) for t in scheduled}
    runs = list(runs)
    ran = [round(r.scheduled, 3) for r in runs if r.job == parent and r.scheduled is not None]
    parents = {t for t in ran if t in wanted}
    children = sum(1 for r in runs if r.job == child)
    return max(0, len(parents) - children)


def schedule_times(start: float, period: float, until: float) -> list[float]:
    """The scheduled times of a job repeating every `period` s from `start`,
    up to `until` inclusive."""
    if period <= 0 or until < start:
        return []
    return [start + k * period for k in range(int((until - start) // period) + 1)]


def percentiles(values: Iterable[float]) -> dict[str, float | int | None]:
    """Count, p50, p99 and max (nearest rank) of recovery times in seconds."""
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "p50": None, "p99": None, "max": None}

    def rank(q: float) -> float:
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 3)

    return {"count": len(ordered), "p50": rank(0.5), "p99": rank(0.99), "max": ordered[-1]}


# The invariants, as the JSON names them, and what holds when they do.
INVARIANTS = (
    "tasks_lost",
    "tasks_failed_unexpectedly",
    "tasks_run_twice",
    "duplicate_updates",
    "jobs_skipped",
    "jobs_doubled",
    "dependents_skipped",
    "services_restored",
    "gangs_unfinished",
    "faults_unrecovered",
)


def broken(figures: Mapping[str, Any]) -> list[str]:
    """The invariants the figures break, each named with its value."""
    found = []
    for name in INVARIANTS:
        value = figures.get(name)
        if name == "services_restored":
            if value is not True:
                found.append(f"services_restored is {value}")
        elif value:
            found.append(f"{name} = {value}")
    return found
