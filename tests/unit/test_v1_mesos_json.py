"""Mesos's v1 JSON shapes to pyactors' values and back: resources with
reservations (both forms) and volumes, attributes by type, offers, tasks,
statuses with base64 uuids, framework and master infos; malformed shapes
name their field."""

from __future__ import annotations

import base64
import re
import uuid

import pytest

from pyactors._core import Resources
from pyactors.api.v1 import executor_json
from pyactors.api.v1 import mesos_json as mj
from pyactors.api.v1.mesos_json import UnsupportedTaskError, V1FormatError
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Create, HealthCheck, Reserve, TaskInfo
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus

TEXT = (
    "cpus:2;cpus(eng):1;cpus(eng/sub,bob):0.5;disk(eng,alice)[vol1]:64;mem:128;ports:[31000-31005]"
)


@pytest.mark.parametrize("refined", [False, True])
def test_resources_round_trip_in_both_reservation_forms(refined: bool) -> None:
    resources = Resources.parse(TEXT)
    shaped = mj.resources_to_v1(resources, allocation_role="eng", refined=refined)
    assert mj.resources_from_v1(shaped) == resources
    by_text = {str(mj.resources_from_v1([item])): item for item in shaped}
    dynamic = by_text["cpus(eng/sub,bob):0.5"]
    assert dynamic["allocation_info"] == {"role": "eng"}
    if refined:
        assert dynamic["reservations"] == [
            {"type": "DYNAMIC", "role": "eng/sub", "principal": "bob"}
        ]
        assert "role" not in dynamic
        assert by_text["cpus(eng):1"]["reservations"] == [{"type": "STATIC", "role": "eng"}]
    else:
        assert dynamic["role"] == "eng/sub"
        assert dynamic["reservation"] == {"principal": "bob"}
    assert by_text["ports:[31000-31005]"]["ranges"] == {"range": [{"begin": 31000, "end": 31005}]}
    assert by_text["disk(eng,alice)[vol1]:64"]["disk"] == {"persistence": {"id": "vol1"}}


def test_resources_as_pymesos_writes_them() -> None:
    shaped = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
        {
            "name": "disk",
            "type": "SCALAR",
            "scalar": {"value": 8},
            "role": "eng",
            "reservation": {"principal": "alice"},
            "disk": {
                "persistence": {"id": "v", "principal": "alice"},
                "volume": {"container_path": "data", "mode": "RW"},
            },
        },
    ]
    assert str(mj.resources_from_v1(shaped)) == "cpus:0.1;disk(eng,alice)[v]:8;mem:32"


@pytest.mark.parametrize(
    ("shaped", "message"),
    [
        ("cpus:1", "resources must be a JSON array"),
        ([{"name": "cpus", "type": "SCALAR"}], "missing field 'scalar'"),
        ([{"name": "cpus", "type": "TEXT", "text": {}}], "unknown type 'TEXT'"),
        (
            [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "revocable": {}}],
            "revocable",
        ),
        ([{"name": "x", "type": "SCALAR", "scalar": {"value": 1}, "reservations": [{}]}], "role"),
    ],
)
def test_malformed_resources_name_their_field(shaped: object, message: str) -> None:
    with pytest.raises(V1FormatError, match=message):
        mj.resources_from_v1(shaped)


def test_attributes_are_typed_as_mesos_types_them_and_round_trip() -> None:
    attributes = {"rack": "r1", "zone": "3", "ports": "[1-2,5-9]", "tags": "{a,b}", "f": "1.5"}
    shaped = mj.attributes_to_v1(attributes)
    kinds = {a["name"]: a["type"] for a in shaped}
    assert kinds == {
        "rack": "TEXT",
        "zone": "SCALAR",
        "ports": "RANGES",
        "tags": "SET",
        "f": "SCALAR",
    }
    assert next(a for a in shaped if a["name"] == "rack")["text"] == {"value": "r1"}
    assert mj.attributes_from_v1(shaped) == attributes


def test_an_offer_in_v1_shape() -> None:
    offer = OfferInfo(
        "o-1", "f-1", "a-1", "eng", Resources.parse("cpus:1;mem:64"), "host1", {"rack": "r1"}
    )
    shaped = mj.offer_to_v1(offer)
    assert shaped["id"] == {"value": "o-1"}
    assert shaped["agent_id"] == {"value": "a-1"}
    assert shaped["framework_id"] == {"value": "f-1"}
    assert shaped["hostname"] == "host1"
    assert shaped["allocation_info"] == {"role": "eng"}
    assert {r["name"]: r["scalar"]["value"] for r in shaped["resources"]} == {"cpus": 1, "mem": 64}
    assert shaped["attributes"] == [{"name": "rack", "type": "TEXT", "text": {"value": "r1"}}]


def test_a_status_carries_its_uuid_base64_unless_master_generated() -> None:
    status = TaskStatus(
        "t1", TaskState.TASK_RUNNING, Source.SOURCE_AGENT, 12.5, "a-1", message="up", healthy=True
    )
    shaped = mj.status_to_v1(status)
    assert status.uuid is not None
    assert base64.b64decode(shaped["uuid"]) == uuid.UUID(hex=status.uuid).bytes
    assert shaped["task_id"] == {"value": "t1"} and shaped["agent_id"] == {"value": "a-1"}
    assert shaped["timestamp"] == 12.5 and shaped["state"] == "TASK_RUNNING"
    assert mj.status_from_v1(shaped) == status
    answer = TaskStatus(
        "t2", TaskState.TASK_LOST, Source.SOURCE_MASTER, 1.0, reason=Reason.REASON_RECONCILIATION
    )
    assert "uuid" not in mj.status_to_v1(answer, with_uuid=False)
    assert "uuid" not in mj.status_to_v1(
        TaskStatus("t3", TaskState.TASK_LOST, Source.SOURCE_MASTER, 1.0, uuid=None)
    )


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode(), 7])
def test_a_uuid_that_is_not_16_bytes_of_base64_is_refused(bad: object) -> None:
    with pytest.raises(V1FormatError, match="uuid"):
        mj.uuid_from_v1(bad)


