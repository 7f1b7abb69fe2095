"""Mesos's v1 executor API in JSON (include/mesos/v1/executor/executor.proto):
calls read and validated whole, the agent's events written, and the
ExecutorInfo and TaskInfo shapes an executor sees.

Validation follows Mesos's agent (src/slave/validation.cpp,
`validation::executor::call::validate`, and src/slave/http.cpp): a body
that is not a Call is "Failed to parse body into Call protobuf: ...", a
Call Mesos refuses is "Failed to validate Executor::Call: ...".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, assert_never

from pyactors._core import Resources
from pyactors.agent import executors as book
from pyactors.api.v1 import mesos_json as mj
from pyactors.api.v1.mesos_json import V1FormatError
from pyactors.core.operations import ExecutorInfo, TaskInfo
from pyactors.core.tasks import TaskStatus
from pyactors.errors import InvalidArgumentError

CALL_TYPES = ("UNKNOWN", "SUBSCRIBE", "UPDATE", "MESSAGE", "HEARTBEAT")


class ExecutorCallError(InvalidArgumentError):
    """A call Mesos's agent answers 400: the message is Mesos's."""


@dataclass(frozen=True)
class ExecutorCall:
    """A validated call of one executor (`key`: framework id, executor id)."""

    type: str
    key: book.Key
    # SUBSCRIBE: the tasks and updates the executor holds unacknowledged.
    unacknowledged_tasks: list[str] = field(default_factory=list)
    unacknowledged_updates: list[TaskStatus] = field(default_factory=list)
    # UPDATE.
    status: TaskStatus | None = None
    # MESSAGE.
    data: bytes = b""


def parse_call(body: Any) -> ExecutorCall:
    """`body`: the decoded JSON; ExecutorCallError with Mesos's message."""
    try:
        call = mj.obj(body, "call")
        kind = call.get("type")
        if kind is not None and kind not in CALL_TYPES:
            raise V1FormatError(f"invalid value {kind!r} for enum 'mesos.v1.executor.Call.Type'")
        executor_id = call.get("executor_id")
        framework_id = call.get("framework_id")
        key = (
            "" if framework_id is None else mj.id_value(framework_id, "framework_id"),
            "" if executor_id is None else mj.id_value(executor_id, "executor_id"),
        )
        if kind is None:
            raise _invalid("Expecting 'type' to be present")
        if executor_id is None:
            raise _invalid("Expecting 'executor_id' to be present")
        if framework_id is None:
            raise _invalid("Expecting 'framework_id' to be present")
        part_name = str(kind).lower()
        if kind in ("SUBSCRIBE", "UPDATE", "MESSAGE") and call.get(part_name) is None:
            raise _invalid(f"Expecting '{part_name}' to be present")
        part = mj.obj(call.get(part_name, {}), part_name)
        match kind:
            case "SUBSCRIBE":
                return _subscribe(key, part)
            case "UPDATE":
                status = mj.obj(part.get("status"), "update.status")
                if status.get("uuid") is None:
                    raise _invalid("Expecting 'uuid' to be present")
                return ExecutorCall("UPDATE", key, status=_status(status, "update.status"))
            case "MESSAGE":
                data = mj.bytes_from_v1(part.get("data"), "message.data")
                return ExecutorCall("MESSAGE", key, data=data)
            case _:
                return ExecutorCall(str(kind), key)
    except ExecutorCallError:
        raise
    except (V1FormatError, InvalidArgumentError, TypeError, ValueError) as error:
        raise ExecutorCallError(f"Failed to parse body into Call protobuf: {error}") from None


def _invalid(reason: str) -> ExecutorCallError:
    return ExecutorCallError(f"Failed to validate Executor::Call: {reason}")


def _subscribe(key: book.Key, part: Mapping[str, Any]) -> ExecutorCall:
    tasks = mj.array(part.get("unacknowledged_tasks", []), "subscribe.unacknowledged_tasks")
    updates = mj.array(part.get("unacknowledged_updates", []), "subscribe.unacknowledged_updates")
    return ExecutorCall(
        "SUBSCRIBE",
        key,
        unacknowledged_tasks=[
            mj.id_value(mj.obj(t, "unacknowledged_tasks[]").get("task_id"), "task_id")
            for t in tasks
        ],
        unacknowledged_updates=[
            _status(mj.obj(u, "unacknowledged_updates[]").get("status"), "update.status")
            for u in updates
        ],
    )


def _status(data: Any, what: str) -> TaskStatus:
    try:
        return mj.status_from_v1(data, what)
    except V1FormatError as error:
        if "16 bytes" in str(error):
            raise _invalid(str(error)) from None
        raise


# ------------------------------------------------------------------ shapes


def executor_info_from_v1(data: Any, what: str = "executor") -> ExecutorInfo:
    """A v1 ExecutorInfo (type CUSTOM, or unset as pre-1.1 clients send it)."""
    executor = mj.obj(data, what)
    kind = executor.get("type", "CUSTOM")
    if kind != "CUSTOM":
        raise mj.UnsupportedTaskError(
            f"{what}.type {kind!r}: only CUSTOM executors run a TaskInfo's tasks"
        )
    executor_id = mj.id_value(executor.get("executor_id"), f"{what}.executor_id")
    # The command is read as a task's would be.
    shape = mj.task_from_v1(
        {"task_id": {"value": executor_id}, "command": executor.get("command")}, what
    )
    return ExecutorInfo(
        executor_id=executor_id,
        command=shape.command or "",
        resources=mj.resources_from_v1(executor.get("resources", []), f"{what}.resources"),
        name=mj.text(executor.get("name", ""), f"{what}.name", empty_ok=True),
        shell=shape.shell,
        env=shape.env,
        uris=shape.uris,
        data=mj.bytes_from_v1(executor.get("data", ""), f"{what}.data"),
    )


