"""The browser and network guards of a real master's HTTP API (a cluster
without credentials: the guards hold whether or not there are any): the
cross-site teardown of issue 14 refused with the framework still there,
a DNS-rebinding Host refused, non-JSON bodies refused, nosniff everywhere."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import Any

import pytest
from support.http import get
from support.runtime import Launcher, wait_for

from pyactors.runtime.cluster import Cluster


def _send(
    url: str, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, http.client.HTTPMessage, Any]:
    """One request with exactly these headers (http.client sends Host
    itself unless it is given)."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.putrequest(method, path, skip_host="Host" in headers)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    decoded: Any = payload
    if response.getheader("Content-Type", "").startswith("application/json"):
        decoded = json.loads(payload)
    return response.status, response.headers, decoded


@pytest.fixture(scope="module")
def framework_id(cluster: Cluster) -> str:
    framework = cluster.run_framework(
        Launcher, [("kept", "sleep 3600", "cpus:0.1;mem:16")], name="kept", roles=["kept"]
    )
    wait_for(lambda: "TASK_RUNNING" in framework.call("states", "kept"), what="the task runs")
    return framework.id


def _frameworks(url: str) -> list[str]:
    return sorted(f["id"] for f in get(url, "/master/frameworks")["frameworks"])


def test_the_cross_site_teardown_of_issue_14_is_refused(url: str, framework_id: str) -> None:
    before = get(url, "/master/state")
    body = json.dumps({"framework_id": framework_id}).encode()
    status, headers, answer = _send(
        url,
        "POST",
        "/master/teardown",
        {"Content-Type": "text/plain", "Origin": "http://evil.example"},
        body,
    )
    assert status == 403, answer
    assert answer["error"] == "cross_origin"
    assert "http://evil.example" in answer["message"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    # Without the Origin (a local process, a curl): refused for its type.
    status, _, answer = _send(url, "POST", "/master/teardown", {"Content-Type": "text/plain"}, body)
    assert (status, answer["error"]) == (415, "unsupported_media_type")
    after = get(url, "/master/state")
    assert framework_id in _frameworks(url)
    assert [f["id"] for f in after["frameworks"]] == [f["id"] for f in before["frameworks"]]
    (framework,) = [f for f in after["frameworks"] if f["id"] == framework_id]
    assert [t["state"] for t in framework["tasks"]] == ["TASK_RUNNING"]


def test_a_page_of_another_origin_changes_nothing(url: str, framework_id: str) -> None:
    before = get(url, "/master/state")
    for method, path, body in (
        ("POST", "/master/kill", {"task_id": "kept"}),
        ("POST", "/master/quota", {"role": "kept", "guarantee": "cpus:1"}),
        ("PUT", "/master/weights", [{"role": "kept", "weight": 5}]),
        ("DELETE", "/master/quota/kept", None),
        ("POST", "/master/maintenance/drain", {"agent_id": "agent-0"}),
    ):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Origin": "http://evil.example"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        status, _, answer = _send(url, method, path, headers, data)
        assert (status, answer["error"]) == (403, "cross_origin"), (method, path)
    after = get(url, "/master/state")
    assert after["weights"] == before["weights"]
    assert get(url, "/master/quota") == {"infos": []}
    assert get(url, "/master/maintenance") == {"agents": []}
    (framework,) = [f for f in after["frameworks"] if f["id"] == framework_id]
    assert [t["state"] for t in framework["tasks"]] == ["TASK_RUNNING"]


def test_the_page_own_origin_may_change_things(url: str) -> None:
    body = json.dumps([{"role": "own-origin", "weight": 2}]).encode()
    status, _, answer = _send(
        url,
        "PUT",
        "/master/weights",
        {"Origin": url, "Content-Type": "application/json"},
        body,
    )
    assert status == 200, answer
    assert {"role": "own-origin", "weight": 2.0} in get(url, "/master/weights")


def test_a_dns_rebinding_host_is_refused(url: str) -> None:
    port = urllib.parse.urlsplit(url).port
    for path in ("/master/state", "/master/tasks", "/", "/metrics", "/openapi.json"):
        status, headers, answer = _send(url, "GET", path, {"Host": f"evil.example:{port}"})
        assert status == 421, path
        assert answer["error"] == "misdirected_request"
        assert "evil.example" in answer["message"]
        assert headers["X-Content-Type-Options"] == "nosniff"
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        status, _, _ = _send(url, "GET", "/master/state", {"Host": host})
        assert status == 200, host


def test_json_endpoints_refuse_other_bodies_but_not_no_body(url: str) -> None:
    before = get(url, "/master/weights")
    for kind in ("text/plain", "application/xml", "multipart/form-data; boundary=b"):
        status, _, answer = _send(
            url,
            "POST",
            "/master/weights",
            {"Content-Type": kind},
            b'[{"role": "typed", "weight": 9}]',
        )
        assert (status, answer["error"]) == (415, "unsupported_media_type"), kind
    assert get(url, "/master/weights") == before
    # A DELETE sends no body: answered for what it asks (no such quota).
    status, _, answer = _send(url, "DELETE", "/master/quota/none", {})
    assert (status, answer["error"]) == (404, "unknown_quota")


def test_every_answer_says_nosniff(url: str, framework_id: str) -> None:
    for path in (
        "/",
        "/webui/app.js",
        "/master/state",
        "/metrics",
        "/health",
        "/no/such/thing",
        "/tasks/kept/logs/stdout?format=text",
        "/tasks/kept/logs/stdout",
    ):
        status, headers, _ = _send(url, "GET", path, {})
        assert headers["X-Content-Type-Options"] == "nosniff", (path, status)
