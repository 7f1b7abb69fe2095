"""Agents on a multi-node Ray cluster (several Ray nodes on this machine):
one agent pinned to each node, tasks running on the node whose agent
accepted them, and a removed node's tasks reported unreachable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ray.cluster_utils import Cluster
from runtime_support import (
    PATIENCE,
    Launcher,
    processes_in,
    sandbox_of,
    task_agent,
    wait_for,
)

import pyactors.cluster
from pyactors import Resources, ray_calls
from pyactors.master_state import MasterConfig
from pyactors.offer_book import OfferInfo
from pyactors.operations import Launch, TaskInfo
from pyactors.scheduler import Driver


class OnePerAgent(Launcher):
    """Launches one task with `command` on each agent it is offered."""

    def __init__(self, command: str) -> None:
        super().__init__([])
        self.command = command
        self.agents: set[str] = set()

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        for offer in offers:
            if offer.agent_id in self.agents:
                driver.decline([offer.id], refuse_seconds=60)
                continue
            self.agents.add(offer.agent_id)
            task = TaskInfo(
                f"on-{offer.agent_id}",
                "probe",
                Resources.parse("cpus:0.1;mem:16"),
                command=self.command,
            )
            driver.accept([offer.id], [Launch([task])], refuse_seconds=60)


@pytest.fixture
def extra_node(ray_cluster: Cluster) -> Iterator[object]:
    node = ray_cluster.add_node(wait=False, num_cpus=1)
    ray_cluster.wait_for_nodes(timeout=PATIENCE)
    yield node
    if node in ray_cluster.worker_nodes:
        ray_cluster.remove_node(node)


def raylet_pids(ray_cluster: Cluster) -> dict[str, int]:
    """Node id -> pid of its raylet (which Ray gives its workers, and so our
    agents' tasks, as RAY_RAYLET_PID)."""
    nodes = [ray_cluster.head_node, *ray_cluster.worker_nodes]
    return {n.node_id: n.all_processes["raylet"][0].process.pid for n in nodes}


def test_one_agent_per_node_and_tasks_run_on_its_node(
    ray_cluster: Cluster, extra_node: object, tmp_path: object
) -> None:
    cluster = pyactors.cluster.start(
        agents="per-node", work_dir=str(tmp_path), allocation_interval=0.2
    )
    try:
        nodes = {n.node_id: n for n in ray_calls.alive_nodes()}
        agents = cluster.state()["agents"]
        assert len(agents) == len(nodes) == 3
        assert {a["attributes"]["ray_node_id"] for a in agents} == set(nodes)
        for agent in agents:
            node = nodes[agent["attributes"]["ray_node_id"]]
            # Detected from the node: all its CPUs and Mesos's port range.
            total = Resources.parse(agent["resources"])
            assert total.scalar("cpus") == node.resources["CPU"]
            assert "ports:[31000-32000]" in agent["resources"]
        framework = cluster.run_framework(
            OnePerAgent, "echo $RAY_RAYLET_PID", name="probe", roles=["probe"]
        )
        wait_for(
            lambda: (
                sum(s == "TASK_FINISHED" for _, s, _, _ in framework.call("seen")["updates"]) == 3
            ),
            what="a finished task on each agent",
        )
        pids = raylet_pids(ray_cluster)
        for agent in agents:
            sandbox = cluster.sandbox(f"on-{agent['id']}")
            assert sandbox is not None
            raylet = int(Path(sandbox, "stdout").read_text())
            assert raylet == pids[agent["attributes"]["ray_node_id"]]
    finally:
        cluster.shutdown()


def test_a_removed_node_has_its_tasks_reported_unreachable(
    ray_cluster: Cluster, extra_node: object, tmp_path: object
) -> None:
    cluster = pyactors.cluster.start(
        agents="per-node",
        work_dir=str(tmp_path),
        allocation_interval=0.2,
        framework_heartbeat_interval=0.3,
        # How the removed node's agent is noticed (by its silence); long
        # enough that a busy machine's late heartbeats lose no live one.
        config=MasterConfig(agent_timeout=20.0),
    )
    doomed = f"agent-{extra_node.node_id[:12]}"  # type: ignore[attr-defined]
    try:
        framework = cluster.run_framework(OnePerAgent, "sleep 600", name="doomed", roles=["d"])
        task = f"on-{doomed}"
        wait_for(lambda: "TASK_RUNNING" in framework.call("states", task), what="running")
        sandbox = sandbox_of(cluster, task_agent(cluster, framework.id, task), framework.id, task)
        try:
            ray_cluster.remove_node(extra_node)
            wait_for(
                lambda: "TASK_UNREACHABLE" in framework.call("states", task),
                what="TASK_UNREACHABLE",
            )
        finally:
            for process in processes_in(sandbox):
                process.kill()
        # Tasks on the other nodes are untouched.
        others = [t for t, s, _, _ in framework.call("seen")["updates"] if s == "TASK_UNREACHABLE"]
        assert others == [task]
    finally:
        cluster.shutdown()