def test_url_safe_base64_uuids_are_read_too() -> None:
    value = uuid.UUID(bytes=b"\xfb\xff" * 8)
    assert mj.uuid_from_v1(base64.urlsafe_b64encode(value.bytes).decode()) == value.hex


def test_a_command_task_as_pymesos_sends_it() -> None:
    shaped = {
        "task_id": {"value": "t-1"},
        "agent_id": {"value": "a-1"},
        "name": "hello",
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
        "command": {
            "value": "echo hi",
            "environment": {"variables": [{"name": "X", "value": "1"}]},
            "uris": [{"value": "http://example.com/a.tgz", "extract": True}],
            "user": "nobody",
        },
        "labels": {"labels": [{"key": "k", "value": "v"}]},
        "health_check": {"type": "TCP", "tcp": {"port": 8080}, "interval_seconds": 2},
        "data": base64.b64encode(b"payload").decode(),
    }
    task = mj.task_from_v1(shaped)
    assert task == TaskInfo(
        "t-1",
        "hello",
        Resources.parse("cpus:0.1"),
        command="echo hi",
        env={"X": "1"},
        uris=("http://example.com/a.tgz",),
        labels={"k": "v"},
        health_check=HealthCheck(
            "TCP",
            port=8080,
            grace_period_seconds=10.0,
            interval_seconds=2.0,
            timeout_seconds=20.0,
            max_consecutive_failures=3,
            delay_seconds=15.0,
        ),
        user="nobody",
    )
    assert not task.problems()
    assert mj.task_from_v1(mj.task_to_v1(task, "a-1")) == task


def test_a_non_shell_command_execs_value_with_the_arguments() -> None:
    shaped = {
        "task_id": {"value": "t"},
        "resources": [],
        "command": {"shell": False, "value": "/bin/echo", "arguments": ["echo", "a b", "c"]},
    }
    task = mj.task_from_v1(shaped)
    assert task.argv() == ["/bin/echo", "a b", "c"]
    assert mj.task_from_v1(mj.task_to_v1(task, "a")).argv() == task.argv()


def test_tasks_pyactors_cannot_run_are_unsupported_not_malformed() -> None:
    executor = {
        "task_id": {"value": "t"},
        "executor": {"executor_id": {"value": "e"}, "command": {"value": "x"}},
    }
    with pytest.raises(UnsupportedTaskError, match="not both"):
        executor_json.task_from_v1({**executor, "command": {"value": "x"}})
    with pytest.raises(V1FormatError, match=re.escape("task_info.command must be a JSON object")):
        mj.task_from_v1({"task_id": {"value": "t"}})
    with pytest.raises(V1FormatError, match=re.escape("task_info.task_id.value")):
        mj.task_from_v1({"task_id": {"id": "t"}, "command": {"value": "x"}})


def test_conversions_from_their_operations() -> None:
    reserve = {
        "type": "RESERVE",
        "reserve": {"resources": mj.resources_to_v1(Resources.parse("cpus(eng,p):1"))},
    }
    assert mj.conversion_from_v1(reserve, "RESERVE") == Reserve(Resources.parse("cpus(eng,p):1"))
    volumes = mj.resources_to_v1(Resources.parse("disk(eng,p)[v]:8"))
    assert mj.conversion_from_v1({"create": {"volumes": volumes}}, "CREATE") == Create(
        Resources.parse("disk(eng,p)[v]:8")
    )


def test_framework_info_roles_follow_the_multi_role_capability() -> None:
    single = mj.framework_info_from_v1({"user": "me", "name": "f", "failover_timeout": 30})
    assert single.roles == ["*"] and single.failover_timeout == 30.0 and single.user == "me"
    multi = mj.framework_info_from_v1(
        {
            "name": "f",
            "roles": ["a", "b"],
            "capabilities": [{"type": "MULTI_ROLE"}, {"type": "GPU_RESOURCES"}],
            "id": {"value": "fw-1"},
            "principal": "p",
        }
    )
    assert multi.roles == ["a", "b"] and multi.framework_id == "fw-1"
    assert multi.capabilities == ["MULTI_ROLE", "GPU_RESOURCES"] and multi.principal == "p"
    assert mj.framework_info_from_v1(mj.framework_info_to_v1(multi)) == multi
    assert mj.framework_info_from_v1(mj.framework_info_to_v1(single)) == single
    with pytest.raises(V1FormatError, match="MULTI_ROLE"):
        mj.framework_info_from_v1({"name": "f", "roles": ["a"]})
    with pytest.raises(V1FormatError, match="failover_timeout"):
        mj.framework_info_from_v1({"name": "f", "failover_timeout": "1"})


def test_master_info_as_mesos_writes_it() -> None:
    info = mj.master_info("m-1", "127.0.0.1", 5050, "1.11.0", hostname="localhost")
    assert info["ip"] == 16777343
    assert info["pid"] == "master@127.0.0.1:5050"
    assert info["address"] == {"hostname": "localhost", "ip": "127.0.0.1", "port": 5050}
    assert info["version"] == "1.11.0" and info["id"] == "m-1" and info["port"] == 5050
