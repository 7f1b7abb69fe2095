"""The agent's book of custom executors (Mesos's ExecutorInfo, the v1
executor HTTP API), a state machine without I/O that takes the time.

A task naming an executor is run by it: the first such task of a
(framework, executor id) makes the book ask for the executor to be started
(`launch` returns True); it and later ones are queued until the executor
SUBSCRIBEs, then each is delivered as a LAUNCH event, and tasks arriving
for a subscribed executor are delivered at once. Events for executors wait
in `events` until the endpoint (`pyactors.api.v1` `executor_http`) takes
them for the executor's stream.

What the book decides, as Mesos's agent does:

- an UPDATE is accepted only for a task of that executor that has not
  ended, never TASK_STAGING, and its uuid once (a resubscribing executor
  resends what was not acknowledged: a uuid already taken is dropped);
- the scheduler's acknowledgement of an executor's update reaches it as
  ACKNOWLEDGED;
- a kill of a delivered task is a KILL event; of a queued one, the agent
  answers TASK_KILLED itself;
- once every task of an executor has ended and the last of them was killed
  (a scheduler's kill, a framework's teardown), the executor is told to
  SHUTDOWN and killed `shutdown_grace` later if it has not exited (Mesos's
  `--executor_shutdown_grace_period`); one that never subscribes within
  `registration_timeout` (Mesos's `--executor_registration_timeout`) is
  killed;
- an executor that exits fails its tasks that have not ended:
  TASK_FAILED, REASON_EXECUTOR_TERMINATED; its exit is kept for the master
  (`take_exits`, Mesos's ExitedExecutorMessage), which then gives its
  resources back; the executors running are listed with the agent's
  registration (`report`);
- a framework removed (ShutdownFramework) has each of its executors here
  told to SHUTDOWN, idle ones too, and killed after the grace period;
- every executor, idle ones too, is in the agent's checkpoint (`records`),
  so a restarted agent awaits it again (`recover_executor`) as Mesos's
  agent recovers its checkpointed executors: it subscribes anew or is
  killed after the registration timeout, its exit then reported.
"""

from __future__ import annotations

import base64
import binascii
import enum
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyactors.core.operations import ExecutorInfo, TaskInfo
from pyactors.core.protocol import ExecutorReport, ExitedExecutor
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.errors import InvalidArgumentError, PyactorsError

# Mesos's defaults.
DEFAULT_SHUTDOWN_GRACE = 5.0
DEFAULT_REGISTRATION_TIMEOUT = 60.0

Key = tuple[str, str]  # (framework id, executor id)


class ExecutorCallError(InvalidArgumentError):
    """An executor's call the agent refuses (HTTP 400; nothing changed)."""


class UnknownExecutorError(PyactorsError, LookupError):
    """A call from an executor this agent does not run (HTTP 400, as Mesos's
    "Executor cannot be found")."""


class ExecutorTerminatingError(PyactorsError):
    """A call from an executor being shut down (Mesos answers 403)."""


# ------------------------------------------------------------------ events


@dataclass(frozen=True)
class Subscribed:
    info: ExecutorInfo
    framework_id: str


@dataclass(frozen=True)
class Launch:
    task: TaskInfo


@dataclass(frozen=True)
class LaunchGroup:
    tasks: tuple[TaskInfo, ...]


@dataclass(frozen=True)
class Kill:
    task_id: str
    grace: float | None


@dataclass(frozen=True)
class Acknowledged:
    task_id: str
    uuid: str  # hex, as pyactors keeps it


@dataclass(frozen=True)
class Message:
    data: bytes


@dataclass(frozen=True)
class Shutdown:
    pass


Event = Subscribed | Launch | LaunchGroup | Kill | Acknowledged | Message | Shutdown


# ------------------------------------------------------------------ executors


class Phase(enum.Enum):
    LAUNCHED = "LAUNCHED"  # started, not yet subscribed
    SUBSCRIBED = "SUBSCRIBED"
    TERMINATING = "TERMINATING"  # told to SHUTDOWN, or being killed


