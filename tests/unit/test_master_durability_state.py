"""What a new leader must know from the registry beyond agents and
frameworks: torn-down frameworks' ids and volumes made of static
reservations (no Ray)."""

from __future__ import annotations

import orjson
import pytest

from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Create, Destroy, Reserve
from pyactors.core.protocol import ErrorEvent, SendOffers
from pyactors.errors import (
    CorruptRecordError,
    FencedError,
    InvalidRecordError,
    UnknownFrameworkError,
)
from pyactors.master.registry import MemoryRegistry, MemoryStore
from pyactors.master.registry_records import Key, Kind, ReservationEntry, decode, encode
from pyactors.master.reservation_layers import lay_over, split
from pyactors.master.state import MasterConfig, MasterState

# An agent with a static reservation for the role "web".
STATIC = "cpus:3;cpus(web):1;disk:500;disk(web):100;mem:1024"


def leader(store: MemoryStore, now: float, **config: int) -> MasterState:
    master = MasterState(MasterConfig(agent_reregister_timeout=10, **config), MemoryRegistry(store))
    assert master.recover(now) == []
    return master


def offer_of(master: MasterState, fw: str, now: float) -> OfferInfo:
    (batch,) = [b for b in master.allocate(now=now) if isinstance(b, SendOffers)]
    assert batch.framework_id == fw
    (offer,) = batch.offers
    return offer


# ------------------------------------------------------- torn-down frameworks


def test_a_torn_down_framework_id_is_refused_by_the_next_leader() -> None:
    store = MemoryStore()
    old = leader(store, now=0)
    fw, _ = old.subscribe("pi", ["science"], now=0, failover_timeout=60)
    old.teardown(fw, now=1)
    new = leader(store, now=10)
    with pytest.raises(UnknownFrameworkError, match="torn down"):
        new.subscribe("pi", ["science"], now=11, framework_id=fw)
    assert new.frameworks == {}
    # Nor is it given to a new framework.
    fresh, _ = new.subscribe("pi", ["science"], now=12)
    assert fresh != fw


def test_torn_down_ids_are_bounded_oldest_forgotten_first() -> None:
    store = MemoryStore()
    old = leader(store, now=0, max_completed_frameworks=2)
    ids = [old.subscribe("pi", ["science"], now=0, framework_id=f"fw-{i}")[0] for i in range(3)]
    for at, framework_id in enumerate(ids, start=1):
        old.teardown(framework_id, now=at)
    assert list(old.removed_frameworks) == ["fw-1", "fw-2"]
    stored = MemoryRegistry(store).load().completed_frameworks
    assert {k: e.removed_at for k, e in stored.items()} == {"fw-1": 2.0, "fw-2": 3.0}
    new = leader(store, now=10, max_completed_frameworks=2)
    assert list(new.removed_frameworks) == ["fw-1", "fw-2"]
    # Mesos forgets the oldest completed frameworks too: fw-0 may come back.
    assert new.subscribe("pi", ["science"], now=11, framework_id="fw-0")[0] == "fw-0"
    for framework_id in ("fw-1", "fw-2"):
        with pytest.raises(UnknownFrameworkError):
            new.subscribe("pi", ["science"], now=11, framework_id=framework_id)


def test_a_failed_teardown_write_changes_nothing() -> None:
    store = MemoryStore()
    old = leader(store, now=0)
    fw, _ = old.subscribe("pi", ["science"], now=0)
    leader(store, now=1)
    with pytest.raises(FencedError):
        old.teardown(fw, now=2)
    assert fw in old.frameworks and fw not in old.removed_frameworks


# ------------------------------------------------------ static-reservation volumes


