"""The master's part in custom executors (no Ray): framework messages to an
executor by its id go through one of its live tasks, its messages name it
to the scheduler, a scheduler's SHUTDOWN kills its live tasks there, and
the operator API's GET_EXECUTORS lists it."""

from __future__ import annotations

from pyactors import Resources
from pyactors.api.state_json import About
from pyactors.api.v1 import operator_json
from pyactors.core.operations import ExecutorInfo, Launch, TaskInfo
from pyactors.core.protocol import (
    ExitedExecutor,
    FrameworkMessages,
    KillTasks,
    MessageToTask,
    SendOffers,
)
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.master.state import MasterConfig, MasterState

EXECUTOR = ExecutorInfo("ex", "run-executor", "cpus:0.1;mem:32")


def started() -> tuple[MasterState, str]:
    master = MasterState(MasterConfig())
    master.register_agent("agent-0", "host", Resources.parse("cpus:4;mem:1024"), {}, now=0)
    fw, _ = master.subscribe("fw", ["*"], now=0)
    (batch,) = [e for e in master.allocate(now=1) if isinstance(e, SendOffers)]
    tasks = [
        TaskInfo(t, t, Resources.parse("cpus:1;mem:64"), executor=EXECUTOR) for t in ("a", "b")
    ]
    tasks.append(TaskInfo("c", "c", Resources.parse("cpus:1;mem:64"), command="true"))
    master.accept(fw, [batch.offers[0].id], [Launch(tasks)], 0, now=1)
    return master, fw


def test_messages_reach_a_custom_executor_by_its_id_and_name_it() -> None:
    master, fw = started()
    (message,) = master.message_to_task(fw, "agent-0", "ex", b"hi")
    assert isinstance(message, MessageToTask) and message.data == b"hi"
    assert message.task_id in ("a", "b")
    # A command task is still its own executor.
    assert master.message_to_task(fw, "agent-0", "c", b"x") == [MessageToTask("agent-0", "c", b"x")]
    assert master.messages_from_tasks("agent-0", [("a", b"up"), ("c", b"me")]) == [
        FrameworkMessages(fw, [("agent-0", "ex", b"up"), ("agent-0", "c", b"me")])
    ]


def test_shutdown_of_a_custom_executor_kills_its_live_tasks() -> None:
    master, fw = started()
    kills = [
        e for e in master.shutdown_executor(fw, "agent-0", "ex", now=2) if isinstance(e, KillTasks)
    ]
    assert sorted(t for kill in kills for t in kill.task_ids) == ["a", "b"]
    assert {kill.agent_id for kill in kills} == {"agent-0"}


def test_the_operator_api_lists_each_executor_once_and_names_it_on_its_tasks() -> None:
    master, fw = started()
    about = About(id="m1", version="0.1.0", start_time=0.0, clock_offset=0.0, now=1.0)
    (executor,) = operator_json.get_executors(master, about)["executors"]
    assert executor["agent_id"] == {"value": "agent-0"}
    assert executor["executor_info"]["executor_id"] == {"value": "ex"}
    assert executor["executor_info"]["framework_id"] == {"value": fw}
    tasks = {t["task_id"]["value"]: t for t in operator_json.get_tasks(master, about)["tasks"]}
    assert tasks["a"]["executor_id"] == {"value": "ex"}
    assert "executor_id" not in tasks["c"]
    # Idle (its tasks ended), it is listed until its agent says it exited.
    ended = [
        TaskStatus(t, TaskState.TASK_FINISHED, Source.SOURCE_EXECUTOR, 2.0, agent_id="agent-0")
        for t in ("a", "b")
    ]
    master.status_updates("agent-0", ended)
    assert len(operator_json.get_executors(master, about)["executors"]) == 1
    master.executor_exited(ExitedExecutor("agent-0", fw, "ex", "exited with status 0"))
    assert operator_json.get_executors(master, about)["executors"] == []