@dataclass
class Executor:
    framework_id: str
    info: ExecutorInfo
    launched_at: float
    # The role its resources were allocated to (its first task's).
    role: str = "*"
    phase: Phase = Phase.LAUNCHED
    # Waiting for the subscription, oldest first: each a LAUNCH (one task)
    # or a LAUNCH_GROUP, delivered as it was given.
    queued: list[Launch | LaunchGroup] = field(default_factory=list)
    # Delivered and not ended.
    running: dict[str, TaskInfo] = field(default_factory=dict)
    # Every task it was given, until its terminal update is acknowledged.
    tasks: set[str] = field(default_factory=set)
    # The uuids of the updates it sent (a resent one is dropped).
    uuids: set[str] = field(default_factory=set)
    # Tasks a kill was asked for.
    killing: set[str] = field(default_factory=set)
    # When SHUTDOWN was sent (None: not yet).
    shutdown_at: float | None = None
    # Whether the process was told to die (it is then only awaited).
    kill_sent: bool = False

    @property
    def key(self) -> Key:
        return (self.framework_id, self.info.executor_id)


@dataclass(frozen=True)
class ExecutorRecord:
    """An executor as the agent's checkpoint holds it: an idle one has no
    task to name it, and a restarted agent must still take it back."""

    framework_id: str
    role: str
    info: ExecutorInfo
    # Told to SHUTDOWN (or being killed): a restarted agent kills it.
    terminating: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "framework_id": self.framework_id,
            "role": self.role,
            # Pickled as the task entries' TaskInfo are: the same reader.
            "info": base64.b64encode(pickle.dumps(self.info)).decode(),
            "terminating": self.terminating,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExecutorRecord:
        framework_id, role, terminating = data["framework_id"], data["role"], data["terminating"]
        if not isinstance(framework_id, str) or not isinstance(role, str):
            raise ValueError("an executor's framework_id and role must be strings")
        if not isinstance(terminating, bool):
            raise ValueError(f"an executor's terminating is {terminating!r}, not a boolean")
        try:
            info = pickle.loads(base64.b64decode(data["info"], validate=True))
        except (pickle.UnpicklingError, binascii.Error, EOFError, AttributeError, ImportError):
            raise ValueError("an executor's ExecutorInfo cannot be read") from None
        if not isinstance(info, ExecutorInfo):
            raise ValueError(f"an executor's info is {type(info).__name__}, not ExecutorInfo")
        return cls(framework_id, role, info, terminating)


