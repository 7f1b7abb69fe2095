"""pymesos 0.3.15's MesosSchedulerDriver (installed from PyPI by the test
command) driving a real cluster through Mesos's v1 scheduler API: the
pymesos repository's example scheduler and executor by `host:port` and by
`zk://` (its tasks run in its executor over the v1 executor API), and a
framework of command tasks that kills, reconciles, declines with filters,
suppresses and revives, and fails over to a new process of its scheduler
within its failover timeout.

Each framework is its own process (`support.pymesos`), as a Mesos user's
would be; the tests read what it prints and what the master shows."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import zookeeper as zk
from support.http import get
from support.pymesos.processes import (
    Process,
    address,
    framework,
    registered,
    state_of,
)
from support.runtime import allocation_cycles_pass, ha_cluster, small_cluster, wait_for

from pyactors.ha.leader import ELECTION
from pyactors.runtime.cluster import Cluster

TESTS = Path(__file__).resolve().parents[1]
EXAMPLE = TESTS / "support" / "pymesos" / "example_scheduler.py"


def finished_example_tasks(url: str) -> int:
    frameworks = get(url, "/master/state")["frameworks"]
    return sum(
        1
        for f in frameworks
        if f["name"] == "MinimalFramework"
        for t in f["completed_tasks"]
        if t["state"] == "TASK_FINISHED"
    )


def run_example(url: str, master: str) -> None:
    """The example scheduler's tasks reach TASK_FINISHED; Ctrl+C stops it
    and tears its framework down."""
    example = subprocess.Popen(
        [sys.executable, str(EXAMPLE), master],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: finished_example_tasks(url) >= 3, what="3 tasks of the example finished")
        example.send_signal(signal.SIGINT)
        example.wait(timeout=60)

        def torn_down() -> bool:
            names = [f["name"] for f in get(url, "/master/frameworks")["frameworks"]]
            return "MinimalFramework" not in names

        wait_for(torn_down, what="the example's framework torn down by driver.stop()")
    finally:
        if example.poll() is None:
            example.kill()
            example.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from small_cluster(tmp_path_factory, framework_heartbeat_interval=1.0)


def test_the_example_scheduler_by_address(cluster: Cluster) -> None:
    run_example(cluster.url, address(cluster))


def test_the_example_scheduler_through_zookeeper(zookeeper: Any, tmp_path: Path) -> None:
    path = f"/pyactors-{uuid.uuid4().hex[:8]}"
    zk_cluster = ha_cluster(zookeeper, tmp_path, path, agent_resources="cpus:2;mem:512")
    try:
        # Mesos's layout: only json.info_ candidates, the lowest the leader,
        # holding MasterInfo JSON whose address is the leader's.
        with zk.client(zookeeper.hosts) as client:
            children = client.get_children(path + ELECTION)
            assert len(children) == 2
            assert all(re.fullmatch(r"json\.info_\d{10}", c) for c in children), children
            info = json.loads(client.get(f"{path}{ELECTION}/{min(children)}")[0])
        address = info["address"]
        assert f"http://{address['ip']}:{address['port']}" == zk_cluster.url
        assert {"id", "ip", "port", "hostname", "version", "pid"} <= set(info)
        run_example(zk_cluster.url, f"zk://{zookeeper.hosts}{path}{ELECTION}")
    finally:
        zk_cluster.shutdown()


def test_command_tasks_run_are_killed_and_reconciled(
    cluster: Cluster, processes: list[Process]
) -> None:
    scheduler = framework(processes, address(cluster))
    framework_id = registered(scheduler)
    assert state_of(cluster, framework_id) is not None
    scheduler.tell(do="launch", task_id="quick", command="echo hi")
    scheduler.tell(do="launch", task_id="long", command="sleep 600")
    wait_for(
        lambda: any(u["state"] == "TASK_FINISHED" for u in scheduler.updates("quick")),
        what="the quick task to finish",
        seen=lambda: scheduler.lines[-5:],
    )
    wait_for(lambda: any(u["state"] == "TASK_RUNNING" for u in scheduler.updates("long")))
    # Updates from the agent carry a uuid (pymesos acknowledged them).
    assert all(u["uuid"] for u in scheduler.updates("quick"))

    scheduler.tell(do="kill", task_id="long")
    wait_for(lambda: any(u["state"] == "TASK_KILLED" for u in scheduler.updates("long")))

    # Explicit reconciliation of a known and an unknown task, then
    # implicit: the master's answers carry no uuid (nothing to acknowledge).
    scheduler.tell(do="launch", task_id="other", command="sleep 600")
    wait_for(lambda: any(u["state"] == "TASK_RUNNING" for u in scheduler.updates("other")))
    before = len(scheduler.events("update"))
    scheduler.tell(do="reconcile", task_ids=["long", "never-launched"])

    def answered() -> list[dict[str, Any]]:
        answers = scheduler.events("update")[before:]
        ids = {a["task_id"] for a in answers}
        return answers if {"long", "never-launched"} <= ids else []

    answers = wait_for(answered, what="explicit reconciliation answers")
    states = {a["task_id"]: a["state"] for a in answers}
    assert states["long"] == "TASK_KILLED" and states["never-launched"] == "TASK_UNKNOWN"
    assert not any(a["uuid"] for a in answers)
    before = len(scheduler.events("update"))
    scheduler.tell(do="reconcile", task_ids=[])
    implicit = wait_for(
        lambda: [u for u in scheduler.events("update")[before:] if u["task_id"] == "other"]
    )
    assert implicit[0]["state"] == "TASK_RUNNING" and not implicit[0]["uuid"]
    assert implicit[0]["reason"] == "REASON_RECONCILIATION"
    # The driver is alive and well: it still launches.
    scheduler.tell(do="kill", task_id="other")
    wait_for(lambda: any(u["state"] == "TASK_KILLED" for u in scheduler.updates("other")))
    assert not scheduler.events("error")
    scheduler.tell(do="stop")
    wait_for(lambda: state_of(cluster, framework_id) is None, what="the framework torn down")


def test_filters_suppress_and_revive(cluster: Cluster, processes: list[Process]) -> None:
    # Every offer declined for an hour: once both agents were offered, no
    # more come, however many cycles pass.
    scheduler = framework(processes, address(cluster), "--refuse-seconds", "3600")
    framework_id = registered(scheduler)

    def agents_offered() -> set[str]:
        return {a for e in scheduler.events("offers") for a in e["agents"]}

    wait_for(lambda: len(agents_offered()) == 2, what="both agents offered")
    wait_for(lambda: no_offer_out(cluster, framework_id), what="every offer declined")
    declined = len(scheduler.events("offers"))
    allocation_cycles_pass(cluster, count=20)
    assert len(scheduler.events("offers")) == declined

    # REVIVE clears the filters; declined for no time, offers keep coming.
    scheduler.tell(do="filter", refuse_seconds=0)
    scheduler.tell(do="revive")
    wait_for(lambda: len(scheduler.events("offers")) > declined + 2, what="offers after REVIVE")

    # Suppressed: none, however many cycles pass; revived: offers again.
    scheduler.tell(do="suppress")
    wait_for(lambda: any(e["do"] == "suppress" for e in scheduler.events("done")))
    wait_for(lambda: no_offer_out(cluster, framework_id), what="offers declined after SUPPRESS")
    allocation_cycles_pass(cluster, count=5)
    suppressed = len(scheduler.events("offers"))
    allocation_cycles_pass(cluster, count=20)
    assert len(scheduler.events("offers")) == suppressed
    scheduler.tell(do="revive")
    wait_for(lambda: len(scheduler.events("offers")) > suppressed, what="offers after REVIVE")


def no_offer_out(cluster: Cluster, framework_id: str) -> bool:
    framework = state_of(cluster, framework_id)
    return framework is not None and not framework.get("offers")


def test_a_scheduler_process_fails_over_within_its_failover_timeout(
    cluster: Cluster, processes: list[Process]
) -> None:
    first = framework(processes, address(cluster), "--failover-timeout", "300")
    framework_id = registered(first)
    first.tell(do="launch", task_id="survivor", command="sleep 600")
    wait_for(lambda: any(u["state"] == "TASK_RUNNING" for u in first.updates("survivor")))
    first.tell(do="crash")
    first.popen.wait(timeout=60)

    def disconnected() -> bool:
        record = state_of(cluster, framework_id)
        return record is not None and not record["active"]

    wait_for(disconnected, what="the framework disconnected, within its failover timeout")
    second = framework(
        processes, address(cluster), "--framework-id", framework_id, "--failover-timeout", "300"
    )
    wait_for(lambda: second.events("reregistered"), what="the new process to re-register")
    record = state_of(cluster, framework_id)
    assert record is not None and record["active"]
    tasks = {t["id"]: t["state"] for t in record["tasks"]}
    assert tasks == {"survivor": "TASK_RUNNING"}
    second.tell(do="kill", task_id="survivor")
    wait_for(lambda: any(u["state"] == "TASK_KILLED" for u in second.updates("survivor")))
    second.tell(do="stop")
    wait_for(lambda: state_of(cluster, framework_id) is None, what="the framework torn down")
