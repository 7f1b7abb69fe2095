"""The jobs store on a real ZooKeeper server that goes away and comes back:
while it is down every call fails at once (RegistryError) instead of
holding the framework's loop until it returns (kazoo queues a request
while it reconnects), and once it is back the same store writes again and
what it wrote is read back whole."""

from __future__ import annotations

import time

import pytest
from support import zookeeper
from support.runtime import wait_for

from pyactors.errors import RegistryError
from pyactors.frameworks.jobs.store import ANSWER_SECONDS, ZooKeeperJobStore


def job(name: str, runs: int) -> tuple[dict[str, object], dict[str, dict[str, object]]]:
    return {"name": name}, {f"{n:04d}": {"scheduled": n} for n in range(runs)}


def test_a_store_fails_at_once_while_zookeeper_is_down_and_writes_once_it_is_back(
    own_zookeeper: zookeeper.ZooKeeperServer,
) -> None:
    store = ZooKeeperJobStore(f"zk://{own_zookeeper.hosts}/jobs-outage", session_timeout=30.0)
    try:
        store.claim()
        store.commit("fw-1", {"a": job("a", 1)})
        own_zookeeper.stop()
        # As the framework's ticks retry through an outage: each bounded by
        # the store, not by the outage (which lasts until the server starts
        # again), and none left queued in kazoo (enough of them filled its
        # wake-up socket, and the next call blocked).
        for attempt in range(1000):
            asked = time.monotonic()
            with pytest.raises(RegistryError):
                store.commit("fw-1", {"a": job("a", 2 + attempt % 3)})
            with pytest.raises(RegistryError):
                store.framework_id()
            assert time.monotonic() - asked < 2 * ANSWER_SECONDS + 1
        own_zookeeper.start()
        wait_for(lambda: store.client.connected, what="the store's client reconnected")
        store.commit("fw-1", {"a": job("a", 3), "b": job("b", 1)})
        stored = store.load()
        assert stored.framework_id == "fw-1"
        assert sorted(r["scheduled"] for r in stored.ledgers["a"]) == [0, 1, 2]
        assert [r["name"] for r in stored.records] == ["a", "b"]
    finally:
        store.close()
