"""Mesos's v1 operator API (`POST /api/v1`) on a real cluster, over real
HTTP: each read against what the v0 state endpoints show for the same
state, each change seen in /master/state, the SUBSCRIBE stream's events
for a task, a framework (added, disconnected, removed) and an agent coming
and going, bad calls refused with nothing changed, and a standby's redirect."""

from __future__ import annotations

import http.client
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from support.http import get, request
from support.operator_stream import EventStream
from support.runtime import Launcher, ha_cluster, small_cluster, wait_for

from pyactors import Resources
from pyactors.api.v1.mesos_json import resources_from_v1
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster

SMALL = "cpus:0.1;mem:16"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Agents with disk, for volumes."""
    yield from small_cluster(tmp_path_factory, agent_resources="cpus:2;mem:512;disk:1024")


def call(url: str, body: Any) -> tuple[int, Any]:
    return request(url, "/api/v1", body)


def answer(url: str, kind: str, **fields: Any) -> Any:
    """The body of a call's 200 answer, checked to be of its type."""
    status, body = call(url, {"type": kind, **fields})
    assert status == 200, (kind, status, body)
    assert body["type"] == kind, body
    return body[kind.lower()]


def raw(url: str, method: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, "/api/v1", data, headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def task_states(v1_tasks: dict[str, Any]) -> dict[str, str]:
    tasks = v1_tasks["tasks"] + v1_tasks["unreachable_tasks"] + v1_tasks["completed_tasks"]
    return {t["task_id"]["value"]: t["state"] for t in tasks}


def v0_task_states(state: dict[str, Any]) -> dict[str, str]:
    return {
        t["id"]: t["state"]
        for f in state["frameworks"]
        for t in f["tasks"] + f["unreachable_tasks"] + f["completed_tasks"]
    }


@pytest.fixture(scope="module")
def framework(cluster: Cluster) -> Iterator[Any]:
    """A framework in role `ops` with one finished and one running task."""
    tasks = [("done", "true", SMALL), ("runs", "sleep 600", SMALL)]
    running = cluster.run_framework(Launcher, tasks, name="v1-ops", roles=["ops"])
    wait_for(
        lambda: (
            "TASK_FINISHED" in running.call("states", "done")
            and "TASK_RUNNING" in running.call("states", "runs")
        ),
        what="one task finished, the other running",
    )
    yield running
    if running in cluster.frameworks:
        cluster.teardown(running)


def test_reads_show_what_the_state_endpoints_show(url: str, framework: Any) -> None:
    assert answer(url, "GET_HEALTH") == {"healthy": True}
    version = answer(url, "GET_VERSION")["version_info"]
    assert version["version"] == get(url, "/version")["version"]
    assert [int(part) for part in version["version"].split(".")] >= [1, 0, 0]
    flags = {f["name"]: f["value"] for f in answer(url, "GET_FLAGS")["flags"]}
    assert flags["authenticate_http_readwrite"] == "false" and "offer_timeout" in flags
    metrics = {m["name"] for m in answer(url, "GET_METRICS")["metrics"]}
    assert metrics == set(get(url, "/metrics/snapshot"))
    assert answer(url, "GET_EXECUTORS") == {"executors": []}
    master = answer(url, "GET_MASTER")
    assert master["master_info"]["id"] == get(url, "/master/state")["id"]
    assert master["master_info"]["port"] == urllib.parse.urlsplit(url).port
    assert master["master_info"]["address"]["ip"] == "127.0.0.1"

    state = answer(url, "GET_STATE")
    v0 = get(url, "/master/state")
    assert task_states(state["get_tasks"]) == v0_task_states(v0)
    assert task_states(state["get_tasks"])["runs"] == "TASK_RUNNING"
    assert task_states(answer(url, "GET_TASKS")) == v0_task_states(get(url, "/master/state"))
    (runs,) = [t for t in state["get_tasks"]["tasks"] if t["task_id"]["value"] == "runs"]
    assert runs["framework_id"] == {"value": framework.id}
    assert resources_from_v1(runs["resources"]) == Resources.parse(SMALL)

    agents = {a["agent_info"]["id"]["value"]: a for a in state["get_agents"]["agents"]}
    v0_agents = {s["id"]: s for s in v0["slaves"]}
    assert agents.keys() == v0_agents.keys()
    for agent_id, agent in agents.items():
        assert agent["active"] == v0_agents[agent_id]["active"]
        total = resources_from_v1(agent["total_resources"])
        assert total == Resources.from_json(v0_agents[agent_id]["resources_full"])
    assert answer(url, "GET_AGENTS")["agents"][0]["agent_info"]["id"]["value"] in agents

    frameworks = {
        f["framework_info"]["id"]["value"]: f for f in state["get_frameworks"]["frameworks"]
    }
    assert frameworks.keys() == {f["id"] for f in v0["frameworks"]}
    shown = frameworks[framework.id]
    assert shown["framework_info"]["name"] == "v1-ops" and shown["connected"]
    allocated = resources_from_v1(shown["allocated_resources"]).totals()
    assert allocated["cpus"] == pytest.approx(0.1)
    listed = answer(url, "GET_FRAMEWORKS")["frameworks"]
    assert {f["framework_info"]["id"]["value"] for f in listed} == frameworks.keys()

    roles = {r["name"]: r for r in answer(url, "GET_ROLES")["roles"]}
    assert roles.keys() == {r["name"] for r in get(url, "/master/roles")["roles"]}
    assert roles["ops"]["frameworks"] == [{"value": framework.id}]


def test_changes_are_seen_in_the_master_state(cluster: Cluster, url: str) -> None:
    weights = {"weight_infos": [{"role": "v1-a", "weight": 3.0}, {"role": "v1-b", "weight": 2}]}
    assert call(url, {"type": "UPDATE_WEIGHTS", "update_weights": weights}) == (200, "")
    assert {"role": "v1-a", "weight": 3.0} in get(url, "/master/weights")
    shown_weights = answer(url, "GET_WEIGHTS")["weight_infos"]
    assert {"role": "v1-a", "weight": 3.0} in shown_weights
    assert {"role": "v1-b", "weight": 2.0} in shown_weights

    configs = [
        {"role": "v1-a", "guarantees": {"cpus": {"value": 0.5}}, "limits": {"cpus": {"value": 1}}},
        {"role": "v1-b", "limits": {"mem": {"value": 64}}},
    ]
    update = {"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": configs}}
    assert call(url, update)[0] == 200
    quotas = {q["role"]: q for q in get(url, "/master/quota")["infos"]}
    assert quotas["v1-a"] == {"role": "v1-a", "guarantee": "cpus:0.5", "limit": "cpus:1"}
    assert quotas["v1-b"]["limit"] == "mem:64"
    shown = {c["role"]: c for c in answer(url, "GET_QUOTA")["status"]["configs"]}
    assert shown["v1-a"]["limits"] == {"cpus": {"value": 1.0}}
    cleared = [{"role": "v1-a"}, {"role": "v1-b"}]
    update = {"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": cleared}}
    assert call(url, update)[0] == 200
    assert not {"v1-a", "v1-b"} & {q["role"] for q in get(url, "/master/quota")["infos"]}

    def reserved(agent_id: str) -> Resources:
        (agent,) = [s for s in get(url, "/master/state")["slaves"] if s["id"] == agent_id]
        return Resources.from_json(agent["reserved_resources_full"])

    cpus = {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}}
    disk = {"name": "disk", "type": "SCALAR", "scalar": {"value": 64}}
    reservation = {"reservations": [{"type": "DYNAMIC", "role": "v1-a"}]}
    reserve = {
        "agent_id": {"value": "agent-1"},
        "resources": [{**cpus, **reservation}, {**disk, **reservation}],
    }

    def reserved_now() -> bool:
        status, body = call(url, {"type": "RESERVE_RESOURCES", "reserve_resources": reserve})
        # The resources may be out in an offer: the master takes only what
        # is available (400 until the offer comes back).
        assert status in (202, 400), body
        return status == 202

    wait_for(reserved_now, what="the reservation")
    assert reserved("agent-1") == Resources.parse("cpus(v1-a):0.5;disk(v1-a):64")
    volume = {
        **disk,
        **reservation,
        "disk": {
            "persistence": {"id": "v1-data"},
            "volume": {"container_path": "data", "mode": "RW"},
        },
    }
    volumes = {"agent_id": {"value": "agent-1"}, "volumes": [volume]}
    assert call(url, {"type": "CREATE_VOLUMES", "create_volumes": volumes})[0] == 202
    assert reserved("agent-1") == Resources.parse("cpus(v1-a):0.5;disk(v1-a)[v1-data]:64")
    assert call(url, {"type": "DESTROY_VOLUMES", "destroy_volumes": volumes})[0] == 202
    assert reserved("agent-1") == Resources.parse("cpus(v1-a):0.5;disk(v1-a):64")
    unreserve = {"type": "UNRESERVE_RESOURCES", "unreserve_resources": reserve}
    assert call(url, unreserve)[0] == 202
    assert reserved("agent-1").is_empty()

    drain = {"agent_id": {"value": "agent-1"}, "max_grace_period": "2s"}
    assert call(url, {"type": "DRAIN_AGENT", "drain_agent": drain})[0] == 200
    (drained,) = get(url, "/master/maintenance")["agents"]
    assert drained["agent_id"] == "agent-1" and drained["config"]["max_grace_period"] == 2.0
    (agent,) = [
        a
        for a in answer(url, "GET_AGENTS")["agents"]
        if a["agent_info"]["id"]["value"] == "agent-1"
    ]
    assert agent["deactivated"] and agent["drain_info"]["config"]["max_grace_period"] == {
        "nanoseconds": 2_000_000_000
    }
    reactivate = {"agent_id": {"value": "agent-1"}}
    assert call(url, {"type": "REACTIVATE_AGENT", "reactivate_agent": reactivate})[0] == 200
    assert get(url, "/master/maintenance")["agents"] == []

    doomed = cluster.run_framework(Launcher, [], name="v1-doomed", roles=["v1-a"])
    teardown = {"framework_id": {"value": doomed.id}}
    assert call(url, {"type": "TEARDOWN", "teardown": teardown})[0] == 200
    assert doomed.id not in {f["id"] for f in get(url, "/master/state")["frameworks"]}
    cluster.frameworks.remove(doomed)


