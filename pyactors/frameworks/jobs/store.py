"""Where the jobs framework keeps its jobs when the cluster has ZooKeeper:
one znode per job under `<zk path>/jobs` (`pyactors.ha.leader.JOBS`), holding
`JobBook.record` as orjson, so definitions and history outlive the
framework. Records carry a version so a later schema can read them."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from pyactors.errors import CorruptRecordError, SchemaVersionError
from pyactors.ha.election import parse_zk_url
from pyactors.ha.leader import JOBS, close_client, zk_client

VERSION = 1


class ZooKeeperJobStore:
    def __init__(self, zk: str, session_timeout: float) -> None:
        self.path = parse_zk_url(zk).path + JOBS
        self.client: KazooClient = zk_client(zk, session_timeout)
        self.client.ensure_path(self.path)

    def load(self) -> list[dict[str, Any]]:
        records = []
        for name in sorted(self.client.get_children(self.path)):
            try:
                data, _ = self.client.get(f"{self.path}/{name}")
            except NoNodeError:
                continue
            records.append(self._decode(name, data))
        return records

    def save(self, name: str, record: dict[str, Any] | None) -> None:
        """Store a job's record, or delete it (None)."""
        path = f"{self.path}/{name}"
        if record is None:
            with contextlib.suppress(NoNodeError):
                self.client.delete(path)
            return
        data = orjson.dumps({"version": VERSION, **record})
        if self.client.exists(path):
            self.client.set(path, data)
        else:
            self.client.create(path, data)

    def close(self) -> None:
        close_client(self.client)

    @staticmethod
    def _decode(name: str, data: bytes) -> dict[str, Any]:
        try:
            record = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise CorruptRecordError(f"job record {name!r} is not JSON: {e}") from e
        if not isinstance(record, dict) or not isinstance(record.get("version"), int):
            raise CorruptRecordError(f"job record {name!r} has no version")
        if record["version"] > VERSION:
            raise SchemaVersionError(
                f"job record {name!r} has version {record['version']}, newer than {VERSION}"
            )
        record.pop("version")
        return record
