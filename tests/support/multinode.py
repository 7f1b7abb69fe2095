"""Probes of a multi-node Ray cluster: a task on every agent, the raylets' pids."""

from __future__ import annotations

from ray.cluster_utils import Cluster

from pyactors import Launch, Resources, TaskInfo
from pyactors.core.offer import OfferInfo
from pyactors.scheduler.api import Driver
from support.runtime import Launcher


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


def raylet_pids(ray_cluster: Cluster) -> dict[str, int]:
    """Node id -> pid of its raylet (which Ray gives its workers, and so our
    agents' tasks, as RAY_RAYLET_PID)."""
    nodes = [ray_cluster.head_node, *ray_cluster.worker_nodes]
    return {n.node_id: n.all_processes["raylet"][0].process.pid for n in nodes}
