"""The agent's executor book (pyactors.agent.executors) without processes or
Ray: who is started, what each executor's stream is given, which updates
are taken, and what ends an executor."""

from __future__ import annotations

import pytest

from pyactors.agent import executors as book
from pyactors.agent.executors import (
    ExecutorBook,
    ExecutorCallError,
    ExecutorTerminatingError,
    UnknownExecutorError,
)
from pyactors.core.operations import ExecutorInfo, TaskInfo
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.errors import InvalidArgumentError

KEY = ("fw", "ex")
EXECUTOR = ExecutorInfo("ex", "python3 executor.py", "cpus:0.1;mem:32")


def task(task_id: str, executor: ExecutorInfo = EXECUTOR) -> TaskInfo:
    return TaskInfo(task_id, task_id, "cpus:0.1", executor=executor, data=b"payload")


def update(task_id: str, state: TaskState, uuid: str) -> TaskStatus:
    return TaskStatus(task_id, state, Source.SOURCE_EXECUTOR, 1.0, uuid=uuid)


def subscribed(executors: ExecutorBook) -> ExecutorBook:
    assert executors.launch("fw", task("t1"), 0.0)
    assert not executors.launch("fw", task("t2"), 0.0)
    executors.subscribe(KEY, [], [], 1.0)
    executors.take_events()
    return executors


def test_one_executor_per_framework_and_id_gets_its_queued_tasks_on_subscribe() -> None:
    executors = ExecutorBook("agent")
    assert executors.launch("fw", task("t1"), 0.0)
    assert not executors.launch("fw", task("t2"), 0.0)
    # Another framework's executor of the same id is another executor.
    assert executors.launch("other", task("t3"), 0.0)
    assert executors.take_events() == []
    assert executors.subscribe(KEY, [], [], 1.0) == []
    events = executors.take_events()
    assert [type(e) for _, e in events] == [book.Subscribed, book.Launch, book.Launch]
    assert {k for k, _ in events} == {KEY}
    assert [e.task.task_id for _, e in events if isinstance(e, book.Launch)] == ["t1", "t2"]
    # Later tasks are delivered at once.
    assert not executors.launch("fw", task("t4"), 2.0)
    assert executors.take_events() == [(KEY, book.Launch(task("t4")))]


def test_a_resubscribing_executor_is_given_only_what_was_never_delivered() -> None:
    executors = subscribed(ExecutorBook("agent"))
    resent = update("t1", TaskState.TASK_RUNNING, "a" * 32)
    # Both were delivered: neither is launched again, whatever it says it holds.
    taken = executors.subscribe(KEY, [], [resent], 3.0)
    assert [(s.task_id, s.uuid, s.agent_id) for s in taken] == [("t1", "a" * 32, "agent")]
    assert [type(e) for _, e in executors.take_events()] == [book.Subscribed]
    # The same update once more is dropped: it was taken.
    assert executors.subscribe(KEY, ["t1"], [resent], 4.0) == []


def test_a_recovered_agent_awaits_its_executors_and_delivers_what_may_be_lost() -> None:
    executors = ExecutorBook("agent", registration_timeout=60.0)
    assert executors.recover("fw", task("t1"), TaskState.TASK_RUNNING, ["a" * 32], 100.0)
    assert not executors.recover("fw", task("t2"), TaskState.TASK_STAGING, [], 100.0)
    assert not executors.recover("fw", task("t3"), TaskState.TASK_STAGING, [], 100.0)
    assert not executors.recover("fw", task("t4"), TaskState.TASK_FINISHED, ["b" * 32], 100.0)
    # t3 it holds; t2 it never got.
    resent = [update("t1", TaskState.TASK_RUNNING, "a" * 32)]
    resent.append(update("t4", TaskState.TASK_FINISHED, "b" * 32))
    assert executors.subscribe(KEY, ["t3"], resent, 101.0) == []
    events = executors.take_events()
    assert [type(e) for _, e in events] == [book.Subscribed, book.Launch]
    assert events[1][1] == book.Launch(task("t2"))
    # Its pending updates' acknowledgements still reach it.
    executors.acknowledged("t4", "b" * 32, terminal=True)
    assert executors.take_events() == [(KEY, book.Acknowledged("t4", "b" * 32))]
    assert executors.due(1000.0) == []


