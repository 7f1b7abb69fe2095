"""Allocator behaviour, run against the Rust core and its Python twin alike."""

from __future__ import annotations

from typing import Any

import pytest

from pyactors._reference.allocator import ReferenceAllocator
from pyactors.core.allocator import Allocator
from pyactors.errors import (
    DuplicateError,
    InvalidArgumentError,
    ResourceError,
    UnknownAgentError,
    UnknownFrameworkError,
)

IMPLEMENTATIONS = [Allocator, ReferenceAllocator]


@pytest.fixture(params=IMPLEMENTATIONS, ids=["rust", "reference"])
def make(request: pytest.FixtureRequest) -> Any:
    return request.param


def offered(offers: list[Any]) -> list[tuple[str, str, str, str]]:
    return [(o.framework_id, o.agent_id, o.role, str(o.resources)) for o in offers]


def test_offers_everything_free_to_the_first_framework_in_drf_order(make: Any) -> None:
    a = make()
    a.add_agent("agent-1", "cpus:4;mem:4096", now=0)
    a.add_framework("fw-b", roles=["B"], now=0)
    a.add_framework("fw-a", roles=["A"], now=0)
    assert offered(a.allocate(now=1)) == [("fw-a", "agent-1", "A", "cpus:4;mem:4096")]
    # Everything is allocated now: nothing more to offer.
    assert a.allocate(now=2) == []
    snap = a.snapshot()
    assert snap["agents"]["agent-1"]["available"] == ""
    assert snap["frameworks"]["fw-a"]["allocated"] == {"A": {"cpus": 4.0, "mem": 4096.0}}


def test_drf_paper_example_converges_to_three_and_two_tasks(make: Any) -> None:
    """Ghodsi et al., NSDI 2011: 9 CPUs, 18 GB; A's tasks <1 CPU, 4 GB>, B's
    <3 CPUs, 1 GB>. Each framework takes one task per offer and declines the
    rest; DRF ends with A running 3 tasks and B 2."""
    a = make()
    a.add_agent("agent", "cpus:9;mem:18432", now=0)
    a.add_framework("A", roles=["a"], now=0)
    a.add_framework("B", roles=["b"], now=0)
    task = {"A": "cpus:1;mem:4096", "B": "cpus:3;mem:1024"}
    running = {"A": 0, "B": 0}
    now = 0.0
    for _ in range(50):
        now += 1
        launched = False
        for offer in a.allocate(now=now):
            need = type(offer.resources).parse(task[offer.framework_id])
            if need <= offer.resources:
                running[offer.framework_id] += 1
                launched = True
                rest = offer.resources - need
            else:
                rest = offer.resources
            if rest:
                a.recover(offer.framework_id, offer.agent_id, rest, refuse_seconds=0, now=now)
        if not launched:
            break
    assert running == {"A": 3, "B": 2}


def test_equal_shares_take_turns_by_allocation_count(make: Any) -> None:
    a = make()
    a.add_agent("agent", "cpus:1;mem:1024", now=0)
    a.add_framework("x", roles=["r"], now=0)
    a.add_framework("y", roles=["r"], now=0)
    winners = []
    for step in range(1, 7):
        (offer,) = a.allocate(now=step)
        winners.append(offer.framework_id)
        a.recover(offer.framework_id, "agent", offer.resources, now=step)
    assert winners == ["x", "y", "x", "y", "x", "y"]


def test_weights_scale_shares(make: Any) -> None:
    a = make()
    for i in range(6):
        a.add_agent(f"agent-{i}", "cpus:1;mem:1024", now=0)
    a.add_framework("heavy", roles=["heavy"], now=0)
    a.add_framework("light", roles=["light"], now=0)
    a.set_weight("heavy", 2.0)
    offers = a.allocate(now=1)
    counts = {"heavy": 0, "light": 0}
    for offer in offers:
        counts[offer.framework_id] += 1
    assert counts == {"heavy": 4, "light": 2}
    roles = a.snapshot()["roles"]
    assert roles["heavy"]["weight"] == 2.0
    assert roles["heavy"]["share"] == pytest.approx(roles["light"]["share"])


def test_reservations_flow_down_the_role_tree_only(make: Any) -> None:
    a = make(min_allocatable=[])
    a.add_agent("agent", "cpus(eng):2;cpus(eng/web):1;mem(ops):64", now=0)
    a.add_framework("eng", roles=["eng"], now=0)
    a.add_framework("web", roles=["eng/web"], now=0)
    a.add_framework("ops", roles=["ops"], now=0)
    a.add_framework("other", roles=["other"], now=0)
    by_framework = {o.framework_id: str(o.resources) for o in a.allocate(now=1)}
    # eng is first by name: it takes its own reservation but not eng/web's.
    assert by_framework["eng"] == "cpus(eng):2"
    assert by_framework["web"] == "cpus(eng/web):1"
    assert by_framework["ops"] == "mem(ops):64"
    assert "other" not in by_framework


