"""Master high availability on real Ray actors against a real ZooKeeper:
election, the leader killed, agents re-registering (or not), the registry
surviving, and a leader deposed by losing its ZooKeeper session."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient
from support import zookeeper as zk
from support.runtime import PATIENCE, Launcher, leading, processes_in, sandbox_of, wait_for

import pyactors
from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, Reserve, TaskInfo
from pyactors.ha.leader import ELECTION
from pyactors.master.state import MasterConfig
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster
from pyactors.scheduler.api import Driver, Scheduler

# Each test starts and fails over a cluster of its own, waiting for each step.
pytestmark = pytest.mark.timeout(600)

SMALL = "cpus:0.5;mem:32"
# A killed leader is replaced as soon as Ray reports its actor dead, not when
# its session expires: the longest session the test server allows (30 s)
# keeps the two apart however busy the machine, and no test waits for a
# session to expire (one is expired on purpose).
SESSION_TIMEOUT = 30.0


class Relauncher(Launcher):
    """A Launcher that can be given more tasks while it runs, and records
    which master's offers it got (offer ids start with the master's id)."""

    def __init__(self, tasks: list[tuple[str, str, str]]) -> None:
        super().__init__(tasks)
        self.offer_ids: list[tuple[float, str]] = []

    def add(self, task_id: str, command: str, resources: str) -> None:
        self.pending.append((task_id, command, resources))

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        self.offer_ids += [(time.monotonic(), o.id) for o in offers]
        super().offers(driver, offers)

    def offered_since(self, since: float, prefix: str = "") -> list[float]:
        """When offers came after `since` (whose ids start with `prefix`)."""
        return [t for t, i in self.offer_ids if t > since and i.startswith(prefix)]


class OnePerAgent(Launcher):
    """Launches one long task on each agent it is offered, named after it."""

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        for offer in offers:
            task_id = f"on-{offer.agent_id}"
            if task_id in self.pending_ids():
                self.pending.remove((task_id, "sleep 600", SMALL))
                task = TaskInfo(task_id, task_id, Resources.parse(SMALL), command="sleep 600")
                driver.accept([offer.id], [Launch([task])], refuse_seconds=1)
            else:
                driver.decline([offer.id], refuse_seconds=1)

    def pending_ids(self) -> list[str]:
        return [t for t, _, _ in self.pending]


def start(
    zookeeper: Any,
    tmp_path: Path,
    masters: int,
    agents: int = 2,
    reregister: float = 10.0,
    path: str | None = None,
) -> Cluster:
    return pyactors.start(
        agents=agents,
        agent_resources="cpus:2;mem:512",
        work_dir=str(tmp_path),
        allocation_interval=0.2,
        # No test here finds an agent gone by its silence (a missing one by
        # its re-registration window): late heartbeats must not lose one.
        config=MasterConfig(agent_timeout=120.0, agent_reregister_timeout=reregister),
        status_retry_interval=1.0,
        framework_heartbeat_interval=0.3,
        agent_heartbeat_interval=0.3,
        masters=masters,
        zk=f"zk://{zookeeper.hosts}{path or '/pyactors-' + uuid.uuid4().hex[:8]}",
        zk_session_timeout=SESSION_TIMEOUT,
    )


@pytest.fixture
def observer(zookeeper: Any) -> Iterator[KazooClient]:
    """The test's own ZooKeeper session, to look at the election."""
    with zk.client(zookeeper.hosts) as client:
        yield client


def candidates(observer: KazooClient, cluster: Cluster) -> int:
    path = str(cluster.location.zk).split("/", 3)[3]
    return len(observer.get_children(f"/{path}{ELECTION}"))


