"""One suite, run against both registries: in memory and in a real ZooKeeper."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from support import zookeeper as zk

from pyactors.errors import (
    CorruptRecordError,
    FencedError,
    InvalidRecordError,
    RegistryError,
    SchemaVersionError,
    UnknownRecordError,
)
from pyactors.master.registry import (
    MemoryRegistry,
    MemoryStore,
    Registry,
    RegistrySnapshot,
    ZooKeeperRegistry,
)
from pyactors.master.registry_records import (
    SCHEMA_VERSION,
    AgentEntry,
    FrameworkEntry,
    Key,
    Kind,
    MaintenanceEntry,
    QuotaEntry,
    ReservationEntry,
    WeightEntry,
)

pytestmark = pytest.mark.timeout(60)


@dataclass
class Backend:
    """Registry handles on one store, and raw access to the stored bytes."""

    make: Callable[[], Registry]
    read_raw: Callable[[Key], bytes]
    write_raw: Callable[[Key, bytes], None]


@pytest.fixture(params=["memory", "zookeeper"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        store = MemoryStore()

        def write_memory(key: Key, data: bytes) -> None:
            store.records[key] = data

        yield Backend(lambda: MemoryRegistry(store), store.records.__getitem__, write_memory)
        return
    server = request.getfixturevalue("zookeeper")
    with zk.client(server.hosts) as client:
        path = f"/registry-{uuid.uuid4().hex}"

        def znode(key: Key) -> str:
            return f"{path}/{key.kind.value}/{key.id}"

        def write_zookeeper(key: Key, data: bytes) -> None:
            client.create(znode(key), data, makepath=True)

        yield Backend(
            lambda: ZooKeeperRegistry(client, path),
            lambda key: client.get(znode(key))[0],
            write_zookeeper,
        )


def agent(agent_id: str = "agent-1", resources: str = "cpus:4;mem:1024") -> AgentEntry:
    return AgentEntry(agent_id, f"{agent_id}.example", resources, {"rack": "r1"})


def framework(framework_id: str = "fw-1") -> FrameworkEntry:
    return FrameworkEntry(
        framework_id,
        "pi",
        ["eng/web", "science"],
        {"GPU_RESOURCES", "MULTI_ROLE"},
        failover_timeout=30,
        registered_at=12.5,
    )


EVERY_KIND = [
    agent("agent-1"),
    # Ids that are not znode names as they stand.
    agent("a.b/c d", "cpus:1;mem(eng):64"),
    agent(".."),
    framework("fw-1"),
    FrameworkEntry("fw-2", "", [], set(), 0.0, 0.0),
    WeightEntry("eng/web", 2.5),
    QuotaEntry("science", "cpus:2;mem:512", "cpus:8"),
    QuotaEntry("eng", "cpus:1", None),
    MaintenanceEntry("agent-1", grace_period=30.0),
    ReservationEntry("agent-1", ["cpus(eng):1;mem(eng):128", "disk(science):1024"]),
]


def expected(*entries: Any) -> RegistrySnapshot:
    snapshot = RegistrySnapshot()
    for entry in entries:
        snapshot.add(entry)
    return snapshot


def loaded(backend: Backend) -> RegistrySnapshot:
    return backend.make().load()


def test_a_new_registry_is_empty(backend: Backend) -> None:
    assert loaded(backend) == RegistrySnapshot()


def test_every_record_kind_round_trips(backend: Backend) -> None:
    registry = backend.make()
    registry.load()
    registry.put(*EVERY_KIND)
    snapshot = loaded(backend)
    assert snapshot == expected(*EVERY_KIND)
    assert snapshot.weights == {"eng/web": 2.5}
    assert snapshot.reservations == {"agent-1": ("cpus(eng):1;mem(eng):128", "disk(science):1024")}
    assert snapshot.frameworks["fw-1"].roles == ("eng/web", "science")
    assert snapshot.frameworks["fw-1"].capabilities == frozenset({"GPU_RESOURCES", "MULTI_ROLE"})
    assert snapshot.agents[".."].resources == "cpus:4;mem:1024"


def test_a_record_is_replaced_and_removed(backend: Backend) -> None:
    registry = backend.make()
    registry.load()
    registry.put(agent(resources="cpus:4"), WeightEntry("eng", 2))
    registry.put(agent(resources="cpus:8"))
    registry.remove(Key(Kind.WEIGHT, "eng"))
    assert loaded(backend) == expected(agent(resources="cpus:8"))


def test_records_are_versioned_json(backend: Backend) -> None:
    registry = backend.make()
    registry.load()
    registry.put(framework())
    body = orjson.loads(backend.read_raw(Key(Kind.FRAMEWORK, "fw-1")))
    assert body == {
        "schema_version": SCHEMA_VERSION,
        "kind": "framework",
        "framework_id": "fw-1",
        "name": "pi",
        "roles": ["eng/web", "science"],
        "capabilities": ["GPU_RESOURCES", "MULTI_ROLE"],
        "failover_timeout": 30.0,
        "registered_at": 12.5,
    }


def test_a_change_of_several_records_is_all_or_nothing(backend: Backend) -> None:
    registry = backend.make()
    registry.load()
    registry.put(agent("agent-1"), framework("fw-1"))
    registry.write(
        put=[agent("agent-2"), WeightEntry("eng", 3)], remove=[Key(Kind.FRAMEWORK, "fw-1")]
    )
    after = expected(agent("agent-1"), agent("agent-2"), WeightEntry("eng", 3))
    assert loaded(backend) == after

    with pytest.raises(UnknownRecordError, match="fw-1"):
        registry.write(put=[agent("agent-3")], remove=[Key(Kind.FRAMEWORK, "fw-1")])
    assert loaded(backend) == after


def test_removing_an_agent_removes_its_window_and_reservations(backend: Backend) -> None:
    registry = backend.make()
    registry.load()
    kept = MaintenanceEntry("agent-2")
    registry.put(
        agent("agent-1"),
        agent("agent-2"),
        MaintenanceEntry("agent-1", 5.0),
        ReservationEntry("agent-1", ["cpus(eng):1"]),
        kept,
    )
    registry.remove_agent("agent-1")
    assert loaded(backend) == expected(agent("agent-2"), kept)
    with pytest.raises(UnknownRecordError):
        registry.remove_agent("agent-1")


def test_a_deposed_leaders_write_is_fenced_and_changes_nothing(backend: Backend) -> None:
    old = backend.make()
    old.load()
    old.put(agent("agent-1"))
    new = backend.make()
    assert new.load() == expected(agent("agent-1"))

    # The new leader has not written yet: loading alone fences the old one.
    with pytest.raises(FencedError):
        old.put(agent("agent-2"))
    new.put(framework("fw-1"))
    with pytest.raises(FencedError):
        old.write(put=[agent("agent-3")], remove=[Key(Kind.AGENT, "agent-1")])
    assert loaded(backend) == expected(agent("agent-1"), framework("fw-1"))


def test_writes_of_the_current_leader_follow_each_other(backend: Backend) -> None:
    registry = backend.make()
    registry.load()
    for i in range(5):
        registry.put(agent(f"agent-{i}"))
    assert len(loaded(backend).agents) == 5


@pytest.mark.parametrize(
    ("put", "remove", "error"),
    [
        (["agent-1"], [], InvalidRecordError),
        ([agent("agent-2"), agent("agent-2")], [], InvalidRecordError),
        ([agent("agent-2")], [Key(Kind.AGENT, "agent-2")], InvalidRecordError),
        ([agent("agent-2")], [("agent", "agent-1")], InvalidRecordError),
        ([agent("agent-2")], [Key(Kind.QUOTA, "nobody")], UnknownRecordError),
    ],
)
def test_a_bad_change_raises_and_writes_nothing(
    backend: Backend, put: list[Any], remove: list[Any], error: type[Exception]
) -> None:
    registry = backend.make()
    registry.load()
    registry.put(agent("agent-1"))
    with pytest.raises(error):
        registry.write(put=put, remove=remove)
    assert registry.load() == expected(agent("agent-1"))


def test_writing_before_loading_is_refused(backend: Backend) -> None:
    with pytest.raises(RegistryError, match="load"):
        backend.make().put(agent())
    assert loaded(backend) == RegistrySnapshot()


@pytest.mark.parametrize(
    "build",
    [
        lambda: AgentEntry("", "host", "cpus:1", {}),
        lambda: AgentEntry("a", "host", "cpus:-1", {}),
        lambda: AgentEntry("a", "host", "cpus:one", {}),
        lambda: AgentEntry("a", "host", "cpus:1", {"rack": 1}),
        lambda: FrameworkEntry("f", "n", "science", [], 0, 0),
        lambda: FrameworkEntry("f", "n", ["a", "a"], [], 0, 0),
        lambda: FrameworkEntry("f", "n", ["a"], [], -1, 0),
        lambda: FrameworkEntry("f", "n", ["a"], [], float("inf"), 0),
        lambda: FrameworkEntry("f", "n", ["a"], [], True, 0),
        lambda: WeightEntry("eng", 0),
        lambda: WeightEntry("eng", "2"),
        lambda: QuotaEntry("eng", "cpus(eng):1", None),
        lambda: QuotaEntry("eng", "cpus:1", "ports:[1-2]"),
        lambda: MaintenanceEntry("agent-1", -5),
        lambda: MaintenanceEntry("agent-1", float("nan")),
        lambda: ReservationEntry("agent-1", []),
        lambda: ReservationEntry("agent-1", ["cpus:1"]),
        lambda: ReservationEntry("agent-1", "cpus(eng):1"),
    ],
)
def test_malformed_records_are_refused(build: Callable[[], object]) -> None:
    with pytest.raises(InvalidRecordError):
        build()


def test_a_record_of_a_newer_schema_is_a_typed_error(backend: Backend) -> None:
    registry = backend.make()
    registry.load()
    registry.put(agent("agent-1"))
    newer = {"schema_version": SCHEMA_VERSION + 1, "kind": "agent", "agent_id": "agent-2"}
    backend.write_raw(Key(Kind.AGENT, "agent-2"), orjson.dumps(newer))
    with pytest.raises(SchemaVersionError, match=f"schema version {SCHEMA_VERSION + 1}"):
        backend.make().load()
    # A master that cannot read the registry does not fence one that can.
    registry.put(agent("agent-3"))


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1]",
        b'{"kind": "agent"}',
        orjson.dumps({"schema_version": 1, "kind": "agent", "agent_id": "agent-2"}),
        orjson.dumps({"schema_version": 1, "kind": "robot", "agent_id": "agent-2"}),
        orjson.dumps(
            {
                "schema_version": 1,
                "kind": "agent",
                "agent_id": "agent-2",
                "hostname": "h",
                "resources": "cpus:-1",
                "attributes": {},
            }
        ),
        orjson.dumps(
            {
                "schema_version": 1,
                "kind": "agent",
                "agent_id": "elsewhere",
                "hostname": "h",
                "resources": "cpus:1",
                "attributes": {},
            }
        ),
    ],
)
def test_a_corrupt_record_is_a_typed_error(backend: Backend, data: bytes) -> None:
    backend.write_raw(Key(Kind.AGENT, "agent-2"), data)
    with pytest.raises(CorruptRecordError):
        backend.make().load()


def test_the_zookeeper_registry_path_must_be_absolute(zookeeper: Any) -> None:
    with zk.client(zookeeper.hosts) as client:
        for bad in ("relative", "/trailing/", ""):
            with pytest.raises(InvalidRecordError):
                ZooKeeperRegistry(client, bad)