def test_reservation_of_a_parent_is_offered_to_a_child_role(make: Any) -> None:
    a = make(min_allocatable=[])
    a.add_agent("agent", "cpus(eng):2", now=0)
    a.add_framework("web", roles=["eng/web"], now=0)
    (offer,) = a.allocate(now=1)
    assert (offer.role, str(offer.resources)) == ("eng/web", "cpus(eng):2")
    roles = a.snapshot()["roles"]
    assert roles["eng"]["consumed_quota"] == {"cpus": 2.0}


def test_decline_filter_holds_until_expiry_for_the_refused_subset(make: Any) -> None:
    a = make()
    a.add_agent("agent", "cpus:4;mem:4096", now=0)
    a.add_framework("fw", roles=["r"], now=0)
    (offer,) = a.allocate(now=0)
    a.recover("fw", "agent", offer.resources, refuse_seconds=5, now=0)
    assert a.allocate(now=1) == []
    assert a.allocate(now=4.999) == []
    filters = a.snapshot()["frameworks"]["fw"]["filters"]
    assert filters == [
        {"agent": "agent", "role": "r", "resources": "cpus:4;mem:4096", "expires": 5.0}
    ]
    assert offered(a.allocate(now=5)) == [("fw", "agent", "r", "cpus:4;mem:4096")]
    assert a.snapshot()["frameworks"]["fw"]["filters"] == []


def test_filter_does_not_hide_more_than_was_refused(make: Any) -> None:
    a = make()
    a.add_agent("agent", "cpus:4;mem:4096", now=0)
    a.add_framework("fw", roles=["r"], now=0)
    a.add_framework("task-holder", roles=["s"], now=0, active=False)
    assert len(a.allocate(now=0)) == 1
    a.recover("fw", "agent", "cpus:2;mem:2048", refuse_seconds=100, now=0)
    assert a.allocate(now=1) == []
    # Freeing the rest makes a bigger bundle than the refused one.
    a.recover("fw", "agent", "cpus:2;mem:2048", now=1)
    assert offered(a.allocate(now=2)) == [("fw", "agent", "r", "cpus:4;mem:4096")]


def test_suppress_stops_offers_and_revive_clears_filters(make: Any) -> None:
    a = make()
    a.add_agent("agent", "cpus:4;mem:4096", now=0)
    a.add_framework("fw", roles=["r"], now=0)
    a.suppress("fw")
    assert a.allocate(now=1) == []
    assert a.snapshot()["frameworks"]["fw"]["suppressed_roles"] == ["r"]
    a.revive("fw")
    (offer,) = a.allocate(now=2)
    a.recover("fw", "agent", offer.resources, refuse_seconds=1000, now=2)
    assert a.allocate(now=3) == []
    a.revive("fw", roles=["r"])
    assert len(a.allocate(now=4)) == 1


def test_gpu_agents_go_only_to_gpu_capable_frameworks(make: Any) -> None:
    a = make()
    a.add_agent("gpu-agent", "cpus:4;mem:4096;gpus:1", now=0)
    a.add_framework("plain", roles=["r"], now=0)
    assert a.allocate(now=1) == []
    a.add_framework("ml", roles=["r"], now=0, capabilities={"GPU_RESOURCES"})
    assert offered(a.allocate(now=2)) == [("ml", "gpu-agent", "r", "cpus:4;gpus:1;mem:4096")]


def test_agents_in_maintenance_are_not_offered(make: Any) -> None:
    a = make()
    a.add_agent("agent", "cpus:4;mem:4096", now=0)
    a.add_framework("fw", roles=["r"], now=0)
    a.set_unavailability("agent", start=10, duration=5)
    (offer,) = a.allocate(now=1)
    a.recover("fw", "agent", offer.resources, now=1)
    assert a.allocate(now=10) == []
    assert a.allocate(now=14.5) == []
    assert len(a.allocate(now=15)) == 1


def test_leftovers_below_minimum_allocatable_are_not_offered(make: Any) -> None:
    a = make()
    a.add_agent("agent", "cpus:0.005;mem:16;disk:100", now=0)
    a.add_framework("fw", roles=["r"], now=0)
    assert a.allocate(now=1) == []
    a.update_agent("agent", total="cpus:0.01;mem:16;disk:100")
    assert offered(a.allocate(now=2)) == [("fw", "agent", "r", "cpus:0.01;disk:100;mem:16")]


