"""The service framework's state store: a file in the work dir, or a znode
under the cluster's ZooKeeper path (a real server)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from support import zookeeper as zk
from support.runtime import (
    PATIENCE,
    allocation_cycles_pass,
    dead,
    suppressed_with_no_offer_out,
    wait_for,
)

import pyactors
from pyactors.frameworks.services.state import ServiceState
from pyactors.frameworks.services.store import FileStore, ZooKeeperStore, open_store
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster


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


def task_ids_running(cluster: Cluster, framework_id: str) -> set[str]:
    """The framework's running tasks, as the master knows them."""
    return {
        task["id"]
        for framework in cluster.state()["frameworks"]
        if framework["id"] == framework_id
        for task in framework["tasks"]
        if task["state"] == "TASK_RUNNING"
    }


@pytest.mark.timeout(600)
def test_with_zookeeper_a_restarted_framework_adopts_its_tasks_from_there(
    zookeeper: Any, tmp_path: Path
) -> None:
    path = f"/pyactors-services-{uuid.uuid4().hex[:8]}"
    cluster = pyactors.start(
        agents=2,
        agent_resources="cpus:2;mem:512",
        work_dir=str(tmp_path),
        allocation_interval=0.2,
        zk=f"zk://{zookeeper.hosts}{path}",
    )
    try:
        svc = cluster.services()
        app = {"id": "/kept", "cmd": "sleep 600", "instances": 2, "cpus": 0.1, "mem": 16}
        svc.deploy(app | {"portDefinitions": []})
        before = {t["id"] for t in svc.wait("/kept", timeout=PATIENCE)["tasks"]}
        assert not (tmp_path / "services" / "state.json").exists()
        with zk.client(zookeeper.hosts) as client:
            raw, _ = client.get(path + "/services/state")
        assert orjson.loads(raw)["frameworkId"] == svc.framework_id
        ray_calls.stop(svc.framework.handle)
        wait_for(lambda: dead(svc.framework.handle), what="the framework actor gone")
        again = cluster.services()
        assert again.framework_id == svc.framework_id
        status = again.wait("/kept", timeout=PATIENCE)
        # Once it says it has nothing to launch and cycles have passed, any
        # duplicate it were to launch would have come.
        wait_for(
            lambda: suppressed_with_no_offer_out(cluster, again.framework_id),
            what="the framework suppressed, no offer of it on its way",
            seen=again.metrics,
        )
        allocation_cycles_pass(cluster)
        assert {t["id"] for t in status["tasks"]} == before
        assert task_ids_running(cluster, again.framework_id) == before
    finally:
        cluster.shutdown()