class ExecutorBook:
    """Every custom executor of one agent and the tasks it runs."""

    def __init__(
        self,
        agent_id: str,
        shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE,
        registration_timeout: float = DEFAULT_REGISTRATION_TIMEOUT,
    ) -> None:
        self.agent_id = agent_id
        self.shutdown_grace = shutdown_grace
        self.registration_timeout = registration_timeout
        self.executors: dict[Key, Executor] = {}
        # task id -> its executor.
        self._owner: dict[str, Key] = {}
        # Events for executors' streams, in order (taken by `take_events`).
        self._events: list[tuple[Key, Event]] = []
        # Messages executors sent their schedulers: (a task id of the
        # executor, naming it to the master, data).
        self._messages: list[tuple[str, bytes]] = []
        # A task id of each executor, for its messages.
        self._last_task: dict[Key, str] = {}
        # Executors that exited, for the master (taken by `take_exits`).
        self._exits: list[ExitedExecutor] = []
        # Whether `records` changed since `take_changed` was last called.
        self._changed = False

    # -------------------------------------------------------------- the agent

    def owns(self, task_id: str) -> bool:
        return task_id in self._owner

    def launch(self, framework_id: str, task: TaskInfo, now: float, role: str = "*") -> bool:
        """Give `task` (which names an executor; allocated to `role`) to its
        executor; whether that executor must be started now."""
        return self._give(framework_id, Launch(task), now, role)

    def launch_group(
        self, framework_id: str, tasks: Sequence[TaskInfo], now: float, role: str = "*"
    ) -> bool:
        """Give a task group (all naming one executor) to its executor as one
        LAUNCH_GROUP; whether that executor must be started now."""
        if len({None if t.executor is None else t.executor.executor_id for t in tasks}) != 1:
            raise InvalidArgumentError("a task group for an executor must all name that executor")
        return self._give(framework_id, LaunchGroup(tuple(tasks)), now, role)

    def _give(
        self, framework_id: str, delivery: Launch | LaunchGroup, now: float, role: str
    ) -> bool:
        tasks = _tasks_of(delivery)
        info = tasks[0].executor
        if info is None:
            raise InvalidArgumentError(f"task '{tasks[0].task_id}' names no executor")
        key = (framework_id, info.executor_id)
        executor = self.executors.get(key)
        start = executor is None
        if executor is None:
            executor = self.executors[key] = Executor(framework_id, info, now, role)
            self._changed = True
        elif executor.phase is Phase.TERMINATING:
            raise InvalidArgumentError(
                f"executor '{info.executor_id}' of '{framework_id}' is shutting down"
            )
        for task in tasks:
            self._owner[task.task_id] = key
            self._last_task[key] = task.task_id
            executor.tasks.add(task.task_id)
        if executor.phase is Phase.SUBSCRIBED:
            executor.running.update((task.task_id, task) for task in tasks)
            self._events.append((key, delivery))
        else:
            executor.queued.append(delivery)
        return start

    def recover(
        self,
        framework_id: str,
        task: TaskInfo,
        state: TaskState,
        pending: Sequence[str],
        now: float,
        role: str = "*",
    ) -> bool:
        """A task a previous incarnation of this agent held (its last
        `state`, the uuids of its `pending` updates): its executor is
        awaited again (it subscribes anew or is killed after the
        registration timeout). A task that reported nothing yet may never
        have been delivered: it is queued, and delivered unless the
        executor says it holds it. Whether the executor is new here (its
        process is to be adopted)."""
        info = task.executor
        if info is None:
            raise InvalidArgumentError(f"task '{task.task_id}' names no executor")
        key = (framework_id, info.executor_id)
        executor = self.executors.get(key)
        new = executor is None
        if executor is None:
            executor = self.executors[key] = Executor(framework_id, info, now, role)
            self._changed = True
        self._owner[task.task_id] = key
        self._last_task[key] = task.task_id
        executor.tasks.add(task.task_id)
        executor.uuids.update(pending)
        if state is TaskState.TASK_STAGING:
            executor.queued.append(Launch(task))
        elif not state.is_terminal:
            executor.running[task.task_id] = task
        return new

    def recover_executor(self, record: ExecutorRecord, now: float) -> bool:
        """An executor a previous incarnation of this agent ran (from its
        checkpoint): awaited again like one whose tasks were recovered, or,
        if it was being shut down, killed at the next `due`. Whether it is
        new here (its process is to be adopted); one already recovered
        with its tasks is left as it is."""
        key = (record.framework_id, record.info.executor_id)
        if key in self.executors:
            return False
        executor = Executor(record.framework_id, record.info, now, record.role)
        if record.terminating:
            # Its SHUTDOWN went to a stream that died with the agent.
            executor.phase = Phase.TERMINATING
            executor.shutdown_at = now - self.shutdown_grace
        self.executors[key] = executor
        self._changed = True
        return True

    def records(self) -> list[ExecutorRecord]:
        """Every executor, for the agent's checkpoint."""
        return [
            ExecutorRecord(k[0], e.role, e.info, e.phase is Phase.TERMINATING)
            for k, e in self.executors.items()
        ]

    def take_changed(self) -> bool:
        """Whether `records` changed since this was last called."""
        changed, self._changed = self._changed, False
        return changed

    def kill(self, task_id: str, now: float, grace: float | None) -> list[TaskStatus]:
        """Kill an executor's task: a KILL event once it was delivered; a
        queued one ends here (its TASK_KILLED is returned)."""
        executor = self._executor_of(task_id)
        if executor is None:
            return []
        queued = [d for d in executor.queued if task_id in {t.task_id for t in _tasks_of(d)}]
        if queued:
            (delivery,) = queued
            rest = tuple(t for t in _tasks_of(delivery) if t.task_id != task_id)
            at = executor.queued.index(delivery)
            if rest:
                executor.queued[at] = LaunchGroup(rest)
            else:
                del executor.queued[at]
            executor.killing.add(task_id)
            self._ended(executor, task_id, now)
            return [self._status(task_id, TaskState.TASK_KILLED, now, None, "killed")]
        if task_id in executor.running:
            executor.killing.add(task_id)
            self._events.append((executor.key, Kill(task_id, grace)))
        return []

    def acknowledged(self, task_id: str, uuid: str, terminal: bool) -> None:
        """The scheduler acknowledged an update of the task: its executor
        hears so; a task whose terminal update is acknowledged is forgotten."""
        executor = self._executor_of(task_id)
        if executor is None:
            return
        if uuid in executor.uuids:
            self._events.append((executor.key, Acknowledged(task_id, uuid)))
        if terminal:
            executor.tasks.discard(task_id)
            del self._owner[task_id]

    def message_to(self, task_id: str, data: bytes) -> None:
        """A scheduler's message, addressed through a task of the executor."""
        executor = self._executor_of(task_id)
        if executor is None:
            raise InvalidArgumentError(
                f"task '{task_id}' is run by no executor on '{self.agent_id}'"
            )
        self._events.append((executor.key, Message(data)))

    def shut_down(self, key: Key, now: float) -> None:
        """Tell the executor to SHUTDOWN; it is killed after the grace period."""
        executor = self.executors.get(key)
        if executor is None or executor.phase is Phase.TERMINATING:
            return
        executor.phase = Phase.TERMINATING
        executor.shutdown_at = now
        self._changed = True
        self._events.append((key, Shutdown()))

    def shut_down_framework(self, framework_id: str, now: float) -> None:
        """Mesos's ShutdownFrameworkMessage: every executor of the removed
        framework is told to SHUTDOWN (killed after the grace period), idle
        ones too; one not yet subscribed is killed at once."""
        for key, executor in self.executors.items():
            if key[0] != framework_id:
                continue
            if executor.phase is Phase.LAUNCHED:
                # Nobody would hear a SHUTDOWN: past its grace it is killed.
                executor.phase = Phase.TERMINATING
                executor.shutdown_at = now - self.shutdown_grace
                self._changed = True
            else:
                self.shut_down(key, now)

    def report(self) -> list[ExecutorReport]:
        """The executors this agent runs, for its registration."""
        return [ExecutorReport(k[0], e.role, e.info) for k, e in self.executors.items()]

    def take_exits(self) -> list[ExitedExecutor]:
        exits, self._exits = self._exits, []
        return exits

    def due(self, now: float) -> list[Key]:
        """Executors to kill now: past their SHUTDOWN's grace period, or
        never subscribed within the registration timeout."""
        out = []
        for key, executor in self.executors.items():
            if executor.kill_sent:
                continue
            late = executor.phase is Phase.LAUNCHED and (
                now - executor.launched_at >= self.registration_timeout
            )
            overdue = executor.shutdown_at is not None and (
                now - executor.shutdown_at >= self.shutdown_grace
            )
            if late or overdue:
                executor.kill_sent = True
                executor.phase = Phase.TERMINATING
                self._changed = True
                out.append(key)
        return out

    def exited(self, key: Key, now: float, why: str) -> list[TaskStatus]:
        """The executor's process ended: its tasks that had not ended fail
        (REASON_EXECUTOR_TERMINATED); the executor is forgotten (a later
        task naming it starts it again)."""
        executor = self.executors.pop(key, None)
        if executor is None:
            return []
        self._changed = True
        self._events = [(k, e) for k, e in self._events if k != key]
        ids = [t.task_id for d in executor.queued for t in _tasks_of(d)] + list(executor.running)
        for task_id in executor.tasks:
            self._owner.pop(task_id, None)
        self._last_task.pop(key, None)
        self._exits.append(ExitedExecutor(self.agent_id, key[0], key[1], why))
        message = f"executor '{key[1]}' terminated: {why}"
        return [
            self._status(
                task_id, TaskState.TASK_FAILED, now, Reason.REASON_EXECUTOR_TERMINATED, message
            )
            for task_id in ids
        ]

    def take_events(self) -> list[tuple[Key, Event]]:
        events, self._events = self._events, []
        return events

    def take_messages(self) -> list[tuple[str, bytes]]:
        messages, self._messages = self._messages, []
        return messages

    # -------------------------------------------------------------- the executor

    def subscribe(
        self,
        key: Key,
        unacknowledged_tasks: Sequence[str],
        unacknowledged_updates: Sequence[TaskStatus],
        now: float,
    ) -> list[TaskStatus]:
        """An executor (re)subscribes: SUBSCRIBED, then a LAUNCH for each
        queued task it does not say it holds (a task once delivered is
        never delivered again, as in Mesos: pymesos forgets a task once an
        update of it is acknowledged). Of the updates it says are not
        acknowledged, those this book never took are taken now and
        returned to be sent; the rest (and any that is not valid) are
        dropped."""
        executor = self._known(key)
        if executor.phase is Phase.TERMINATING:
            raise ExecutorTerminatingError(f"executor '{key[1]}' is terminating")
        executor.phase = Phase.SUBSCRIBED
        # What was meant for an earlier stream is replaced by this one's.
        self._events = [(k, e) for k, e in self._events if k != key]
        self._events.append((key, Subscribed(executor.info, key[0])))
        held = set(unacknowledged_tasks)
        for delivery in executor.queued:
            tasks = _tasks_of(delivery)
            executor.running.update((task.task_id, task) for task in tasks)
            rest = tuple(task for task in tasks if task.task_id not in held)
            if rest:
                group = isinstance(delivery, LaunchGroup)
                self._events.append((key, LaunchGroup(rest) if group else Launch(rest[0])))
        executor.queued.clear()
        taken = []
        for status in unacknowledged_updates:
            try:
                update = self.update(key, status, now)
            except ExecutorCallError:
                continue
            if update is not None:
                taken.append(update)
        return taken

    def update(self, key: Key, status: TaskStatus, now: float) -> TaskStatus | None:
        """An executor's UPDATE, checked (ExecutorCallError: nothing
        changed) and stamped with this agent's id and the time; None for
        one already taken (its uuid), which must not be sent again."""
        executor = self._known(key)
        if status.source is not Source.SOURCE_EXECUTOR:
            raise ExecutorCallError(
                f"Received Call from executor {key[1]} of framework {key[0]} with invalid "
                "source, expecting 'SOURCE_EXECUTOR'"
            )
        if status.state is TaskState.TASK_STAGING:
            raise ExecutorCallError(
                f"Received TASK_STAGING from executor {key[1]} of framework {key[0]} "
                "which is not allowed"
            )
        if status.uuid is None:
            raise ExecutorCallError("Expecting 'uuid' to be present")
        if self._owner.get(status.task_id) != key:
            raise ExecutorCallError(
                f"task '{status.task_id}' is not a task of executor '{key[1]}' of '{key[0]}'"
            )
        if status.uuid in executor.uuids:
            return None
        if status.task_id not in executor.running:
            raise ExecutorCallError(f"task '{status.task_id}' has already ended")
        executor.uuids.add(status.uuid)
        if status.state.is_terminal:
            self._ended(executor, status.task_id, now)
        return TaskStatus(
            status.task_id,
            status.state,
            Source.SOURCE_EXECUTOR,
            now,
            agent_id=self.agent_id,
            reason=status.reason,
            message=status.message,
            healthy=status.healthy,
            uuid=status.uuid,
            data=status.data,
        )

    def message_from(self, key: Key, data: bytes) -> None:
        """An executor's MESSAGE for its scheduler (dropped, as Mesos's
        framework messages may be, once the master knows none of its tasks)."""
        self._known(key)
        task_id = self._last_task.get(key)
        if task_id is not None:
            self._messages.append((task_id, data))

    def heartbeat(self, key: Key) -> None:
        """An executor's HEARTBEAT call: only checked."""
        self._known(key)

    def disconnected(self, key: Key, now: float) -> None:
        """The executor's stream closed: its events wait for it to
        subscribe again within the registration timeout, or it is killed."""
        executor = self.executors.get(key)
        if executor is not None and executor.phase is Phase.SUBSCRIBED:
            executor.phase = Phase.LAUNCHED
            executor.launched_at = now

    # -------------------------------------------------------------- helpers

    def _known(self, key: Key) -> Executor:
        executor = self.executors.get(key)
        if executor is None:
            raise UnknownExecutorError(
                f"executor '{key[1]}' of framework '{key[0]}' cannot be found"
            )
        if executor.kill_sent:
            raise ExecutorTerminatingError(f"executor '{key[1]}' is terminating")
        return executor

    def _executor_of(self, task_id: str) -> Executor | None:
        key = self._owner.get(task_id)
        return None if key is None else self.executors.get(key)

    def _ended(self, executor: Executor, task_id: str, now: float) -> None:
        executor.running.pop(task_id, None)
        if not executor.running and not executor.queued and task_id in executor.killing:
            self.shut_down(executor.key, now)

    def _status(
        self, task_id: str, state: TaskState, now: float, reason: Reason | None, message: str
    ) -> TaskStatus:
        return TaskStatus(task_id, state, Source.SOURCE_AGENT, now, self.agent_id, reason, message)


def _tasks_of(delivery: Launch | LaunchGroup) -> tuple[TaskInfo, ...]:
    return (delivery.task,) if isinstance(delivery, Launch) else delivery.tasks