def test_quota_guarantee_is_served_first_and_limit_never_exceeded(make: Any) -> None:
    a = make()
    for i in range(4):
        a.add_agent(f"agent-{i}", "cpus:4;mem:4096", now=0)
    # "a-greedy" sorts first and has the lower share; the guarantee wins.
    a.add_framework("a-greedy", roles=["a"], now=0)
    a.add_framework("q", roles=["quota"], now=0)
    a.set_quota("quota", guarantee="cpus:8", limit={"cpus": 8, "mem": 8192})
    offers = a.allocate(now=1)
    got = {"a-greedy": 0.0, "q": 0.0}
    for offer in offers:
        got[offer.framework_id] += offer.resources.scalar("cpus")
    assert got == {"a-greedy": 8.0, "q": 8.0}
    role = a.snapshot()["roles"]["quota"]
    assert role["consumed_quota"] == {"cpus": 8.0, "mem": 8192.0}
    assert role["limit"] == {"cpus": 8.0, "mem": 8192.0}


def test_stage_one_stops_once_the_guarantees_are_met(make: Any) -> None:
    """Counted: stage 1 visits agents only until the guaranteed roles hold
    their guarantee (here one agent's worth), then stage 2 visits the rest;
    a cycle that starts with every guarantee met has no stage 1 at all."""
    a = make()
    for i in range(20):
        a.add_agent(f"agent-{i}", "cpus:4;mem:4096", now=0)
    a.add_framework("q", roles=["quota"], now=0)
    a.add_framework("other", roles=["o"], now=0)
    a.set_quota("quota", guarantee="cpus:4")
    offers = a.allocate(now=1)
    assert len(offers) == 20
    # One stage-1 visit met the guarantee; stage 2 visited the other 19.
    assert (a.last_cycle_candidates, a.last_cycle_visits) == (20, 1 + 19)
    # Give back what "other" got: q keeps more than its guarantee.
    returned = [o for o in offers if o.framework_id == "other"]
    a.recover_many(returned)
    a.allocate(now=2)
    assert (a.last_cycle_candidates, a.last_cycle_visits) == (len(returned), len(returned))


def test_limit_chops_an_offer(make: Any) -> None:
    a = make()
    a.add_agent("agent", "cpus:8;mem:8192;ports:[31000-31009]", now=0)
    a.add_framework("fw", roles=["capped"], now=0)
    a.set_quota("capped", limit="cpus:3")
    (offer,) = a.allocate(now=1)
    assert str(offer.resources) == "cpus:3;mem:8192;ports:[31000-31009]"


def test_headroom_is_held_for_an_unsatisfied_guarantee(make: Any) -> None:
    a = make()
    a.add_agent("agent-1", "cpus:4;mem:4096", now=0)
    a.add_agent("agent-2", "cpus:4;mem:4096", now=0)
    a.add_framework("guaranteed", roles=["g"], now=0)
    a.add_framework("other", roles=["o"], now=0)
    a.set_quota("g", guarantee="cpus:4")
    a.suppress("guaranteed")
    offers = a.allocate(now=1)
    # The guaranteed role takes nothing now, but 4 cpus stay unoffered for it.
    assert sum(o.resources.scalar("cpus") for o in offers) == 4.0
    a.revive("guaranteed")
    (offer,) = a.allocate(now=2)
    assert offer.framework_id == "guaranteed"
    assert offer.resources.scalar("cpus") == 4.0


def test_one_bundle_per_framework_and_agent_per_cycle(make: Any) -> None:
    a = make(min_allocatable=[])
    a.add_agent("agent", "cpus:4;cpus(x):1", now=0)
    a.add_framework("multi", roles=["x", "y"], now=0)
    offers = a.allocate(now=1)
    assert len(offers) == 1
    assert offers[0].role == "x"
    assert str(offers[0].resources) == "cpus:4;cpus(x):1"


def test_deactivated_and_removed_frameworks_and_agents(make: Any) -> None:
    a = make()
    a.add_agent("agent", "cpus:4;mem:4096", now=0)
    a.add_framework("fw", roles=["r"], now=0)
    a.deactivate_framework("fw")
    assert a.allocate(now=1) == []
    a.activate_framework("fw")
    assert len(a.allocate(now=2)) == 1
    a.remove_framework("fw")
    assert a.snapshot()["agents"]["agent"]["available"] == "cpus:4;mem:4096"
    a.add_framework("fw2", roles=["r"], now=3)
    a.deactivate_agent("agent")
    assert a.allocate(now=3) == []
    a.activate_agent("agent")
    assert len(a.allocate(now=4)) == 1
    a.remove_agent("agent")
    snap = a.snapshot()
    assert snap["agents"] == {}
    assert snap["total"] == {}
    assert snap["frameworks"]["fw2"]["allocated"] == {"r": {}}


