"""The chaos workload's batch framework and the definitions of its job and
service.

`ChaosBatch` keeps `concurrency` short shell tasks running until the
harness creates the stop file, relaunching (as a new attempt, a new task id)
each task that ends in anything but TASK_FINISHED or becomes unreachable. It
writes every launch (before accepting) and every update to the ledger, and a
new incarnation of it (its actor killed, started again with the framework's
id) rebuilds what it launched from that ledger, so its work survives its
actor. Task ids are "b<serial>.<attempt>".
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyactors._core import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.tasks import TaskState, TaskStatus
from pyactors.scheduler.api import Driver, Scheduler
from pyactors.tools.chaos.ledger import (
    RECORDS,
    STARTS,
    STOP,
    append_record,
    job_command,
    read_records,
    start_command,
)

TICK_JOB = "chaos-tick"
CHILD_JOB = "chaos-child"
WEB_APP = "/chaos-web"

# A live task not heard of for this long is reconciled (Mesos's advice to
# frameworks: a launch can be lost with a master, and then only an explicit
# reconciliation tells).
RECONCILE_AFTER = 10.0
_DONE = TaskState.TASK_FINISHED.value
_GIVE_UP = frozenset(
    {s.value for s in TaskState if s.is_terminal} | {TaskState.TASK_UNREACHABLE.value}
)


def task_id(serial: int, attempt: int) -> str:
    return f"b{serial:05d}.{attempt}"


def serial_attempt(task: str) -> tuple[int, int]:
    serial, attempt = task[1:].split(".")
    return int(serial), int(attempt)


@dataclass
class BatchBook:
    """What the batch framework launched and what it still owes: the live
    tasks (task id -> agent id), the serials to launch again and the next
    new serial. A plain state machine, rebuilt from the ledger's records."""

    live: dict[str, str] = field(default_factory=dict)
    retry: list[tuple[int, int]] = field(default_factory=list)
    next_serial: int = 0
    attempts: dict[int, int] = field(default_factory=dict)

    @classmethod
    def replay(cls, records: list[dict[str, Any]]) -> BatchBook:
        book = cls()
        for record in records:
            if record.get("event") == "launch":
                book.launched(str(record["task"]), str(record["agent"]))
            elif record.get("event") == "update":
                book.updated(str(record["task"]), str(record["state"]))
        return book

    def next_task(self) -> str:
        """The task to launch next: a retry first, else new work."""
        if self.retry:
            serial, attempt = self.retry.pop(0)
            return task_id(serial, attempt)
        serial, self.next_serial = self.next_serial, self.next_serial + 1
        return task_id(serial, 1)

    def launched(self, task: str, agent: str) -> None:
        serial, attempt = serial_attempt(task)
        self.live[task] = agent
        self.next_serial = max(self.next_serial, serial + 1)
        self.attempts[serial] = max(self.attempts.get(serial, 0), attempt)
        self.retry = [r for r in self.retry if r[0] != serial]

    def updated(self, task: str, state: str) -> bool:
        """Record an update; True when the task's work is owed again."""
        if state not in _GIVE_UP or task not in self.live:
            return False
        del self.live[task]
        if state == _DONE:
            return False
        serial, attempt = serial_attempt(task)
        if attempt < self.attempts.get(serial, 0):
            return False  # a later attempt already runs
        self.retry.append((serial, attempt + 1))
        return True