def test_killing_the_leader_elects_another_and_tasks_carry_on(
    zookeeper: Any, tmp_path: Path
) -> None:
    cluster = start(zookeeper, tmp_path, masters=3)
    try:
        (first,) = wait_for(lambda: leading(cluster), what="one leader among three")
        assert cluster.leader()._actor_id == first._actor_id
        tasks = [("ha-0", "sleep 3", SMALL), ("ha-1", "sleep 3; exit 2", SMALL)]
        framework = cluster.run_framework(
            Relauncher, tasks, name="ha", roles=["ha"], failover_timeout=60
        )
        wait_for(
            lambda: all("TASK_RUNNING" in framework.call("states", t) for t, _, _ in tasks),
            what="both running",
        )
        time.sleep(0.3)  # let the acknowledgements of RUNNING reach the agents
        killed_at = time.monotonic()
        ray_calls.stop(first)
        # ray.kill returns before the actor is gone: it may still answer.
        (second,) = wait_for(
            lambda: [m for m in leading(cluster) if m._actor_id != first._actor_id],
            what="a new leader",
        )
        prefix = ray_calls.ask(second, "status")["info"]["id"]
        offered = wait_for(
            lambda: framework.call("offered_since", killed_at, prefix),
            what="an offer from the new leader",
        )
        failover = min(offered) - killed_at
        print(f"\nfailover (leader killed -> first offer from the new leader): {failover:.2f} s")
        assert failover < SESSION_TIMEOUT
        framework.call("add", "ha-2", "true", SMALL)
        wait_for(
            lambda: (
                "TASK_FINISHED" in framework.call("states", "ha-0")
                and "TASK_FAILED" in framework.call("states", "ha-1")
                and "TASK_FINISHED" in framework.call("states", "ha-2")
            ),
            what="the final updates and a new task's",
        )
        # Exactly once, in order, across the failover (the answers to the
        # framework's reconciliation that repeat what it knows are dropped).
        assert framework.call("states", "ha-0") == ["TASK_RUNNING", "TASK_FINISHED"]
        assert framework.call("states", "ha-1") == ["TASK_RUNNING", "TASK_FAILED"]
        (record,) = cluster.state()["frameworks"]
        assert (record["id"], record["connected"]) == (framework.id, True)
        assert framework.call("seen")["errors"] == []
    finally:
        cluster.shutdown()


def test_agents_reregister_with_their_tasks_and_a_missing_one_is_unreachable(
    zookeeper: Any, tmp_path: Path
) -> None:
    # agent-1 never comes back; agent-0 must, however slowly, within the window.
    cluster = start(zookeeper, tmp_path, masters=2, reregister=30.0)
    lost_sandbox = sandbox_of(cluster, "agent-1", "framework-1", "on-agent-1")
    try:
        pending = [(f"on-agent-{i}", "sleep 600", SMALL) for i in range(2)]
        framework = cluster.run_framework(
            OnePerAgent, pending, name="two", roles=["two"], failover_timeout=60
        )
        assert framework.id == "framework-1"
        for i in range(2):
            wait_for(
                lambda i=i: "TASK_RUNNING" in framework.call("states", f"on-agent-{i}"),
                what=f"the task on agent-{i} running",
            )
        time.sleep(0.3)  # let the acknowledgements of RUNNING reach the agents
        # The leader first, so that no master sees agent-1 die.
        ray_calls.stop(cluster.leader())
        ray_calls.stop(cluster.agents.pop("agent-1"))
        wait_for(
            lambda: "TASK_UNREACHABLE" in framework.call("states", "on-agent-1"),
            what="the task of the agent that did not come back unreachable",
        )
        state = cluster.state()
        agents = {a["id"]: a["reachable"] for a in state["agents"]}
        assert agents == {"agent-0": True, "agent-1": False}
        (record,) = state["frameworks"]
        live = {t["id"]: t["state"] for t in record["tasks"]}
        assert live["on-agent-0"] == "TASK_RUNNING"
        # The new leader rebuilt the allocation from what agent-0 reported.
        allocated = state["allocator"]["agents"]["agent-0"]["allocated"]
        assert allocated[framework.id]["two"] == SMALL
        # Reconciled as running (the framework asked), never unreachable.
        assert set(framework.call("states", "on-agent-0")) == {"TASK_RUNNING"}
    finally:
        # agent-1's actor died without reaping its task.
        for process in processes_in(lost_sandbox):
            process.kill()
        cluster.shutdown()


class Reserver(Scheduler):
    """Reserves a cpu until an offer shows it reserved (an attempt may be
    lost to a leader change under load); declines everything else."""

    def __init__(self) -> None:
        self.reserved = Resources.parse("cpus(res,alice):1")

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        if not any(self.reserved <= o.resources for o in offers):
            driver.accept([offers[0].id], [Reserve(self.reserved)], refuse_seconds=0)
            offers = offers[1:]
        driver.decline([o.id for o in offers], refuse_seconds=1)


def agent_resources(cluster: Any) -> str:
    agents = cluster.state()["agents"]
    return str(agents[0]["resources"]) if agents and agents[0]["reachable"] else ""


def test_weights_quotas_and_reservations_survive_the_leader(zookeeper: Any, tmp_path: Path) -> None:
    cluster = start(zookeeper, tmp_path, masters=2, agents=1)
    try:
        cluster.run_framework(Reserver, name="reserver", roles=["res"], failover_timeout=60)
        wait_for(lambda: "cpus(res,alice):" in agent_resources(cluster), what="the reservation")
        cluster.set_weight("heavy", 3.0)
        cluster.set_quota("capped", "cpus:1", "cpus:1.5;mem:256")
        cluster.set_quota("dropped", "cpus:1")
        cluster.set_quota("dropped", "")
        ray_calls.stop(cluster.leader())
        roles = wait_for(
            lambda: cluster.state()["allocator"]["roles"], what="the new leader's roles"
        )
        assert roles["heavy"]["weight"] == 3.0
        assert roles["capped"]["guarantee"] == {"cpus": 1.0}
        assert roles["capped"]["limit"] == {"cpus": 1.5, "mem": 256.0}
        assert "dropped" not in roles or roles["dropped"]["guarantee"] == {}
        # The agent re-registers with what it always reports; the new leader
        # lays the stored reservation over it.
        wait_for(
            lambda: "cpus(res,alice):" in agent_resources(cluster),
            what="the reservation after failover",
        )
    finally:
        cluster.shutdown()