def test_recover_finds_the_role_and_checks_what_is_held(make: Any) -> None:
    a = make(min_allocatable=[])
    a.add_agent("agent", "cpus:2;mem(y):10", now=0)
    a.add_framework("fw", roles=["y", "x"], now=0)
    (offer,) = a.allocate(now=1)
    assert offer.role == "x"  # "x" sorts before "y" in DRF order
    with pytest.raises(InvalidArgumentError, match="cannot recover"):
        a.recover("fw", "agent", "cpus:3")
    a.recover("fw", "agent", "cpus:1")
    assert a.snapshot()["frameworks"]["fw"]["allocated"]["x"] == {"cpus": 1.0}


def test_a_round_of_declines_in_one_call(make: Any) -> None:
    """recover_many takes a cycle's offers as they are and filters each."""
    a = make()
    a.add_framework("fw-1", roles=["r"], now=0)
    a.add_framework("fw-2", roles=["r"], now=0)
    for index in range(4):
        a.add_agent(f"agent-{index}", "cpus:4;mem:4096", now=0)
    offers = a.allocate(now=1)
    assert len(offers) == 4
    a.recover_many(offers, refuse_seconds=10, now=1)
    assert a.snapshot()["agents"]["agent-0"]["allocated"] == {}
    # Every agent is now offered to the framework that has not declined it.
    declined = {(o.framework_id, o.agent_id) for o in offers}
    second = a.allocate(now=2)
    assert len(second) == 4
    assert not declined & {(o.framework_id, o.agent_id) for o in second}


def test_a_bad_item_in_a_batch_changes_nothing(make: Any) -> None:
    a = make()
    a.add_framework("fw", roles=["r"], now=0)
    a.add_agent("agent-1", "cpus:4;mem:4096", now=0)
    a.add_agent("agent-2", "cpus:4;mem:4096", now=0)
    first, second = a.allocate(now=1)
    before = a.snapshot()
    cases = [
        ([first, ("fw", "ghost", None, "cpus:1")], UnknownAgentError, "recovery 1: unknown agent"),
        # The batch's first bad item is named, whichever agent comes first.
        (
            [second, (*first[:3], "cpus:99"), ("fw", second.agent_id, None, "cpus:99")],
            InvalidArgumentError,
            "recovery 1: cannot recover",
        ),
        (
            [(*second[:3], "cpus:99"), (*first[:3], "cpus:99")],
            InvalidArgumentError,
            "recovery 0: cannot recover",
        ),
        ([("ghost", first.agent_id, None, "cpus:1")], UnknownFrameworkError, "recovery 0"),
        ([first, second, first], InvalidArgumentError, "recovery 2: cannot recover"),
        ([second, ("fw", first.agent_id, "other", "cpus:1")], InvalidArgumentError, "recovery 1"),
        ([first, ("fw", first.agent_id, None, "cpus:-1")], ResourceError, None),
        ([first, ["fw", first.agent_id, None, "cpus:1"]], TypeError, None),
    ]
    for batch, error, message in cases:
        with pytest.raises(error, match=message):
            a.recover_many(batch, refuse_seconds=5, now=1)
        assert a.snapshot() == before
    with pytest.raises(InvalidArgumentError, match="now is required"):
        a.recover_many([first], refuse_seconds=5)
    # Two parts of one offer, the role left to find: the second is checked
    # against what the first leaves.
    a.recover_many([("fw", first.agent_id, None, "cpus:1"), (*first[:3], "cpus:3;mem:4096")])
    assert a.snapshot()["agents"][first.agent_id]["allocated"] == {}


def _cycles_over_idle_agents(a: Any, idle: int) -> None:
    """Counted, not timed: once every agent is allocated, a cycle takes no
    agent into its shuffle and visits none; after one offer came back, it
    takes and visits that agent alone, however many are idle."""
    a.add_framework("fw", roles=["r"], now=0)
    for index in range(idle + 1):
        a.add_agent(f"agent-{index}", "cpus:4;mem:4096", now=0)
    offers = a.allocate(now=1)
    assert (len(offers), a.last_cycle_visits) == (idle + 1, idle + 1)
    assert a.last_cycle_candidates == idle + 1
    assert a.allocate(now=2) == []
    assert (a.last_cycle_candidates, a.last_cycle_visits) == (0, 0)
    a.recover_many(offers[3:4])
    assert offered(a.allocate(now=3)) == offered(offers[3:4])
    assert (a.last_cycle_candidates, a.last_cycle_visits) == (1, 1)
    # Deactivated, the agent whose resources came back is no candidate.
    a.recover_many(offers[3:4])
    a.deactivate_agent(offers[3].agent_id)
    assert a.allocate(now=4) == []
    assert (a.last_cycle_candidates, a.last_cycle_visits) == (0, 0)


