"""On a real cluster: a kill's grace period between SIGTERM and SIGKILL
(the Driver's, the task's kill policy, a Marathon app's
taskKillGracePeriodSeconds); every health check of an app, each shown by
Marathon's API; a deployment waiting for its task's readiness check; a
gang larger than any agent reported unplaceable, passed by the next, and
run once a large agent joins."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from support.http import get
from support.runtime import PATIENCE, Launcher, wait_for

from pyactors import Resources
from pyactors.core.operations import TaskInfo
from pyactors.frameworks import Gang, GangJob
from pyactors.frameworks.services.client import Services
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster
from pyactors.scheduler.api import Driver

# Traps SIGTERM, then needs 6 s (more than the agent's 5 s default) to finish.
TRAPS_TERM = (
    "trap 'sleep 6; echo done > finished; exit 0' TERM; echo up > up; while :; do sleep 0.1; done"
)
# Only SIGKILL ends it.
IGNORES_TERM = "trap '' TERM; echo up > up; while :; do sleep 0.1; done"


class GraceKiller(Launcher):
    """Launches its tasks with a kill policy of 20 s and kills them on request."""

    driver: Driver | None = None

    def subscribed(self, driver: Driver, framework_id: str, master_info: dict[str, object]) -> None:
        self.driver = driver

    def task_info(self, task_id: str, command: str, resources: str) -> TaskInfo:
        return TaskInfo(
            task_id, task_id, Resources.parse(resources), command=command, kill_grace_period=20.0
        )

    def kill(self, task_id: str, grace_period: float | None) -> None:
        assert self.driver is not None
        self.driver.kill(task_id, grace_period)


def up(cluster: Cluster, task_id: str) -> Path | None:
    path = cluster.sandbox(task_id)
    return Path(path) if path is not None and (Path(path) / "up").exists() else None


def test_a_kill_gives_the_task_its_grace_then_sigkill(cluster: Cluster) -> None:
    tasks = [
        ("polite", TRAPS_TERM, "cpus:0.1;mem:32"),
        ("hurried", TRAPS_TERM, "cpus:0.1;mem:32"),
        ("deaf", IGNORES_TERM, "cpus:0.1;mem:32"),
    ]
    framework = cluster.run_framework(GraceKiller, tasks, name="grace", roles=["grace"])

    def killed(task_id: str) -> bool:
        return "TASK_KILLED" in framework.call("states", task_id)

    sandboxes = {t: wait_for(lambda t=t: up(cluster, t), what=f"{t} running") for t, _, _ in tasks}
    # No grace of its own: the task's kill policy (20 s) lets the trap finish.
    framework.call("kill", "polite", None)
    # A kill's own grace overrides the policy: SIGKILL before the trap is done.
    framework.call("kill", "hurried", 1.0)
    begun = time.monotonic()
    framework.call("kill", "deaf", 3.0)
    wait_for(lambda: killed("deaf"), what="deaf killed")
    took = time.monotonic() - begun
    assert took >= 3.0, f"TASK_KILLED {took:.1f} s after the kill: SIGKILL came before the grace"
    wait_for(lambda: killed("polite") and killed("hurried"), what="the trappers killed")
    assert (sandboxes["polite"] / "finished").read_text() == "done\n"
    assert not (sandboxes["hurried"] / "finished").exists()
    cluster.teardown(framework)


def sandbox(cluster: Cluster, task_id: str) -> Path:
    path = cluster.sandbox(task_id)
    assert path is not None, f"no sandbox for {task_id}"
    return Path(path)


def test_an_apps_kill_grace_period_reaches_its_tasks(cluster: Cluster) -> None:
    svc: Services = cluster.services()
    svc.deploy(
        {
            "id": "/patient",
            "cmd": TRAPS_TERM,
            "cpus": 0.1,
            "mem": 32,
            "portDefinitions": [],
            "taskKillGracePeriodSeconds": 20,
        }
    )
    (task,) = wait_for(lambda: svc.app("/patient")["tasks"] if up_task(cluster, svc) else None)
    box = sandbox(cluster, task["id"])
    svc.remove("/patient")
    # The agent's own default (5 s) would cut the trap's 6 s short.
    wait_for(lambda: all(a["id"] != "/patient" for a in svc.apps()), what="/patient removed")
    assert (box / "finished").read_text() == "done\n"


def up_task(cluster: Cluster, svc: Services) -> bool:
    tasks = svc.app("/patient")["tasks"]
    return bool(tasks) and up(cluster, tasks[0]["id"]) is not None


def http_check(path: str) -> dict[str, Any]:
    # Slow answers on a busy machine are no failures; a missing page is one.
    return {
        "protocol": "HTTP",
        "path": path,
        "portIndex": 0,
        "gracePeriodSeconds": 300,
        "intervalSeconds": 0.5,
        "timeoutSeconds": 20,
        "maxConsecutiveFailures": 3,
        "delaySeconds": 0,
    }


def test_every_health_check_runs_and_marathon_shows_each(cluster: Cluster) -> None:
    svc: Services = cluster.services()
    svc.deploy(
        {
            "id": "/checked",
            "cmd": 'echo ok > first && echo ok > second && exec python3 -m http.server "$PORT0"',
            "instances": 1,
            "cpus": 0.1,
            "mem": 64,
            "healthChecks": [http_check("/first"), http_check("/second")],
            "backoffSeconds": 0.2,
        }
    )
    (task,) = svc.wait("/checked", healthy=1, timeout=PATIENCE)["tasks"]
    (shown,) = get(svc.marathon_url, "/v2/apps/checked/tasks")["tasks"]
    results = shown["healthCheckResults"]
    assert [(r["alive"], r["consecutiveFailures"]) for r in results] == [(True, 0), (True, 0)]
    # The second check (the framework runs it; the agent runs the first)
    # fails: the task is unhealthy, then killed and replaced.
    (sandbox(cluster, task["id"]) / "second").unlink()

    def replaced() -> bool:
        status = svc.app("/checked")
        ids = [t["id"] for t in status["tasks"]]
        return task["id"] not in ids and status["tasksHealthy"] == 1

    wait_for(replaced, what="a healthy replacement", seen=lambda: svc.app("/checked"))
    failure = svc.app("/checked")["lastTaskFailure"]
    assert failure["taskId"] == task["id"] and failure["state"] == "TASK_KILLED", failure
    svc.remove("/checked")


def test_a_deployment_waits_for_the_readiness_check(cluster: Cluster) -> None:
    svc: Services = cluster.services()
    deployment = svc.deploy(
        {
            "id": "/warming",
            "cmd": 'exec python3 -m http.server "$PORT0"',
            "portDefinitions": [{"port": 0, "name": "http"}],
            "instances": 1,
            "cpus": 0.1,
            "mem": 64,
            "readinessChecks": [
                {
                    "name": "warm",
                    "path": "/ready",
                    "portName": "http",
                    "intervalSeconds": 0.5,
                    "timeoutSeconds": 0.4,
                    "preserveLastResponse": True,
                }
            ],
        }
    )

    def not_ready() -> list[dict[str, Any]] | None:
        for shown in get(svc.marathon_url, "/v2/deployments"):
            if shown["id"] == deployment:
                (action,) = shown["currentActions"]
                results = action["readinessCheckResults"]
                if results and results[0].get("lastResponse", {}).get("status") == 404:
                    return list(results)
        return None

    (result,) = wait_for(not_ready, what="a readiness answer of 404")
    assert result["name"] == "warm" and result["ready"] is False
    (task,) = svc.app("/warming")["tasks"]
    assert result["taskId"] == task["id"] and task["state"] == "TASK_RUNNING"
    (sandbox(cluster, task["id"]) / "ready").write_text("yes")
    wait_for(
        lambda: all(d["id"] != deployment for d in get(svc.marathon_url, "/v2/deployments")),
        what="the deployment done once its task is ready",
    )
    svc.remove("/warming")


def test_a_gang_no_agent_can_hold_is_reported_and_runs_once_one_joins(cluster: Cluster) -> None:
    jobs = [
        GangJob("huge", 2, "echo ok", "cpus:6;mem:64"),
        GangJob("small", 2, "echo ok", "cpus:0.1;mem:16"),
    ]
    framework = cluster.run_framework(Gang, jobs, 1.0, name="unplaceable")

    def gang(name: str) -> dict[str, Any]:
        (found,) = [g for g in framework.call("gangs") if g["name"] == name]
        return dict(found)

    reason = wait_for(
        lambda: framework.call("state")["unplaceable"].get("huge"),
        what="the huge gang reported unplaceable",
        seen=lambda: framework.call("state"),
    )
    assert "a member needs cpus:6;mem:64, more than any of the" in reason, reason
    # The gang behind it runs meanwhile.
    wait_for(lambda: gang("small")["state"] == "FINISHED", seen=lambda: gang("small"))
    assert gang("huge")["state"] == "PENDING"
    cluster.add_agent("large", ray_calls.current_node_id(), "cpus:16;mem:1024")
    wait_for(lambda: gang("huge")["state"] == "FINISHED", seen=lambda: gang("huge"))
    assert gang("huge")["unplaceable"] is None
    assert framework.call("state")["unplaceable"] == {}
    assert {m["agent_id"] for m in gang("huge")["attempts"][0]["members"]} == {"large"}
    cluster.teardown(framework)
