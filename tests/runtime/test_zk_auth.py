"""A cluster on a ZooKeeper path with digest credentials: the masters
elect, keep their registry and fail over as without them, while a
ZooKeeper client without the credentials can neither rewrite the leader's
info nor touch the registry, and the password shows nowhere."""

from __future__ import annotations

import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from kazoo.exceptions import NoAuthError
from support import zookeeper as zk
from support.runtime import leading, wait_for

import pyactors
from pyactors.ha.leader import ELECTION, REGISTRY
from pyactors.master.state import MasterConfig
from pyactors.runtime import ray_calls

pytestmark = pytest.mark.timeout(600)

SECRET = "zk-Secret-42"


def test_a_cluster_with_zookeeper_credentials(zookeeper: Any, tmp_path: Path) -> None:
    path = f"/pyactors-auth-{uuid.uuid4().hex[:8]}"
    cluster = pyactors.start(
        agents=1,
        agent_resources="cpus:1;mem:256",
        work_dir=str(tmp_path),
        allocation_interval=0.2,
        config=MasterConfig(agent_timeout=120.0, agent_reregister_timeout=30.0),
        agent_heartbeat_interval=0.3,
        masters=2,
        zk=f"zk://pyactors:{SECRET}@{zookeeper.hosts}{path}",
        zk_session_timeout=10.0,
    )
    try:
        (first,) = wait_for(lambda: leading(cluster), what="one leader of two")
        wait_for(lambda: cluster.state()["agents"], what="the agent registered")
        assert SECRET not in repr(cluster.location)
        with urllib.request.urlopen(cluster.url + "/master/state", timeout=30) as response:
            assert SECRET.encode() not in response.read()
        with zk.client(zookeeper.hosts) as stranger:
            election = path + ELECTION
            (candidate,) = sorted(stranger.get_children(election))[:1]
            for attempt in (
                lambda: stranger.set(f"{election}/{candidate}", b'{"actor": "evil"}'),
                lambda: stranger.delete(f"{election}/{candidate}"),
                lambda: stranger.get(path + REGISTRY),
                lambda: stranger.set(path + REGISTRY, b"{}"),
                lambda: stranger.create(f"{path}{REGISTRY}/agent/evil", b"{}"),
            ):
                with pytest.raises(NoAuthError):
                    attempt()
        # The other master takes over, reading the registry with the credentials.
        ray_calls.stop(first)
        wait_for(
            lambda: [m for m in leading(cluster) if m._actor_id != first._actor_id],
            what="the other master to lead",
        )
        wait_for(
            lambda: [a["id"] for a in cluster.state()["agents"]],
            what="the agent back with the new leader",
        )
    finally:
        cluster.shutdown()
