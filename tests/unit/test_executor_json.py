"""The v1 executor API's JSON (pyactors.api.v1.executor_json): calls as
pymesos's MesosExecutorDriver sends them, Mesos's refusals, events as it
reads them, TaskInfo/ExecutorInfo shapes both ways, and an update's data
on its way to the scheduler."""

from __future__ import annotations

import base64
import pickle
import uuid
from typing import Any

import pytest

from pyactors import Resources
from pyactors.agent import executors as book
from pyactors.api.state_json import About, status_json
from pyactors.api.v1 import executor_json as ej
from pyactors.api.v1 import mesos_json as mj
from pyactors.api.v1.mesos_json import UnsupportedTaskError
from pyactors.api.v1.operator_json import status_v1
from pyactors.core.operations import ExecutorInfo, TaskInfo
from pyactors.core.tasks import Source, TaskState, TaskStatus

IDS = {"executor_id": {"value": "ex"}, "framework_id": {"value": "fw"}}
UUID = uuid.UUID("12345678123456781234567812345678")
EXECUTOR_V1 = {
    "executor_id": {"value": "ex"},
    "name": "MinimalExecutor",
    "command": {"value": "python3 executor.py"},
    "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_pymesos_calls_are_read() -> None:
    status = {
        "task_id": {"value": "t1"},
        "state": "TASK_RUNNING",
        "timestamp": 1700000000,
        "uuid": b64(UUID.bytes),
        "source": "SOURCE_EXECUTOR",
    }
    subscribe = ej.parse_call(
        {
            "type": "SUBSCRIBE",
            **IDS,
            "subscribe": {
                "unacknowledged_tasks": [{"task_id": {"value": "t1"}, "name": "t1"}],
                "unacknowledged_updates": [{"status": status}],
            },
        }
    )
    assert subscribe.key == ("fw", "ex") and subscribe.unacknowledged_tasks == ["t1"]
    (resent,) = subscribe.unacknowledged_updates
    assert (resent.task_id, resent.uuid) == ("t1", UUID.hex)
    updated = ej.parse_call({"type": "UPDATE", **IDS, "update": {"status": status}})
    assert updated.status is not None
    assert (updated.status.state, updated.status.source) == (
        TaskState.TASK_RUNNING,
        Source.SOURCE_EXECUTOR,
    )
    message = ej.parse_call({"type": "MESSAGE", **IDS, "message": {"data": b64(b"\0hi")}})
    assert message.data == b"\0hi"
    assert ej.parse_call({"type": "HEARTBEAT", **IDS}).type == "HEARTBEAT"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**IDS}, "Failed to validate Executor::Call: Expecting 'type' to be present"),
        (
            {"type": "UPDATE", "framework_id": {"value": "fw"}, "update": {}},
            "Expecting 'executor_id' to be present",
        ),
        ({"type": "UPDATE", **IDS}, "Expecting 'update' to be present"),
        (
            {"type": "UPDATE", **IDS, "update": {"status": {"task_id": {"value": "t"}}}},
            "Expecting 'uuid' to be present",
        ),
        (
            {
                "type": "UPDATE",
                **IDS,
                "update": {
                    "status": {
                        "task_id": {"value": "t"},
                        "state": "TASK_RUNNING",
                        "uuid": b64(b"short"),
                    }
                },
            },
            "Failed to validate Executor::Call: uuid must be 16 bytes",
        ),
        ({"type": "LAUNCH", **IDS}, "Failed to parse body into Call protobuf"),
        ([], "Failed to parse body into Call protobuf"),
        ({"type": "MESSAGE", **IDS, "message": {"data": "%%"}}, "not base64"),
    ],
)
def test_what_mesos_refuses_is_refused_with_its_message(body: Any, message: str) -> None:
    with pytest.raises(ej.ExecutorCallError, match=message):
        ej.parse_call(body)