@pytest.mark.parametrize("idle", [10, 500])
def test_a_cycle_looks_only_at_agents_with_something_to_offer(make: Any, idle: int) -> None:
    _cycles_over_idle_agents(make(), idle)


def test_registration_order_survives_most_agents_leaving() -> None:
    """The core renumbers its agents once most have been removed; the
    shuffle still takes the rest in registration order, as its twin does."""
    twins = [Allocator(seed=7), ReferenceAllocator(seed=7)]
    for a in twins:
        a.add_framework("fw", roles=["r"], now=0)
        for index in range(2400):
            a.add_agent(f"agent-{index}", "cpus:1;mem:64", now=0)
        for index in range(2400):
            if index % 5:
                a.remove_agent(f"agent-{index}")
        a.add_agent("agent-late", "cpus:1;mem:64", now=0)
    rust, reference = (offered(a.allocate(now=1)) for a in twins)
    assert rust == reference
    assert len(rust) == 481


def test_an_idle_cycle_over_50000_agents_takes_none_of_them() -> None:
    """Issue 18's scale, on the Rust core alone (its twin agrees on the
    smaller clusters above and in the differential test)."""
    _cycles_over_idle_agents(Allocator(), 49_999)


def test_existing_allocations_are_accepted_when_an_agent_registers(make: Any) -> None:
    a = make()
    a.add_framework("fw", roles=["r"], now=0)
    a.add_agent("agent", "cpus:4;mem:4096", now=0, allocated={"fw": {"r": "cpus:3;mem:1024"}})
    (offer,) = a.allocate(now=1)
    assert str(offer.resources) == "cpus:1;mem:3072"
    with pytest.raises(InvalidArgumentError):
        a.add_agent("too-small", "cpus:1", now=0, allocated={"fw": {"r": "cpus:2"}})


def test_random_sorter_replays_from_its_seed(make: Any) -> None:
    def run(seed: int) -> list[tuple[str, str, str, str]]:
        a = make(sorter="random", seed=seed)
        for i in range(20):
            a.add_agent(f"agent-{i:02}", "cpus:1;mem:1024", now=0)
        for i in range(5):
            a.add_framework(f"fw-{i}", roles=[f"role-{i % 2}"], now=0)
        return offered(a.allocate(now=1))

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_reserved_part_of_an_allocation_goes_only_to_its_role_once_recovered(make: Any) -> None:
    a = make()
    a.add_agent("agent", "cpus:4;mem:4096", now=0)
    a.add_framework("eng-fw", roles=["eng"], now=0)
    a.add_framework("other-fw", roles=["other"], now=0)
    a.add_framework("web-fw", roles=["eng/web"], now=0, active=False)
    assert offered(a.allocate(now=1)) == [("eng-fw", "agent", "eng", "cpus:4;mem:4096")]
    a.update_allocation(
        "eng-fw", "agent", "eng", "cpus:2;mem:1024", "cpus(eng,alice):2;mem(eng,alice):1024"
    )
    snap = a.snapshot()
    held = "cpus:2;cpus(eng,alice):2;mem:3072;mem(eng,alice):1024"
    assert snap["agents"]["agent"]["total"] == held
    assert snap["agents"]["agent"]["allocated"] == {"eng-fw": {"eng": held}}
    assert snap["total"] == {"cpus": 4.0, "mem": 4096.0}
    assert snap["frameworks"]["eng-fw"]["allocated"] == {"eng": {"cpus": 4.0, "mem": 4096.0}}
    a.recover("eng-fw", "agent", held)
    # The role that had nothing goes first; the reservation waits for eng.
    assert offered(a.allocate(now=2)) == [
        ("other-fw", "agent", "other", "cpus:2;mem:3072"),
        ("eng-fw", "agent", "eng", "cpus(eng,alice):2;mem(eng,alice):1024"),
    ]
    a.recover("eng-fw", "agent", "cpus(eng,alice):2;mem(eng,alice):1024")
    a.deactivate_framework("eng-fw")
    assert a.allocate(now=3) == []
    # Reservations flow down the role tree.
    a.activate_framework("web-fw")
    assert offered(a.allocate(now=4)) == [
        ("web-fw", "agent", "eng/web", "cpus(eng,alice):2;mem(eng,alice):1024")
    ]


