"""The master's durable registry: what a new leader must know to carry on.

A leader calls `load()` once when elected, then writes every durable change
(an admitted agent, a registered framework, a weight, a quota, a
maintenance window, a dynamic reservation, a torn-down framework's id)
before acting on it. Each write is atomic and returns only once stored.

Fencing: `load()` claims the registry, which bumps its epoch; every write
names the epoch its handle last saw and bumps it in the same atomic step.
So once a new leader has loaded, a deposed leader's writes fail with
`FencedError` and change nothing, even if it has not yet noticed it was
deposed. Other failures of a write (a lost connection) leave its outcome
unknown; the handle then refuses to write until `load()` again.

`MemoryRegistry` keeps this in the process (the embedded default, no
ZooKeeper); `ZooKeeperRegistry` keeps it under one znode. Both store the
same bytes (`pyactors.master.registry_records`) with the same rules.

The registry's znodes are created through its client's default ACL: with
credentials in the `zk://` URL (`pyactors.ha.leader.zk_client`), ALL for
that digest user and nothing for anyone else, so no other ZooKeeper client
can read, rewrite or delete the registry. A registry written before
credentials were used is given that ACL, every znode of it, when loaded
(`pyactors.ha.election.adopt`).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import orjson
from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, KazooException, NoNodeError

from pyactors.errors import (
    CorruptRecordError,
    FencedError,
    InvalidRecordError,
    RegistryError,
    UnknownRecordError,
)
from pyactors.ha.election import adopt
from pyactors.master.registry_records import (
    ENTRY_TYPES,
    SCHEMA_VERSION,
    AgentEntry,
    CompletedFrameworkEntry,
    Entry,
    FrameworkEntry,
    Key,
    Kind,
    MaintenanceEntry,
    MaintenanceScheduleEntry,
    QuotaEntry,
    ReservationEntry,
    WeightEntry,
    decode,
    encode,
    load_versioned,
)


@dataclass
class RegistrySnapshot:
    """Everything the registry holds, by id (agent, framework or role)."""

    agents: dict[str, AgentEntry] = field(default_factory=dict)
    frameworks: dict[str, FrameworkEntry] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    quotas: dict[str, QuotaEntry] = field(default_factory=dict)
    maintenance: dict[str, MaintenanceEntry] = field(default_factory=dict)
    reservations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    static_volumes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    completed_frameworks: dict[str, CompletedFrameworkEntry] = field(default_factory=dict)
    maintenance_schedule: MaintenanceScheduleEntry | None = None

    def add(self, entry: Entry) -> None:
        match entry:
            case AgentEntry():
                self.agents[entry.agent_id] = entry
            case FrameworkEntry():
                self.frameworks[entry.framework_id] = entry
            case WeightEntry():
                self.weights[entry.role] = entry.weight
            case QuotaEntry():
                self.quotas[entry.role] = entry
            case MaintenanceEntry():
                self.maintenance[entry.agent_id] = entry
            case ReservationEntry():
                self.reservations[entry.agent_id] = tuple(entry.resources)
                if entry.static_volumes:
                    self.static_volumes[entry.agent_id] = tuple(entry.static_volumes)
            case CompletedFrameworkEntry():
                self.completed_frameworks[entry.framework_id] = entry
            case MaintenanceScheduleEntry():
                self.maintenance_schedule = entry


class Registry(ABC):
    """One leader's handle on the registry; not shared between threads."""

    def __init__(self) -> None:
        self._epoch: int | None = None
        self._keys: set[Key] = set()

    def where(self, key: Key) -> str:
        """How errors name a stored record."""
        return f"registry record {key.kind.value} '{key.id}'"

    def load(self) -> RegistrySnapshot:
        """Read everything, then claim the registry: from here on, writes
        through any other handle fail with FencedError.

        Raises SchemaVersionError or CorruptRecordError before claiming, so a
        master that cannot read the registry does not fence one that can.
        """
        self._epoch = None
        for _ in range(_LOAD_ATTEMPTS):
            try:
                epoch, records = self._read()
                snapshot = RegistrySnapshot()
                for key, data in records.items():
                    entry = decode(data, self.where(key))
                    if entry.key != key:
                        raise CorruptRecordError(f"record stored as {key} holds {entry.key}")
                    snapshot.add(entry)
                self._epoch = self._commit(epoch, {}, set())
            except FencedError:
                # Someone wrote while we read: read again.
                continue
            self._keys = set(records)
            return snapshot
        raise FencedError("the registry kept changing while loading it: another master writes")

    def write(self, put: Iterable[Entry] = (), remove: Iterable[Key] = ()) -> None:
        """Store `put` and delete `remove`, all in one atomic step or not at all.

        Raises InvalidRecordError (not an entry, a key named twice),
        UnknownRecordError (removing what is not stored), FencedError.
        """
        if self._epoch is None:
            raise RegistryError("load() the registry before writing to it")
        puts: dict[Key, bytes] = {}
        for entry in put:
            if not isinstance(entry, ENTRY_TYPES):
                raise InvalidRecordError(f"not a registry entry: {entry!r}")
            if entry.key in puts:
                raise InvalidRecordError(f"{entry.key} is written twice in one change")
            puts[entry.key] = encode(entry)
        removes: set[Key] = set()
        for key in remove:
            if not isinstance(key, Key):
                raise InvalidRecordError(f"not a registry key: {key!r}")
            if key in puts or key in removes:
                raise InvalidRecordError(f"{key} is named twice in one change")
            if key not in self._keys:
                raise UnknownRecordError(f"the registry holds no {key.kind.value} '{key.id}'")
            removes.add(key)
        if not puts and not removes:
            return
        try:
            self._epoch = self._commit(
                self._epoch, {k: (v, k in self._keys) for k, v in puts.items()}, removes
            )
        except FencedError:
            raise
        except BaseException:
            self._epoch = None
            raise
        # In place: `|=` with a dict's keys would build a new set each write.
        self._keys.update(puts)
        self._keys.difference_update(removes)

    def put(self, *entries: Entry) -> None:
        """Store entries (new or replacing), atomically."""
        self.write(put=entries)

    def remove(self, *keys: Key) -> None:
        """Delete records, atomically."""
        self.write(remove=keys)

    def remove_agent(self, agent_id: str) -> None:
        """Delete an agent with its maintenance window and reservations, atomically."""
        agent = Key(Kind.AGENT, agent_id)
        if agent not in self._keys:
            raise UnknownRecordError(f"the registry holds no agent '{agent_id}'")
        related = (Key(kind, agent_id) for kind in (Kind.MAINTENANCE, Kind.RESERVATIONS))
        self.write(remove=[agent, *(k for k in related if k in self._keys)])

    @abstractmethod
    def _read(self) -> tuple[int, dict[Key, bytes]]:
        """The epoch and every stored record; FencedError if a write
        interleaved so that they do not belong together."""

    @abstractmethod
    def _commit(self, epoch: int, puts: Mapping[Key, tuple[bytes, bool]], removes: set[Key]) -> int:
        """Apply `puts` (data, whether it replaces a stored record) and
        `removes` iff the stored epoch is still `epoch`; return the new epoch,
        or raise FencedError having changed nothing."""