class ChaosBatch(Scheduler):
    """Short tasks, `concurrency` at a time, each `sleep`ing 1 to 4 s after
    appending its start line; see the module's documentation."""

    tick_interval = 1.0

    def __init__(
        self, run_dir: str, concurrency: int, seed: int, resources: str = "cpus:0.1;mem:16"
    ) -> None:
        self.records = Path(run_dir) / RECORDS
        self.stop_file = Path(run_dir) / STOP
        self.starts = Path(run_dir) / STARTS
        past = read_records(self.records)
        self.incarnation = 1 + max((int(r.get("incarnation", 0)) for r in past), default=0)
        self.book = BatchBook.replay(past)
        self.rng = random.Random(f"{seed}:{self.incarnation}")
        self.concurrency = concurrency
        self.shape = Resources.parse(resources)
        # When each live task was last heard of (launched, updated, asked).
        self.heard = dict.fromkeys(self.book.live, time.monotonic())
        self._write({"event": "incarnation"})

    def subscribed(self, driver: Driver, framework_id: str, master_info: dict[str, Any]) -> None:
        # A new incarnation (or a new leader) learns where its tasks stand.
        if self.book.live:
            driver.reconcile(list(self.book.live), dict(self.book.live))

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        stopping = self.stop_file.exists()
        for offer in offers:
            left, tasks = offer.resources, []
            while not stopping and len(self.book.live) < self.concurrency and self.shape <= left:
                task = self.book.next_task()
                seconds = self.rng.uniform(1.0, 4.0)
                command = f"{start_command(self.starts)}; sleep {seconds:.1f}"
                # Written before the accept: a launch the ledger does not
                # hold never happens.
                self._write({"event": "launch", "task": task, "agent": offer.agent_id})
                self.book.launched(task, offer.agent_id)
                self.heard[task] = time.monotonic()
                tasks.append(TaskInfo(task, task, self.shape, command=command))
                left = left - self.shape
            if tasks:
                driver.accept([offer.id], [Launch(tasks)], refuse_seconds=1.0)
            else:
                driver.decline([offer.id], refuse_seconds=1.0)

    def update(self, driver: Driver, status: TaskStatus) -> None:
        self._write(
            {
                "event": "update",
                "task": status.task_id,
                "state": status.state.value,
                "reason": None if status.reason is None else status.reason.value,
                "uuid": status.uuid,
                "agent": status.agent_id,
                "message": status.message[:200],
            }
        )
        self.heard[status.task_id] = time.monotonic()
        if self.book.updated(status.task_id, status.state.value):
            driver.revive()
        if status.task_id not in self.book.live:
            self.heard.pop(status.task_id, None)

    def tick(self, driver: Driver) -> None:
        if not self.stop_file.exists() and len(self.book.live) < self.concurrency:
            driver.revive()
        now = time.monotonic()
        silent = {
            task: agent
            for task, agent in self.book.live.items()
            if now - self.heard.get(task, now) > RECONCILE_AFTER
        }
        if silent:
            driver.reconcile(list(silent), silent)
            self.heard.update(dict.fromkeys(silent, now))

    def progress(self) -> dict[str, Any]:
        return {
            "incarnation": self.incarnation,
            "live": sorted(self.book.live),
            "next_serial": self.book.next_serial,
        }

    def _write(self, record: dict[str, Any]) -> None:
        append_record(self.records, {**record, "incarnation": self.incarnation, "t": time.time()})


def tick_job(job_runs: str, start_iso: str, period: int) -> dict[str, Any]:
    """A job repeating every `period` s from `start_iso`, allowed to start
    up to a minute late (faults may hold it up that long)."""
    return {
        "name": TICK_JOB,
        "command": job_command(job_runs),
        "schedule": f"R/{start_iso}/PT{period}S",
        "epsilon": "PT60S",
        "concurrencyPolicy": "ALLOW",
        "cpus": 0.1,
        "mem": 16,
        "retries": 3,
    }


def child_job(job_runs: str) -> dict[str, Any]:
    """A job run after each success of the repeating one (every one: runs
    may overlap)."""
    return {
        "name": CHILD_JOB,
        "command": job_command(job_runs),
        "parents": [TICK_JOB],
        "concurrencyPolicy": "ALLOW",
        "cpus": 0.1,
        "mem": 16,
        "retries": 3,
    }


def web_app(starts: str, instances: int = 2) -> dict[str, Any]:
    """An HTTP service (Python's http.server) with an HTTP health check."""
    return {
        "id": WEB_APP,
        "cmd": f'{start_command(starts)} && exec python3 -m http.server "$PORT0"',
        "instances": instances,
        "cpus": 0.1,
        "mem": 64,
        "backoffSeconds": 0.5,
        "healthChecks": [
            {
                "protocol": "HTTP",
                "path": "/",
                "gracePeriodSeconds": 30,
                "intervalSeconds": 1,
                "timeoutSeconds": 3,
                "maxConsecutiveFailures": 3,
                "delaySeconds": 0,
            }
        ],
    }
