"""The service framework's state store: a file in the work dir, or a znode
under the cluster's ZooKeeper path (a real server)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from pyactors.frameworks.services.state import ServiceState
from pyactors.frameworks.services.store import FileStore, ZooKeeperStore, open_store


def saved_state() -> dict[str, Any]:
    state = ServiceState()
    state.deploy({"id": "/web", "cmd": "serve", "instances": 2}, 0.0)
    return {"frameworkId": "fw-1", "state": state.to_json()}


def test_the_file_store_round_trips_and_replaces_whole(tmp_path: Path) -> None:
    store = open_store(None, str(tmp_path))
    assert isinstance(store, FileStore) and store.load() is None
    data = saved_state()
    store.save(data)
    store.save(data | {"frameworkId": "fw-2"})
    assert store.load() == data | {"frameworkId": "fw-2"}
    assert [p.name for p in (tmp_path / "services").iterdir()] == ["state.json"]
    restored = ServiceState()
    restored.restore(data["state"])
    assert [a["id"] for a in restored.apps_status()] == ["/web"]


def test_the_zookeeper_store_keeps_the_state_under_the_cluster_path(zookeeper: Any) -> None:
    url = f"zk://{zookeeper.hosts}/pyactors-{uuid.uuid4().hex[:8]}"
    store = open_store(url, "/nonexistent")
    assert isinstance(store, ZooKeeperStore)
    try:
        assert store.load() is None
        data = saved_state()
        store.save(data)
        store.save(data)
    finally:
        store.close()
    again = ZooKeeperStore(url)
    try:
        assert again.load() == data
        assert again.path.endswith("/services/state")
    finally:
        again.close()
