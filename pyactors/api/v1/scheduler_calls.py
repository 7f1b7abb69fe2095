"""A v1 scheduler `Call` (include/mesos/v1/scheduler/scheduler.proto, JSON)
read and validated whole into the calls pyactors' master carries out.

Validation follows Mesos's (src/master/validation.cpp,
`validation::scheduler::call::validate`) and its messages: a missing
`type`, a missing body for the type ("Expecting 'accept' to be present"),
a missing `framework_id`, a SUBSCRIBE whose `framework_id` differs from its
`framework_info.id`, an ACKNOWLEDGE whose uuid is not 16 bytes. A shape
protobuf would not parse (an unknown call type, a wrong field type) is
"Failed to convert JSON into Call protobuf: ...". Either way nothing is
carried out.

A task naming a custom executor is read with it (`executor_json`). A
well-formed task pyactors cannot run (a container image) is not a bad
call: it is answered with TASK_ERROR, as Mesos answers an invalid task,
and the rest of the accept goes ahead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyactors.api.v1 import executor_json
from pyactors.api.v1 import mesos_json as mj
from pyactors.api.v1.mesos_json import FrameworkInfo, UnsupportedTaskError, V1FormatError
from pyactors.core.operations import Launch, LaunchGroup, Operation, TaskInfo
from pyactors.core.protocol import (
    Accept,
    Acknowledge,
    AnswerInverseOffers,
    Call,
    Decline,
    Kill,
    Message,
    Reconcile,
    Request,
    Revive,
    Shutdown,
    Suppress,
    Teardown,
    UpdateFramework,
)
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.errors import InvalidArgumentError

CALL_TYPES = (
    "UNKNOWN",
    "SUBSCRIBE",
    "TEARDOWN",
    "ACCEPT",
    "DECLINE",
    "ACCEPT_INVERSE_OFFERS",
    "DECLINE_INVERSE_OFFERS",
    "REVIVE",
    "KILL",
    "SHUTDOWN",
    "ACKNOWLEDGE",
    "ACKNOWLEDGE_OPERATION_STATUS",
    "RECONCILE",
    "RECONCILE_OPERATIONS",
    "MESSAGE",
    "REQUEST",
    "SUPPRESS",
    "UPDATE_FRAMEWORK",
)
# The calls whose body Mesos requires (the others may come without one).
_BODY_REQUIRED = {
    "ACCEPT": "accept",
    "DECLINE": "decline",
    "ACCEPT_INVERSE_OFFERS": "accept_inverse_offers",
    "DECLINE_INVERSE_OFFERS": "decline_inverse_offers",
    "KILL": "kill",
    "SHUTDOWN": "shutdown",
    "ACKNOWLEDGE": "acknowledge",
    "ACKNOWLEDGE_OPERATION_STATUS": "acknowledge_operation_status",
    "RECONCILE": "reconcile",
    "RECONCILE_OPERATIONS": "reconcile_operations",
    "MESSAGE": "message",
    "REQUEST": "request",
    "UPDATE_FRAMEWORK": "update_framework",
}
FEEDBACK_UNSUPPORTED = (
    "Operation requested feedback, but pyactors' agents do not have the required "
    "RESOURCE_PROVIDER capability"
)
# Mesos's default `Filters.refuse_seconds`.
DEFAULT_REFUSE_SECONDS = 5.0


class CallError(InvalidArgumentError):
    """A call Mesos would answer 400: the message is Mesos's."""


@dataclass(frozen=True)
class SchedulerCall:
    """A validated call: what the master carries out (`calls`), the
    subscriber's info for a SUBSCRIBE, and the TASK_ERROR answers for tasks
    pyactors cannot run."""

    type: str
    framework_id: str | None
    calls: list[Call] = field(default_factory=list)
    framework_info: FrameworkInfo | None = None
    refused_tasks: list[TaskStatus] = field(default_factory=list)
    # Operations asking for feedback, dropped: (operation id, why).
    dropped_operations: list[tuple[str, str]] = field(default_factory=list)


