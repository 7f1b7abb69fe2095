"""On a real cluster: a kill's grace period between SIGTERM and SIGKILL
(the Driver's, the task's kill policy, a Marathon app's
taskKillGracePeriodSeconds); a gang larger than any agent reported
unplaceable, passed by the next, and run once a large agent joins."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from support.runtime import Launcher, wait_for

from pyactors import Resources
from pyactors.core.operations import TaskInfo
from pyactors.frameworks import Gang, GangJob
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
