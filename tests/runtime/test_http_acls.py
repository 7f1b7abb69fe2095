"""Authorization of a real master's HTTP API by Mesos-format ACLs: every
operator action a principal's ACL denies answers 403 naming the action,
with the state the same before and after; reads show each viewer only the
frameworks and tasks its ACLs let it see; sandboxes need access_sandboxes."""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from support.runtime import Launcher, small_cluster, wait_for

from pyactors.api import openapi
from pyactors.master.records import MasterConfig
from pyactors.runtime.cluster import Cluster
from pyactors.security.acls import Acls
from pyactors.security.credentials import Credentials

SECRETS = {"ops": "ops-s3cret", "viewer": "viewer-s3cret", "web": "web-s3cret", "etl": "etl-s3cret"}
ANY: dict[str, Any] = {"type": "ANY"}


def _only(principals: list[str], field: str, objects: Any = ANY) -> list[dict[str, Any]]:
    return [{"principals": {"values": principals}, field: objects}]


# Deny by default: ops may do everything, viewer may only look, web and etl
# register their own role and see only it.
ACLS: dict[str, Any] = {
    "permissive": False,
    "register_frameworks": [
        {"principals": {"values": ["web"]}, "roles": {"values": ["web"]}},
        {"principals": {"values": ["etl"]}, "roles": {"values": ["etl"]}},
    ],
    "run_tasks": [{"principals": ANY, "users": ANY}],
    "teardown_frameworks": _only(["ops"], "framework_principals"),
    "update_quotas": _only(["ops"], "roles"),
    "update_weights": _only(["ops"], "roles"),
    "reserve_resources": _only(["ops"], "roles"),
    "unreserve_resources": _only(["ops"], "roles"),
    "create_volumes": _only(["ops"], "roles"),
    "destroy_volumes": _only(["ops"], "roles"),
    "drain_agents": _only(["ops"], "agents"),
    "kill_tasks": _only(["ops"], "framework_principals"),
    "access_sandboxes": _only(["ops"], "roles"),
    **{
        maintenance: _only(["ops"], "machines")
        for maintenance in (
            "update_maintenance_schedules",
            "get_maintenance_schedules",
            "start_maintenances",
            "stop_maintenances",
            "get_maintenance_statuses",
        )
    },
    **{
        view: [
            {"principals": {"values": ["ops", "viewer"]}, "roles": ANY},
            {"principals": {"values": ["web"]}, "roles": {"values": ["web"]}},
            {"principals": {"values": ["etl"]}, "roles": {"values": ["etl"]}},
        ]
        for view in ("view_frameworks", "view_tasks")
    },
}


def basic(principal: str) -> str:
    return "Basic " + base64.b64encode(f"{principal}:{SECRETS[principal]}".encode()).decode()


def send(url: str, principal: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    headers = {"Authorization": basic(principal)}
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, path, data, headers)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    if response.getheader("Content-Type", "").startswith("application/json"):
        return response.status, json.loads(payload)
    return response.status, payload.decode(errors="replace")


def read(url: str, principal: str, path: str) -> Any:
    status, body = send(url, principal, "GET", path)
    assert status == 200, (principal, path, body)
    return body


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    config = MasterConfig(credentials=Credentials.load(SECRETS), acls=Acls.load(ACLS))
    yield from small_cluster(tmp_path_factory, config=config)


@pytest.fixture(scope="module")
def frameworks(cluster: Cluster, url: str) -> dict[str, str]:
    """A framework per role, each with a running task; a quota on web (for
    the denied DELETE to be about the ACL, not an unknown quota)."""
    ids = {}
    for name in ("web", "etl"):
        framework = cluster.run_framework(
            Launcher,
            [(f"{name}-task", "echo hello-from-the-sandbox; sleep 3600", "cpus:0.1;mem:16")],
            name=name,
            roles=[name],
            principal=name,
            secret=SECRETS[name],
        )
        wait_for(
            lambda f=framework, n=name: "TASK_RUNNING" in f.call("states", f"{n}-task"),
            what=f"{name}'s task runs",
        )
        ids[name] = framework.id
    status, answer = send(
        url, "ops", "POST", "/master/quota", {"role": "web", "guarantee": "cpus:1"}
    )
    assert status == 200, answer
    return ids


def _everything(url: str) -> Any:
    """What an operator call could change, as ops sees it."""
    state = read(url, "ops", "/master/state")
    return (
        [
            (f["id"], f["principal"], sorted((t["id"], t["state"]) for t in f["tasks"]))
            for f in state["frameworks"]
        ],
        state["weights"],
        [(s["id"], s["resources"], s["reserved_resources"]) for s in state["slaves"]],
        read(url, "ops", "/master/quota"),
        read(url, "ops", "/master/maintenance"),
        read(url, "ops", "/master/maintenance/schedule"),
        read(url, "ops", "/master/maintenance/status"),
    )


def _window(*hostnames: str) -> dict[str, Any]:
    return {
        "machine_ids": [{"hostname": h} for h in hostnames],
        "unavailability": {"start": {"nanoseconds": 4 * 10**18}},
    }


