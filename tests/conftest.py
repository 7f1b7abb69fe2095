"""Fixtures every kind of test may use: a real ZooKeeper server for the tests
that ask for one. Ray is started only under tests/runtime (its conftest)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def _started_zookeeper() -> Iterator[Any]:
    from support import zookeeper as zk

    if not zk.installed():
        pytest.skip(f"ZooKeeper is not installed ({zk.JAR} is missing): apt-get install zookeeper")
    server = zk.ZooKeeperServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def zookeeper() -> Iterator[Any]:
    """A real standalone ZooKeeper server (`tests/support/zookeeper.py`) for the session.

    Skips only when Debian's zookeeper package is not installed.
    """
    yield from _started_zookeeper()


@pytest.fixture
def own_zookeeper() -> Iterator[Any]:
    """A server of the test's own, which it may stop and start again."""
    yield from _started_zookeeper()