def test_unreserving_restores_the_agent_and_the_quota_consumption(make: Any) -> None:
    a = make()
    a.add_agent("agent", "cpus:4;mem:4096", now=0)
    a.add_framework("fw", roles=["eng"], now=0)
    a.allocate(now=1)
    before = a.snapshot()
    a.update_allocation("fw", "agent", "eng", "cpus:1", "cpus(eng):1")
    a.recover("fw", "agent", "cpus:3;mem:4096")
    assert a.snapshot()["roles"]["eng"]["consumed_quota"] == {"cpus": 1.0}
    a.update_allocation("fw", "agent", "eng", "cpus(eng):1", "cpus:1")
    assert a.snapshot()["roles"]["eng"]["consumed_quota"] == {"cpus": 1.0}
    a.recover("fw", "agent", "cpus:1")
    assert a.snapshot()["roles"]["eng"]["consumed_quota"] == {}
    (offer,) = a.allocate(now=2)
    assert str(offer.resources) == "cpus:4;mem:4096"
    after = a.snapshot()
    assert after["agents"] == before["agents"]
    assert after["roles"] == before["roles"]


def test_a_volume_is_created_on_reserved_disk_and_destroyed(make: Any) -> None:
    a = make()
    a.add_agent("agent", "cpus:1;disk(db):1024", now=0)
    a.add_framework("fw", roles=["db"], now=0)
    a.allocate(now=1)
    a.update_allocation("fw", "agent", "db", "disk(db):512", "disk(db)[data-1]:512")
    assert a.snapshot()["agents"]["agent"]["total"] == "cpus:1;disk(db):512;disk(db)[data-1]:512"
    before = a.snapshot()
    with pytest.raises(InvalidArgumentError, match="volume 'data-1' already exists"):
        a.update_allocation("fw", "agent", "db", "disk(db):512", "disk(db)[data-1]:512")
    with pytest.raises(InvalidArgumentError, match="is not subscribed"):
        a.update_allocation("fw", "agent", "web", "disk(db):512", "disk(db)[data-2]:512")
    assert a.snapshot() == before
    a.recover("fw", "agent", "cpus:1;disk(db):512;disk(db)[data-1]:512")
    (offer,) = a.allocate(now=2)
    assert str(offer.resources) == "cpus:1;disk(db):512;disk(db)[data-1]:512"
    a.update_allocation("fw", "agent", "db", "disk(db)[data-1]:512", "disk(db):512")
    snap = a.snapshot()
    assert snap["agents"]["agent"]["total"] == "cpus:1;disk(db):1024"
    assert snap["agents"]["agent"]["allocated"] == {"fw": {"db": "cpus:1;disk(db):1024"}}


def test_operator_reserves_what_is_available(make: Any) -> None:
    a = make()
    a.add_agent("agent", "cpus:4;mem:4096;ports:[31000-31009]", now=0)
    a.add_framework("a-fw", roles=["a"], now=0)
    a.add_framework("b-fw", roles=["b"], now=0)
    a.update_available(
        "agent", "cpus:1;mem:512;ports:[31000-31004]", "cpus(b):1;mem(b):512;ports(b):[31000-31004]"
    )
    assert a.snapshot()["roles"]["b"]["consumed_quota"] == {"cpus": 1.0, "mem": 512.0}
    by_framework = {o.framework_id: str(o.resources) for o in a.allocate(now=1)}
    assert by_framework == {
        "a-fw": "cpus:3;mem:3584;ports:[31005-31009]",
        "b-fw": "cpus(b):1;mem(b):512;ports(b):[31000-31004]",
    }
    before = a.snapshot()
    with pytest.raises(InvalidArgumentError, match="must be recovered first"):
        a.update_available("agent", "cpus:1", "cpus(a):1")
    assert a.snapshot() == before
    a.recover("b-fw", "agent", "cpus(b):1;mem(b):512;ports(b):[31000-31004]")
    a.update_available("agent", "cpus(b):1;mem(b):512", "cpus:1;mem:512")
    snap = a.snapshot()
    assert snap["agents"]["agent"]["available"] == "cpus:1;mem:512;ports(b):[31000-31004]"
    assert snap["roles"]["b"]["consumed_quota"] == {}