def test_a_volume_on_a_static_reservation_survives_a_new_leader() -> None:
    store = MemoryStore()
    old = leader(store, now=0)
    old.register_agent("agent-0", "h", Resources.parse(STATIC), {}, 0)
    web, _ = old.subscribe("web", ["web"], now=0, failover_timeout=60)
    offer = offer_of(old, web, now=1)
    volume = Resources.parse("disk(web)[data]:40")
    assert of_errors(old.accept(web, [offer.id], [Create(volume)], 0, now=1)) == []
    snapshot = MemoryRegistry(store).load()
    assert snapshot.reservations == {"agent-0": ()}
    assert snapshot.static_volumes == {"agent-0": ("disk(web)[data]:40",)}
    new = leader(store, now=10)
    # The agent reports its static reservation whole, as it always does.
    new.register_agent("agent-0", "h", Resources.parse(STATIC), {}, 11)
    assert str(new.agents["agent-0"].total) == (
        "cpus:3;cpus(web):1;disk:500;disk(web):60;disk(web)[data]:40;mem:1024"
    )
    new.subscribe("web", ["web"], now=11, framework_id=web, failover_timeout=60)
    offer = offer_of(new, web, now=12)
    assert volume <= offer.resources
    # Destroyed, the record goes: the next leader offers plain static disk.
    assert of_errors(new.accept(web, [offer.id], [Destroy(volume)], 0, now=12)) == []
    assert MemoryRegistry(store).load().static_volumes == {}
    third = leader(store, now=20)
    third.register_agent("agent-0", "h", Resources.parse(STATIC), {}, 21)
    assert str(third.agents["agent-0"].total) == STATIC


def test_static_volumes_and_dynamic_reservations_are_stored_together() -> None:
    store = MemoryStore()
    old = leader(store, now=0)
    old.register_agent("agent-0", "h", Resources.parse(STATIC), {}, 0)
    web, _ = old.subscribe("web", ["web"], now=0, failover_timeout=60)
    offer = offer_of(old, web, now=1)
    reserved = Resources.parse("disk(web,alice):200")
    operations = [
        Create(Resources.parse("disk(web)[logs]:100")),
        Reserve(reserved),
        Create(Resources.parse("disk(web,alice)[db]:50")),
    ]
    assert of_errors(old.accept(web, [offer.id], operations, 0, now=1)) == []
    before = old.agents["agent-0"].total
    new = leader(store, now=10)
    new.register_agent("agent-0", "h", Resources.parse(STATIC), {}, 11)
    assert new.agents["agent-0"].total == before


def test_layers_are_the_operations_made_over_the_report() -> None:
    reported = Resources.parse(STATIC)
    total = (
        reported
        - Resources.parse("disk(web):40;disk:300;cpus:1")
        + Resources.parse("disk(web)[a]:40;disk(eng,bob):200;disk(eng,bob)[b]:100;cpus(eng,bob):1")
    )
    dynamic, static_volumes = split(reported, total)
    assert str(static_volumes) == "disk(web)[a]:40"
    assert str(dynamic) == "cpus(eng,bob):1;disk(eng,bob):200;disk(eng,bob)[b]:100"
    assert lay_over(reported, dynamic, static_volumes) == total
    assert split(reported, reported) == (Resources(), Resources())


def test_reservation_records_keep_their_old_form_and_check_the_new_field() -> None:
    old_form = orjson.dumps(
        {
            "schema_version": 1,
            "kind": "reservations",
            "agent_id": "a",
            "resources": ["disk(r,p):5"],
        }
    )
    entry = decode(old_form, "test")
    assert entry == ReservationEntry("a", ["disk(r,p):5"])
    # Without static volumes a record is written as before.
    assert encode(entry) == old_form
    both = ReservationEntry("a", [], ["disk(r)[v]:5"])
    assert decode(encode(both), "test") == both
    with pytest.raises(InvalidRecordError, match="empty"):
        ReservationEntry("a", [], None)
    with pytest.raises(InvalidRecordError, match="persistent volumes"):
        ReservationEntry("a", [], ["disk(r):5"])
    bad = orjson.dumps(
        {"schema_version": 1, "kind": "reservations", "agent_id": "a", "resources": [], "x": 1}
    )
    with pytest.raises(CorruptRecordError):
        decode(bad, "test")
    assert entry.key == Key(Kind.RESERVATIONS, "a")


def of_errors(effects: list[object]) -> list[ErrorEvent]:
    return [e for e in effects if isinstance(e, ErrorEvent)]
