"""Task states and status updates, with Mesos's names and lifecycle.

A task moves STAGING -> STARTING -> RUNNING -> one terminal state; KILLING
may come between a live state and KILLED, and UNREACHABLE means its agent is
partitioned away (it may come back with the task still running). A terminal
task never changes again. `TaskStatus` is the update that carries a state
change, with why (`reason`), a human `message`, who said it (`source`) and
when (`timestamp`, seconds on the master's clock).
"""

from __future__ import annotations

import base64
import enum
import uuid as uuid_module
from dataclasses import dataclass, field
from typing import Any

from pyactors.errors import InvalidArgumentError


class TaskState(enum.Enum):
    TASK_STAGING = "TASK_STAGING"
    TASK_STARTING = "TASK_STARTING"
    TASK_RUNNING = "TASK_RUNNING"
    TASK_KILLING = "TASK_KILLING"
    TASK_FINISHED = "TASK_FINISHED"
    TASK_FAILED = "TASK_FAILED"
    TASK_KILLED = "TASK_KILLED"
    TASK_ERROR = "TASK_ERROR"
    TASK_LOST = "TASK_LOST"
    TASK_DROPPED = "TASK_DROPPED"
    TASK_UNREACHABLE = "TASK_UNREACHABLE"
    TASK_GONE = "TASK_GONE"
    TASK_UNKNOWN = "TASK_UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {
        TaskState.TASK_FINISHED,
        TaskState.TASK_FAILED,
        TaskState.TASK_KILLED,
        TaskState.TASK_ERROR,
        TaskState.TASK_LOST,
        TaskState.TASK_DROPPED,
        TaskState.TASK_GONE,
    }
)

_LIVE = frozenset(
    {
        TaskState.TASK_STAGING,
        TaskState.TASK_STARTING,
        TaskState.TASK_RUNNING,
        TaskState.TASK_KILLING,
    }
)

# Which states may follow which. A state may always repeat (a RUNNING task
# reports RUNNING again when its health changes). TASK_UNKNOWN is only ever
# an answer to reconciliation, never a task's state.
_NEXT: dict[TaskState, frozenset[TaskState]] = {
    TaskState.TASK_STAGING: _LIVE | TERMINAL_STATES | {TaskState.TASK_UNREACHABLE},
    TaskState.TASK_STARTING: (_LIVE - {TaskState.TASK_STAGING})
    | TERMINAL_STATES
    | {TaskState.TASK_UNREACHABLE},
    TaskState.TASK_RUNNING: TERMINAL_STATES
    | {TaskState.TASK_RUNNING, TaskState.TASK_KILLING, TaskState.TASK_UNREACHABLE},
    TaskState.TASK_KILLING: TERMINAL_STATES | {TaskState.TASK_KILLING, TaskState.TASK_UNREACHABLE},
    # An unreachable agent that comes back reports what its tasks are doing.
    TaskState.TASK_UNREACHABLE: (_LIVE - {TaskState.TASK_STAGING})
    | TERMINAL_STATES
    | {TaskState.TASK_UNREACHABLE},
}


def can_transition(current: TaskState, new: TaskState) -> bool:
    """Whether a task in `current` may report `new` next."""
    return new in _NEXT.get(current, frozenset())


def check_transition(task_id: str, current: TaskState, new: TaskState) -> None:
    if not can_transition(current, new):
        raise InvalidArgumentError(
            f"task '{task_id}' cannot go from {current.value} to {new.value}"
            + (": it is terminal" if current.is_terminal else "")
        )


class Source(enum.Enum):
    SOURCE_MASTER = "SOURCE_MASTER"
    SOURCE_AGENT = "SOURCE_AGENT"
    SOURCE_EXECUTOR = "SOURCE_EXECUTOR"


