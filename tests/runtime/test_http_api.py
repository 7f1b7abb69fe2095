"""The leading master's HTTP API on a real cluster (Ray actors, real
processes), over real HTTP requests."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest
from support.http import get, request
from support.runtime import Launcher, ha_cluster, wait_for

from pyactors.errors import NotLeaderError
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster


def test_serves_on_loopback_only(cluster: Cluster, url: str) -> None:
    assert url.startswith("http://127.0.0.1:")
    port = int(url.rsplit(":", 1)[1])
    listening = [
        c.laddr
        for c in psutil.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
    ]
    assert [addr.ip for addr in listening] == ["127.0.0.1"]
    assert request(url, "/health")[0] == 200


def test_state_endpoints_have_mesos_shapes(cluster: Cluster, url: str) -> None:
    tasks = [(f"shape-{i}", "true", "cpus:0.5;mem:32") for i in range(2)]
    framework = cluster.run_framework(Launcher, tasks, name="shapes", roles=["shapes"])
    wait_for(
        lambda: all("TASK_FINISHED" in framework.call("states", t) for t, _, _ in tasks),
        what="the tasks finish",
    )
    for path in ("/master/state", "/state"):
        state = get(url, path)
        assert {"slaves", "frameworks", "roles", "version", "id", "leader"} <= state.keys()
        assert sorted(s["id"] for s in state["slaves"]) == ["agent-0", "agent-1"]
        agent = state["slaves"][0]
        assert agent["resources"]["cpus"] == 2.0 and agent["resources"]["mem"] == 512.0
        assert {"used_resources", "offered_resources", "reserved_resources"} <= agent.keys()
        (shown,) = [f for f in state["frameworks"] if f["id"] == framework.id]
        assert shown["name"] == "shapes" and shown["roles"] == ["shapes"]
        finished = {t["id"]: t for t in shown["tasks"] + shown["completed_tasks"]}
        assert set(finished) == {"shape-0", "shape-1"}
        assert finished["shape-0"]["slave_id"] in ("agent-0", "agent-1")
        assert finished["shape-0"]["resources"]["cpus"] == 0.5
        assert "shapes" in [r["name"] for r in state["roles"]]
    summary = get(url, "/master/state-summary")
    (counted,) = [f for f in summary["frameworks"] if f["id"] == framework.id]
    assert counted["TASK_FINISHED"] == 2
    assert sum(s["TASK_FINISHED"] for s in summary["slaves"]) >= 2
    roles = get(url, "/master/roles")["roles"]
    (role,) = [r for r in roles if r["name"] == "shapes"]
    assert role["frameworks"] == [framework.id] and role["weight"] == 1.0
    page = get(url, f"/master/tasks?framework_id={framework.id}&limit=1&offset=0&order=asc")
    assert [t["id"] for t in page["tasks"]] == ["shape-0"]
    page = get(url, f"/master/tasks?framework_id={framework.id}&order=des")
    assert [t["id"] for t in page["tasks"]] == ["shape-1", "shape-0"]
    assert request(url, "/master/tasks?order=sideways")[0] == 400
    assert request(url, "/master/tasks?limit=x")[0] == 400
    frameworks = get(url, "/master/frameworks")
    assert framework.id in [f["id"] for f in frameworks["frameworks"]]
    assert "completed_frameworks" in frameworks
    slaves = get(url, "/master/slaves")
    assert len(slaves["slaves"]) == 2
    cluster.teardown(framework)


def _acknowledged_updates(url: str) -> float:
    """How many status updates the Prometheus histogram has timed."""
    prefix = "pyactors_status_update_acknowledgement_seconds_count "
    (line,) = [x for x in request(url, "/metrics")[1].splitlines() if x.startswith(prefix)]
    return float(line.removeprefix(prefix))


def test_metrics_move_with_the_work(cluster: Cluster, url: str) -> None:
    timed = _acknowledged_updates(url)
    before = get(url, "/metrics/snapshot")
    assert before["master/cpus_total"] == 4.0 and before["master/mem_total"] == 1024.0
    assert before["master/slaves_active"] == 2.0
    tasks = [(f"metric-{i}", "true", "cpus:0.5;mem:32") for i in range(3)]
    framework = cluster.run_framework(Launcher, tasks, name="metrics", roles=["metrics"])
    wait_for(
        lambda: all("TASK_FINISHED" in framework.call("states", t) for t, _, _ in tasks),
        what="the tasks finish",
    )
    after = get(url, "/metrics/snapshot")
    assert after["master/tasks_finished"] == before["master/tasks_finished"] + 3
    assert after["master/tasks_launched"] == before["master/tasks_launched"] + 3
    assert after["master/frameworks_active"] == before["master/frameworks_active"] + 1
    assert after["allocator/mesos/allocation_runs"] > before["allocator/mesos/allocation_runs"]
    assert after["master/offers_made"] > before["master/offers_made"]
    assert 0.0 <= after["master/cpus_percent"] <= 1.0
    assert "allocator/mesos/allocation_run_ms" in after
    status, text = request(url, "/metrics")
    assert status == 200
    assert "pyactors_master_tasks_running " in text
    finished = [line for line in text.splitlines() if line.startswith("pyactors_master_tasks_fin")]
    assert finished == [f"pyactors_master_tasks_finished_total {after['master/tasks_finished']}"]
    assert "pyactors_allocator_allocation_run_seconds_bucket" in text
    assert f'pyactors_framework_share{{framework="{framework.id}",role="metrics"}}' in text
    # RUNNING and FINISHED of each task, acknowledged by the framework.
    wait_for(lambda: _acknowledged_updates(url) >= timed + 6, what="acknowledgements timed")
    cluster.teardown(framework)


def _operator_view(url: str) -> Any:
    state = get(url, "/master/state")
    return (
        sorted(f["id"] for f in state["frameworks"]),
        state["roles"],
        state["weights"],
        [(s["id"], s["resources"], s["reserved_resources"]) for s in state["slaves"]],
        get(url, "/master/quota"),
    )


def test_bad_operator_calls_are_refused_and_change_nothing(cluster: Cluster, url: str) -> None:
    before = _operator_view(url)
    refused = [
        ("/master/teardown", {"framework_id": "framework-999"}, 404, "unknown_framework"),
        ("/master/teardown", {}, 400, "invalid_argument"),
        ("/master/quota", {"role": "q", "guarantee": "cpus:lots"}, 400, "invalid_resources"),
        ("/master/quota", {"role": "q", "guarantee": "cpus:2", "limit": "cpus:1"}, 400, None),
        ("/master/quota", {"role": "q", "guarantee": {"cpus": -1}}, 400, "invalid_argument"),
        ("/master/quota", ["not", "an", "object"], 400, "invalid_argument"),
        ("/master/weights", [{"role": "w", "weight": 2}, {"role": "x", "weight": -1}], 400, None),
        ("/master/weights", [{"role": "w", "weight": "heavy"}], 400, "invalid_argument"),
        ("/master/kill", {"task_id": "no-such-task"}, 404, "unknown_task"),
        ("/master/kill", {"task_id": "t", "framework_id": "framework-999"}, 404, None),
        ("/master/reserve", {"agent_id": "agent-9", "resources": "cpus(r):1"}, 404, None),
        ("/master/reserve", {"agent_id": "agent-0", "resources": "cpus(r):99"}, 400, None),
        ("/master/reserve", {"agent_id": "agent-0", "resources": "cpus:1"}, 400, None),
        ("/master/unreserve", {"agent_id": "agent-0", "resources": "cpus(r):1"}, 400, None),
        ("/master/create-volumes", {"agent_id": "agent-0", "volumes": "disk(r)[v]:1"}, 400, None),
        ("/master/create-volumes", {"agent_id": "agent-0", "volumes": 5}, 400, None),
        ("/master/destroy-volumes", {"agent_id": "agent-9", "volumes": "disk(r)[v]:1"}, 404, None),
        ("/master/maintenance/drain", {"agent_id": "agent-9"}, 404, "unknown_agent"),
        (
            "/master/maintenance/drain",
            {"agent_id": "agent-0", "grace_period_seconds": "x"},
            400,
            None,
        ),
        (
            "/master/maintenance/drain",
            {"agent_id": "agent-0", "grace_period_seconds": -1},
            400,
            None,
        ),
        ("/master/maintenance/reactivate", {"agent_id": "agent-0"}, 400, "invalid_argument"),
    ]
    for path, body, status, kind in refused:
        got, answer = request(url, path, body)
        assert got == status, (path, body, answer)
        assert answer["code"] == status and answer["message"], answer
        if kind is not None:
            assert answer["error"] == kind, (path, body, answer)
    got, answer = request(url, "/master/quota", raw=b"{not json")
    assert (got, answer["error"]) == (400, "malformed_json")
    got, answer = request(url, "/master/quota/nobody", method="DELETE")
    assert (got, answer["error"]) == (404, "unknown_quota")
    assert request(url, "/master/nothing-here")[0] == 404
    assert _operator_view(url) == before
    assert get(url, "/master/maintenance") == {"agents": []}


def test_operator_calls(cluster: Cluster, url: str) -> None:
    status, _ = request(url, "/master/quota", {"role": "ops", "guarantee": {"cpus": 1}})
    assert status == 200
    (role,) = [r for r in get(url, "/master/roles")["roles"] if r["name"] == "ops"]
    assert role["quota"]["guarantee"] == {"cpus": 1.0}
    assert request(url, "/master/quota/ops", method="DELETE")[0] == 200
    assert get(url, "/master/quota") == {"infos": []}
    status, _ = request(url, "/master/weights", [{"role": "ops", "weight": 3}], method="PUT")
    assert status == 200
    assert {"role": "ops", "weight": 3.0} in get(url, "/master/weights")
    assert get(url, "/master/state")["weights"]["ops"] == 3.0

    # Reserve part of an agent while nothing is offered (no framework runs).
    wait_for(lambda: get(url, "/metrics/snapshot")["master/outstanding_offers"] == 0)
    reserve = {"agent_id": "agent-1", "resources": "cpus(ops):1;mem(ops):64"}
    status, answer = request(url, "/master/reserve", reserve)
    assert status == 200, answer
    (agent,) = [s for s in get(url, "/master/slaves")["slaves"] if s["id"] == "agent-1"]
    assert agent["reserved_resources"]["ops"]["cpus"] == 1.0
    assert agent["unreserved_resources"]["cpus"] == 1.0
    status, answer = request(url, "/master/unreserve", reserve)
    assert status == 200, answer
    (agent,) = [s for s in get(url, "/master/slaves")["slaves"] if s["id"] == "agent-1"]
    assert agent["reserved_resources"] == {} and agent["resources"]["cpus"] == 2.0

    # Kill a running task, then tear its framework down.
    framework = cluster.run_framework(
        Launcher, [("sleeper", "sleep 600", "cpus:0.5;mem:32")], name="victim", roles=["ops"]
    )
    wait_for(lambda: "TASK_RUNNING" in framework.call("states", "sleeper"), what="it runs")
    status, answer = request(url, "/master/kill", {"task_id": "sleeper"})
    assert status == 200, answer
    wait_for(lambda: "TASK_KILLED" in framework.call("states", "sleeper"), what="it is killed")
    status, answer = request(url, "/master/teardown", {"framework_id": framework.id})
    assert status == 200, answer
    assert framework.id not in [f["id"] for f in get(url, "/master/frameworks")["frameworks"]]
    wait_for(lambda: framework.call("seen")["errors"], what="the scheduler is told")
    cluster.frameworks.remove(framework)
    cluster._stop_framework(framework.handle)


def test_draining_an_agent_kills_its_tasks_and_stops_its_offers(cluster: Cluster, url: str) -> None:
    framework = cluster.run_framework(
        Launcher, [("drained", "sleep 600", "cpus:0.5;mem:32")], name="drain", roles=["drain"]
    )
    try:
        wait_for(lambda: "TASK_RUNNING" in framework.call("states", "drained"), what="it runs")
        (task,) = get(url, "/master/tasks?task_id=drained")["tasks"]
        agent_id = task["slave_id"]
        status, answer = request(
            url, "/master/maintenance/drain", {"agent_id": agent_id, "grace_period_seconds": 1}
        )
        assert status == 200, answer
        wait_for(lambda: "TASK_KILLED" in framework.call("states", "drained"), what="killed")
        assert wait_for(lambda: get(url, "/master/maintenance")["agents"][0]["state"] == "DRAINED")
        (agent,) = [s for s in get(url, "/master/slaves")["slaves"] if s["id"] == agent_id]
        assert agent["deactivated"] and agent["drain_info"]["config"]["max_grace_period"] == 1.0
        seen = len(framework.call("seen")["offered"])
        wait_for(lambda: len(framework.call("seen")["offered"]) > seen + 2, what="more offers")
        offered = framework.call("seen")["offered"][seen:]
        assert agent_id not in {agent for _, agent in offered}
        status, answer = request(url, "/master/maintenance/reactivate", {"agent_id": agent_id})
        assert status == 200, answer
        assert get(url, "/master/maintenance") == {"agents": []}
        wait_for(
            lambda: agent_id in {a for _, a in framework.call("seen")["offered"][seen:]},
            what="offers from the agent again",
        )
    finally:
        cluster.teardown(framework)


def test_the_new_leader_serves_and_the_old_one_stops(zookeeper: Any, tmp_path: Path) -> None:
    ha = ha_cluster(zookeeper, tmp_path)
    try:
        first = ha.url
        assert (
            get(first, "/master/state")["leader"]
            == ray_calls.ask(ha.leader(), "status")["info"]["actor"]
        )
        standby = next(m for m in ha.masters if not ray_calls.ask(m, "status")["leading"])
        with pytest.raises(NotLeaderError):
            ray_calls.ask(standby, "url")
        # The standby serves too: it sends requests on to the leader.
        standby_url = ray_calls.ask(standby, "status")["info"]["url"]
        assert standby_url != first
        assert unfollowed(standby_url, "/master/redirect") == (307, first)
        # The web UI's page too: its requests must go to the leader's origin.
        assert unfollowed(standby_url, "/") == (307, first + "/")
        assert unfollowed(first, "/master/redirect") == (307, first)
        assert unfollowed(standby_url, "/master/tasks?limit=1") == (
            307,
            first + "/master/tasks?limit=1",
        )
        assert get(standby_url, "/master/slaves") == get(first, "/master/slaves")
        ray_calls.stop(ha.leader())
        second = wait_for(lambda: _new_url(ha, first), what="a new leader serving")
        wait_for(lambda: len(get(second, "/master/slaves")["slaves"]) == 1, what="the agent")
        assert not _serving(first)
        assert unfollowed(standby_url, "/master/redirect") == (307, second)
    finally:
        ha.shutdown()


def _new_url(cluster: Cluster, old: str) -> str | None:
    try:
        url = cluster.url
    except (NotLeaderError, ray_calls.RayActorError):
        return None
    return url if url != old and _serving(url) else None


def _serving(url: str) -> bool:
    try:
        return request(url, "/health")[0] == 200
    except OSError:
        return False


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def unfollowed(url: str, path: str) -> tuple[int, str | None]:
    """(status, Location) of a GET whose redirect is not followed."""
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(url + path, timeout=30) as response:
            return response.status, response.headers.get("Location")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location")
