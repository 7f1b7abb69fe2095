"""The v1 operator API's shapes and call reading, from a master state driven
directly (no Ray, no HTTP): each shape against what the v0 state JSON shows
for the same state, and every refused call refused before anything changed."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pyactors import Resources
from pyactors.api import state_json as sj
from pyactors.api import state_view
from pyactors.api.access import Viewer
from pyactors.api.v1 import operator as op
from pyactors.api.v1 import operator_json as oj
from pyactors.api.v1.mesos_json import V1FormatError, resources_from_v1
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import SendOffers
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.master.state import MasterConfig, MasterState

ABOUT = sj.About(id="m1", version="0.1.0", start_time=100.0, clock_offset=1000.0, now=160.0)


def running_master() -> tuple[MasterState, str]:
    """Two agents (one drained); a framework in role `web` ran t1 (finished),
    runs t2 and holds an offer; `web` has a weight and a quota."""
    master = MasterState(MasterConfig())
    for i in range(2):
        master.register_agent(
            f"agent-{i}",
            f"host-{i}",
            Resources.parse("cpus:4;mem:1024;ports:[31000-31009]"),
            {"rack": "r1", "zone": "{a,b}"},
            now=0,
        )
    fw, _ = master.subscribe("web-fw", ["web"], now=0, failover_timeout=60.0, user="nobody")
    master.set_weight("web", 2.0)
    master.set_quota("web", "cpus:1", "cpus:8")
    (batch,) = [e for e in master.allocate(now=1) if isinstance(e, SendOffers)]
    first, second = sorted(batch.offers, key=lambda o: o.agent_id)
    tasks = [
        TaskInfo(t, t, Resources.parse("cpus:1;mem:128"), command="true", labels={"k": "v"})
        for t in ("t1", "t2")
    ]
    master.accept(fw, [first.id], [Launch(tasks)], refuse_seconds=0, now=2)
    master.decline(fw, [second.id], refuse_seconds=0, now=2)
    for task_id in ("t1", "t2"):
        running = TaskStatus(task_id, TaskState.TASK_RUNNING, Source.SOURCE_AGENT, 3, "agent-0")
        master.status_updates("agent-0", [running])
    done = TaskStatus("t1", TaskState.TASK_FINISHED, Source.SOURCE_AGENT, 4, agent_id="agent-0")
    master.status_updates("agent-0", [done])
    assert done.uuid is not None
    master.acknowledge(fw, [("t1", done.uuid)])
    master.allocate(now=5)
    master.drain_agent("agent-1", 7.5)
    return master, fw


def ids(items: list[dict[str, Any]], field: str) -> list[str]:
    return [item[field]["value"] for item in items]


def test_get_state_shows_what_the_v0_state_shows() -> None:
    master, fw = running_master()
    shaped = oj.get_state(master, ABOUT)
    orjson.dumps(shaped)
    v0 = sj.state(master, ABOUT)
    (v0_framework,) = v0["frameworks"]
    tasks = shaped["get_tasks"]
    assert ids(tasks["tasks"], "task_id") == [t["id"] for t in v0_framework["tasks"]] == ["t2"]
    assert ids(tasks["completed_tasks"], "task_id") == ["t1"]
    assert tasks["unreachable_tasks"] == []
    (t2,) = tasks["tasks"]
    assert t2["framework_id"] == {"value": fw} and t2["agent_id"] == {"value": "agent-0"}
    assert t2["state"] == "TASK_RUNNING" and "command" not in t2
    assert t2["labels"] == {"labels": [{"key": "k", "value": "v"}]}
    assert resources_from_v1(t2["resources"]) == Resources.parse("cpus:1;mem:128")
    (status,) = t2["statuses"]
    assert status["state"] == "TASK_RUNNING" and status["timestamp"] == 1003.0
    assert status["agent_id"] == {"value": "agent-0"}
    assert shaped["get_executors"] == {"executors": []}

    agents = {a["agent_info"]["id"]["value"]: a for a in shaped["get_agents"]["agents"]}
    v0_agents = {s["id"]: s for s in v0["slaves"]}
    assert agents.keys() == v0_agents.keys() == {"agent-0", "agent-1"}
    for agent_id, agent in agents.items():
        v0_agent = v0_agents[agent_id]
        assert agent["active"] == v0_agent["active"]
        assert agent["deactivated"] == v0_agent["deactivated"]
        for v1_field, v0_field in (
            ("total_resources", "resources_full"),
            ("allocated_resources", "used_resources_full"),
            ("offered_resources", "offered_resources_full"),
        ):
            assert resources_from_v1(agent[v1_field]) == Resources.from_json(v0_agent[v0_field])
        assert agent["registered_time"] == {"nanoseconds": 1000 * 10**9}
        assert agent["agent_info"]["hostname"] == v0_agent["hostname"]
    attributes = {a["name"]: a for a in agents["agent-0"]["agent_info"]["attributes"]}
    assert attributes["rack"] == {"name": "rack", "type": "TEXT", "text": {"value": "r1"}}
    assert attributes["zone"]["set"] == {"item": ["a", "b"]}
    assert "drain_info" not in agents["agent-0"]
    assert agents["agent-1"]["drain_info"] == {
        "state": "DRAINED",
        "config": {"max_grace_period": {"nanoseconds": 7_500_000_000}},
    }

    (framework,) = shaped["get_frameworks"]["frameworks"]
    info = framework["framework_info"]
    assert info["id"] == {"value": fw} and info["name"] == "web-fw"
    assert info["user"] == "nobody" and info["failover_timeout"] == 60.0
    assert framework["active"] and framework["connected"] and not framework["recovered"]
    allocated = resources_from_v1(framework["allocated_resources"])
    assert allocated.scalars() == Resources.parse("cpus:1;mem:128")
    assert v0_framework["used_resources"]["cpus"] == 1.0
    offered = resources_from_v1(framework["offered_resources"])
    assert offered.totals()["cpus"] == v0_framework["offered_resources"]["cpus"]
    assert [o["id"]["value"] for o in framework["offers"]] == [
        o["id"] for o in v0_framework["offers"]
    ]
    assert shaped["get_frameworks"]["completed_frameworks"] == []


def test_roles_weights_quota_flags_metrics_and_version() -> None:
    master, fw = running_master()
    roles = {r["name"]: r for r in oj.get_roles(master)["roles"]}
    v0_roles = {r["name"]: r for r in sj.roles(master)["roles"]}
    assert roles.keys() == v0_roles.keys()
    assert roles["web"]["weight"] == 2.0 and roles["web"]["frameworks"] == [{"value": fw}]
    used = resources_from_v1(roles["web"]["resources"]).totals()
    assert used["cpus"] == v0_roles["web"]["resources"]["cpus"]
    assert oj.get_weights(master) == {"weight_infos": [{"role": "web", "weight": 2.0}]}
    quota = oj.get_quota(master)["status"]
    assert quota["configs"] == [
        {
            "role": "web",
            "guarantees": {"cpus": {"value": 1.0}},
            "limits": {"cpus": {"value": 8.0}},
        }
    ]
    (info,) = quota["infos"]
    assert info["role"] == "web"
    assert resources_from_v1(info["guarantee"]) == Resources.parse("cpus:1")
    flags = {f["name"]: f["value"] for f in oj.get_flags(master.config)["flags"]}
    assert flags["offer_timeout"] == "60secs"
    assert flags["authenticate_frameworks"] == "false"
    assert all(isinstance(v, str) for v in flags.values())
    snapshot = sj.metrics(master, ABOUT)
    metrics = {m["name"]: m["value"] for m in oj.get_metrics(snapshot)["metrics"]}
    assert metrics == snapshot
    version = {"version": "1.11.0", "git_sha": "abc", "pyactors_version": "0.1.0"}
    assert oj.get_version(version) == {"version_info": {"version": "1.11.0", "git_sha": "abc"}}
    assert oj.response("GET_HEALTH", {"healthy": True}) == {
        "type": "GET_HEALTH",
        "get_health": {"healthy": True},
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{", 400),
        (b"[]", 400),
        (b"{}", 400),
        (b'{"type": "GET_EVERYTHING"}', 400),
        (b'{"type": 9}', 400),
        (b'{"type": "TEARDOWN", "teardown": 5}', 400),
    ],
)
def test_malformed_calls_are_refused(body: bytes, status: int) -> None:
    with pytest.raises(op.CallError) as refused:
        op.read_call(body)
    assert refused.value.status == status


def test_calls_are_read() -> None:
    assert op.read_call(b'{"type": "GET_STATE"}') == ("GET_STATE", {})
    kind, body = op.read_call(b'{"type": "TEARDOWN", "teardown": {"framework_id": {"value": "f"}}}')
    assert kind == "TEARDOWN" and body == {"framework_id": {"value": "f"}}
    assert op.read_call(b'{"type": "SUBSCRIBE"}') == ("SUBSCRIBE", {})
    assert op.read_call(b'{"type": "GET_LOGGING_LEVEL"}')[0] in op.NOT_SERVED


def test_call_arguments() -> None:
    assert op.weights_from_v1({"weight_infos": [{"role": "a", "weight": 2}]}) == [("a", 2.0)]
    for bad in ({}, {"weight_infos": []}, {"weight_infos": [{"role": "a", "weight": "x"}]}):
        with pytest.raises(V1FormatError):
            op.weights_from_v1(bad)
    configs = op.quota_configs_from_v1(
        {
            "quota_configs": [
                {"role": "dev", "limits": {"cpus": {"value": 10}, "mem": {"value": 2048}}},
                {"role": "test", "guarantees": {"cpus": {"value": 0.5}}},
                {"role": "gone"},
            ]
        }
    )
    assert configs == [
        ("dev", "", "cpus:10;mem:2048"),
        ("test", "cpus:0.5", None),
        ("gone", "", None),
    ]
    for bad_configs in (
        [{"role": "a"}, {"role": "a"}],
        [{"role": "a", "limits": {"cpus": {"value": -1}}}],
        [{"role": "a", "limits": {"gpus": {"value": 0}}}],
        [{"role": "a", "limits": {"cpus": 1}}],
        [{"limits": {}}],
    ):
        with pytest.raises(V1FormatError):
            op.quota_configs_from_v1({"quota_configs": bad_configs})
    assert op.duration_seconds("600s", "d") == 600.0
    assert op.duration_seconds({"seconds": 1, "nanos": 500_000_000}, "d") == 1.5
    for bad_duration in ("10mins", {"seconds": -1}, 5):
        with pytest.raises(V1FormatError):
            op.duration_seconds(bad_duration, "d")


@pytest.mark.parametrize(
    ("accept", "allowed"),
    [
        (None, True),
        ("application/json", True),
        ("*/*", True),
        ("application/x-protobuf, application/json;q=0.5", True),
        ("application/x-protobuf", False),
        ("application/json;q=0", False),
        ("text/html", False),
    ],
)
def test_accept(accept: str | None, allowed: bool) -> None:
    assert op.accepts_json(accept) is allowed


def test_reads_rendered_off_the_loop_are_the_state_when_taken() -> None:
    master, _ = running_master()
    viewer = Viewer(master.config.acls, None)
    shapes = {
        "state": oj.get_state,
        "roles": lambda state, about: oj.get_roles(state),
        "metrics": lambda state, about: oj.get_metrics(sj.metrics(state, about)),
    }
    for shape in shapes.values():
        taken = state_view.take(master, allocator=True)
        rendered = orjson.loads(state_view.encode(shape, viewer, taken, ABOUT))
        assert rendered == orjson.loads(orjson.dumps(shape(master, ABOUT)))
    taken = state_view.take(master, allocator=False)
    update = TaskStatus("t2", TaskState.TASK_FAILED, Source.SOURCE_AGENT, 9, agent_id="agent-0")
    master.status_updates("agent-0", [update])
    rendered = orjson.loads(state_view.encode(oj.get_state, viewer, taken, ABOUT))
    assert [t["state"] for t in rendered["get_tasks"]["tasks"]] == ["TASK_RUNNING"]
