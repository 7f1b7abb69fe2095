"""Delay scheduling (Zaharia et al., EuroSys 2010) as a plain state machine.

Each task may prefer agents: `prefer` maps an agent attribute (or
"hostname", or "agent_id") to the values it likes, e.g. {"rack": "r1"} or
{"hostname": ["h1", "h2"]} (the hosts holding its input). An agent is
preferred when it has one of the values for every key.

Offers are matched in two passes: first every task with a preference takes
room on a preferred agent, in submission order; then tasks without a
preference, and tasks whose locality wait has passed, take room anywhere.
A task's wait starts the first time it is passed over: offers came with room
for it, but none on a preferred agent. So a task never runs off its
preferred agents until it has waited `locality_wait` for them; a task
without a preference never waits.

Each task runs once: its final state is reported, not retried.

The demand is the pending tasks: none left, the planner suppresses offers;
tasks added, it revives them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyactors._core import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.tasks import TaskState, TaskStatus
from pyactors.errors import DuplicateError, InvalidArgumentError
from pyactors.frameworks.decisions import Accept, Decisions, Demand

# Offers declined with nothing left to run come back after this long (the
# framework is suppressed then anyway).
IDLE_REFUSE_SECONDS = 5.0


@dataclass(frozen=True)
class BatchTask:
    """A shell command with the resources it needs and where it would rather
    run."""

    task_id: str
    command: str
    resources: Resources | str = "cpus:1;mem:128"
    prefer: Mapping[str, str | Sequence[str]] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.resources, str):
            object.__setattr__(self, "resources", Resources.parse(self.resources))
        problems = self.info().problems()
        preferences: dict[str, tuple[str, ...]] = {}
        for key, values in dict(self.prefer).items():
            allowed = (values,) if isinstance(values, str) else tuple(values)
            strings = all(isinstance(v, str) for v in allowed)
            if not isinstance(key, str) or not allowed or not strings:
                problems.append(f"prefer[{key!r}] must be a string or a non-empty list of strings")
            preferences[key] = allowed
        if problems:
            raise InvalidArgumentError(f"task {self.task_id!r}: " + "; ".join(problems))
        object.__setattr__(self, "prefer", preferences)

    @property
    def shape(self) -> Resources:
        assert isinstance(self.resources, Resources)
        return self.resources

    def prefers(self, offer: OfferInfo) -> bool:
        """Whether the offer's agent is one this task prefers."""
        for key, allowed in self.prefer.items():
            if key == "hostname":
                value: str | None = offer.hostname
            elif key == "agent_id":
                value = offer.agent_id
            else:
                value = offer.attributes.get(key)
            if value not in allowed:
                return False
        return True

    def info(self) -> TaskInfo:
        env = dict(self.env)
        return TaskInfo(self.task_id, self.task_id, self.shape, command=self.command, env=env)


@dataclass
class TaskRecord:
    task: BatchTask
    added_at: float
    skipped_since: float | None = None
    launched_at: float | None = None
    agent_id: str | None = None
    local: bool | None = None
    state: TaskState | None = None
    ended_at: float | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task.task_id,
            "prefer": {k: list(v) for k, v in self.task.prefer.items()},
            "state": None if self.state is None else self.state.value,
            "agent_id": self.agent_id,
            # None: the task had no preference.
            "local": self.local,
            "added_at": self.added_at,
            "skipped_since": self.skipped_since,
            "launched_at": self.launched_at,
            "ended_at": self.ended_at,
            "message": self.message,
        }


class DelayPlanner:
    """Decides which task runs on which offer. Time is an argument."""

    def __init__(self, locality_wait: float = 3.0) -> None:
        if not locality_wait >= 0:
            raise InvalidArgumentError(f"locality_wait must be >= 0 seconds, got {locality_wait}")
        self.locality_wait = locality_wait
        self.tasks: dict[str, TaskRecord] = {}
        self.demand = Demand()

    def add(self, tasks: Sequence[BatchTask], now: float) -> Decisions:
        """Queue tasks (all or none: a bad or repeated one refuses the lot)."""
        ids = [t.task_id for t in tasks]
        for task in tasks:
            if not isinstance(task, BatchTask):
                kind = type(task).__name__
                raise InvalidArgumentError(f"a batch task is a BatchTask, not {kind}")
        repeated = sorted({i for i in ids if i in self.tasks or ids.count(i) > 1})
        if repeated:
            raise DuplicateError(f"task ids already used: {', '.join(repeated)}")
        for task in tasks:
            self.tasks[task.task_id] = TaskRecord(task, now)
        decisions = Decisions()
        self.demand.report(bool(self._pending()), decisions)
        return decisions

    def offers(self, offers: Sequence[OfferInfo], now: float) -> Decisions:
        left = {offer.id: offer.resources for offer in offers}
        chosen: dict[str, list[TaskRecord]] = {offer.id: [] for offer in offers}

        def take(record: TaskRecord, offer: OfferInfo, local: bool | None) -> None:
            left[offer.id] = left[offer.id] - record.task.shape
            chosen[offer.id].append(record)
            record.launched_at, record.agent_id, record.local = now, offer.agent_id, local
            record.state = TaskState.TASK_STAGING

        pending = self._pending()
        for record in pending:
            if record.task.prefer:
                for offer in offers:
                    if record.task.prefers(offer) and record.task.shape <= left[offer.id]:
                        take(record, offer, True)
                        break
        for record in pending:
            if record.launched_at is not None or not record.task.prefer:
                continue
            if record.skipped_since is None and any(
                record.task.shape <= left[o.id] for o in offers if not record.task.prefers(o)
            ):
                record.skipped_since = now
        for record in pending:
            if record.launched_at is None and self._may_run_anywhere(record, now):
                for offer in offers:
                    if record.task.shape <= left[offer.id]:
                        local = record.task.prefers(offer) if record.task.prefer else None
                        take(record, offer, local)
                        break
        decisions = Decisions()
        waiting = bool(self._pending())
        for offer in offers:
            if chosen[offer.id]:
                tasks = [r.task.info() for r in chosen[offer.id]]
                decisions.accepts.append(Accept([offer.id], [Launch(tasks)], 0.0))
            else:
                # Waiting tasks must see the offer again soon: it may be the
                # one they fall back to once their wait has passed.
                decisions.decline([offer.id], 0.0 if waiting else IDLE_REFUSE_SECONDS)
        self.demand.report(waiting, decisions)
        return decisions

    def update(self, status: TaskStatus) -> None:
        record = self.tasks.get(status.task_id)
        if record is None or (record.state is not None and record.state.is_terminal):
            return
        record.state = status.state
        record.message = status.message or record.message
        if status.agent_id is not None:
            record.agent_id = status.agent_id
        if status.state.is_terminal:
            # As its agent saw it (the update may have travelled a while).
            record.ended_at = status.timestamp

    def report(self) -> list[dict[str, Any]]:
        return [record.to_dict() for record in self.tasks.values()]

    def done(self) -> bool:
        return all(r.state is not None and r.state.is_terminal for r in self.tasks.values())

    def _pending(self) -> list[TaskRecord]:
        return [r for r in self.tasks.values() if r.launched_at is None]

    def _may_run_anywhere(self, record: TaskRecord, now: float) -> bool:
        if not record.task.prefer:
            return True
        return record.skipped_since is not None and now - record.skipped_since >= self.locality_wait