def parse_call(body: Any, now: float) -> SchedulerCall:
    """`body`: the decoded JSON. CallError (Mesos's message) if Mesos would
    refuse it; `now` stamps TASK_ERROR answers."""
    if not isinstance(body, dict):
        raise _unparsable("the call must be a JSON object")
    kind = body.get("type")
    if kind is None:
        raise CallError("Failed to validate scheduler::Call: Expecting 'type' to be present")
    if kind not in CALL_TYPES:
        raise _unparsable(f"invalid value {kind!r} for enum 'mesos.v1.scheduler.Call.Type'")
    try:
        framework_id = (
            None if body.get("framework_id") is None else mj.id_value(body["framework_id"], "id")
        )
        if kind == "SUBSCRIBE":
            return _subscribe(body, framework_id)
        if framework_id is None:
            raise CallError(
                "Failed to validate scheduler::Call: Expecting 'framework_id' to be present"
            )
        required = _BODY_REQUIRED.get(kind)
        if required is not None and body.get(required) is None:
            raise CallError(
                f"Failed to validate scheduler::Call: Expecting '{required}' to be present"
            )
        return _call(kind, body, framework_id, now)
    except CallError:
        raise
    except (V1FormatError, InvalidArgumentError, KeyError, TypeError, ValueError) as error:
        raise _unparsable(str(error)) from None


def _unparsable(reason: str) -> CallError:
    return CallError(f"Failed to convert JSON into Call protobuf: {reason}")


def _subscribe(body: Mapping[str, Any], framework_id: str | None) -> SchedulerCall:
    subscribe = body.get("subscribe")
    if subscribe is None:
        raise CallError("Failed to validate scheduler::Call: Expecting 'subscribe' to be present")
    info = mj.framework_info_from_v1(
        mj.obj(subscribe, "subscribe").get("framework_info"), "subscribe.framework_info"
    )
    if info.framework_id != framework_id:
        raise CallError(
            "Failed to validate scheduler::Call: "
            "'framework_id' differs from 'subscribe.framework_info.id'"
        )
    return SchedulerCall("SUBSCRIBE", framework_id, framework_info=info)


def _call(kind: str, body: Mapping[str, Any], framework_id: str, now: float) -> SchedulerCall:
    part = mj.obj(body.get(kind.lower(), {}), kind.lower())
    calls: list[Call] = []
    refused: list[TaskStatus] = []
    dropped: list[tuple[str, str]] = []
    match kind:
        case "ACCEPT":
            operations, refused, dropped = _operations(part.get("operations", []), now)
            calls.append(Accept(_offer_ids(part), operations, _refuse_seconds(part)))
        case "DECLINE":
            calls.append(Decline(_offer_ids(part), _refuse_seconds(part)))
        case "REVIVE":
            calls.append(Revive(_roles(part)))
        case "SUPPRESS":
            calls.append(Suppress(_roles(part)))
        case "KILL":
            policy = part.get("kill_policy")
            grace = None if policy is None else mj.kill_policy_from_v1(policy, "kill.kill_policy")
            calls.append(Kill(mj.id_value(part.get("task_id"), "kill.task_id"), grace))
        case "SHUTDOWN":
            agent_id = mj.id_value(part.get("agent_id"), "shutdown.agent_id")
            executor_id = mj.id_value(part.get("executor_id"), "shutdown.executor_id")
            calls.append(Shutdown(agent_id, executor_id))
        case "ACKNOWLEDGE":
            task_id = mj.id_value(part.get("task_id"), "acknowledge.task_id")
            mj.id_value(part.get("agent_id"), "acknowledge.agent_id")
            try:
                uuid = mj.uuid_from_v1(part.get("uuid"), "acknowledge.uuid")
            except V1FormatError as error:
                raise CallError(f"Failed to validate scheduler::Call: {error}") from None
            calls.append(Acknowledge([(task_id, uuid)]))
        case "RECONCILE":
            calls.append(_reconcile(part))
        case "MESSAGE":
            agent_id = mj.id_value(part.get("agent_id"), "message.agent_id")
            executor_id = mj.id_value(part.get("executor_id"), "message.executor_id")
            data = mj.bytes_from_v1(part.get("data", ""), "message.data")
            calls.append(Message(agent_id, executor_id, data))
        case "REQUEST":
            mj.array(part.get("requests", []), "request.requests")
            calls.append(Request(None))
        case "TEARDOWN":
            calls.append(Teardown())
        case "UPDATE_FRAMEWORK":
            info = mj.framework_info_from_v1(
                part.get("framework_info"), "update_framework.framework_info"
            )
            if info.framework_id != framework_id:
                raise CallError(
                    "Failed to validate scheduler::Call: "
                    "'framework_id' differs from 'update_framework.framework_info.id'"
                )
            calls.append(
                UpdateFramework(info.roles, info.capabilities, info.failover_timeout, info.name)
            )
        case "ACCEPT_INVERSE_OFFERS" | "DECLINE_INVERSE_OFFERS":
            calls.append(_answer_inverse_offers(part, kind == "ACCEPT_INVERSE_OFFERS"))
        case _:
            # ACKNOWLEDGE_OPERATION_STATUS, RECONCILE_OPERATIONS: operations
            # asking for feedback are dropped with OPERATION_ERROR (no
            # uuid), so there is nothing to acknowledge or reconcile.
            pass
    return SchedulerCall(
        kind, framework_id, calls, refused_tasks=refused, dropped_operations=dropped
    )


