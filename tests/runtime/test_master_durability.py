"""What a new leader must know from the registry, across a real master
failover on ZooKeeper: a torn-down framework's id stays refused, and a
persistent volume made of an agent's static reservation is offered again,
its data still there."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from support.runtime import Launcher, leading, wait_for

import pyactors
from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Create, Launch, TaskInfo
from pyactors.errors import UnknownFrameworkError
from pyactors.master.state import MasterConfig
from pyactors.runtime import ray_calls
from pyactors.scheduler.api import Driver, Scheduler

pytestmark = pytest.mark.timeout(600)

# The agent's own (static) reservation for the role "vol".
AGENT = "cpus:2;mem:512;disk(vol):100"
VOLUME = "disk(vol)[data]:40"
TASK = f"cpus:0.1;mem:16;{VOLUME}"


class VolumeUser(Scheduler):
    """Creates the volume once, then runs the tasks it is given on it; notes
    which masters offered it the volume (offer ids start with the master's)."""

    def __init__(self) -> None:
        self.volume = Resources.parse(VOLUME)
        self.created = False
        self.pending: list[tuple[str, str]] = []
        self.volume_offers: list[str] = []
        self.updates: list[tuple[str, str]] = []

    def run(self, task_id: str, command: str) -> None:
        self.pending.append((task_id, command))

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        for offer in offers:
            if self.volume <= offer.resources:
                self.volume_offers.append(offer.id)
                if self.pending:
                    task_id, command = self.pending.pop(0)
                    task = TaskInfo(task_id, task_id, Resources.parse(TASK), command=command)
                    driver.accept([offer.id], [Launch([task])], refuse_seconds=0)
                    continue
            elif not self.created:
                self.created = True
                driver.accept([offer.id], [Create(self.volume)], refuse_seconds=0)
                continue
            driver.decline([offer.id], refuse_seconds=0.5)

    def update(self, driver: Driver, status: Any) -> None:
        self.updates.append((status.task_id, status.state.value))

    def seen(self) -> dict[str, Any]:
        return {"offers": self.volume_offers, "updates": self.updates}


def test_a_new_leader_keeps_torn_down_ids_and_static_volumes(
    zookeeper: Any, tmp_path: Path
) -> None:
    cluster = pyactors.start(
        agents=1,
        agent_resources=AGENT,
        work_dir=str(tmp_path),
        allocation_interval=0.2,
        config=MasterConfig(agent_timeout=120.0, agent_reregister_timeout=10.0),
        status_retry_interval=1.0,
        framework_heartbeat_interval=0.3,
        agent_heartbeat_interval=0.3,
        masters=2,
        zk=f"zk://{zookeeper.hosts}/pyactors-{uuid.uuid4().hex[:8]}",
        zk_session_timeout=30.0,
    )
    try:
        (first,) = wait_for(lambda: leading(cluster), what="a leader")
        gone = cluster.run_framework(Launcher, [], name="gone", roles=["gone"])
        cluster.teardown(gone)
        user = cluster.run_framework(VolumeUser, name="vol", roles=["vol"], failover_timeout=120)
        user.call("run", "write", "echo kept > data/file")
        wait_for(
            lambda: ("write", "TASK_FINISHED") in user.call("seen")["updates"],
            what="the write on the volume",
            seen=lambda: user.call("seen"),
        )
        ray_calls.stop(first)
        (second,) = wait_for(
            lambda: [m for m in leading(cluster) if m._actor_id != first._actor_id],
            what="a new leader",
        )
        new_id = ray_calls.ask(second, "status")["info"]["id"]
        # Offered again by the new leader, as it was: never created again.
        wait_for(
            lambda: any(o.startswith(str(new_id)) for o in user.call("seen")["offers"]),
            what="the volume offered by the new leader",
            seen=lambda: (cluster.state()["agents"], user.call("seen")),
        )
        user.call("run", "read", 'test "$(cat data/file)" = kept')
        wait_for(
            lambda: (
                {("read", "TASK_FINISHED"), ("read", "TASK_FAILED")}
                & set(user.call("seen")["updates"])
            ),
            what="the read on the volume",
        )
        assert ("read", "TASK_FINISHED") in user.call("seen")["updates"]
        with pytest.raises(UnknownFrameworkError, match="torn down"):
            cluster.run_framework(Launcher, [], name="gone", roles=["gone"], framework_id=gone.id)
    finally:
        cluster.shutdown()