def test_every_denied_operator_action_answers_403_and_changes_nothing(
    url: str, frameworks: dict[str, str]
) -> None:
    # Machines in each mode the maintenance calls need (ops may): draining
    # (to go down) and down (to come up).
    schedule = {"windows": [_window("draining-host", "down-host")]}
    for path, body in (
        ("/master/maintenance/schedule", schedule),
        ("/master/machine/down", [{"hostname": "down-host"}]),
    ):
        status, answer = send(url, "ops", "POST", path, body)
        assert status == 200, (path, answer)
    denied = [
        (
            "POST",
            "/master/maintenance/schedule",
            {"windows": [_window("draining-host", "down-host", "other-host")]},
            "update_maintenance_schedules",
        ),
        ("POST", "/master/machine/down", [{"hostname": "draining-host"}], "start_maintenances"),
        ("POST", "/master/machine/up", [{"hostname": "down-host"}], "stop_maintenances"),
        ("POST", "/master/quota", {"role": "web", "guarantee": "cpus:2"}, "update_quotas"),
        ("DELETE", "/master/quota/web", None, "update_quotas"),
        ("POST", "/master/weights", [{"role": "web", "weight": 4}], "update_weights"),
        ("PUT", "/master/weights", [{"role": "web", "weight": 4}], "update_weights"),
        ("POST", "/master/teardown", {"framework_id": frameworks["web"]}, "teardown_frameworks"),
        ("POST", "/master/kill", {"task_id": "web-task"}, "kill_tasks"),
        (
            "POST",
            "/master/reserve",
            {"agent_id": "agent-0", "resources": "cpus(web):0.1"},
            "reserve_resources",
        ),
        (
            "POST",
            "/master/unreserve",
            {"agent_id": "agent-0", "resources": "cpus(web):0.1"},
            "unreserve_resources",
        ),
        (
            "POST",
            "/master/create-volumes",
            {"agent_id": "agent-0", "volumes": "disk(web)[data]:1"},
            "create_volumes",
        ),
        (
            "POST",
            "/master/destroy-volumes",
            {"agent_id": "agent-0", "volumes": "disk(web)[data]:1"},
            "destroy_volumes",
        ),
        ("POST", "/master/maintenance/drain", {"agent_id": "agent-0"}, "drain_agents"),
        ("POST", "/master/maintenance/reactivate", {"agent_id": "agent-0"}, "drain_agents"),
        ("GET", "/tasks/web-task/logs/stdout", None, "access_sandboxes"),
        ("GET", "/files/read?path=web-task/stdout", None, "access_sandboxes"),
        (
            "POST",
            "/api/v1",
            {
                "type": "UPDATE_WEIGHTS",
                "update_weights": {"weight_infos": [{"role": "web", "weight": 4}]},
            },
            "update_weights",
        ),
    ]
    # Every operation that changes something has its ACL, and every
    # operation the document says an ACL refuses is tried here.
    changes = {
        (method, path)
        for path, methods in openapi.document()["paths"].items()
        for method in methods
        if method != "get" and path != "/auth/token"
    }
    assert changes <= set(openapi.ACLS)
    refusable = {
        (method.upper(), path)
        for (method, path), acl in openapi.ACLS.items()
        if not acl.startswith(("filtered", "on its event stream"))
    }
    tried = {(method, path.split("?")[0]) for method, path, _, _ in denied}
    templated = {
        (m, p.replace("{task_id}", "web-task").replace("{name}", "stdout")) for m, p in refusable
    }
    templated = {(m, p.replace("{role}", "web")) for m, p in templated}
    assert tried | {("GET", "/metrics")} == templated
    before = _everything(url)
    for principal in ("viewer", "web"):
        for method, path, body, action in denied:
            status, answer = send(url, principal, method, path, body)
            assert status == 403, (principal, method, path, answer)
            assert answer["error"] == "forbidden"
            assert f"(ACL {action})" in answer["message"], answer
            assert repr(principal) in answer["message"]
    # Prometheus's series name every framework: not for a limited viewer.
    status, answer = send(url, "web", "GET", "/metrics")
    assert status == 403 and "(ACL view_frameworks)" in answer["message"]
    assert _everything(url) == before


def test_an_allowed_principal_is_let_through(url: str, frameworks: dict[str, str]) -> None:
    status, chunk = send(url, "ops", "GET", "/tasks/web-task/logs/stdout")
    assert status == 200, chunk
    status, answer = send(url, "ops", "PUT", "/master/weights", [{"role": "spare", "weight": 2}])
    assert status == 200, answer
    assert {"role": "spare", "weight": 2.0} in read(url, "viewer", "/master/weights")
    assert "pyactors_framework_share" in read(url, "viewer", "/metrics")


def _framework_ids(body: Any) -> list[str]:
    return sorted(f["id"] for f in body["frameworks"])


def test_each_viewer_sees_only_what_it_may(url: str, frameworks: dict[str, str]) -> None:
    everyone = sorted(frameworks.values())
    for principal, expected in (
        ("ops", everyone),
        ("viewer", everyone),
        ("web", [frameworks["web"]]),
        ("etl", [frameworks["etl"]]),
    ):
        for path in ("/master/state", "/state", "/master/frameworks", "/master/state-summary"):
            assert _framework_ids(read(url, principal, path)) == expected, (principal, path)
        tasks = read(url, principal, "/master/tasks")["tasks"]
        assert sorted({t["framework_id"] for t in tasks}) == expected, principal
        roles = read(url, principal, "/master/roles")["roles"]
        assert sorted(f for r in roles for f in r["frameworks"]) == expected, principal
        shares = read(url, principal, "/master/shares")["series"]
        assert {s["framework_id"] for s in shares} <= set(expected), principal
        statistics = read(url, principal, "/monitor/statistics")
        assert {s["framework_id"] for s in statistics} <= set(expected), principal
        summary = read(url, principal, "/master/state-summary")
        assert {f for s in summary["slaves"] for f in s["framework_ids"]} <= set(expected)
    state = read(url, "viewer", "/master/state")
    principals = {f["id"]: f["principal"] for f in state["frameworks"]}
    assert principals == {frameworks["web"]: "web", frameworks["etl"]: "etl"}
    # A viewer allowed nothing of etl's does not learn of its task.
    assert read(url, "web", "/master/tasks?task_id=etl-task")["tasks"] == []
