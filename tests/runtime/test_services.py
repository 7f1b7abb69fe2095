"""The built-in service framework end to end: real Ray actors, real task
processes, health checks run by the agents, HAProxy in front."""

from __future__ import annotations

import itertools
import os
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.runtime import (
    PATIENCE,
    allocation_cycles_pass,
    dead,
    processes_in,
    small_cluster,
    suppressed_with_no_offer_out,
    wait_for,
)

from pyactors.errors import AppDefinitionError, HaproxyNotFoundError, UnknownAppError
from pyactors.frameworks.services.client import Services
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster

# Several waits a test, each as long as a busy machine needs.
pytestmark = pytest.mark.timeout(600)

RACKS = {"agent-0": "r1", "agent-1": "r1", "agent-2": "r2"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three agents on the driver's node, two in rack r1 and one in r2."""
    for started in small_cluster(tmp_path_factory, agents=0):
        home = ray_calls.current_node_id()
        for index, (agent_id, rack) in enumerate(RACKS.items()):
            started.add_agent(agent_id, home, "cpus:2;mem:1024", index, 3, {"rack": rack})
        yield started


@pytest.fixture(scope="module")
def svc(cluster: Cluster) -> Services:
    return cluster.services()


def web(app_id: str, instances: int = 3, **fields: Any) -> dict[str, Any]:
    """An HTTP server in the sandbox, which holds `id` (the task id) and
    `healthy` (its health check's path)."""
    # A busy machine's slow start and slow answers are no failures (the
    # first success ends the grace period; a missing page fails at once).
    check = {
        "protocol": "HTTP",
        "path": "/healthy",
        "gracePeriodSeconds": 300,
        "intervalSeconds": 0.5,
        "timeoutSeconds": 20,
        "maxConsecutiveFailures": 3,
        "delaySeconds": 0,
    }
    return {
        "id": app_id,
        "cmd": 'echo "$MESOS_TASK_ID" > id && echo ok > healthy '
        '&& exec python3 -m http.server "$PORT0"',
        "instances": instances,
        "cpus": 0.1,
        "mem": 64,
        "healthChecks": [check],
        "backoffSeconds": 0.2,
    } | fields


def get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode().strip())
    except (urllib.error.URLError, OSError):
        return None


def served(svc: Services, app_id: str, requests: int = 12) -> set[str]:
    """The task ids the load balancer answers from over a few requests."""
    answers = {get(svc.endpoint(app_id) + "/id") for _ in range(requests)}
    return {a for a in answers if a}


def task_ids(svc: Services, app_id: str) -> set[str]:
    return {t["id"] for t in svc.app(app_id)["tasks"]}


def no_launch_to_come(cluster: Cluster, svc: Services) -> None:
    """Return once the framework has said it has nothing to launch (it
    suppressed offers) and allocation cycles have passed: a restarted
    framework that were to launch duplicates would have by then."""
    wait_for(
        lambda: suppressed_with_no_offer_out(cluster, svc.framework_id),
        what="the framework suppressed, no offer of it on its way",
        seen=svc.metrics,
    )
    allocation_cycles_pass(cluster)


def sandbox(cluster: Cluster, task_id: str) -> Path:
    path = cluster.sandbox(task_id)
    assert path is not None, f"no sandbox for {task_id}"
    return Path(path)


def test_a_bad_definition_is_refused_by_field(svc: Services) -> None:
    with pytest.raises(AppDefinitionError, match=r"healthChecks\[0\]\.intervalSeconds"):
        svc.deploy(web("/bad", healthChecks=[{"intervalSeconds": "x"}]))
    assert all(a["id"] != "/bad" for a in svc.apps())
    with pytest.raises(UnknownAppError, match="no app /nope"):
        svc.scale("/nope", 2)


def test_a_missing_haproxy_is_named(cluster: Cluster, tmp_path: Path) -> None:
    with pytest.raises(HaproxyNotFoundError, match="no-such-haproxy"):
        cluster.services(haproxy=str(tmp_path / "no-such-haproxy"))