def _offer_ids(part: Mapping[str, Any]) -> list[str]:
    ids = mj.array(part.get("offer_ids", []), "offer_ids")
    return [mj.id_value(offer_id, f"offer_ids[{i}]") for i, offer_id in enumerate(ids)]


def _answer_inverse_offers(part: Mapping[str, Any], accept: bool) -> AnswerInverseOffers:
    """ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS: ids Mesos no longer
    knows are ignored, as Mesos ignores them; without `filters`, Mesos's
    default refusal (a negative one too, as its allocator takes it)."""
    ids = mj.array(part.get("inverse_offer_ids", []), "inverse_offer_ids")
    offer_ids = [mj.id_value(i, f"inverse_offer_ids[{n}]") for n, i in enumerate(ids)]
    filters = part.get("filters")
    seconds = None
    if filters is not None and "refuse_seconds" in mj.obj(filters, "filters"):
        seconds = mj.number(filters["refuse_seconds"], "filters.refuse_seconds")
    return AnswerInverseOffers(offer_ids, accept, seconds)


def _refuse_seconds(part: Mapping[str, Any]) -> float:
    filters = part.get("filters")
    if filters is None:
        return DEFAULT_REFUSE_SECONDS
    seconds = mj.obj(filters, "filters").get("refuse_seconds", DEFAULT_REFUSE_SECONDS)
    return max(0.0, mj.number(seconds, "filters.refuse_seconds"))


def _roles(part: Mapping[str, Any]) -> list[str] | None:
    roles = part.get("roles")
    if not roles:
        return None
    return [mj.text(role, "roles[]") for role in mj.array(roles, "roles")]


def _reconcile(part: Mapping[str, Any]) -> Reconcile:
    task_ids, agent_ids = [], {}
    for index, raw in enumerate(mj.array(part.get("tasks", []), "reconcile.tasks")):
        task = mj.obj(raw, f"reconcile.tasks[{index}]")
        task_id = mj.id_value(task.get("task_id"), f"reconcile.tasks[{index}].task_id")
        task_ids.append(task_id)
        if task.get("agent_id") is not None:
            agent_ids[task_id] = mj.id_value(task["agent_id"], f"reconcile.tasks[{index}].agent_id")
    return Reconcile(task_ids, agent_ids)


