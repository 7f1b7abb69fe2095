"""Task lifecycle and the reliable status update streams (no Ray needed)."""

from __future__ import annotations

import dataclasses
import itertools
import pickle

import cloudpickle
import pytest

from pyactors.agent.status_updates import StatusUpdateStreams
from pyactors.core.tasks import (
    TERMINAL_STATES,
    Reason,
    Source,
    TaskState,
    TaskStatus,
    can_transition,
    check_transition,
)
from pyactors.errors import InvalidArgumentError


def status(task: str, state: TaskState, at: float = 0.0) -> TaskStatus:
    return TaskStatus(task, state, Source.SOURCE_AGENT, at, agent_id="agent-1")


def test_lifecycle_moves_forward_and_terminal_is_final() -> None:
    path = [TaskState.TASK_STAGING, TaskState.TASK_STARTING, TaskState.TASK_RUNNING]
    for current, new in itertools.pairwise(path):
        assert can_transition(current, new)
    assert can_transition(TaskState.TASK_RUNNING, TaskState.TASK_RUNNING)
    assert can_transition(TaskState.TASK_RUNNING, TaskState.TASK_KILLING)
    assert can_transition(TaskState.TASK_KILLING, TaskState.TASK_KILLED)
    assert not can_transition(TaskState.TASK_RUNNING, TaskState.TASK_STAGING)
    for terminal in TERMINAL_STATES:
        assert terminal.is_terminal
        for new in TaskState:
            assert not can_transition(terminal, new)
    with pytest.raises(InvalidArgumentError, match="terminal"):
        check_transition("t", TaskState.TASK_FINISHED, TaskState.TASK_RUNNING)


def test_unreachable_tasks_may_come_back_or_be_gone() -> None:
    assert can_transition(TaskState.TASK_RUNNING, TaskState.TASK_UNREACHABLE)
    assert can_transition(TaskState.TASK_UNREACHABLE, TaskState.TASK_RUNNING)
    assert can_transition(TaskState.TASK_UNREACHABLE, TaskState.TASK_GONE)
    assert not TaskState.TASK_UNREACHABLE.is_terminal


# Every optional field set.
OUT_OF_MEMORY = TaskStatus(
    "t",
    TaskState.TASK_FAILED,
    Source.SOURCE_EXECUTOR,
    12.5,
    agent_id="a",
    reason=Reason.REASON_CONTAINER_LIMITATION_MEMORY,
    message="memory limit 64 MB exceeded",
    healthy=False,
)


def test_status_round_trips_through_its_json_shape() -> None:
    assert TaskStatus.from_dict(OUT_OF_MEMORY.to_dict()) == OUT_OF_MEMORY
    with pytest.raises(InvalidArgumentError, match="malformed"):
        TaskStatus.from_dict({"task_id": "t", "state": "TASK_SLEEPING"})


def test_status_pickles_whole_with_or_without_its_optional_fields() -> None:
    bare = TaskStatus("t", TaskState.TASK_LOST, Source.SOURCE_MASTER, 3.0, uuid=None)
    for original in (OUT_OF_MEMORY, bare):
        for dumps in (pickle.dumps, cloudpickle.dumps):
            copy = pickle.loads(dumps(original))
            assert copy == original
            assert copy.uuid == original.uuid


def test_updates_stay_in_order_until_acknowledged_and_are_retried() -> None:
    streams = StatusUpdateStreams(retry_min=10, retry_max=40)
    running = status("t", TaskState.TASK_RUNNING)
    finished = status("t", TaskState.TASK_FINISHED)
    streams.add(running, now=0)
    # Nothing behind it yet: no latest state to tell.
    assert streams.due(now=0) == [running]
    streams.add(finished, now=0)
    # Only the oldest update of a task is in flight; it tells the master the
    # task has ended behind it (Mesos's latest_state).
    running_then_ended = dataclasses.replace(running, latest_state=TaskState.TASK_FINISHED)
    assert streams.due(now=9.9) == []
    # Not acknowledged: resent with a doubling interval, capped.
    assert streams.due(now=10) == [running_then_ended]
    assert streams.next_due() == 30
    assert streams.due(now=30) == [running_then_ended]
    assert streams.next_due() == 70
    assert streams.due(now=70) == [running_then_ended]
    assert streams.next_due() == 110
    # A stale acknowledgement changes nothing.
    assert not streams.acknowledge("t", finished.uuid or "", now=71)
    assert streams.acknowledge("t", running.uuid or "", now=71)
    assert not streams.acknowledge("t", running.uuid or "", now=71)
    assert streams.due(now=71) == [finished]
    assert streams.acknowledge("t", finished.uuid or "", now=72)
    assert streams.pending() == []
    assert streams.next_due() is None


def test_tasks_have_independent_streams_and_batches() -> None:
    streams = StatusUpdateStreams(retry_min=5, retry_max=5)
    a, b = status("a", TaskState.TASK_RUNNING), status("b", TaskState.TASK_RUNNING)
    streams.add(a, now=0)
    streams.add(b, now=0)
    assert streams.due(now=0) == [a, b]
    streams.acknowledge("a", a.uuid or "", now=1)
    assert streams.due(now=5) == [b]
    assert streams.latest("b") == b
    assert streams.pending("a") == []


def test_nothing_follows_a_terminal_update_and_updates_need_a_uuid() -> None:
    streams = StatusUpdateStreams()
    streams.add(status("t", TaskState.TASK_FINISHED), now=0)
    with pytest.raises(InvalidArgumentError, match="terminal"):
        streams.add(status("t", TaskState.TASK_RUNNING), now=0)
    reconciliation = TaskStatus("u", TaskState.TASK_RUNNING, Source.SOURCE_MASTER, 0, uuid=None)
    with pytest.raises(InvalidArgumentError, match="uuid"):
        streams.add(reconciliation, now=0)
    with pytest.raises(InvalidArgumentError):
        StatusUpdateStreams(retry_min=5, retry_max=1)
