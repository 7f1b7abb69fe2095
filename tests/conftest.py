"""One Ray instance per test session, stopped when the session ends; a
ZooKeeper server for the tests that ask for one.

The Ray instance is a multi-node cluster on this machine
(`ray.cluster_utils.Cluster`: a head node and one more), so tests of node
placement see several nodes; tests that run local agents pin them to the head
node, the driver's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import ray
from ray.cluster_utils import Cluster
from runtime_support import PATIENCE

from pyactors import ray_calls


@pytest.fixture(scope="session", autouse=True)
def ray_cluster() -> Iterator[Cluster]:
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False}
    )
    # Ray's own wait for a node is 30 s: too short for a busy machine.
    cluster.add_node(wait=False, num_cpus=1)
    cluster.wait_for_nodes(timeout=PATIENCE)
    ray_calls.ensure_started(address=cluster.address)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="session")
def zookeeper() -> Iterator[Any]:
    """A real standalone ZooKeeper server (`tests/zookeeper.py`) for the session.

    Skips only when Debian's zookeeper package is not installed.
    """
    import zookeeper as zk

    if not zk.installed():
        pytest.skip(f"ZooKeeper is not installed ({zk.JAR} is missing): apt-get install zookeeper")
    server = zk.ZooKeeperServer()
    try:
        server.start()
        yield server
    finally:
        server.close()
