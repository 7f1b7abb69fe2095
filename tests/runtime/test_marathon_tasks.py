"""What is left of Marathon's REST API, on a cluster with credentials:
killing tasks (`POST /v2/tasks/delete`, `DELETE /v2/apps/{id}/tasks` with
`host`, `scale` and `wipe`), bearer tokens (`Bearer` and DC/OS's
`token=`), why an app waits in `GET /v2/queue`, and a deployment's
rollback. Driven by marathon-python 0.13.0 and plain HTTP; each answer is
compared with what `cluster.services()` reports."""

from __future__ import annotations

import base64
import collections
import collections.abc
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from support.runtime import PATIENCE, small_cluster, wait_for

from pyactors.frameworks.services.client import Services
from pyactors.runtime.cluster import Cluster

# marathon-python 0.13.0 uses collections.Iterable, gone since Python 3.10:
# the alias restored here is a fix on the client's side.
collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

from marathon import MarathonClient  # noqa: E402
from marathon.exceptions import MarathonHttpError, NotFoundError  # noqa: E402
from marathon.models import MarathonApp  # noqa: E402

pytestmark = pytest.mark.timeout(600)

SECRET = "marathon-test-secret"
BASIC = "Basic " + base64.b64encode(f"ops:{SECRET}".encode()).decode()
SLEEPER = {"cmd": "sleep 1000", "cpus": 0.1, "mem": 16}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from small_cluster(
        tmp_path_factory, credentials={"ops": SECRET}, principal="ops", secret=SECRET
    )


@pytest.fixture(scope="module")
def svc(cluster: Cluster) -> Services:
    return cluster.services()


@pytest.fixture(scope="module")
def client(svc: Services) -> Iterator[MarathonClient]:
    marathon = MarathonClient(svc.marathon_url, username="ops", password=SECRET, timeout=PATIENCE)
    yield marathon
    marathon.session.close()
    marathon.sse_session.close()


def call(
    svc: Services, method: str, path: str, body: Any = None, authorization: str | None = BASIC
) -> tuple[int, Any]:
    """(status, JSON body or None) of one request."""
    headers = {} if authorization is None else {"Authorization": authorization}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(
        svc.marathon_url + path, data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=PATIENCE) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as refused:
        raw = refused.read()
        return refused.code, json.loads(raw) if raw else None


def running(svc: Services, app_id: str, count: int) -> dict[str, Any] | None:
    """The app's status once `count` tasks run and no deployment is open."""
    status = svc.app(app_id)
    done = status["tasksRunning"] == count and not status["deployments"]
    return status if done and len(status["tasks"]) == count else None


def task_ids(status: dict[str, Any]) -> list[str]:
    return sorted(t["id"] for t in status["tasks"])


def gone(svc: Services, app_id: str) -> bool:
    return app_id not in [a["id"] for a in svc.apps()]


def test_post_tasks_delete_kills_replaces_or_scales(svc: Services, client: MarathonClient) -> None:
    client.create_app("/batch", MarathonApp(instances=3, **SLEEPER))
    first, second, third = task_ids(wait_for(lambda: running(svc, "/batch", 3), what="3 tasks"))

    assert client.kill_given_tasks([first]) is True
    status = wait_for(
        lambda: (s := running(svc, "/batch", 3)) and first not in task_ids(s) and s,
        what=f"{first} replaced",
    )
    assert svc.app("/batch")["instances"] == 3

    # Unknown ids, and scale with wipe: refused, nothing killed.
    assert call(svc, "POST", "/v2/tasks/delete", {"ids": [second, "nope"]})[0] == 404
    code, refused = call(svc, "POST", "/v2/tasks/delete?scale=true&wipe=true", {"ids": [second]})
    assert code == 400 and "scale and wipe" in refused["message"]
    assert task_ids(svc.app("/batch")) == task_ids(status)

    code, killed = call(svc, "POST", "/v2/tasks/delete", {"ids": [second]})
    assert code == 200 and [t["id"] for t in killed["tasks"]] == [second]
    assert killed["tasks"][0]["appId"] == "/batch"
    wait_for(
        lambda: (s := running(svc, "/batch", 3)) and second not in task_ids(s),
        what=f"{second} replaced",
    )

    code, deployment = call(svc, "POST", "/v2/tasks/delete?scale=true", {"ids": [third]})
    assert code == 200 and deployment["deploymentId"] and deployment["version"]
    status = wait_for(lambda: running(svc, "/batch", 2), what="/batch scaled to 2")
    assert third not in task_ids(status) and client.get_app("/batch").instances == 2

    assert client.kill_given_tasks(task_ids(status)[:1], scale=True) is True
    wait_for(lambda: running(svc, "/batch", 1), what="/batch scaled to 1 by marathon-python")
    assert svc.app("/batch")["instances"] == 1
    client.delete_app("/batch")
    wait_for(lambda: gone(svc, "/batch"), what="/batch removed")


