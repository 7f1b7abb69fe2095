"""Reliable status updates: the agent keeps each task's updates, in order,
until the framework acknowledges them.

Mesos's status update manager in a plain state machine that takes time as an
argument. Each task has a stream; only its oldest unacknowledged update is
in flight. An update not acknowledged within the retry interval is sent
again, the interval doubling up to a maximum (Mesos: 10 s up to 10 min).
Acknowledging the in-flight update makes the next one due at once. A stream
whose terminal update is acknowledged is closed and forgotten.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field

from pyactors.core.tasks import TaskStatus
from pyactors.errors import InvalidArgumentError

DEFAULT_RETRY_MIN = 10.0
DEFAULT_RETRY_MAX = 600.0


@dataclass
class _Stream:
    updates: deque[TaskStatus] = field(default_factory=deque)
    # When the head was last sent and when it is due again (None: not sent).
    sent_at: float | None = None
    due_at: float = 0.0
    interval: float = 0.0


class StatusUpdateStreams:
    """The unacknowledged updates of every task of one agent."""

    def __init__(
        self, retry_min: float = DEFAULT_RETRY_MIN, retry_max: float = DEFAULT_RETRY_MAX
    ) -> None:
        if not 0 < retry_min <= retry_max:
            raise InvalidArgumentError(
                f"retry intervals must satisfy 0 < min <= max, got {retry_min}, {retry_max}"
            )
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._streams: dict[str, _Stream] = {}

    def add(self, status: TaskStatus, now: float) -> None:
        """Queue an update; it is due at once if nothing else of its task is
        in flight. Updates without a uuid cannot be acknowledged: refused."""
        if status.uuid is None:
            raise InvalidArgumentError(
                f"update of task '{status.task_id}' has no uuid and could never be acknowledged"
            )
        stream = self._streams.setdefault(status.task_id, _Stream())
        if stream.updates and stream.updates[-1].state.is_terminal:
            raise InvalidArgumentError(
                f"task '{status.task_id}' already has a terminal update queued"
            )
        stream.updates.append(status)
        if len(stream.updates) == 1:
            stream.sent_at, stream.due_at = None, now

    def due(self, now: float) -> list[TaskStatus]:
        """The updates to send now (each task's head, if never sent or its
        retry interval has passed), marking them sent; one batch for one
        message to the master. A head the task's terminal update is queued
        behind carries that state as its `latest_state`, as Mesos's agent
        sends it, so the master frees the task's resources without waiting
        for the framework to acknowledge the head."""
        out = []
        for stream in self._streams.values():
            if stream.updates and stream.due_at <= now:
                stream.interval = (
                    self._retry_min
                    if stream.sent_at is None
                    else min(stream.interval * 2, self._retry_max)
                )
                stream.sent_at = now
                stream.due_at = now + stream.interval
                head, newest = stream.updates[0], stream.updates[-1]
                if newest is not head and newest.state.is_terminal:
                    head = dataclasses.replace(head, latest_state=newest.state)
                out.append(head)
        return out

    def acknowledge(self, task_id: str, uuid: str, now: float) -> bool:
        """Acknowledge the in-flight update of a task. Returns False for a
        duplicate or stale acknowledgement (nothing changes); the next update
        of the task becomes due at once."""
        stream = self._streams.get(task_id)
        if stream is None or not stream.updates or stream.updates[0].uuid != uuid:
            return False
        done = stream.updates.popleft()
        if not stream.updates:
            if done.state.is_terminal:
                del self._streams[task_id]
            else:
                stream.sent_at = None
            return True
        stream.sent_at, stream.due_at, stream.interval = None, now, 0.0
        return True

    def resend_now(self, task_ids: list[str], now: float) -> None:
        """Make the in-flight updates of these tasks due at once (their
        framework came back), keeping the retry interval's growth."""
        for task_id in task_ids:
            stream = self._streams.get(task_id)
            if stream is not None and stream.updates:
                stream.due_at = now

    def pending(self, task_id: str | None = None) -> list[TaskStatus]:
        """Unacknowledged updates, oldest first (of one task, or all)."""
        if task_id is not None:
            stream = self._streams.get(task_id)
            return list(stream.updates) if stream else []
        return [u for stream in self._streams.values() for u in stream.updates]

    def latest(self, task_id: str) -> TaskStatus | None:
        """The newest update of a task still held here, for reconciliation."""
        stream = self._streams.get(task_id)
        return stream.updates[-1] if stream and stream.updates else None

    def next_due(self) -> float | None:
        """When the next update is due, for the agent's timer."""
        times = [s.due_at for s in self._streams.values() if s.updates]
        return min(times) if times else None