class Reason(enum.Enum):
    """Why a status was sent (a subset of Mesos's reasons, same names)."""

    REASON_COMMAND_EXECUTOR_FAILED = "REASON_COMMAND_EXECUTOR_FAILED"
    REASON_CONTAINER_LAUNCH_FAILED = "REASON_CONTAINER_LAUNCH_FAILED"
    REASON_CONTAINER_LIMITATION_MEMORY = "REASON_CONTAINER_LIMITATION_MEMORY"
    REASON_TASK_KILLED_DURING_LAUNCH = "REASON_TASK_KILLED_DURING_LAUNCH"
    REASON_TASK_INVALID = "REASON_TASK_INVALID"
    REASON_TASK_UNAUTHORIZED = "REASON_TASK_UNAUTHORIZED"
    REASON_TASK_UNKNOWN = "REASON_TASK_UNKNOWN"
    REASON_INVALID_OFFERS = "REASON_INVALID_OFFERS"
    REASON_AGENT_REMOVED = "REASON_AGENT_REMOVED"
    REASON_AGENT_DISCONNECTED = "REASON_AGENT_DISCONNECTED"
    REASON_AGENT_UNKNOWN = "REASON_AGENT_UNKNOWN"
    REASON_AGENT_RESTARTED = "REASON_AGENT_RESTARTED"
    REASON_AGENT_DRAINING = "REASON_AGENT_DRAINING"
    REASON_FRAMEWORK_REMOVED = "REASON_FRAMEWORK_REMOVED"
    REASON_EXECUTOR_TERMINATED = "REASON_EXECUTOR_TERMINATED"
    REASON_RECONCILIATION = "REASON_RECONCILIATION"
    REASON_TASK_HEALTH_CHECK_STATUS_UPDATED = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
    REASON_MAX_COMPLETION_TIME_REACHED = "REASON_MAX_COMPLETION_TIME_REACHED"


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """One status update of one task.

    `uuid` identifies the update for acknowledgement; updates generated only
    to answer reconciliation carry none and need no acknowledgement. `data`
    is what an executor attached to its update, for its scheduler (Mesos's
    TaskStatus.data).
    """

    task_id: str
    state: TaskState
    source: Source
    timestamp: float
    agent_id: str | None = None
    reason: Reason | None = None
    message: str = ""
    healthy: bool | None = None
    uuid: str | None = field(default_factory=lambda: uuid_module.uuid4().hex)
    data: bytes = b""
    # The agent's latest state of the task when the task ended while this
    # update awaited its turn (Mesos's StatusUpdate.latest_state): the
    # master frees the task's resources on it.
    latest_state: TaskState | None = None

    def __reduce__(self) -> tuple[type[TaskStatus], tuple[Any, ...]]:
        # Updates cross actors by the tens of thousands a second: the
        # getstate/setstate that dataclasses give a frozen slots class call
        # fields() per object and cost twice a constructor call.
        return (
            TaskStatus,
            (
                self.task_id,
                self.state,
                self.source,
                self.timestamp,
                self.agent_id,
                self.reason,
                self.message,
                self.healthy,
                self.uuid,
                self.data,
                self.latest_state,
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (Mesos's field names) used on the wire and on disk;
        `data` base64, only when there is some."""
        out = {
            "task_id": self.task_id,
            "state": self.state.value,
            "source": self.source.value,
            "timestamp": self.timestamp,
            "agent_id": self.agent_id,
            "reason": None if self.reason is None else self.reason.value,
            "message": self.message,
            "healthy": self.healthy,
            "uuid": self.uuid,
        }
        if self.data:
            out["data"] = base64.b64encode(self.data).decode()
        return out

    @staticmethod
    def from_dict(data: dict[str, Any]) -> TaskStatus:
        try:
            return TaskStatus(
                task_id=str(data["task_id"]),
                state=TaskState(data["state"]),
                source=Source(data["source"]),
                timestamp=float(data["timestamp"]),
                agent_id=data.get("agent_id"),
                reason=None if data.get("reason") is None else Reason(data["reason"]),
                message=str(data.get("message", "")),
                healthy=data.get("healthy"),
                uuid=data.get("uuid"),
                data=base64.b64decode(data.get("data", ""), validate=True),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise InvalidArgumentError(f"malformed task status {data!r}: {error}") from error