def _operations(
    raw: Any, now: float
) -> tuple[list[Operation], list[TaskStatus], list[tuple[str, str]]]:
    """The operations to carry out; TASK_ERROR answers for tasks pyactors
    cannot run; the operations dropped for asking for feedback (an `id`),
    as Mesos drops them on an agent without the RESOURCE_PROVIDER
    capability, which pyactors' agents do not have."""
    operations: list[Operation] = []
    refused: list[TaskStatus] = []
    dropped: list[tuple[str, str]] = []
    for index, item in enumerate(mj.array(raw, "accept.operations")):
        operation = mj.obj(item, f"accept.operations[{index}]")
        kind = mj.enum_name(
            operation.get("type"),
            ("LAUNCH", "LAUNCH_GROUP", "RESERVE", "UNRESERVE", "CREATE", "DESTROY"),
            f"accept.operations[{index}].type",
        )
        if "id" in operation:
            operation_id = mj.id_value(operation["id"], f"accept.operations[{index}].id")
            if kind in ("LAUNCH", "LAUNCH_GROUP"):
                refused += [
                    _task_error(task_id, f"The `id` field cannot be set on {kind} operations", now)
                    for task_id in _launched_ids(operation, kind)
                ]
            else:
                dropped.append((operation_id, FEEDBACK_UNSUPPORTED))
            continue
        if kind == "LAUNCH":
            infos = mj.obj(operation.get("launch"), "launch").get("task_infos", [])
            tasks = _tasks(mj.array(infos, "launch.task_infos"), "launch", now, refused)
            if tasks:
                operations.append(Launch(tasks))
        elif kind == "LAUNCH_GROUP":
            group = mj.obj(operation.get("launch_group"), "launch_group")
            _default_executor(group.get("executor"))
            infos = mj.obj(group.get("task_group"), "launch_group.task_group").get("tasks", [])
            before = len(refused)
            tasks = _tasks(mj.array(infos, "task_group.tasks"), "launch_group", now, refused)
            if len(refused) > before:
                # All or none: one task pyactors cannot run refuses the group.
                refused += [_task_error(t.task_id, "another task of its group", now) for t in tasks]
            elif tasks:
                operations.append(LaunchGroup(tasks))
        else:
            operations.append(mj.conversion_from_v1(operation, kind))
    return operations, refused, dropped


def _launched_ids(operation: Mapping[str, Any], kind: str) -> list[str]:
    if kind == "LAUNCH":
        infos = mj.obj(operation.get("launch"), "launch").get("task_infos", [])
    else:
        group = mj.obj(operation.get("launch_group"), "launch_group")
        infos = mj.obj(group.get("task_group"), "launch_group.task_group").get("tasks", [])
    return [
        mj.id_value(mj.obj(info, "task_info").get("task_id"), "task_id")
        for info in mj.array(infos, f"{kind.lower()} tasks")
    ]


def _tasks(infos: list[Any], what: str, now: float, refused: list[TaskStatus]) -> list[TaskInfo]:
    tasks = []
    for index, info in enumerate(infos):
        try:
            tasks.append(executor_json.task_from_v1(info, f"{what}.task_infos[{index}]"))
        except UnsupportedTaskError as error:
            task_id = mj.id_value(mj.obj(info, "task_info").get("task_id"), "task_id")
            refused.append(_task_error(task_id, str(error), now))
    return tasks


def _default_executor(executor: Any) -> None:
    """LAUNCH_GROUP's executor: pyactors runs a group's tasks as Mesos's
    default executor does (each its own process), so only that one."""
    if executor is None:
        return
    kind = mj.obj(executor, "launch_group.executor").get("type", "DEFAULT")
    if kind != "DEFAULT":
        raise V1FormatError(
            f"launch_group.executor of type {kind!r}: only the DEFAULT executor is supported"
        )


def _task_error(task_id: str, why: str, now: float) -> TaskStatus:
    return TaskStatus(
        task_id,
        TaskState.TASK_ERROR,
        Source.SOURCE_MASTER,
        now,
        reason=Reason.REASON_TASK_INVALID,
        message=why,
        uuid=None,
    )