def test_losing_its_session_deposes_the_leader_at_once(
    zookeeper: Any, tmp_path: Path, observer: KazooClient
) -> None:
    cluster = start(zookeeper, tmp_path, masters=2, agents=1)
    try:
        (first,) = wait_for(lambda: leading(cluster), what="a leader")
        framework = cluster.run_framework(Relauncher, [], name="fence", roles=["fence"])
        wait_for(lambda: framework.call("offered_since", 0.0), what="a first offer")
        first_term = ray_calls.ask(first, "status")["info"]["id"] + "-1-"
        session_id, password = ray_calls.ask(first, "zk_session")
        expired_at = time.monotonic()
        intruder = KazooClient(hosts=zookeeper.hosts, client_id=(session_id, password))
        intruder.start(timeout=PATIENCE)
        intruder.stop()
        intruder.close()
        wait_for(
            lambda: not ray_calls.ask(first, "status")["leading"],
            what="the old leader deposed",
        )
        (second,) = wait_for(lambda: leading(cluster), what="another leader")
        assert second._actor_id != first._actor_id
        prefix = ray_calls.ask(second, "status")["info"]["id"]
        new_offers = wait_for(
            lambda: framework.call("offered_since", expired_at, prefix),
            what="offers from the new leader",
        )
        # The deposed master came back as a standby: both masters contend.
        wait_for(lambda: candidates(observer, cluster) == 2, what="two candidates")
        assert not ray_calls.ask(first, "status")["leading"]
        # Never two leaders offering: the old term's offers (its last ones
        # sent before it was deposed) all came before the new term's first.
        assert framework.call("offered_since", min(new_offers), first_term) == []
    finally:
        cluster.shutdown()


def test_a_master_refuses_to_lead_over_a_registry_it_cannot_read(
    zookeeper: Any, tmp_path: Path, observer: KazooClient
) -> None:
    path = f"/pyactors-{uuid.uuid4().hex[:8]}"
    observer.create(f"{path}/registry/agent/bad", b"{not json", makepath=True)
    cluster = start(zookeeper, tmp_path, masters=1, agents=0, path=path)
    try:
        (master,) = cluster.masters
        refusal = wait_for(
            lambda: ray_calls.ask(master, "status")["refusal"], what="the master refusing"
        )
        assert f"znode {path}/registry/agent/bad (registry record agent 'bad'): not JSON" in refusal
        assert not ray_calls.ask(master, "status")["leading"]
        # It withdrew: nobody leads rather than someone guessing.
        wait_for(lambda: candidates(observer, cluster) == 0, what="no candidate left")
    finally:
        cluster.shutdown()


def test_a_zookeeper_restart_mid_run_is_survived(zookeeper: Any, tmp_path: Path) -> None:
    cluster = start(zookeeper, tmp_path, masters=2, agents=1)
    try:
        framework = cluster.run_framework(
            Relauncher, [("zk-0", "sleep 4", SMALL)], name="zk", roles=["zk"], failover_timeout=60
        )
        wait_for(lambda: "TASK_RUNNING" in framework.call("states", "zk-0"), what="running")
        zookeeper.stop()
        stopped_at = time.monotonic()
        # Without ZooKeeper nobody may lead: leadership is not assumed.
        wait_for(lambda: not leading(cluster), what="no leader")
        zookeeper.start()
        (leader,) = wait_for(lambda: leading(cluster), what="a leader again")
        prefix = ray_calls.ask(leader, "status")["info"]["id"]
        wait_for(
            lambda: framework.call("offered_since", stopped_at, prefix),
            what="offers from the leader after the restart",
        )
        framework.call("add", "zk-1", "true", SMALL)
        wait_for(
            lambda: (
                "TASK_FINISHED" in framework.call("states", "zk-0")
                and "TASK_FINISHED" in framework.call("states", "zk-1")
            ),
            what="the running task's end and a new task",
        )
        # The end may come as the answer to the framework actor's
        # reconciliation with the new leader rather than as the agent's
        # update; either way the scheduler hears it once.
        assert framework.call("states", "zk-0") == ["TASK_RUNNING", "TASK_FINISHED"]
    finally:
        cluster.shutdown()