def test_quota_consumption_counts_reservations(make: Any) -> None:
    a = make()
    a.add_agent("agent", "cpus:4;mem:4096", now=0)
    a.add_framework("fw", roles=["eng/web"], now=0)
    a.update_available("agent", "cpus:3", "cpus(eng):3")
    roles = a.snapshot()["roles"]
    assert roles["eng"]["consumed_quota"] == {"cpus": 3.0}
    assert roles["eng/web"]["consumed_quota"] == {}
    # The reservation uses up eng's limit: nothing unreserved on top of it.
    a.set_quota("eng", limit="cpus:3")
    (offer,) = a.allocate(now=1)
    assert (offer.role, str(offer.resources)) == ("eng/web", "cpus(eng):3;mem:4096")
    a.update_allocation("fw", "agent", "eng/web", "cpus(eng):1", "cpus(eng/web):1")
    roles = a.snapshot()["roles"]
    assert roles["eng"]["consumed_quota"] == {"cpus": 3.0, "mem": 4096.0}
    assert roles["eng/web"]["consumed_quota"] == {"cpus": 1.0, "mem": 4096.0}


BAD_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any], type[Exception]]] = [
    ("add_agent", ("agent", "cpus:2", 0), {}, DuplicateError),
    ("add_agent", ("new", "cpus:-1", 0), {}, ResourceError),
    ("add_agent", ("new", "cpus:1;ports:[5-1]", 0), {}, ResourceError),
    ("add_agent", ("", "cpus:1", 0), {}, InvalidArgumentError),
    ("add_agent", ("new", "cpus:1", float("nan")), {}, InvalidArgumentError),
    (
        "add_agent",
        ("new", "cpus:1", 0),
        {"allocated": {"ghost": {"r": "cpus:1"}}},
        UnknownFrameworkError,
    ),
    ("add_agent", (7, "cpus:1", 0), {}, TypeError),
    ("remove_agent", ("ghost",), {}, UnknownAgentError),
    ("activate_agent", ("ghost",), {}, UnknownAgentError),
    ("deactivate_agent", ("ghost",), {}, UnknownAgentError),
    ("set_unavailability", ("ghost", 0.0), {}, UnknownAgentError),
    ("activate_framework", ("ghost",), {}, UnknownFrameworkError),
    ("deactivate_framework", ("ghost",), {}, UnknownFrameworkError),
    ("update_framework", ("fw",), {"roles": ["r", "r"]}, InvalidArgumentError),
    ("update_framework", ("fw",), {"capabilities": "GPU_RESOURCES"}, TypeError),
    ("set_weight", ("bad role",), {"weight": 1.0}, ResourceError),
    ("update_agent", ("agent",), {"total": "cpus:1"}, InvalidArgumentError),
    ("update_agent", ("ghost",), {"total": "cpus:1"}, UnknownAgentError),
    ("set_unavailability", ("agent", 0.0, -1.0), {}, InvalidArgumentError),
    ("add_framework", ("fw", ["r"], 0), {}, DuplicateError),
    ("add_framework", ("new", [], 0), {}, InvalidArgumentError),
    ("add_framework", ("new", ["a", "a"], 0), {}, InvalidArgumentError),
    ("add_framework", ("new", ["../x"], 0), {}, ResourceError),
    ("add_framework", ("new", "r", 0), {}, TypeError),
    ("update_framework", ("fw",), {"roles": ["other"]}, InvalidArgumentError),
    ("remove_framework", ("ghost",), {}, UnknownFrameworkError),
    ("suppress", ("fw", ["not-mine"]), {}, InvalidArgumentError),
    ("revive", ("ghost",), {}, UnknownFrameworkError),
    ("set_weight", ("r", 0.0), {}, InvalidArgumentError),
    ("set_weight", ("r", float("inf")), {}, InvalidArgumentError),
    ("set_quota", ("r",), {"guarantee": "cpus:4", "limit": "cpus:2"}, InvalidArgumentError),
    ("set_quota", ("r",), {"guarantee": "cpus(r):4"}, InvalidArgumentError),
    ("set_quota", ("*",), {"guarantee": "cpus:1"}, InvalidArgumentError),
    ("set_quota", ("r",), {"limit": {"cpus": -1}}, InvalidArgumentError),
    ("recover", ("fw", "agent", "cpus:100"), {}, InvalidArgumentError),
    ("recover", ("fw", "agent", "cpus:1"), {"refuse_seconds": -1}, InvalidArgumentError),
    ("recover", ("fw", "agent", "cpus:1"), {"refuse_seconds": 5}, InvalidArgumentError),
    ("recover", ("fw", "ghost", "cpus:1"), {}, UnknownAgentError),
    ("recover", ("ghost", "agent", "cpus:1"), {}, UnknownFrameworkError),
    ("recover", ("fw", "agent", "cpus:1"), {"role": "elsewhere"}, InvalidArgumentError),
    ("recover", ("fw", "agent", "cpus:abc"), {}, ResourceError),
    ("allocate", (float("nan"),), {}, InvalidArgumentError),
    (
        "update_allocation",
        ("ghost", "agent", "r", "cpus:1", "cpus(r):1"),
        {},
        UnknownFrameworkError,
    ),
    ("update_allocation", ("fw", "ghost", "r", "cpus:1", "cpus(r):1"), {}, UnknownAgentError),
    ("update_allocation", ("fw", "agent", "s", "cpus:1", "cpus(s):1"), {}, InvalidArgumentError),
    ("update_allocation", ("fw", "agent", 7, "cpus:1", "cpus(r):1"), {}, TypeError),
    ("update_allocation", ("fw", "agent", "r", "cpus:5", "cpus(r):5"), {}, InvalidArgumentError),
    ("update_allocation", ("fw", "agent", "r", "cpus(r):1", "cpus:1"), {}, InvalidArgumentError),
    ("update_allocation", ("fw", "agent", "r", "cpus:1", "cpus(r):2"), {}, InvalidArgumentError),
    ("update_allocation", ("fw", "agent", "r", "cpus:1", "mem(r):1"), {}, InvalidArgumentError),
    ("update_allocation", ("fw", "agent", "r", "", "cpus(r):1"), {}, InvalidArgumentError),
    ("update_allocation", ("fw", "agent", "r", "cpus:1", "cpus(s):1"), {}, InvalidArgumentError),
    ("update_allocation", ("fw", "agent", "r", "cpus:1", "cpus(r/x):1"), {}, InvalidArgumentError),
    ("update_allocation", ("fw", "agent", "r", "mem:1", "disk(r)[v]:1"), {}, InvalidArgumentError),
    ("update_allocation", ("fw", "agent", "r", "cpus:1", "cpus(r):x"), {}, ResourceError),
    ("update_allocation", ("fw", "agent", "r", "cpus:1", 5), {}, TypeError),
    (
        "update_allocation",
        ("fw", "agent", "r", "ports:[31000-31001]", "ports(r):[31000-31002]"),
        {},
        InvalidArgumentError,
    ),
    (
        "update_allocation",
        ("fw", "agent", "r", "ports:[31000-31001]", "ports(r):[31000,31002]"),
        {},
        ResourceError,
    ),
    (
        "update_allocation",
        ("fw", "agent", "r", "ports:[31000-31001]", "ports(r):[31000-31001];ports(r,p):[31001]"),
        {},
        ResourceError,
    ),
    (
        "update_allocation",
        (
            "fw",
            "agent",
            "r",
            "ports:[31000-31001]",
            "ports(r):[31000-31000];ports(r,p):[31002-31002]",
        ),
        {},
        InvalidArgumentError,
    ),
    (
        "update_allocation",
        ("fw", "agent", "r", "zones:{a}", "zones(r):{b}"),
        {},
        InvalidArgumentError,
    ),
    ("update_available", ("ghost", "", ""), {}, UnknownAgentError),
    ("update_available", ("agent", "cpus:1", "cpus(r):1"), {}, InvalidArgumentError),
    ("update_available", ("agent", "", "cpus(r):1"), {}, InvalidArgumentError),
    ("update_available", ("agent", "cpus:1", None), {}, TypeError),
]