def test_a_service_is_healthy_behind_the_load_balancer_and_heals(
    cluster: Cluster, svc: Services
) -> None:
    svc.deploy(web("/web"))
    status = svc.wait("/web", healthy=3, timeout=PATIENCE)
    ids = {t["id"] for t in status["tasks"]}
    assert len(ids) == 3 and status["tasksHealthy"] == 3
    task = status["tasks"][0]
    assert task["ports"] and task["startedAt"] and task["agentId"] in RACKS
    assert svc.endpoint("/web").startswith("http://127.0.0.1:")
    wait_for(lambda: served(svc, "/web") == ids, what="the load balancer serves all three")
    assert cluster.services() is svc
    with pytest.raises(TimeoutError, match=r"/web: 3 of 4 healthy after 0.5 s; tasks: web\."):
        svc.wait("/web", healthy=4, timeout=0.5)

    # Killed from outside: replaced, and the load balancer follows.
    victim = status["tasks"][0]["id"]
    for process in processes_in(sandbox(cluster, victim)):
        os.kill(process.pid, signal.SIGKILL)
    wait_for(
        lambda: victim not in task_ids(svc, "/web") and svc.app("/web")["tasksHealthy"] == 3,
        what="a healthy replacement",
    )
    replaced = task_ids(svc, "/web")
    assert svc.app("/web")["lastTaskFailure"]["taskId"] == victim
    wait_for(lambda: served(svc, "/web") == replaced, what="the load balancer follows")


def test_an_update_rolls_to_the_new_definition_behind_the_load_balancer(svc: Services) -> None:
    before = task_ids(svc, "/web")
    version = svc.app("/web")["version"]
    svc.update(web("/web", env={"RELEASE": "2"}))
    status = svc.wait("/web", timeout=PATIENCE)
    assert status["env"] == {"RELEASE": "2"} and status["version"] != version
    after = {t["id"] for t in status["tasks"]}
    assert len(after) == 3 and not after & before
    wait_for(lambda: served(svc, "/web") == after, what="the load balancer serves the new ones")


def test_an_instance_failing_its_health_check_is_replaced(cluster: Cluster, svc: Services) -> None:
    svc.deploy(web("/sick", instances=1))
    (task,) = svc.wait("/sick", healthy=1, timeout=PATIENCE)["tasks"]
    (sandbox(cluster, task["id"]) / "healthy").unlink()
    wait_for(
        lambda: svc.app("/sick")["tasksUnhealthy"] == 1 or task["id"] not in task_ids(svc, "/sick"),
        what="unhealthy",
    )
    wait_for(
        lambda: task["id"] not in task_ids(svc, "/sick") and svc.app("/sick")["tasksHealthy"] == 1,
        what="a healthy replacement",
    )
    failure = svc.app("/sick")["lastTaskFailure"]
    assert failure["taskId"] == task["id"] and failure["state"] == "TASK_KILLED"
    svc.remove("/sick")


