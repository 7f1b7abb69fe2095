"""Marathon's REST API of the service framework, driven by Marathon's own
Python client (marathon-python 0.13.0) and by plain HTTP, against a real
cluster: every answer is compared with what `cluster.services()` reports."""

from __future__ import annotations

import collections
import collections.abc
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from support.http import get
from support.runtime import PATIENCE, wait_for

from pyactors.frameworks.services.client import Services
from pyactors.runtime.cluster import Cluster

# marathon-python 0.13.0 uses collections.Iterable, gone since Python 3.10:
# the alias restored here is a fix on the client's side.
collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

from marathon import MarathonClient  # noqa: E402
from marathon.exceptions import ConflictError, MarathonHttpError, NotFoundError  # noqa: E402
from marathon.models import MarathonApp  # noqa: E402

pytestmark = pytest.mark.timeout(600)

SLEEPER = {"cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "portDefinitions": []}


@pytest.fixture(scope="module")
def svc(cluster: Cluster) -> Services:
    return cluster.services()


@pytest.fixture(scope="module")
def client(svc: Services) -> Iterator[MarathonClient]:
    marathon = MarathonClient(svc.marathon_url, timeout=PATIENCE)
    yield marathon
    marathon.session.close()
    marathon.sse_session.close()


class Events:
    """A reader of /v2/events through marathon-python, on a thread, until
    its session is closed."""

    def __init__(self, client: MarathonClient) -> None:
        self.seen: list[Any] = []
        self.client = client
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for event in self.client.event_stream():
                self.seen.append(event)
        except Exception:  # the session closed under it: the end of the reading
            return

    def types(self) -> list[str]:
        return [e.event_type for e in self.seen]


def running(svc: Services, app_id: str, count: int) -> dict[str, Any] | None:
    status = svc.app(app_id)
    done = status["tasksRunning"] == count and not status["deployments"]
    return status if done and len(status["tasks"]) == count else None


def ids(items: Any) -> list[str]:
    return sorted(i.id for i in items)


def test_marathon_python_runs_an_app_through_its_life(svc: Services) -> None:
    client = MarathonClient(svc.marathon_url, timeout=PATIENCE)
    events = Events(client)
    wait_for(lambda: "event_stream_attached" in events.types(), what="the stream attached")

    created = client.create_app("/shop/web", MarathonApp(instances=1, **_snake(SLEEPER)))
    assert created.id == "/shop/web" and created.instances == 1
    assert created.deployments and created.deployments[0].id
    status = wait_for(lambda: running(svc, "/shop/web", 1), what="one task of /shop/web")

    assert ids(client.list_apps()) == sorted(a["id"] for a in svc.apps())
    app = client.get_app("/shop/web")
    assert app.version == status["version"] and app.tasks_running == 1
    assert ids(client.list_tasks("/shop/web")) == sorted(t["id"] for t in status["tasks"])
    everywhere = [t["id"] for a in svc.apps() for t in a["tasks"]]
    assert ids(client.list_tasks()) == sorted(everywhere)

    client.scale_app("/shop/web", instances=2)
    status = wait_for(lambda: running(svc, "/shop/web", 2), what="two tasks of /shop/web")
    assert client.get_app("/shop/web").instances == 2

    before = status["version"]
    restarted = client.restart_app("/shop/web")
    assert restarted["deploymentId"]
    status = wait_for(
        lambda: (
            (s := running(svc, "/shop/web", 2))
            and all(t["version"] != before for t in s["tasks"])
            and s
        ),
        what="/shop/web restarted",
    )
    assert client.list_versions("/shop/web")[0] == status["version"]
    assert before in client.list_versions("/shop/web")

    victim = status["tasks"][0]["id"]
    killed = client.kill_task("/shop/web", victim)
    assert killed.id == victim
    status = wait_for(
        lambda: (
            (s := running(svc, "/shop/web", 2))
            and victim not in [t["id"] for t in s["tasks"]]
            and s
        ),
        what=f"{victim} replaced",
    )
    client.kill_task("/shop/web", status["tasks"][0]["id"], scale=True)
    wait_for(lambda: running(svc, "/shop/web", 1), what="/shop/web scaled down by a kill")
    assert client.get_app("/shop/web").instances == 1

    client.delete_app("/shop/web")
    wait_for(lambda: "/shop/web" not in [a["id"] for a in svc.apps()], what="/shop/web gone")
    with pytest.raises(NotFoundError):
        client.get_app("/shop/web")
    wait_for(lambda: "app_terminated_event" in events.types(), what="app_terminated_event")
    client.sse_session.close()
    client.session.close()
    kinds = set(events.types())
    assert {
        "api_post_event",
        "deployment_info",
        "deployment_success",
        "status_update_event",
        "instance_changed_event",
    } <= kinds
    assert all(e.timestamp for e in events.seen)


def test_a_deployment_that_cannot_finish_locks_its_app_and_shows_in_the_queue(
    svc: Services, client: MarathonClient
) -> None:
    # More cpus than any agent has: it waits in the queue, its deployment open.
    client.create_app("/stuck", MarathonApp(**_snake({**SLEEPER, "cpus": 64})))
    status = svc.app("/stuck")
    [deployment] = client.list_deployments()
    assert [deployment.id] == [d["id"] for d in status["deployments"]]
    assert deployment.affected_apps == ["/stuck"]
    queue = wait_for(client.list_queue, what="/stuck queued")
    assert [(q.app.id, q.count) for q in queue] == [("/stuck", 1)]
    assert queue[0].delay.overdue is True

    with pytest.raises(ConflictError) as locked:
        client.update_app("/stuck", MarathonApp(cmd="sleep 2000"))
    assert deployment.id in locked.value.error_message
    assert svc.app("/stuck")["cmd"] == "sleep 1000"
    forced = client.update_app("/stuck", MarathonApp(cmd="sleep 2000"), force=True)
    assert svc.app("/stuck")["cmd"] == "sleep 2000"
    assert [d.id for d in client.list_deployments()] == [forced["deploymentId"]]

    client.reset_delay("/stuck")
    client.delete_deployment(forced["deploymentId"], force=True)
    assert client.list_deployments() == [] and svc.app("/stuck")["deployments"] == []
    client.delete_app("/stuck")
    wait_for(lambda: not client.list_queue(), what="/stuck out of the queue")


def test_the_master_shows_the_api_as_the_frameworks_webui_url(svc: Services, url: str) -> None:
    frameworks = get(url, "/master/state")["frameworks"]
    [services] = [f for f in frameworks if f["id"] == svc.framework_id]
    assert services["webui_url"] == svc.marathon_url
    assert urllib.request.urlopen(services["webui_url"] + "/ping").read() == b"pong"


def test_info_leader_ping_metrics_and_groups(svc: Services, client: MarathonClient) -> None:
    client.create_app("/team/a/one", MarathonApp(**_snake(SLEEPER)))
    wait_for(lambda: running(svc, "/team/a/one", 1), what="/team/a/one running")
    info = client.get_info()
    assert info.framework_id == svc.framework_id and info.name == "marathon"
    host_port = svc.marathon_url.removeprefix("http://")
    assert client.get_leader() == {"leader": host_port}
    assert client.ping() == b"pong"
    metrics = client.get_metrics()
    assert metrics["counters"]["marathon.mesos.tasks_launched.counter"]["count"] >= 1
    root = client.list_groups()
    assert "/team" in [g.id for g in root]
    team = client.get_group("/team/a")
    assert [a.id for a in team.apps] == ["/team/a/one"]
    with pytest.raises(NotFoundError):
        client.get_group("/nowhere")
    client.delete_app("/team/a/one")
    wait_for(lambda: "/team/a/one" not in [a["id"] for a in svc.apps()], what="deleted")


def test_malformed_definitions_get_marathons_errors_and_deploy_nothing(
    svc: Services, client: MarathonClient
) -> None:
    before = svc.apps()
    answer = post(svc, "/v2/apps", {"id": "/bad", "cmd": "true", "cpus": "lots"})
    assert answer[0] == 422
    assert answer[1]["message"] and "/cpus" in [d["path"] for d in answer[1]["details"]]
    assert all(d["errors"] for d in answer[1]["details"])
    status, body = post(svc, "/v2/apps", b"{not json")
    assert status == 400 and body["message"]
    with pytest.raises(MarathonHttpError) as refused:
        client.create_app("/bad", MarathonApp(cmd="true", instances=-1))
    assert refused.value.status_code == 422
    assert svc.apps() == before
    assert post(svc, "/v2/apps", {"id": "/x"}, headers={"Host": "evil.example"})[0] == 421


def test_the_event_stream_over_plain_http(svc: Services) -> None:
    request = urllib.request.Request(
        svc.marathon_url + "/v2/events", headers={"Accept": "text/event-stream"}
    )
    with urllib.request.urlopen(request, timeout=PATIENCE) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        first = read_event(stream)
        assert first["eventType"] == "event_stream_attached"
        status, created = post(svc, "/v2/apps", {"id": "/sse", **SLEEPER})
        assert status == 201
        deployment = created["deployments"][0]["id"]
        seen = []
        while not any(
            e["eventType"] == "deployment_success" and e["id"] == deployment for e in seen
        ):
            seen.append(read_event(stream))
    kinds = [e["eventType"] for e in seen]
    assert kinds[0] == "api_post_event" and "deployment_info" in kinds
    assert all(e["timestamp"].endswith("Z") for e in seen)
    assert running(svc, "/sse", 1) is not None
    svc.remove("/sse")


def read_event(stream: Any) -> dict[str, Any]:
    """The next event of an SSE stream (`event:` and `data:` lines, then a blank one)."""
    data = None
    while True:
        line = stream.readline().decode().rstrip("\n")
        if line.startswith("data:"):
            data = json.loads(line.removeprefix("data:"))
        elif line == "" and data is not None:
            return data


def post(
    svc: Services, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        svc.marathon_url + path,
        data=raw,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=PATIENCE) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def _snake(definition: dict[str, Any]) -> dict[str, Any]:
    """marathon-python's constructor arguments for a definition."""
    names = {"portDefinitions": "port_definitions"}
    return {names.get(k, k): v for k, v in definition.items()}