def test_app_tasks_delete_by_host_with_scale_and_wipe(
    svc: Services, client: MarathonClient
) -> None:
    client.create_app("/hosted", MarathonApp(instances=2, **SLEEPER))
    status = wait_for(lambda: running(svc, "/hosted", 2), what="2 tasks of /hosted")
    hosts = sorted({t["host"] for t in status["tasks"]})

    assert client.kill_tasks("/hosted", host="no-such-host") == []
    assert task_ids(svc.app("/hosted")) == task_ids(status)

    # wipe on an app without persistent volumes: killed and replaced.
    victim = task_ids(status)[0]
    wiped = client.kill_task("/hosted", victim, wipe=True)
    assert wiped.id == victim
    status = wait_for(
        lambda: (s := running(svc, "/hosted", 2)) and victim not in task_ids(s) and s,
        what=f"{victim} replaced after its wipe",
    )
    with pytest.raises(MarathonHttpError) as both:
        client.kill_tasks("/hosted", scale=True, wipe=True)
    assert both.value.status_code == 400
    assert task_ids(svc.app("/hosted")) == task_ids(status)

    # marathon-python sends scale=True&wipe=False&host=...: one deployment.
    deployment = client.kill_tasks("/hosted", scale=True, host=hosts[0])
    assert deployment["deploymentId"]
    on_host = [t for t in status["tasks"] if t["host"] == hosts[0]]
    wait_for(lambda: running(svc, "/hosted", 2 - len(on_host)), what="/hosted scaled down")
    assert client.get_app("/hosted").instances == 2 - len(on_host)
    client.delete_app("/hosted", force=True)
    wait_for(lambda: gone(svc, "/hosted"), what="/hosted removed")


def test_a_token_had_for_the_secret_lets_clients_in_as_bearer_or_dcos_token(
    svc: Services,
) -> None:
    assert call(svc, "GET", "/v2/apps", authorization=None)[0] == 401
    code, issued = call(svc, "POST", "/auth/token")
    assert code == 200 and issued["principal"] == "ops" and issued["expires"] > 0
    token = issued["token"]
    assert SECRET not in token
    code, listed = call(svc, "GET", "/v2/apps", authorization=f"Bearer {token}")
    assert code == 200 and [a["id"] for a in listed["apps"]] == [a["id"] for a in svc.apps()]
    # As DC/OS's clients send it: marathon-python's auth_token.
    dcos = MarathonClient(svc.marathon_url, auth_token=token, timeout=PATIENCE)
    try:
        assert sorted(a.id for a in dcos.list_apps()) == sorted(a["id"] for a in svc.apps())
        assert dcos.ping() == b"pong"
    finally:
        dcos.session.close()
        dcos.sse_session.close()
    altered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert call(svc, "GET", "/v2/apps", authorization=f"token={altered}")[0] == 401
    assert call(svc, "GET", "/v2/apps", authorization=f"Bearer {altered}")[0] == 401
    # A token buys no other token: only the secret does.
    assert call(svc, "POST", "/auth/token", authorization=f"Bearer {token}")[0] == 401


