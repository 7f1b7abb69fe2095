"""pymesos frameworks on a cluster with credentials and ACLs, through
Mesos's v1 scheduler API: a framework authenticates with HTTP Basic as its
principal and runs tasks; a role the ACLs deny it is answered with an ERROR
event and registers nothing; a task user the ACLs deny is TASK_ERROR naming
the ACL; requests without the right credentials are answered 401, and calls
on a framework's stream by another principal are refused, changing
nothing."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from support.http import get
from support.pymesos.processes import Process, address, framework, registered, state_of
from support.runtime import small_cluster, wait_for

from pyactors.runtime.cluster import Cluster

CREDENTIALS = {"web": "web-secret", "ops": "ops-secret"}
ACLS: dict[str, Any] = {
    # Permissive, so each list below denies exactly what it names.
    "permissive": True,
    "register_frameworks": [
        {"principals": {"values": ["web"]}, "roles": {"values": ["web"]}},
        {"principals": {"values": ["web"]}, "roles": {"type": "NONE"}},
    ],
    "run_tasks": [{"principals": {"values": ["ops"]}, "users": {"type": "NONE"}}],
}


def basic(principal: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{principal}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


OPS = basic("ops", CREDENTIALS["ops"])


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from small_cluster(tmp_path_factory, credentials=CREDENTIALS, acls=ACLS)


def as_principal(principal: str) -> dict[str, str]:
    return {"MESOS_PRINCIPAL": principal, "MESOS_SECRET": CREDENTIALS[principal]}


def frameworks_named(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    listed = get(cluster.url, "/master/frameworks", headers=OPS)["frameworks"]
    return [f for f in listed if f["name"] == name]


def call(cluster: Cluster, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str]:
    """One call to `/api/v1/scheduler`: its status and body (a SUBSCRIBE
    answered 200 is closed after its first bytes)."""
    request = urllib.request.Request(
        cluster.url + "/api/v1/scheduler",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(64).decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def subscribe_call(name: str, principal: str | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"user": "", "name": name, "role": "web"}
    if principal is not None:
        info["principal"] = principal
    return {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}


def running(
    cluster: Cluster, processes: list[Process], principal: str, role: str, name: str
) -> tuple[Process, str]:
    """A pymesos framework authenticated as `principal`, registered in
    `role`: its scheduler process and its framework id."""
    options = ("--role", role, "--name", name)
    scheduler = framework(processes, address(cluster), *options, env=as_principal(principal))
    return scheduler, registered(scheduler)


def stop(cluster: Cluster, scheduler: Process, framework_id: str) -> None:
    """The scheduler stops, and its framework is torn down."""
    scheduler.tell(do="stop")
    wait_for(lambda: state_of(cluster, framework_id, headers=OPS) is None, what="torn down")


def test_a_framework_authenticated_as_its_principal_runs_tasks(
    secured: Cluster, processes: list[Process]
) -> None:
    scheduler, framework_id = running(secured, processes, "web", "web", "web-app")
    record = state_of(secured, framework_id, headers=OPS)
    assert record is not None
    assert record["principal"] == "web" and record["role"] == "web"
    scheduler.tell(do="launch", task_id="hello", command="echo hello")
    updates = wait_for(
        lambda: [u for u in scheduler.updates("hello") if u["state"] == "TASK_FINISHED"],
        what="the task to finish",
        seen=lambda: scheduler.lines[-5:],
    )
    assert updates[0]["uuid"]
    stop(secured, scheduler, framework_id)


def test_a_role_the_acls_deny_is_answered_with_an_error_event(
    secured: Cluster, processes: list[Process]
) -> None:
    options = ("--role", "ops", "--name", "web-as-ops")
    scheduler = framework(processes, address(secured), *options, env=as_principal("web"))
    # pymesos subscribes again after each ERROR; every answer is the same.
    error = wait_for(lambda: scheduler.events("error"), what="the ERROR event")[0]
    assert "register_frameworks" in error["message"], error
    assert not scheduler.events("registered")
    assert frameworks_named(secured, "web-as-ops") == []


def test_a_task_user_the_acls_deny_is_task_error_naming_the_acl(
    secured: Cluster, processes: list[Process]
) -> None:
    scheduler, framework_id = running(secured, processes, "ops", "ops", "ops-app")
    scheduler.tell(do="launch", task_id="denied", command="echo never")
    (update,) = wait_for(lambda: scheduler.updates("denied"), what="the task's refusal")
    assert update["state"] == "TASK_ERROR"
    assert update["reason"] == "REASON_TASK_UNAUTHORIZED"
    assert "run_tasks" in update["message"], update
    record = state_of(secured, framework_id, headers=OPS)
    assert record is not None and record["tasks"] == []
    stop(secured, scheduler, framework_id)


@pytest.mark.parametrize(
    "headers",
    [{}, basic("web", "wrong"), basic("nobody", "web-secret")],
    ids=["none", "wrong-secret", "unknown-principal"],
)
def test_subscribing_without_the_right_credentials_is_401_and_registers_nothing(
    secured: Cluster, headers: dict[str, str]
) -> None:
    status, _ = call(secured, subscribe_call("intruder"), headers)
    assert status == 401
    assert frameworks_named(secured, "intruder") == []


def test_another_principal_cannot_call_on_a_frameworks_stream(
    secured: Cluster, processes: list[Process]
) -> None:
    scheduler, framework_id = running(secured, processes, "web", "web", "guarded")
    teardown = {"type": "TEARDOWN", "framework_id": {"value": framework_id}}
    # A FrameworkInfo naming another principal than the one authenticated.
    status, body = call(secured, subscribe_call("impostor", "web"), OPS)
    assert status == 400 and "does not match principal" in body
    status, body = call(secured, teardown, OPS)
    assert status in (400, 403) and "principal" in body, body
    status, _ = call(secured, teardown, {})
    assert status == 401
    record = state_of(secured, framework_id, headers=OPS)
    assert record is not None and record["active"]
    assert frameworks_named(secured, "impostor") == []
    stop(secured, scheduler, framework_id)
