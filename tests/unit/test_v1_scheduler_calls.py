"""A v1 scheduler call read and validated whole, with Mesos's messages for
what Mesos refuses; the master's events as v1 events."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from pyactors._core import Resources
from pyactors.api.v1 import scheduler_events
from pyactors.api.v1.scheduler_calls import CallError, parse_call
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, LaunchGroup, Reserve, TaskInfo
from pyactors.core.protocol import (
    Accept,
    Acknowledge,
    AgentLost,
    AnswerInverseOffers,
    Decline,
    ErrorEvent,
    ForwardUpdates,
    FrameworkMessages,
    Heartbeat,
    Kill,
    Message,
    Reconcile,
    Request,
    Rescind,
    Revive,
    SendOffers,
    Shutdown,
    Suppress,
    Teardown,
    UpdateFramework,
)
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus

FID = {"value": "fw-1"}
CPUS = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}]


def call(kind: str, **body: Any) -> dict[str, Any]:
    return {"type": kind, "framework_id": FID, **body}


def task(task_id: str, **extra: Any) -> dict[str, Any]:
    return {"task_id": {"value": task_id}, "resources": CPUS, "command": {"value": "true"}, **extra}


def test_subscribe_reads_the_framework_info() -> None:
    parsed = parse_call(
        {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}, 0.0
    )
    assert parsed.type == "SUBSCRIBE" and parsed.framework_id is None
    assert parsed.framework_info is not None and parsed.framework_info.name == "n"
    failover = parse_call(
        {
            "type": "SUBSCRIBE",
            "framework_id": FID,
            "subscribe": {"framework_info": {"name": "n", "id": FID, "failover_timeout": 9}},
        },
        0.0,
    )
    assert failover.framework_id == "fw-1"
    assert failover.framework_info is not None and failover.framework_info.failover_timeout == 9


def test_every_call_becomes_the_masters_call() -> None:
    uuid_hex = uuid.uuid4().hex
    b64 = base64.b64encode(uuid.UUID(hex=uuid_hex).bytes).decode()
    cases: list[tuple[dict[str, Any], list[Any]]] = [
        (
            call(
                "ACCEPT",
                accept={
                    "offer_ids": [{"value": "o1"}],
                    "operations": [
                        {"type": "LAUNCH", "launch": {"task_infos": [task("t1")]}},
                        {
                            "type": "LAUNCH_GROUP",
                            "launch_group": {
                                "executor": {"type": "DEFAULT"},
                                "task_group": {"tasks": [task("g1"), task("g2")]},
                            },
                        },
                        {
                            "type": "RESERVE",
                            "reserve": {
                                "resources": [
                                    {**CPUS[0], "role": "r", "reservation": {"principal": "p"}}
                                ]
                            },
                        },
                    ],
                    "filters": {"refuse_seconds": 30},
                },
            ),
            [
                Accept(
                    ["o1"],
                    [
                        Launch([TaskInfo("t1", "t1", Resources.parse("cpus:0.1"), "true")]),
                        LaunchGroup(
                            [
                                TaskInfo("g1", "g1", Resources.parse("cpus:0.1"), "true"),
                                TaskInfo("g2", "g2", Resources.parse("cpus:0.1"), "true"),
                            ]
                        ),
                        Reserve(Resources.parse("cpus(r,p):0.1")),
                    ],
                    30.0,
                )
            ],
        ),
        (call("DECLINE", decline={"offer_ids": [{"value": "o1"}]}), [Decline(["o1"], 5.0)]),
        (call("REVIVE"), [Revive(None)]),
        (call("REVIVE", revive={"roles": ["a"]}), [Revive(["a"])]),
        (call("SUPPRESS", suppress={"roles": ["a", "b"]}), [Suppress(["a", "b"])]),
        (call("KILL", kill={"task_id": {"value": "t1"}}), [Kill("t1")]),
        (
            call("SHUTDOWN", shutdown={"agent_id": {"value": "a"}, "executor_id": {"value": "t"}}),
            [Shutdown("a", "t")],
        ),
        (
            call(
                "ACKNOWLEDGE",
                acknowledge={"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": b64},
            ),
            [Acknowledge([("t", uuid_hex)])],
        ),
        (
            call(
                "RECONCILE",
                reconcile={
                    "tasks": [
                        {"task_id": {"value": "t1"}},
                        {"task_id": {"value": "t2"}, "agent_id": {"value": "a"}},
                    ]
                },
            ),
            [Reconcile(["t1", "t2"], {"t2": "a"})],
        ),
        (call("RECONCILE", reconcile={}), [Reconcile([], {})]),
        (
            call(
                "MESSAGE",
                message={
                    "agent_id": {"value": "a"},
                    "executor_id": {"value": "t"},
                    "data": base64.b64encode(b"hi").decode(),
                },
            ),
            [Message("a", "t", b"hi")],
        ),
        (call("REQUEST", request={"requests": []}), [Request(None)]),
        (call("TEARDOWN"), [Teardown()]),
        (
            call(
                "UPDATE_FRAMEWORK",
                update_framework={"framework_info": {"name": "m", "id": FID, "role": "x"}},
            ),
            [UpdateFramework(["x"], [], 0.0, "m")],
        ),
        (
            call(
                "ACCEPT_INVERSE_OFFERS",
                accept_inverse_offers={"inverse_offer_ids": [{"value": "i"}]},
            ),
            [AnswerInverseOffers(["i"], True, None)],
        ),
        (
            call(
                "DECLINE_INVERSE_OFFERS",
                decline_inverse_offers={"inverse_offer_ids": [], "filters": {"refuse_seconds": 9}},
            ),
            [AnswerInverseOffers([], False, 9.0)],
        ),
    ]
    for body, expected in cases:
        parsed = parse_call(body, 0.0)
        assert parsed.calls == expected, body["type"]
        assert parsed.framework_id == "fw-1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "Failed to convert JSON into Call protobuf"),
        ({"framework_id": FID}, "Expecting 'type' to be present"),
        ({"type": "LAUNCH_ROCKETS", "framework_id": FID}, "invalid value 'LAUNCH_ROCKETS'"),
        ({"type": "SUBSCRIBE"}, "Expecting 'subscribe' to be present"),
        (
            {
                "type": "SUBSCRIBE",
                "framework_id": FID,
                "subscribe": {"framework_info": {"name": ""}},
            },
            "'framework_id' differs from 'subscribe.framework_info.id'",
        ),
        ({"type": "KILL"}, "Expecting 'framework_id' to be present"),
        (call("ACCEPT"), "Expecting 'accept' to be present"),
        (call("DECLINE"), "Expecting 'decline' to be present"),
        (call("KILL"), "Expecting 'kill' to be present"),
        (call("ACKNOWLEDGE"), "Expecting 'acknowledge' to be present"),
        (call("RECONCILE"), "Expecting 'reconcile' to be present"),
        (call("MESSAGE"), "Expecting 'message' to be present"),
        (call("SHUTDOWN"), "Expecting 'shutdown' to be present"),
        (call("REQUEST"), "Expecting 'request' to be present"),
        (
            call(
                "ACKNOWLEDGE",
                acknowledge={"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": "AAAA"},
            ),
            "must be 16 bytes",
        ),
        (call("KILL", kill={"task_id": "t1"}), "kill.task_id must be a JSON object"),
        (call("DECLINE", decline={"offer_ids": "o1"}), "offer_ids must be a JSON array"),
        (
            call("DECLINE", decline={"offer_ids": [], "filters": {"refuse_seconds": "x"}}),
            "refuse_seconds must be a number",
        ),
        (
            call("ACCEPT", accept={"offer_ids": [], "operations": [{"type": "FLY"}]}),
            "'FLY' is not one of",
        ),
        (
            call(
                "ACCEPT",
                accept={"operations": [{"type": "LAUNCH", "launch": {"task_infos": [{}]}}]},
            ),
            "task_id",
        ),
    ],
)
def test_what_mesos_refuses_is_refused_with_its_message(body: Any, message: str) -> None:
    with pytest.raises(CallError, match=message):
        parse_call(body, 0.0)


def test_a_task_pyactors_cannot_run_is_answered_with_task_error() -> None:
    executor = {"executor_id": {"value": "e"}, "command": {"value": "x"}}
    parsed = parse_call(
        call(
            "ACCEPT",
            accept={
                "offer_ids": [{"value": "o"}],
                "operations": [
                    {
                        "type": "LAUNCH",
                        "launch": {"task_infos": [task("ok"), task("custom", executor=executor)]},
                    },
                    {
                        "type": "LAUNCH_GROUP",
                        "launch_group": {
                            "task_group": {"tasks": [task("g1"), task("g2", executor=executor)]}
                        },
                    },
                ],
            },
        ),
        7.0,
    )
    accept = parsed.calls[0]
    assert isinstance(accept, Accept)
    assert accept.operations == [
        Launch([TaskInfo("ok", "ok", Resources.parse("cpus:0.1"), "true")])
    ]
    refused = {s.task_id: s for s in parsed.refused_tasks}
    assert set(refused) == {"custom", "g1", "g2"}
    assert all(s.state is TaskState.TASK_ERROR and s.uuid is None for s in refused.values())
    assert refused["custom"].reason is Reason.REASON_TASK_INVALID
    # A command and an executor both: Mesos's TASK_ERROR.
    assert "(but not both)" in refused["custom"].message


def test_operations_asking_for_feedback_are_dropped_as_mesos_drops_them() -> None:
    reserve = {
        "type": "RESERVE",
        "id": {"value": "op-1"},
        "reserve": {"resources": [{**CPUS[0], "role": "r", "reservation": {"principal": "p"}}]},
    }
    launch = {"type": "LAUNCH", "id": {"value": "op-2"}, "launch": {"task_infos": [task("t")]}}
    plain = {"type": "LAUNCH", "launch": {"task_infos": [task("kept")]}}
    operations = [reserve, launch, plain]
    parsed = parse_call(
        call("ACCEPT", accept={"offer_ids": [{"value": "o"}], "operations": operations}), 3.0
    )
    accept = parsed.calls[0]
    assert isinstance(accept, Accept)
    # Only the operation without an id is carried out.
    assert accept.operations == [
        Launch([TaskInfo("kept", "kept", Resources.parse("cpus:0.1"), "true")])
    ]
    ((operation_id, why),) = parsed.dropped_operations
    assert operation_id == "op-1" and "RESOURCE_PROVIDER capability" in why
    (refused,) = parsed.refused_tasks
    assert refused.task_id == "t" and refused.state is TaskState.TASK_ERROR
    assert refused.message == "The `id` field cannot be set on LAUNCH operations"
    event = scheduler_events.operation_error(operation_id, why)
    status = {"operation_id": {"value": "op-1"}, "state": "OPERATION_ERROR", "message": why}
    assert event == {
        "type": "UPDATE_OPERATION_STATUS",
        "update_operation_status": {"status": status},
    }


def test_the_masters_events_as_v1_events() -> None:
    offer = OfferInfo("o1", "fw-1", "a1", "*", Resources.parse("cpus:1"), "h")
    agent = TaskStatus("t", TaskState.TASK_RUNNING, Source.SOURCE_AGENT, 1.0, "a1")
    lost = TaskStatus("t", TaskState.TASK_LOST, Source.SOURCE_MASTER, 1.0, "a1", uuid=None)
    shaped = [
        scheduler_events.events(event, refined=False, clock_offset=100.0)
        for event in (
            SendOffers("fw-1", [offer]),
            SendOffers("fw-1", []),
            Rescind("fw-1", ["o1", "o2"]),
            ForwardUpdates("fw-1", [agent, lost]),
            FrameworkMessages("fw-1", [("a1", "t", b"hi")]),
            AgentLost("fw-1", "a1"),
            ErrorEvent("fw-1", "bad"),
            Heartbeat("fw-1"),
        )
    ]
    offers, no_offers, rescinds, updates, messages, failure, error, heartbeat = shaped
    assert offers[0]["type"] == "OFFERS"
    assert offers[0]["offers"]["offers"][0]["id"] == {"value": "o1"}
    assert no_offers == []
    assert [r["rescind"]["offer_id"]["value"] for r in rescinds] == ["o1", "o2"]
    running, lost_update = (u["update"]["status"] for u in updates)
    assert "uuid" in running and "uuid" not in lost_update
    assert running["timestamp"] == 101.0
    assert messages == [
        {
            "type": "MESSAGE",
            "message": {
                "agent_id": {"value": "a1"},
                "executor_id": {"value": "t"},
                "data": base64.b64encode(b"hi").decode(),
            },
        }
    ]
    assert failure == [{"type": "FAILURE", "failure": {"agent_id": {"value": "a1"}}}]
    assert error == [{"type": "ERROR", "error": {"message": "bad"}}]
    assert heartbeat == [{"type": "HEARTBEAT"}]
    subscribed = scheduler_events.subscribed("fw-1", 15.0, {"id": "m"})
    assert subscribed["subscribed"] == {
        "framework_id": {"value": "fw-1"},
        "heartbeat_interval_seconds": 15.0,
        "master_info": {"id": "m"},
    }