def test_updates_are_checked_stamped_and_taken_once() -> None:
    executors = subscribed(ExecutorBook("agent"))
    status = executors.update(KEY, update("t1", TaskState.TASK_RUNNING, "b" * 32), 5.0)
    assert status is not None
    assert (status.agent_id, status.timestamp, status.source) == (
        "agent",
        5.0,
        Source.SOURCE_EXECUTOR,
    )
    assert executors.update(KEY, update("t1", TaskState.TASK_RUNNING, "b" * 32), 6.0) is None
    refusals = [
        (update("t1", TaskState.TASK_STAGING, "c" * 32), "TASK_STAGING"),
        (TaskStatus("t1", TaskState.TASK_RUNNING, Source.SOURCE_AGENT, 1.0), "SOURCE_EXECUTOR"),
        (update("t1", TaskState.TASK_RUNNING, None), "uuid"),  # type: ignore[arg-type]
        (update("nobody", TaskState.TASK_RUNNING, "d" * 32), "not a task of executor"),
    ]
    for bad, message in refusals:
        with pytest.raises(ExecutorCallError, match=message):
            executors.update(KEY, bad, 7.0)
    assert executors.update(KEY, update("t1", TaskState.TASK_FINISHED, "e" * 32), 8.0)
    with pytest.raises(ExecutorCallError, match="already ended"):
        executors.update(KEY, update("t1", TaskState.TASK_FAILED, "f" * 32), 9.0)
    with pytest.raises(UnknownExecutorError, match="cannot be found"):
        executors.update(("fw", "nobody"), update("t1", TaskState.TASK_RUNNING, "0" * 32), 9.0)


def test_acknowledgements_and_messages_reach_the_executor() -> None:
    executors = subscribed(ExecutorBook("agent"))
    executors.update(KEY, update("t1", TaskState.TASK_FINISHED, "1" * 32), 1.0)
    executors.acknowledged("t1", "1" * 32, terminal=True)
    # An acknowledgement of an update the executor did not send (the
    # agent's own) is not its business.
    executors.acknowledged("t2", "2" * 32, terminal=False)
    executors.message_to("t2", b"hello")
    assert executors.take_events() == [
        (KEY, book.Acknowledged("t1", "1" * 32)),
        (KEY, book.Message(b"hello")),
    ]
    assert not executors.owns("t1") and executors.owns("t2")
    executors.message_from(KEY, b"back")
    assert executors.take_messages() == [("t2", b"back")]


def test_a_kill_of_the_last_task_shuts_the_executor_down_then_kills_it() -> None:
    executors = subscribed(ExecutorBook("agent", shutdown_grace=5.0))
    executors.update(KEY, update("t1", TaskState.TASK_FINISHED, "1" * 32), 1.0)
    assert executors.kill("t2", 2.0, grace=3.0) == []
    assert executors.take_events() == [(KEY, book.Kill("t2", 3.0))]
    executors.update(KEY, update("t2", TaskState.TASK_KILLED, "2" * 32), 3.0)
    assert executors.take_events() == [(KEY, book.Shutdown())]
    with pytest.raises(InvalidArgumentError, match="shutting down"):
        executors.launch("fw", task("t3"), 3.5)
    assert executors.due(7.9) == []
    assert executors.due(8.0) == [KEY]
    assert executors.due(9.0) == []  # asked once
    with pytest.raises(ExecutorTerminatingError):
        executors.subscribe(KEY, [], [], 9.0)
    assert executors.exited(KEY, 10.0, "killed by signal 9") == []
    assert KEY not in executors.executors


def test_a_queued_task_killed_ends_here_and_an_exit_fails_the_rest() -> None:
    executors = ExecutorBook("agent")
    executors.launch("fw", task("t1"), 0.0)
    executors.launch("fw", task("t2"), 0.0)
    (killed,) = executors.kill("t1", 1.0, grace=None)
    assert (killed.task_id, killed.state, killed.source) == (
        "t1",
        TaskState.TASK_KILLED,
        Source.SOURCE_AGENT,
    )
    failed = executors.exited(KEY, 2.0, "exited with status 1")
    assert [(s.task_id, s.state, s.reason) for s in failed] == [
        ("t2", TaskState.TASK_FAILED, Reason.REASON_EXECUTOR_TERMINATED)
    ]
    assert "exited with status 1" in failed[0].message
    assert not executors.owns("t2")


def test_an_executor_that_never_subscribes_or_does_not_come_back_is_killed() -> None:
    executors = ExecutorBook("agent", registration_timeout=60.0)
    executors.launch("fw", task("t1"), 0.0)
    assert executors.due(59.0) == []
    assert executors.due(60.0) == [KEY]
    again = subscribed(ExecutorBook("agent", registration_timeout=60.0))
    again.disconnected(KEY, 100.0)
    assert again.due(159.0) == []
    again.subscribe(KEY, ["t1", "t2"], [], 150.0)
    assert again.due(1000.0) == []


def test_a_task_group_reaches_its_executor_as_one_launch_group() -> None:
    executors = ExecutorBook("agent")
    assert executors.launch_group("fw", [task("g1"), task("g2"), task("g3")], 0.0)
    (killed,) = executors.kill("g2", 0.5, grace=None)
    assert killed.state is TaskState.TASK_KILLED
    executors.subscribe(KEY, [], [], 1.0)
    assert executors.take_events()[1:] == [(KEY, book.LaunchGroup((task("g1"), task("g3"))))]
    executors.launch_group("fw", [task("g4")], 2.0)
    assert executors.take_events() == [(KEY, book.LaunchGroup((task("g4"),)))]
    other = ExecutorInfo("other", "run")
    with pytest.raises(InvalidArgumentError, match="all name that executor"):
        executors.launch_group("fw", [task("g5"), task("g6", other)], 3.0)
    assert not executors.owns("g5")