def executor_info_to_v1(info: ExecutorInfo, framework_id: str) -> dict[str, Any]:
    shape = mj.task_to_v1(
        TaskInfo(
            info.executor_id,
            info.name,
            Resources.parse("cpus:1"),
            command=info.command,
            shell=info.shell,
            env=info.env,
            uris=info.uris,
        ),
        "",
    )
    out: dict[str, Any] = {
        "type": "CUSTOM",
        "executor_id": mj.id_json(info.executor_id),
        "framework_id": mj.id_json(framework_id),
        "command": shape["command"],
        "resources": mj.resources_to_v1(info.resources),
    }
    if info.name:
        out["name"] = info.name
    if info.data:
        out["data"] = mj.bytes_to_v1(info.data)
    return out


def task_from_v1(data: Any, what: str = "task_info") -> TaskInfo:
    """A v1 TaskInfo: a command task (`mesos_json.task_from_v1`) or, with an
    `executor`, a task for that custom executor; `data` kept for it."""
    task = mj.obj(data, what)
    payload = mj.bytes_from_v1(task.get("data", ""), f"{what}.data")
    if "executor" not in task:
        return replace(mj.task_from_v1(task, what), data=payload)
    task_id = mj.id_value(task.get("task_id"), f"{what}.task_id")
    if "command" in task:
        # Mesos's message (src/master/validation.cpp).
        raise mj.UnsupportedTaskError(
            f"task '{task_id}': Task should have at least one (but not both) of "
            "CommandInfo or ExecutorInfo present"
        )
    executor = executor_info_from_v1(task["executor"], f"{what}.executor")
    # The rest (name, resources, labels, ...) is read as for a command task.
    shape = mj.task_from_v1(
        {**{k: v for k, v in task.items() if k != "executor"}, "command": {"value": "true"}},
        what,
    )
    return replace(shape, command=None, executor=executor, data=payload)


def task_to_v1(task: TaskInfo, agent_id: str, framework_id: str) -> dict[str, Any]:
    """A task as its executor is given it (LAUNCH): its ExecutorInfo in
    place of a command."""
    out = mj.task_to_v1(replace(task, command="true", executor=None), agent_id)
    if task.executor is not None:
        del out["command"]
        out["executor"] = executor_info_to_v1(task.executor, framework_id)
    if task.data:
        out["data"] = mj.bytes_to_v1(task.data)
    return out


def agent_info(
    agent_id: str, hostname: str, port: int, resources: str, attributes: Mapping[str, str]
) -> dict[str, Any]:
    """A v1 AgentInfo, as SUBSCRIBED carries it."""
    return {
        "id": mj.id_json(agent_id),
        "hostname": hostname,
        "port": port,
        "resources": mj.resources_to_v1(Resources.parse(resources)),
        "attributes": mj.attributes_to_v1(attributes),
    }


def framework_info(framework_id: str, user: str) -> dict[str, Any]:
    """The FrameworkInfo an executor is given: its id as the executor has
    it, the user it runs as (the agent learns no more of the framework)."""
    return {"id": mj.id_json(framework_id), "name": "", "user": user}


def event_to_v1(
    event: book.Event, framework_id: str, agent: Mapping[str, Any], user: str
) -> dict[str, Any]:
    """An event of the book for an executor of `framework_id` as its stream
    carries it; `agent` is this agent's AgentInfo (`agent_info`)."""
    match event:
        case book.Subscribed(info, _):
            return {
                "type": "SUBSCRIBED",
                "subscribed": {
                    "executor_info": executor_info_to_v1(info, framework_id),
                    "framework_info": framework_info(framework_id, user),
                    "agent_info": dict(agent),
                },
            }
        case book.Launch(task):
            launched = task_to_v1(task, agent["id"]["value"], framework_id)
            return {"type": "LAUNCH", "launch": {"task": launched}}
        case book.LaunchGroup(tasks):
            group = [task_to_v1(task, agent["id"]["value"], framework_id) for task in tasks]
            return {"type": "LAUNCH_GROUP", "launch_group": {"task_group": {"tasks": group}}}
        case book.Kill(task_id, grace):
            kill: dict[str, Any] = {"task_id": mj.id_json(task_id)}
            if grace is not None:
                kill["kill_policy"] = {"grace_period": {"nanoseconds": int(grace * 1e9)}}
            return {"type": "KILL", "kill": kill}
        case book.Acknowledged(task_id, uuid):
            acknowledged = {"task_id": mj.id_json(task_id), "uuid": mj.uuid_to_v1(uuid)}
            return {"type": "ACKNOWLEDGED", "acknowledged": acknowledged}
        case book.Message(data):
            return {"type": "MESSAGE", "message": {"data": mj.bytes_to_v1(data)}}
        case book.Shutdown():
            return {"type": "SHUTDOWN"}
        case _:
            assert_never(event)


def heartbeat() -> dict[str, Any]:
    return {"type": "HEARTBEAT"}


def error(message: str) -> dict[str, Any]:
    return {"type": "ERROR", "error": {"message": message}}
