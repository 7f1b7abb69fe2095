"""Agents on a multi-node Ray cluster (several Ray nodes on this machine):
one agent pinned to each node, tasks running on the node whose agent
accepted them, and a removed node's tasks reported unreachable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ray.cluster_utils import Cluster
from support.multinode import OnePerAgent, raylet_pids
from support.runtime import (
    PATIENCE,
    processes_in,
    sandbox_of,
    task_agent,
    wait_for,
)

import pyactors
from pyactors import Resources
from pyactors.master.state import MasterConfig
from pyactors.runtime import ray_calls


@pytest.fixture
def extra_node(ray_cluster: Cluster) -> Iterator[object]:
    node = ray_cluster.add_node(wait=False, num_cpus=1)
    ray_cluster.wait_for_nodes(timeout=PATIENCE)
    yield node
    if node in ray_cluster.worker_nodes:
        ray_cluster.remove_node(node)


def test_one_agent_per_node_and_tasks_run_on_its_node(
    ray_cluster: Cluster, extra_node: object, tmp_path: object
) -> None:
    cluster = pyactors.start(agents="per-node", work_dir=str(tmp_path), allocation_interval=0.2)
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
    cluster = pyactors.start(
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