def test_a_task_with_an_executor_is_read_and_given_back_to_it() -> None:
    task = ej.task_from_v1(
        {
            "task_id": {"value": "t1"},
            "name": "task 1",
            "agent_id": {"value": "a"},
            "resources": [{"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
            "executor": EXECUTOR_V1,
            "data": b64(b"Hello"),
        }
    )
    assert task.command is None and task.data == b"Hello" and not task.problems()
    assert task.executor == ExecutorInfo(
        "ex", "python3 executor.py", "cpus:0.1", name="MinimalExecutor"
    )
    shown = ej.task_to_v1(task, "a", "fw")
    assert "command" not in shown and shown["data"] == b64(b"Hello")
    assert shown["executor"]["executor_id"] == {"value": "ex"}
    assert shown["executor"]["framework_id"] == {"value": "fw"}
    assert shown["executor"]["command"] == {"shell": True, "value": "python3 executor.py"}
    assert ej.task_from_v1(shown) == task
    with pytest.raises(UnsupportedTaskError, match="not both"):
        ej.task_from_v1({**shown, "command": {"value": "true"}})
    with pytest.raises(UnsupportedTaskError, match="CUSTOM"):
        ej.task_from_v1({**shown, "executor": {**EXECUTOR_V1, "type": "DEFAULT"}})


def test_events_are_what_pymesos_reads() -> None:
    info = ExecutorInfo("ex", "run", "cpus:0.1")
    agent = ej.agent_info("a1", "host", 0, "cpus:2;mem:1024", {"rack": "r1"})
    subscribed = ej.event_to_v1(book.Subscribed(info, "fw"), "fw", agent, "alice")["subscribed"]
    # pymesos asserts both ids equal its own exactly.
    assert subscribed["executor_info"]["executor_id"] == {"value": "ex"}
    assert subscribed["framework_info"]["id"] == {"value": "fw"}
    assert subscribed["agent_info"]["id"] == {"value": "a1"}
    assert subscribed["agent_info"]["hostname"] == "host"
    task = TaskInfo("t1", "t1", "cpus:0.1", executor=info)
    launch = ej.event_to_v1(book.Launch(task), "fw", agent, "alice")
    assert launch["launch"]["task"]["task_id"] == {"value": "t1"}
    assert launch["launch"]["task"]["agent_id"] == {"value": "a1"}
    group = ej.event_to_v1(book.LaunchGroup((task, task)), "fw", agent, "alice")
    assert group["type"] == "LAUNCH_GROUP"
    assert [t["task_id"] for t in group["launch_group"]["task_group"]["tasks"]] == [
        {"value": "t1"},
        {"value": "t1"},
    ]
    kill = ej.event_to_v1(book.Kill("t1", 2.5), "fw", agent, "alice")
    assert kill == {
        "type": "KILL",
        "kill": {
            "task_id": {"value": "t1"},
            "kill_policy": {"grace_period": {"nanoseconds": 2500000000}},
        },
    }
    acknowledged = ej.event_to_v1(book.Acknowledged("t1", UUID.hex), "fw", agent, "alice")
    assert base64.b64decode(acknowledged["acknowledged"]["uuid"]) == UUID.bytes
    message = ej.event_to_v1(book.Message(b"x"), "fw", agent, "alice")
    assert message == {"type": "MESSAGE", "message": {"data": b64(b"x")}}
    assert ej.event_to_v1(book.Shutdown(), "fw", agent, "alice") == {"type": "SHUTDOWN"}
    assert ej.error("no") == {"type": "ERROR", "error": {"message": "no"}}


def test_an_updates_data_reaches_the_scheduler_as_mesos_sends_it() -> None:
    """An executor's UPDATE `data` is kept through the agent's book, its
    checkpoint's and the actors' forms, and is base64 in v1 JSON, as Mesos
    forwards TaskStatus.data."""
    status = {
        "task_id": {"value": "t1"},
        "state": "TASK_RUNNING",
        "uuid": b64(UUID.bytes),
        "source": "SOURCE_EXECUTOR",
        "data": b64(b"\0progress:42"),
    }
    call = ej.parse_call({"type": "UPDATE", **IDS, "update": {"status": status}})
    assert call.status is not None and call.status.data == b"\0progress:42"
    executors = book.ExecutorBook("agent")
    executors.launch("fw", TaskInfo("t1", "t1", Resources(), executor=ExecutorInfo("ex", "x")), 0.0)
    executors.subscribe(("fw", "ex"), [], [], 0.0)
    taken = executors.update(("fw", "ex"), call.status, 1.0)
    assert taken is not None and taken.data == b"\0progress:42"
    assert TaskStatus.from_dict(taken.to_dict()) == taken
    assert pickle.loads(pickle.dumps(taken)) == taken
    assert mj.status_to_v1(taken)["data"] == b64(b"\0progress:42")
    assert mj.status_from_v1(mj.status_to_v1(taken)) == taken
    # The master's state keeps none of it, as Mesos's (MESOS-1746).
    about = About(id="m1", version="0.1.0")
    assert "data" not in status_json(taken, about) and "data" not in status_v1(taken, about)
    # Without data, the shapes are as before.
    plain = TaskStatus("t1", TaskState.TASK_RUNNING, Source.SOURCE_EXECUTOR, 1.0)
    assert "data" not in mj.status_to_v1(plain) and "data" not in plain.to_dict()
    with pytest.raises(mj.V1FormatError, match="data is not base64"):
        mj.status_from_v1({**status, "data": "not base64!"})
