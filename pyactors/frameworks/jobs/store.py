"""Where the jobs framework keeps its jobs, their run ledger and its framework
id, so that all three outlive its actor: in ZooKeeper when the cluster has
it, else in the cluster's work dir.

Each change is one atomic write (`commit`) of the jobs it touches: their
records (`JobBook.record`) and their ledgers (`JobBook.ledger`, one entry
per run keyed by its scheduled time), with the framework id. A finished
parent run and the dependent run it starts are stored together or not at
all.

Writes are fenced: `claim` (a new framework instance, before it acts)
bumps the store's epoch, and a write naming an older epoch fails with
FencedError, so an instance that was replaced cannot write after its
successor read the store.

ZooKeeper, under `<zk path>/jobs` (`pyactors.ha.leader.JOBS`): that znode's
data holds the framework id and its version is the epoch; each job is a
child `<name>` holding its record, and each of its runs a grandchild
`<name>/<ledger key>`. Every commit is one ZooKeeper transaction that
checks (or bumps) the epoch. Files, under `<work dir>/jobs`: `epoch`, and
`state.json` holding everything, each written aside, fsynced and renamed.
Records carry a version so a later schema can read them.

The framework's loop calls the store, so ZooKeeper never holds it: kazoo
queues a request while it reconnects and would wait out the whole outage.
A call while the client is not connected fails at once (RegistryError:
the framework writes again with its next change or tick), and an answer is
waited for at most `ANSWER_SECONDS` (a request left without one is of
unknown outcome, as one cut by a lost connection).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, ConnectionLoss, KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.interfaces import IAsyncResult

from pyactors.errors import CorruptRecordError, FencedError, RegistryError, SchemaVersionError
from pyactors.ha.election import parse_zk_url
from pyactors.ha.leader import JOBS, close_client, zk_client

VERSION = 2
# The longest the framework's loop waits for one answer from ZooKeeper.
ANSWER_SECONDS = 3.0

# A job's change: its record (None: the job was removed) and its whole
# ledger (ledger key -> run).
JobChange = tuple[dict[str, Any] | None, Mapping[str, dict[str, Any]]]

_FENCED = "another instance of the jobs framework has claimed the store: stop"


@dataclass
class Stored:
    """What a store holds: the framework id, the jobs' records and each job's
    ledger (its runs, in no particular order)."""

    framework_id: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    ledgers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class JobStore(Protocol):
    def load(self) -> Stored:
        """Read what is stored, claiming nothing (for readers outside the
        framework, and to find the framework id before starting it)."""
        ...

    def claim(self) -> Stored:
        """Fence every earlier writer, then load."""
        ...

    def framework_id(self) -> str | None:
        """The stored framework id, read without claiming."""
        ...

    def commit(self, framework_id: str | None, changes: Mapping[str, JobChange]) -> None:
        """Write the framework id and the changed jobs whole, or nothing:
        FencedError once another instance claimed the store, RegistryError
        when the write failed (or its outcome is unknown: write it again)."""
        ...

    def close(self) -> None: ...


def open_store(zk: str | None, work_dir: str, session_timeout: float = 10.0) -> JobStore:
    """ZooKeeper under the cluster's path when it has one, else files in
    `work_dir`."""
    if zk is not None:
        return ZooKeeperJobStore(zk, session_timeout)
    return FileJobStore(os.path.join(work_dir, "jobs"))


def read_store(zk: str | None, work_dir: str, session_timeout: float = 10.0) -> Stored:
    """Everything stored (jobs, ledgers, framework id), read without
    disturbing the framework (what `audit.audit` checks)."""
    store = open_store(zk, work_dir, session_timeout)
    try:
        return store.load()
    finally:
        store.close()


def read_ledger(
    zk: str | None, work_dir: str, session_timeout: float = 10.0
) -> dict[str, list[dict[str, Any]]]:
    """Every job's ledger as stored now (job -> its runs, oldest first),
    read without disturbing the framework: what an outside check counts
    skipped and doubled runs from."""
    ledgers = read_store(zk, work_dir, session_timeout).ledgers
    return {name: sorted(runs, key=lambda run: run["scheduled"]) for name, runs in ledgers.items()}


def _encode(data: Mapping[str, Any]) -> bytes:
    return orjson.dumps({"version": VERSION, **data})


def _decode(what: str, data: bytes) -> dict[str, Any]:
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise CorruptRecordError(f"{what} is not JSON: {e}") from e
    if not isinstance(record, dict) or not isinstance(record.get("version"), int):
        raise CorruptRecordError(f"{what} has no version")
    if record["version"] > VERSION:
        raise SchemaVersionError(f"{what} has version {record['version']}, newer than {VERSION}")
    record.pop("version")
    return record


class ZooKeeperJobStore:
    def __init__(self, zk: str, session_timeout: float) -> None:
        self.path = parse_zk_url(zk).path + JOBS
        self.client: KazooClient = zk_client(zk, session_timeout)
        self.client.ensure_path(self.path)
        self._epoch: int | None = None
        self._framework_id: str | None = None
        # What this instance knows is stored: job -> record bytes, and
        # job -> ledger key -> run bytes.
        self._records: dict[str, bytes] = {}
        self._runs: dict[str, dict[str, bytes]] = {}
        # Jobs whose last write failed: what is stored of them is read again.
        self._unsure: set[str] = set()

    def load(self) -> Stored:
        try:
            header, _ = self._ask(self.client.get_async, self.path)
            stored = Stored(
                _decode(f"znode {self.path}", header).get("framework_id") if header else None
            )
            self._records, self._runs = {}, {}
            for name in sorted(self._ask(self.client.get_children_async, self.path)):
                record = self._read_job(name)
                if record is not None:
                    stored.records.append(record)
                    stored.ledgers[name] = [
                        _decode(f"run {name}/{key}", data) for key, data in self._runs[name].items()
                    ]
        except (KazooException, KazooTimeoutError) as e:
            raise RegistryError(f"cannot read the jobs at znode {self.path}: {e!r}") from e
        self._framework_id = stored.framework_id
        return stored

    def framework_id(self) -> str | None:
        try:
            header, _ = self._ask(self.client.get_async, self.path)
        except (KazooException, KazooTimeoutError) as e:
            raise RegistryError(f"cannot read the jobs at znode {self.path}: {e!r}") from e
        return _decode(f"znode {self.path}", header).get("framework_id") if header else None

    def claim(self) -> Stored:
        try:
            header, stat = self._ask(self.client.get_async, self.path)
            # A concurrent claim makes this one fail: the other instance won.
            stat = self._ask(self.client.set_async, self.path, header, stat.version)
        except BadVersionError as e:
            raise FencedError(_FENCED) from e
        except (KazooException, KazooTimeoutError) as e:
            raise RegistryError(f"cannot claim the jobs at znode {self.path}: {e!r}") from e
        self._epoch = stat.version
        return self.load()

    def commit(self, framework_id: str | None, changes: Mapping[str, JobChange]) -> None:
        if self._epoch is None:
            raise FencedError("the jobs store was not claimed: claim it before writing")
        try:
            for name in sorted(self._unsure & set(changes)):
                self._read_job(name)
                self._unsure.discard(name)
        except (KazooException, KazooTimeoutError) as e:
            raise RegistryError(f"cannot read the jobs at znode {self.path}: {e!r}") from e
        transaction = self.client.transaction()
        if framework_id != self._framework_id:
            header = _encode({"framework_id": framework_id})
            transaction.set_data(self.path, header, version=self._epoch)
        else:
            transaction.check(self.path, version=self._epoch)
        written: dict[str, tuple[bytes | None, dict[str, bytes]]] = {}
        for name, (record, ledger) in changes.items():
            written[name] = self._write_job(transaction, name, record, ledger)
        try:
            results = self._ask(transaction.commit_async)
        except (KazooException, KazooTimeoutError) as e:
            self._unsure.update(changes)
            raise RegistryError(f"jobs write of unknown outcome: {e!r}") from e
        if isinstance(results[0], BadVersionError):
            raise FencedError(_FENCED)
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            self._unsure.update(changes)
            raise RegistryError(f"jobs write refused by ZooKeeper: {failed[0]!r}")
        if framework_id != self._framework_id:
            self._epoch = results[0].version
            self._framework_id = framework_id
        for name, (record_bytes, runs) in written.items():
            if record_bytes is None:
                self._records.pop(name, None)
                self._runs.pop(name, None)
            else:
                self._records[name], self._runs[name] = record_bytes, runs

    def close(self) -> None:
        close_client(self.client)

    def _ask(self, request: Callable[..., IAsyncResult], *arguments: Any) -> Any:
        """`request(*arguments)`'s answer: ConnectionLoss at once, the
        request not made, while the client is not connected (kazoo would
        queue it until it is, and each request queued meanwhile wakes its
        connection's thread through a socket that fills up and then blocks
        the caller), and KazooTimeoutError after `ANSWER_SECONDS` without
        one."""
        self._check_connected()
        return request(*arguments).get(timeout=ANSWER_SECONDS)

    def _check_connected(self) -> None:
        if not self.client.connected:
            raise ConnectionLoss(f"not connected to ZooKeeper ({self.client.state})")

    def _read_job(self, name: str) -> dict[str, Any] | None:
        """Read a job's record and ledger into what this instance knows
        (None: no such job)."""
        job = f"{self.path}/{name}"
        try:
            data, _ = self._ask(self.client.get_async, job)
            # Asked all at once: a long ledger is one round trip, not one each.
            children = self._ask(self.client.get_children_async, job)
            self._check_connected()
            pending = [(k, self.client.get_async(f"{job}/{k}")) for k in children]
        except NoNodeError:
            self._records.pop(name, None)
            self._runs.pop(name, None)
            return None
        runs = {}
        for key, result in pending:
            try:
                runs[key] = result.get(timeout=ANSWER_SECONDS)[0]
            except NoNodeError:
                continue  # pruned since listed
        self._records[name], self._runs[name] = data, runs
        return _decode(f"job record {name!r}", data)

    def _write_job(
        self, transaction: Any, name: str, record: dict[str, Any] | None, ledger: Mapping[str, Any]
    ) -> tuple[bytes | None, dict[str, bytes]]:
        """Add a job's writes to the transaction: only what differs from
        what is stored. Returns what will then be stored."""
        job = f"{self.path}/{name}"
        stored = self._runs.get(name, {})
        if record is None:
            for key in stored:
                transaction.delete(f"{job}/{key}")
            if name in self._records:
                transaction.delete(job)
            return None, {}
        data = _encode(record)
        if name not in self._records:
            transaction.create(job, data)
        elif self._records[name] != data:
            transaction.set_data(job, data)
        runs = {key: _encode(run) for key, run in ledger.items()}
        for key, run in runs.items():
            if key not in stored:
                transaction.create(f"{job}/{key}", run)
            elif stored[key] != run:
                transaction.set_data(f"{job}/{key}", run)
        for key in stored.keys() - runs.keys():
            transaction.delete(f"{job}/{key}")
        return data, runs


class FileJobStore:
    """The store in a directory: `state.json` (everything) and `epoch`."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)
        self._epoch: int | None = None
        self._state: dict[str, Any] = {"framework_id": None, "jobs": {}, "runs": {}}

    def load(self) -> Stored:
        try:
            data = (self.directory / "state.json").read_bytes()
        except FileNotFoundError:
            return Stored()
        state = _decode(f"{self.directory}/state.json", data)
        self._state = state
        ledgers = {name: list(runs.values()) for name, runs in state["runs"].items()}
        return Stored(state["framework_id"], list(state["jobs"].values()), ledgers)

    def framework_id(self) -> str | None:
        return self.load().framework_id

    def claim(self) -> Stored:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._epoch = self._stored_epoch() + 1
        _write_durably(self.directory / "epoch", str(self._epoch).encode())
        return self.load()

    def commit(self, framework_id: str | None, changes: Mapping[str, JobChange]) -> None:
        # Checked, then written: an instance replaced between the two may
        # still write once; ZooKeeper's check is atomic, this one is not.
        if self._epoch is None or self._stored_epoch() != self._epoch:
            raise FencedError(_FENCED)
        jobs: dict[str, Any] = dict(self._state["jobs"])
        runs: dict[str, Any] = dict(self._state["runs"])
        for name, (record, ledger) in changes.items():
            if record is None:
                jobs.pop(name, None)
                runs.pop(name, None)
            else:
                jobs[name], runs[name] = record, dict(ledger)
        state = {"framework_id": framework_id, "jobs": jobs, "runs": runs}
        try:
            _write_durably(self.directory / "state.json", _encode(state))
        except OSError as e:
            raise RegistryError(f"cannot write the jobs to {self.directory}: {e}") from e
        self._state = state

    def close(self) -> None:
        """Nothing to release."""

    def _stored_epoch(self) -> int:
        try:
            return int((self.directory / "epoch").read_text())
        except FileNotFoundError:
            return 0
        except ValueError as e:
            raise CorruptRecordError(f"{self.directory}/epoch is not a number: {e}") from e


def _write_durably(path: Path, data: bytes) -> None:
    """Write aside, fsync, rename over `path`, fsync the directory: a crash
    leaves the old content or the new, never half, and never loses a write
    that returned."""
    partial = path.with_suffix(".partial")
    with open(partial, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
