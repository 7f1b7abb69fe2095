"""One Ray instance per test session, stopped when the session ends; a ZooKeeper
server for the tests that ask for one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session", autouse=True)
def ray_session() -> Iterator[None]:
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


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