def test_a_crash_looping_app_backs_off(svc: Services, tmp_path: Path) -> None:
    launches = tmp_path / "launches"
    svc.deploy(
        {
            "id": "/crash",
            "cmd": f"date +%s.%N >> {launches}; exit 1",
            "cpus": 0.1,
            "mem": 32,
            "backoffSeconds": 1,
            "backoffFactor": 2,
            "maxLaunchDelaySeconds": 4,
        }
    )
    wait_for(
        lambda: launches.exists() and len(launches.read_text().split()) >= 4, what="4 launches"
    )
    times = [float(t) for t in launches.read_text().split()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Delays of 1, 2, 4 s: no launch comes sooner than its backoff allows.
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9 and gaps[2] >= 3.9
    assert svc.app("/crash")["lastTaskFailure"]["state"] == "TASK_FAILED"
    svc.remove("/crash")


def test_a_rolling_restart_keeps_the_minimum_health_capacity(svc: Services) -> None:
    strategy = {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.25}
    svc.deploy(web("/roll", instances=4, upgradeStrategy=strategy))
    before = {t["id"] for t in svc.wait("/roll", healthy=4, timeout=PATIENCE)["tasks"]}
    deployment = svc.restart("/roll")
    assert svc.app("/roll")["deployments"][0]["id"] == deployment
    samples: list[tuple[int, int]] = []

    def restarted() -> bool:
        status = svc.app("/roll")
        samples.append((status["tasksHealthy"], len(status["tasks"])))
        return not status["deployments"]

    wait_for(restarted, what="the restart done", seen=lambda: samples[-5:])
    assert min(healthy for healthy, _ in samples) >= 2, samples
    assert max(live for _, live in samples) <= 5, samples
    after = svc.wait("/roll", healthy=4, timeout=PATIENCE)
    assert not {t["id"] for t in after["tasks"]} & before
    svc.remove("/roll")


@pytest.mark.parametrize(
    ("constraint", "instances", "expected"),
    [
        (["rack", "UNIQUE"], 2, {"r1": 1, "r2": 1}),
        (["rack", "MAX_PER", "1"], 2, {"r1": 1, "r2": 1}),
        (["rack", "CLUSTER", "r1"], 3, {"r1": 3}),
    ],
)
def test_constraints_on_agent_attributes(
    svc: Services, constraint: list[str], instances: int, expected: dict[str, int]
) -> None:
    app_id = f"/placed-{constraint[1].lower().replace('_', '')}"
    svc.deploy(
        {
            "id": app_id,
            "cmd": "sleep 600",
            "instances": instances,
            "cpus": 0.1,
            "mem": 16,
            "constraints": [constraint],
        }
    )
    status = svc.wait(app_id, healthy=instances, timeout=PATIENCE)
    racks: dict[str, int] = {}
    for task in status["tasks"]:
        racks[RACKS[task["agentId"]]] = racks.get(RACKS[task["agentId"]], 0) + 1
    assert racks == expected
    # One more than the constraint allows stays unplaced: offers come (the
    # framework wants one more), and it declines them all.
    if constraint[1] != "CLUSTER":
        declined = svc.metrics()["offers_declined"]
        svc.scale(app_id, instances + 1)
        wait_for(
            lambda: svc.metrics()["offers_declined"] >= declined + len(RACKS),
            what="an offer of each agent declined",
            seen=svc.metrics,
        )
        status = svc.app(app_id)
        assert status["tasksRunning"] == len(status["tasks"]) == instances, status
    svc.remove(app_id)


def test_offers_are_suppressed_while_nothing_is_to_launch(cluster: Cluster, svc: Services) -> None:
    svc.deploy({"id": "/quiet", "cmd": "sleep 600", "instances": 1, "cpus": 0.1, "mem": 16})
    svc.wait("/quiet", timeout=PATIENCE)
    wait_for(lambda: svc.metrics()["suppressed"], what="offers suppressed")
    wait_for(
        lambda: suppressed_with_no_offer_out(cluster, svc.framework_id),
        what="the master holding it suppressed, no offer of it on its way",
    )
    received = svc.metrics()["offers_received"]
    allocation_cycles_pass(cluster)
    assert svc.metrics()["offers_received"] == received, svc.apps()
    svc.scale("/quiet", 2)
    # Whether it is still revived by now is a race with the launch it revived
    # for; the offer it needed is what shows the revive.
    svc.wait("/quiet", timeout=PATIENCE)
    assert svc.metrics()["offers_received"] > received
    wait_for(lambda: svc.metrics()["suppressed"], what="offers suppressed again")
    svc.remove("/quiet")


def test_a_stateful_app_keeps_its_volume_across_a_restart(cluster: Cluster, svc: Services) -> None:
    svc.deploy(
        {
            "id": "/db",
            "cmd": 'echo "$MESOS_TASK_ID" >> data/log && exec sleep 600',
            "cpus": 0.1,
            "mem": 32,
            "container": {"volumes": [{"containerPath": "data", "persistent": {"size": 16}}]},
        }
    )
    (first,) = svc.wait("/db", healthy=1, timeout=PATIENCE)["tasks"]
    svc.restart("/db")

    def restarted() -> dict[str, Any] | None:
        tasks = svc.app("/db")["tasks"]
        fresh = [t for t in tasks if t["id"] != first["id"] and t["state"] == "TASK_RUNNING"]
        return fresh[0] if fresh and len(tasks) == 1 else None

    second = wait_for(restarted, what="the restarted instance")
    assert second["agentId"] == first["agentId"]
    log = sandbox(cluster, second["id"]) / "data" / "log"
    wait_for(lambda: log.read_text().split() == [first["id"], second["id"]], what="both lines")
    volume = log.parent.resolve()
    assert volume.is_dir() and not volume.is_relative_to(sandbox(cluster, second["id"]))
    svc.remove("/db")
    wait_for(lambda: not volume.exists(), what="the volume destroyed")
    wait_for(lambda: all(a["id"] != "/db" for a in svc.apps()), what="the app forgotten")


def test_an_instance_lost_with_its_agent_is_replaced_on_another(
    cluster: Cluster, svc: Services
) -> None:
    home = ray_calls.current_node_id()
    # Agents of their own (racks r3, r4) so the others' tests keep theirs.
    cluster.add_agent("agent-3", home, "cpus:1;mem:256", 3, 5, {"rack": "r3"})
    svc.deploy(
        {
            "id": "/roaming",
            "cmd": "sleep 600",
            "cpus": 0.1,
            "mem": 16,
            "portDefinitions": [],
            "constraints": [["rack", "LIKE", "r3|r4"]],
            "unreachableStrategy": {"inactiveAfterSeconds": 1, "expungeAfterSeconds": 2},
        }
    )
    (first,) = svc.wait("/roaming", timeout=PATIENCE)["tasks"]
    assert first["agentId"] == "agent-3"
    cluster.add_agent("agent-4", home, "cpus:1;mem:256", 4, 5, {"rack": "r4"})
    lost = cluster.agents.pop("agent-3")
    ray_calls.ask(lost, "shutdown")
    ray_calls.stop(lost)

    def replaced() -> dict[str, Any] | None:
        tasks = svc.app("/roaming")["tasks"]
        fresh = [t for t in tasks if t["state"] == "TASK_RUNNING" and t["id"] != first["id"]]
        return fresh[0] if len(tasks) == 1 and fresh else None

    second = wait_for(replaced, what="a replacement, the lost one forgotten")
    assert second["agentId"] == "agent-4"
    svc.remove("/roaming")


def test_a_restarted_framework_adopts_its_tasks(cluster: Cluster) -> None:
    """Last in the module: it replaces the framework actor the others used."""
    svc = cluster.services()
    svc.deploy({"id": "/kept", "cmd": "sleep 600", "instances": 2, "cpus": 0.1, "mem": 16})
    before = {t["id"] for t in svc.wait("/kept", healthy=2, timeout=PATIENCE)["tasks"]}
    ray_calls.stop(svc.framework.handle)
    wait_for(lambda: dead(svc.framework.handle), what="the framework actor gone")
    again = cluster.services()
    assert again is not svc and again.framework_id == svc.framework_id
    status = again.wait("/kept", healthy=2, timeout=PATIENCE)
    no_launch_to_come(cluster, again)
    running = {
        task["id"]
        for framework in cluster.state()["frameworks"]
        if framework["id"] == again.framework_id
        for task in framework["tasks"]
        if task["state"] == "TASK_RUNNING"
    }
    assert {t["id"] for t in status["tasks"]} == before
    assert task_ids(again, "/kept") == before
    assert {t for t in running if t.startswith("kept")} == before


def test_a_torn_down_framework_comes_back_anew_with_its_apps(
    cluster: Cluster,
) -> None:
    """After the failover test: the framework is torn down (its tasks
    killed); services() registers a new one, which relaunches the apps."""
    svc = cluster.services()
    before = task_ids(svc, "/kept")
    cluster.teardown(svc.framework)
    again = cluster.services()
    assert again.framework_id != svc.framework_id
    status = again.wait("/kept", timeout=PATIENCE)
    assert len(status["tasks"]) == 2 and not {t["id"] for t in status["tasks"]} & before