def declined(item: Any, reason: str) -> int:
    summary = item.processed_offers_summary["rejectSummaryLaunchAttempt"]
    return int(next(step["declined"] for step in summary if step["reason"] == reason))


def test_the_queue_says_why_each_app_waits(svc: Services, client: MarathonClient) -> None:
    picky = {**SLEEPER, "constraints": [["hostname", "LIKE", "no-such-host"]]}
    client.create_app("/picky", MarathonApp(**picky))
    client.create_app("/huge", MarathonApp(**{**SLEEPER, "cpus": 64}))

    def counted() -> dict[str, Any] | None:
        queue = {item.app.id: item for item in client.list_queue()}
        picky_seen = "/picky" in queue and declined(queue["/picky"], "UnfulfilledConstraint")
        huge_seen = "/huge" in queue and declined(queue["/huge"], "InsufficientCpus")
        return queue if picky_seen and huge_seen else None

    queue = wait_for(counted, what="both apps' unused offers counted")
    assert sorted(queue) == sorted(a["id"] for a in svc.apps() if a["deployments"])
    for item in queue.values():
        summary = item.processed_offers_summary
        assert summary["unusedOffersCount"] >= 1 and summary["lastUnusedOfferAt"].endswith("Z")
        assert item.count == 1 and item.delay.overdue is True
        assert item.last_unused_offers is None
    assert declined(queue["/picky"], "InsufficientCpus") == 0

    embedded = {item.app.id: item for item in client.list_queue(embed_last_unused_offers=True)}
    [*_, last] = embedded["/huge"].last_unused_offers
    assert "InsufficientCpus" in last["reason"] and last["offer"]["agentId"]
    cpus = [r["scalar"] for r in last["offer"]["resources"] if r["name"] == "cpus"]
    assert cpus and cpus[0] < 64

    for app_id in ("/picky", "/huge"):
        client.delete_app(app_id, force=True)
    wait_for(lambda: gone(svc, "/picky") and gone(svc, "/huge"), what="both removed")
    assert client.list_queue() == []


def test_deleting_a_deployment_rolls_back_and_force_only_cancels(
    svc: Services, client: MarathonClient
) -> None:
    client.create_app("/roll", MarathonApp(**SLEEPER))
    before = wait_for(lambda: running(svc, "/roll", 1), what="/roll running")

    stuck = client.update_app("/roll", MarathonApp(cmd="sleep 2000", cpus=64))
    rollback = client.delete_deployment(stuck["deploymentId"])
    assert rollback["deploymentId"] != stuck["deploymentId"] and rollback["version"]
    assert [d.id for d in client.list_deployments()] == [rollback["deploymentId"]]
    after = wait_for(lambda: running(svc, "/roll", 1), what="/roll rolled back")
    assert (after["cmd"], after["cpus"]) == (before["cmd"], before["cpus"])
    assert after["version"] == rollback["version"] != before["version"]

    stuck = client.update_app("/roll", MarathonApp(cmd="sleep 3000", cpus=64))
    assert client.delete_deployment(stuck["deploymentId"], force=True) == {}
    # Cancelled, not rolled back: the app keeps its new definition, unlocked.
    status = svc.app("/roll")
    assert status["deployments"] == [] and client.list_deployments() == []
    assert (status["cmd"], status["cpus"]) == ("sleep 3000", 64)
    client.update_app("/roll", MarathonApp(cpus=0.1))
    wait_for(lambda: running(svc, "/roll", 1), what="/roll updated once unlocked")
    with pytest.raises(NotFoundError):
        client.delete_deployment(stuck["deploymentId"])
    client.delete_app("/roll")
    wait_for(lambda: gone(svc, "/roll"), what="/roll removed")