def _everything(url: str) -> Any:
    """What a call could change."""
    state = get(url, "/master/state")
    return (
        sorted(f["id"] for f in state["frameworks"]),
        state["weights"],
        [(s["id"], s["resources_full"], s["reserved_resources_full"]) for s in state["slaves"]],
        get(url, "/master/quota"),
        get(url, "/master/maintenance"),
    )


def test_bad_calls_are_refused_and_change_nothing(url: str, framework: Any) -> None:
    before = _everything(url)
    agent = {"value": "agent-0"}
    cpus = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}, "role": "ops"}]
    bad: list[tuple[Any, int]] = [
        ({"type": "GET_EVERYTHING"}, 400),
        ({}, 400),
        ([{"type": "GET_STATE"}], 400),
        ({"type": "UPDATE_WEIGHTS"}, 400),
        ({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"role": "ops"}]}}, 400),
        ({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"weight": 2}]}}, 400),
        ({"type": "RESERVE_RESOURCES", "reserve_resources": {"resources": cpus}}, 400),
        ({"type": "RESERVE_RESOURCES", "reserve_resources": {"agent_id": agent}}, 400),
        (
            {
                "type": "RESERVE_RESOURCES",
                "reserve_resources": {"agent_id": {"value": "nowhere"}, "resources": cpus},
            },
            400,
        ),
        ({"type": "TEARDOWN", "teardown": {"framework_id": {"value": "nobody"}}}, 400),
        ({"type": "TEARDOWN", "teardown": {}}, 400),
        ({"type": "DRAIN_AGENT", "drain_agent": {"agent_id": agent, "mark_gone": True}}, 400),
        ({"type": "DRAIN_AGENT", "drain_agent": {"agent_id": agent, "max_grace_period": "x"}}, 400),
        ({"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": {"value": "x"}}}, 400),
        (
            {
                "type": "UPDATE_QUOTA",
                "update_quota": {
                    "quota_configs": [
                        {"role": "ops", "limits": {"cpus": {"value": 1}}},
                        {
                            "role": "ops2",
                            "guarantees": {"cpus": {"value": 2}},
                            "limits": {"cpus": {"value": 1}},
                        },
                    ]
                },
            },
            400,
        ),
        ({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": agent}}, 501),
    ]
    for body, status in bad:
        got, answered = call(url, body)
        assert got == status, (body, got, answered)
        assert answered["code"] == status and answered["message"], answered
    assert raw(url, "POST", b'{"type": ', {"Content-Type": "application/json"})[0] == 400
    protobuf = raw(url, "POST", b"\x08\x01", {"Content-Type": "application/x-protobuf"})
    assert protobuf[0] == 415 and b"application/json" in protobuf[1]
    form = raw(
        url, "POST", b"type=GET_STATE", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form[0] == 415
    wants_protobuf = {"Content-Type": "application/json", "Accept": "application/x-protobuf"}
    assert raw(url, "POST", b'{"type": "GET_HEALTH"}', wants_protobuf)[0] == 406
    # A body of no type: the guards refuse it before the call is read.
    assert raw(url, "POST", b'{"type": "GET_HEALTH"}', {})[0] == 415
    assert raw(url, "GET", None, {})[0] == 405
    assert _everything(url) == before


def test_subscribe_streams_the_state_then_its_changes(cluster: Cluster, url: str) -> None:
    stream = EventStream(url)
    try:
        wait_for(lambda: len(stream.events) >= 2, what="SUBSCRIBED and a HEARTBEAT")
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("application/json")
        assert stream.headers.get("Transfer-Encoding") == "chunked"
        first, second = stream.events[:2]
        assert first["type"] == "SUBSCRIBED" and second["type"] == "HEARTBEAT"
        subscribed = first["subscribed"]
        assert subscribed["heartbeat_interval_seconds"] == 15.0
        agent_ids = {
            a["agent_info"]["id"]["value"] for a in subscribed["get_state"]["get_agents"]["agents"]
        }
        assert {"agent-0", "agent-1"} <= agent_ids

        launcher = cluster.run_framework(
            Launcher,
            [("streamed", "true", SMALL)],
            name="v1-streamed",
            roles=["ops"],
            failover_timeout=600.0,
        )
        wait_for(
            lambda: any(
                u["status"]["task_id"]["value"] == "streamed" and u["state"] == "TASK_FINISHED"
                for u in stream.of("TASK_UPDATED")
            ),
            what="TASK_UPDATED to TASK_FINISHED",
            seen=lambda: stream.events[-5:],
        )
        (framework_added,) = [
            f
            for f in stream.of("FRAMEWORK_ADDED")
            if f["framework"]["framework_info"]["id"]["value"] == launcher.id
        ]
        assert framework_added["framework"]["framework_info"]["name"] == "v1-streamed"
        (task_added,) = [
            t for t in stream.of("TASK_ADDED") if t["task"]["task_id"]["value"] == "streamed"
        ]
        assert task_added["task"]["framework_id"] == {"value": launcher.id}
        order = [
            e["type"]
            for e in stream.events
            if e["type"] in ("FRAMEWORK_ADDED", "TASK_ADDED", "TASK_UPDATED")
            and launcher.id in orjson.dumps(e).decode()
        ]
        assert order[:2] == ["FRAMEWORK_ADDED", "TASK_ADDED"] and order[-1] == "TASK_UPDATED"
        updates = [
            u for u in stream.of("TASK_UPDATED") if u["status"]["task_id"]["value"] == "streamed"
        ]
        assert all(u["framework_id"] == {"value": launcher.id} for u in updates)

        cluster.disconnect(launcher)  # its scheduler gone: kept for its failover timeout
        wait_for(
            lambda: any(
                f["framework"]["framework_info"]["id"]["value"] == launcher.id
                and not f["framework"]["connected"]
                for f in stream.of("FRAMEWORK_UPDATED")
            ),
            what="FRAMEWORK_UPDATED: disconnected",
        )
        teardown = {"type": "TEARDOWN", "teardown": {"framework_id": {"value": launcher.id}}}
        assert call(url, teardown)[0] == 200
        wait_for(
            lambda: any(
                f["framework_info"]["id"]["value"] == launcher.id
                for f in stream.of("FRAMEWORK_REMOVED")
            ),
            what="FRAMEWORK_REMOVED",
        )

        agent_id = f"agent-v1-{uuid.uuid4().hex[:6]}"
        handle = cluster.add_agent(agent_id, ray_calls.current_node_id(), "cpus:1;mem:64")
        wait_for(
            lambda: any(
                a["agent"]["agent_info"]["id"]["value"] == agent_id
                for a in stream.of("AGENT_ADDED")
            ),
            what="AGENT_ADDED",
        )
        ray_calls.stop(handle)
        wait_for(
            lambda: {"agent_id": {"value": agent_id}} in stream.of("AGENT_REMOVED"),
            what="AGENT_REMOVED",
        )
        wait_for(lambda: len(stream.of("HEARTBEAT")) >= 2, what="a heartbeat 15 s on")
        assert not stream.ended
    finally:
        stream.close()


def test_a_standby_redirects_and_a_stream_ends_with_its_leader(
    zookeeper: Any, tmp_path: Path
) -> None:
    ha = ha_cluster(zookeeper, tmp_path)
    try:
        leader_url = ha.url
        standby = next(m for m in ha.masters if not ray_calls.ask(m, "status")["leading"])
        standby_url = ray_calls.ask(standby, "status")["info"]["url"]
        parts = urllib.parse.urlsplit(standby_url)
        assert parts.hostname is not None
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        try:
            body = b'{"type": "GET_HEALTH"}'
            connection.request("POST", "/api/v1", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            assert response.status == 307
            assert response.getheader("Location") == leader_url + "/api/v1"
        finally:
            connection.close()
        stream = EventStream(leader_url)
        try:
            wait_for(lambda: stream.events, what="SUBSCRIBED")
            ray_calls.stop(ha.leader())
            wait_for(lambda: stream.ended, what="the stream ends with its leader")
        finally:
            stream.close()
    finally:
        ha.shutdown()
