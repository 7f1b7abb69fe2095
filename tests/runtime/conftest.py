"""One Ray instance for the session's runtime tests, stopped when the session
ends, and the small cluster most of them share per module.

The Ray instance is a multi-node cluster on this machine
(`ray.cluster_utils.Cluster`: a head node and one more), so tests of node
placement see several nodes; tests that run local agents pin them to the head
node, the driver's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray
from ray.cluster_utils import Cluster as RayCluster
from support.pymesos.processes import Process
from support.runtime import PATIENCE, small_cluster

from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster


@pytest.fixture(scope="session", autouse=True)
def ray_cluster() -> Iterator[RayCluster]:
    cluster = RayCluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 2,
            "include_dashboard": False,
            "_system_config": ray_calls.SYSTEM_CONFIG,
        },
    )
    # Ray's own wait for a node is 30 s: too short for a busy machine.
    cluster.add_node(wait=False, num_cpus=1)
    cluster.wait_for_nodes(timeout=PATIENCE)
    ray_calls.ensure_started(address=cluster.address)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A small cluster for the module (a module needing another defines its own)."""
    yield from small_cluster(tmp_path_factory)


@pytest.fixture(scope="module")
def url(cluster: Cluster) -> str:
    """The base address of that cluster's HTTP API."""
    return cluster.url


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """The pymesos framework processes a test starts, stopped after it."""
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()