class MemoryStore:
    """The storage several `MemoryRegistry` handles can share."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.epoch = 0
        self.records: dict[Key, bytes] = {}


class MemoryRegistry(Registry):
    """The registry in this process: lost with it, but no ZooKeeper needed."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        super().__init__()
        self.store = store or MemoryStore()

    def _read(self) -> tuple[int, dict[Key, bytes]]:
        with self.store.lock:
            return self.store.epoch, dict(self.store.records)

    def _commit(self, epoch: int, puts: Mapping[Key, tuple[bytes, bool]], removes: set[Key]) -> int:
        with self.store.lock:
            if self.store.epoch != epoch:
                raise FencedError(_FENCED)
            for key, (data, _) in puts.items():
                self.store.records[key] = data
            for key in removes:
                del self.store.records[key]
            self.store.epoch += 1
            return self.store.epoch


class ZooKeeperRegistry(Registry):
    """The registry under the znode `path`: its data is a small header whose
    znode version is the epoch; each record is `path/<kind>/<quoted id>`."""

    def __init__(self, client: KazooClient, path: str) -> None:
        super().__init__()
        if not path.startswith("/") or path.endswith("/"):
            raise InvalidRecordError(
                f"registry path must be absolute, without a trailing /: {path!r}"
            )
        self._client = client
        self._path = path

    def _read(self) -> tuple[int, dict[Key, bytes]]:
        zk = self._client
        try:
            for kind in Kind:
                zk.ensure_path(f"{self._path}/{kind.value}")
            header, stat = zk.get(self._path)
            if header:
                load_versioned(header, f"registry header {self._path}")
            pending = []
            for kind in Kind:
                for name in zk.get_children(f"{self._path}/{kind.value}"):
                    key = Key(kind, unquote(name))
                    pending.append((key, zk.get_async(self._znode(key))))
            records = {key: result.get()[0] for key, result in pending}
            kinds = [f"{self._path}/{kind.value}" for kind in Kind]
            adopt(zk, [self._path, *kinds, *(self._znode(key) for key in records)])
        except NoNodeError as e:
            raise FencedError("a record was removed while loading") from e
        except KazooException as e:
            raise RegistryError(f"cannot load the registry at {self._path}: {e!r}") from e
        epoch: int = stat.version
        return epoch, records

    def _commit(self, epoch: int, puts: Mapping[Key, tuple[bytes, bool]], removes: set[Key]) -> int:
        transaction = self._client.transaction()
        transaction.set_data(self._path, _HEADER, version=epoch)
        for key, (data, replaces) in puts.items():
            if replaces:
                transaction.set_data(self._znode(key), data)
            else:
                transaction.create(self._znode(key), data)
        for key in removes:
            transaction.delete(self._znode(key))
        try:
            results = transaction.commit()
        except KazooException as e:
            raise RegistryError(f"registry write of unknown outcome: {e!r}") from e
        if isinstance(results[0], BadVersionError):
            raise FencedError(_FENCED)
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            raise RegistryError(f"registry write refused by ZooKeeper: {failed[0]!r}")
        new_epoch: int = results[0].version
        return new_epoch

    def where(self, key: Key) -> str:
        return f"znode {self._znode(key)} ({super().where(key)})"

    def _znode(self, key: Key) -> str:
        # Ids such as roles hold "/"; "." and ".." are not znode names.
        return f"{self._path}/{key.kind.value}/{quote(key.id, safe='').replace('.', '%2E')}"


_LOAD_ATTEMPTS = 5
_HEADER = orjson.dumps({"schema_version": SCHEMA_VERSION})
_FENCED = "another master has claimed the registry since this one loaded it: stop leading"
