"""Where the service framework keeps its state across its own failover:
ZooKeeper when the cluster has it, else a file in the cluster's work dir
(which outlives the framework's actor). One JSON document, written whole."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import orjson
from kazoo.client import KazooClient

from pyactors.ha.election import parse_zk_url
from pyactors.ha.leader import close_client, zk_client

# Under the cluster's zk path.
ZNODE = "/services/state"


class StateStore(Protocol):
    """Load and save the framework's state (a JSON-able dict)."""

    def load(self) -> dict[str, Any] | None: ...

    def save(self, data: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class FileStore:
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        return data

    def save(self, data: dict[str, Any]) -> None:
        # Written aside then renamed: a framework killed mid-write leaves the
        # previous state, never half of one.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_bytes(orjson.dumps(data))
        os.replace(partial, self.path)

    def close(self) -> None:
        """Nothing to release."""


class ZooKeeperStore:
    def __init__(self, zk: str, session_timeout: float = 10.0) -> None:
        self.path = parse_zk_url(zk).path.rstrip("/") + ZNODE
        self._client: KazooClient = zk_client(zk, session_timeout)

    def load(self) -> dict[str, Any] | None:
        if self._client.exists(self.path) is None:
            return None
        raw, _ = self._client.get(self.path)
        data: dict[str, Any] = orjson.loads(raw)
        return data

    def save(self, data: dict[str, Any]) -> None:
        raw = orjson.dumps(data)
        if self._client.exists(self.path) is None:
            self._client.create(self.path, raw, makepath=True)
        else:
            self._client.set(self.path, raw)

    def close(self) -> None:
        close_client(self._client)


def open_store(zk: str | None, work_dir: str) -> StateStore:
    """ZooKeeper under the cluster's path when it has one, else a file."""
    if zk is not None:
        return ZooKeeperStore(zk)
    return FileStore(os.path.join(work_dir, "services", "state.json"))