@pytest.mark.parametrize(("method", "args", "kwargs", "error"), BAD_CALLS)
def test_bad_input_raises_a_typed_error_and_changes_nothing(
    make: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception]
) -> None:
    a = make()
    a.add_agent("agent", "cpus:4;mem:4096;ports:[31000-31009];zones:{a,b}", now=0)
    a.add_framework("fw", roles=["r"], now=0)
    a.set_quota("r", guarantee="cpus:1")
    a.allocate(now=1)
    before = a.snapshot()
    with pytest.raises(error) as raised:
        getattr(a, method)(*args, **kwargs)
    assert str(raised.value)
    assert a.snapshot() == before


def test_constructor_rejects_unknown_sorter(make: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="sorter"):
        make(sorter="fifo")


def test_resources_may_be_given_as_any_mapping(make: Any) -> None:
    from types import MappingProxyType

    a = make()
    a.add_framework("fw", roles=["r"], now=0)
    a.add_agent("agent", MappingProxyType({"cpus": 2, "mem": 64}), now=0)
    (offer,) = a.allocate(now=1)
    a.recover("fw", "agent", MappingProxyType({"cpus": 1}))
    a.update_agent("agent", total=MappingProxyType({"cpus": 3, "mem": 64}))
    assert a.snapshot()["agents"]["agent"]["available"] == "cpus:2"
    assert str(offer.resources) == "cpus:2;mem:64"
