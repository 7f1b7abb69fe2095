"""The v1 operator API on a master with credentials and ACLs: calls need
credentials, a denied change answers 403 naming its ACL and changes nothing,
and reads and SUBSCRIBE's events show a viewer only what its view ACLs
allow."""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from support.operator_stream import EventStream
from support.runtime import Launcher, small_cluster, wait_for

from pyactors.master.records import MasterConfig
from pyactors.runtime.cluster import Cluster
from pyactors.security.acls import Acls
from pyactors.security.credentials import Credentials

SECRETS = {"ops": "ops-s3cret", "viewer": "viewer-s3cret", "web": "web-s3cret", "etl": "etl-s3cret"}
NONE: dict[str, Any] = {"type": "NONE"}
# Everything allowed but: viewer and the frameworks' principals set no
# weight, and viewer sees only role web's frameworks and tasks.
ACLS: dict[str, Any] = {
    "update_weights": [{"principals": {"values": ["viewer", "web", "etl"]}, "roles": NONE}],
    **{
        view: [
            {"principals": {"values": ["viewer"]}, "roles": {"values": ["web"]}},
            {"principals": {"values": ["viewer"]}, "roles": NONE},
        ]
        for view in ("view_frameworks", "view_tasks")
    },
}


def basic(principal: str) -> dict[str, str]:
    secret = f"{principal}:{SECRETS[principal]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(secret).decode()}


def call(url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        sent = {"Content-Type": "application/json", **headers}
        connection.request("POST", "/api/v1", json.dumps(body).encode(), sent)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    return response.status, json.loads(payload) if payload else None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    config = MasterConfig(credentials=Credentials.load(SECRETS), acls=Acls.load(ACLS))
    yield from small_cluster(tmp_path_factory, config=config)


def run(cluster: Cluster, name: str) -> Any:
    """A framework of principal and role `name` running one task."""
    framework = cluster.run_framework(
        Launcher,
        [(f"{name}-task", "sleep 600", "cpus:0.1;mem:16")],
        name=name,
        roles=[name],
        principal=name,
        secret=SECRETS[name],
    )
    wait_for(
        lambda: "TASK_RUNNING" in framework.call("states", f"{name}-task"),
        what=f"{name}'s task runs",
    )
    return framework


def framework_names(get_state: dict[str, Any]) -> set[str]:
    return {f["framework_info"]["name"] for f in get_state["get_frameworks"]["frameworks"]}


def task_ids(get_state: dict[str, Any]) -> set[str]:
    return {t["task_id"]["value"] for t in get_state["get_tasks"]["tasks"]}


def test_calls_need_credentials_and_their_acls(url: str) -> None:
    assert call(url, {"type": "GET_HEALTH"}, {})[0] == 401
    wrong = {"Authorization": "Basic " + base64.b64encode(b"ops:wrong").decode()}
    assert call(url, {"type": "GET_STATE"}, wrong)[0] == 401
    weights = {"weight_infos": [{"role": "web", "weight": 5.0}]}
    update = {"type": "UPDATE_WEIGHTS", "update_weights": weights}
    status, refused = call(url, update, basic("viewer"))
    assert status == 403 and "(ACL update_weights)" in refused["message"], refused
    weights_now = {"type": "GET_WEIGHTS"}
    assert call(url, weights_now, basic("ops"))[1]["get_weights"]["weight_infos"] == []
    assert call(url, update, basic("ops"))[0] == 200
    shown = call(url, weights_now, basic("viewer"))[1]["get_weights"]["weight_infos"]
    assert shown == [{"role": "web", "weight": 5.0}]


def test_reads_and_events_show_a_viewer_only_what_it_may_see(cluster: Cluster, url: str) -> None:
    web = run(cluster, "web")
    as_viewer = EventStream(url, basic("viewer"))
    as_ops = EventStream(url, basic("ops"))
    try:
        for stream in (as_viewer, as_ops):
            wait_for(lambda s=stream: s.of("SUBSCRIBED"), what="SUBSCRIBED")
        (seen_by_viewer,) = as_viewer.of("SUBSCRIBED")
        assert framework_names(seen_by_viewer["get_state"]) == {"web"}
        etl = run(cluster, "etl")
        wait_for(
            lambda: "etl-task" in {t["task"]["task_id"]["value"] for t in as_ops.of("TASK_ADDED")},
            what="ops told of etl's task",
        )
        state = call(url, {"type": "GET_STATE"}, basic("viewer"))[1]["get_state"]
        assert framework_names(state) == {"web"} and task_ids(state) == {"web-task"}
        everything = call(url, {"type": "GET_STATE"}, basic("ops"))[1]["get_state"]
        assert framework_names(everything) == {"web", "etl"}
        assert task_ids(everything) == {"web-task", "etl-task"}
        tasks = call(url, {"type": "GET_TASKS"}, basic("viewer"))[1]["get_tasks"]["tasks"]
        assert [t["task_id"]["value"] for t in tasks] == ["web-task"]
        cluster.teardown(web)
        wait_for(
            lambda: any(
                f["framework_info"]["name"] == "web" for f in as_viewer.of("FRAMEWORK_REMOVED")
            ),
            what="viewer told web is gone",
        )
        # Told in order: whatever it was told of etl came before this.
        told = json.dumps(as_viewer.events)
        assert etl.id not in told and "etl-task" not in told
        assert "etl-task" in json.dumps(as_ops.events)
        cluster.teardown(etl)
    finally:
        as_viewer.close()
        as_ops.close()
