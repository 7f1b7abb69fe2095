"""The Rust allocator against its Python twin on random histories.

Hypothesis drives both with the same calls: agents and frameworks coming and
going, weights, quotas, reservations, allocation cycles, declines with
filters, suppress and revive, reservation and volume operations on offered
and on available resources, time passing. After every step both must have
returned the same thing (the same offers, or the same exception class) and
hold the same state, and the state must keep the allocator's invariants.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pyactors._core import Resources
from pyactors._reference.allocator import ReferenceAllocator
from pyactors._reference.resources import PyResources, Resource, is_ancestor_or_self
from pyactors.core.allocator import Allocator

ROLES = ["a", "a/x", "a/y", "b", "c/d"]
AGENT_SHAPES = [
    "cpus:4;mem:4096;disk:1000;ports:[31000-31009]",
    "cpus:8;mem:2048",
    "cpus:2;mem:8192;gpus:1",
    "cpus:4;cpus(a):2;mem:4096;mem(a/x):1024;disk(a):200",
    "cpus:1;mem(b):512;disk(b,alice)[vol-1]:100",
    "cpus:0.5;mem:64",
]
QUOTAS = [
    ("cpus:4", None),
    ("cpus:2;mem:1024", {"cpus": 6, "mem": 4096}),
    (None, {"cpus": 3}),
    (None, {"gpus": 0, "cpus": 10}),
    (None, None),
]

OPERATIONS = ["reserve", "unreserve", "create", "destroy"]
# Operations written blind: some hold, most fail on what is held or available.
BLIND_BUNDLES = ["", "cpus:1", "cpus(a):1", "cpus(b,alice):1", "mem:1", "disk(b)[vol-2]:10"]


def _operation(
    entry: Resource, kind: str, role: str, principal: str | None, volume: str, half: bool
) -> tuple[str, str] | None:
    """(consumed, converted) for `kind` applied to `entry` (half of it when a
    scalar), or None when the kind does not apply to such an entry."""
    value = entry.value
    if half and isinstance(value, int) and value >= 2:
        value //= 2
    consumed = replace(entry, value=value)
    if kind == "reserve" and entry.volume is None:
        result = replace(consumed, role=role, principal=principal)
    elif kind == "unreserve" and entry.role is not None and entry.volume is None:
        result = replace(consumed, role=None, principal=None)
    elif kind == "create" and entry.name == "disk" and entry.role and entry.volume is None:
        result = replace(consumed, volume=volume)
    elif kind == "destroy" and entry.volume is not None:
        result = replace(consumed, volume=None)
    else:
        return None
    return str(PyResources.from_entries([consumed])), str(PyResources.from_entries([result]))


def _draw_operation(
    data: st.DataObject,
    bundle: PyResources,
    role: str,
    principal: str | None,
    volume: str,
    half: bool,
) -> tuple[str, str] | None:
    """One operation on one entry of `bundle`; the kind is drawn first among
    those that apply, so that rare ones (CREATE, DESTROY) are drawn too."""
    by_kind = {
        kind: [op for e in bundle if (op := _operation(e, kind, role, principal, volume, half))]
        for kind in OPERATIONS
    }
    kinds = [kind for kind, operations in by_kind.items() if operations]
    if not kinds:
        return None
    return data.draw(st.sampled_from(by_kind[data.draw(st.sampled_from(kinds))]))


# Bad items a batch of recoveries may hold: each must leave both allocators
# as they were.
BATCH_SPOILERS = ["ghost_framework", "ghost_agent", "twice", "other_role", "too_much", "malformed"]


def _spoiled(kind: str, item: tuple[str, str, str | None, str]) -> Any:
    framework_id, agent_id, role, text = item
    return {
        "ghost_framework": ("ghost", agent_id, role, text),
        "ghost_agent": (framework_id, "ghost", role, text),
        "twice": item,
        "other_role": (framework_id, agent_id, "zzz", text),
        "too_much": (framework_id, agent_id, role, "cpus:1000"),
        "malformed": (framework_id, agent_id, role, "cpus:-1"),
    }[kind]


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return ("ok", call())
    except Exception as error:  # the class is what must match
        return ("error", type(error).__name__)


def _normal(result: Any) -> Any:
    if isinstance(result, list):
        return [(o.framework_id, o.agent_id, o.role, str(o.resources)) for o in result]
    return result


class Twins(RuleBasedStateMachine):
    @initialize(
        sorter=st.sampled_from(["drf", "random"]),
        seed=st.integers(0, 2**64 - 1),
        shape=st.sampled_from(AGENT_SHAPES),
        roles=st.lists(st.sampled_from(ROLES), min_size=1, max_size=2, unique=True),
    )
    def start(self, sorter: str, seed: int, shape: str, roles: list[str]) -> None:
        self.rust = Allocator(sorter=sorter, seed=seed)
        self.reference = ReferenceAllocator(sorter=sorter, seed=seed)
        self.now = 0.0
        self.agents: list[str] = []
        self.frameworks: dict[str, list[str]] = {}
        self.serial = 0
        self.offers: list[tuple[str, str, str, str]] = []
        # The token of the last registration removed, per kind: a stale one.
        self.ended_tokens: dict[str, int] = {}
        # Histories start with something to offer, so that most of their steps
        # act on offers and allocations rather than on an empty cluster.
        self.add_agent(shape, "r1")
        self.add_framework(roles, gpu=True)

    def both(self, method: str, *args: Any, **kwargs: Any) -> Any:
        rust = _outcome(lambda: getattr(self.rust, method)(*args, **kwargs))
        reference = _outcome(lambda: getattr(self.reference, method)(*args, **kwargs))
        assert (rust[0], _normal(rust[1])) == (reference[0], _normal(reference[1])), method
        return reference

    # ---------------------------------------------------------------- agents

    @rule(shape=st.sampled_from(AGENT_SHAPES), rack=st.sampled_from(["r1", "r2"]))
    def add_agent(self, shape: str, rack: str) -> None:
        self.serial += 1
        agent_id = f"agent-{self.serial}"
        if self.both("add_agent", agent_id, shape, self.now, {"rack": rack})[0] == "ok":
            self.agents.append(agent_id)

    @precondition(lambda self: self.agents)
    @rule(data=st.data())
    def remove_agent(self, data: st.DataObject) -> None:
        agent_id = data.draw(st.sampled_from(self.agents))
        self.ended_tokens["agent"] = self.token("agent", agent_id)
        self.both("remove_agent", agent_id)
        self.agents.remove(agent_id)

    @precondition(lambda self: self.agents)
    @rule(data=st.data(), active=st.booleans())
    def toggle_agent(self, data: st.DataObject, active: bool) -> None:
        agent_id = data.draw(st.sampled_from(self.agents))
        self.both("activate_agent" if active else "deactivate_agent", agent_id)

    @precondition(lambda self: self.agents)
    @rule(data=st.data(), shape=st.sampled_from(AGENT_SHAPES))
    def update_agent(self, data: st.DataObject, shape: str) -> None:
        self.both("update_agent", data.draw(st.sampled_from(self.agents)), total=shape)

    @precondition(lambda self: self.agents)
    @rule(
        data=st.data(),
        start=st.floats(0, 20),
        duration=st.none() | st.floats(0, 10),
    )
    def maintenance(self, data: st.DataObject, start: float, duration: float | None) -> None:
        agent_id = data.draw(st.sampled_from(self.agents))
        self.both("set_unavailability", agent_id, self.now + start, duration)

    # ------------------------------------------------------------ frameworks

    @rule(
        roles=st.lists(st.sampled_from(ROLES), min_size=1, max_size=2, unique=True),
        gpu=st.booleans(),
    )
    def add_framework(self, roles: list[str], gpu: bool) -> None:
        self.serial += 1
        framework_id = f"fw-{self.serial}"
        capabilities = ["GPU_RESOURCES"] if gpu else []
        if self.both("add_framework", framework_id, roles, self.now, capabilities)[0] == "ok":
            self.frameworks[framework_id] = roles

    @precondition(lambda self: self.frameworks)
    @rule(data=st.data())
    def remove_framework(self, data: st.DataObject) -> None:
        framework_id = data.draw(st.sampled_from(sorted(self.frameworks)))
        self.ended_tokens["framework"] = self.token("framework", framework_id)
        self.both("remove_framework", framework_id)
        del self.frameworks[framework_id]

    @precondition(lambda self: self.frameworks)
    @rule(
        data=st.data(),
        call=st.sampled_from(["suppress", "revive", "activate_framework", "deactivate_framework"]),
        all_roles=st.booleans(),
    )
    def framework_call(self, data: st.DataObject, call: str, all_roles: bool) -> None:
        framework_id = data.draw(st.sampled_from(sorted(self.frameworks)))
        if call in ("suppress", "revive"):
            roles = None if all_roles else self.frameworks[framework_id][:1]
            self.both(call, framework_id, roles)
        else:
            self.both(call, framework_id)

    @precondition(lambda self: self.frameworks)
    @rule(
        data=st.data(),
        roles=st.lists(st.sampled_from(ROLES), min_size=1, max_size=2, unique=True),
    )
    def update_framework(self, data: st.DataObject, roles: list[str]) -> None:
        framework_id = data.draw(st.sampled_from(sorted(self.frameworks)))
        if self.both("update_framework", framework_id, roles=roles)[0] == "ok":
            self.frameworks[framework_id] = roles

    # ------------------------------------------------------------ roles

    @rule(role=st.sampled_from(ROLES), weight=st.sampled_from([0.5, 1.0, 2.0, 3.0]))
    def set_weight(self, role: str, weight: float) -> None:
        self.both("set_weight", role, weight)

    @rule(role=st.sampled_from(ROLES), quota=st.sampled_from(QUOTAS))
    def set_quota(self, role: str, quota: tuple[Any, Any]) -> None:
        self.both("set_quota", role, guarantee=quota[0], limit=quota[1])

    # ------------------------------------------------------------ offers

    @rule(advance=st.sampled_from([0.0, 0.5, 1.0, 3.0, 10.0]))
    def allocate(self, advance: float) -> None:
        self.now += advance
        before = self.reference.snapshot()
        status, offers = self.both("allocate", self.now)
        assert status == "ok"
        assert self.rust.last_cycle_visits == self.reference.last_cycle_visits
        assert self.rust.last_cycle_candidates == self.reference.last_cycle_candidates
        self.offers = _normal(offers)
        self.check_offers_respect_filters(before)
        self.check_cycle_respects_limits(before, self.reference.snapshot())

    @precondition(lambda self: self.offers)
    @rule(
        data=st.data(),
        refuse=st.sampled_from([0.0, 1.0, 5.0]),
        part=st.sampled_from(["all", "cpus"]),
    )
    def decline(self, data: st.DataObject, refuse: float, part: str) -> None:
        framework_id, agent_id, role, text = data.draw(st.sampled_from(self.offers))
        bundle = PyResources.parse(text)
        if part == "cpus":
            bundle = bundle.unreserved().filter(lambda r: r.name == "cpus")
        self.both("recover", framework_id, agent_id, str(bundle), refuse, self.now, role)
        self.offers.remove((framework_id, agent_id, role, text))

    @precondition(lambda self: self.offers)
    @rule(refuse=st.sampled_from([0.0, 2.0]))
    def decline_all(self, refuse: float) -> None:
        """What most frameworks do with most offers: give everything back."""
        for framework_id, agent_id, role, text in self.offers:
            self.both("recover", framework_id, agent_id, text, refuse, self.now, role)
        self.offers = []

    @precondition(lambda self: self.offers)
    @rule(
        data=st.data(),
        refuse=st.sampled_from([0.0, 2.0]),
        by_role=st.booleans(),
        split=st.booleans(),
        as_handles=st.booleans(),
        by_token=st.booleans(),
        spoil=st.sampled_from([None, None, *BATCH_SPOILERS]),
    )
    def decline_batch(
        self,
        data: st.DataObject,
        refuse: float,
        by_role: bool,
        split: bool,
        as_handles: bool,
        by_token: bool,
        spoil: str | None,
    ) -> None:
        """A round's declines in one `recover_many` (or `recover_many_by_token`,
        the frameworks and agents named by their tokens): some offers in any
        order, with or without their roles, perhaps one given back in two
        parts (two items on one allocation), perhaps one bad item anywhere
        (then nothing may change: the invariant compares the states)."""
        chosen = data.draw(st.lists(st.sampled_from(self.offers), min_size=1, unique=True))
        items: list[tuple[str, str, str | None, Any]] = [
            (f, a, r if by_role else None, text) for f, a, r, text in chosen
        ]
        if split:
            framework_id, agent_id, role, text = items[0]
            cpus = PyResources.parse(text).filter(lambda r: r.name == "cpus")
            rest = PyResources.parse(text) - cpus
            items[:1] = [
                (framework_id, agent_id, role, str(cpus)),
                (framework_id, agent_id, role, str(rest)),
            ]
        spoiled = None if spoil is None else _spoiled(spoil, items[0])
        if as_handles:  # what the master passes: the offers' own bundles
            items = [(f, a, r, Resources.parse(text)) for f, a, r, text in items]
        if spoiled is not None:
            items.insert(data.draw(st.integers(0, len(items))), spoiled)
        method = "recover_many"
        if by_token:
            method = "recover_many_by_token"
            items = [
                (self.token("framework", f), self.token("agent", a), r, res)
                for f, a, r, res in items
            ]
        if self.both(method, items, refuse, self.now)[0] == "ok":
            for offer in chosen:
                self.offers.remove(offer)

    def token(self, kind: str, registered_id: str) -> int:
        """The registration's token, the same in both implementations; for
        an id not registered now, the token of a registration that ended (or
        0, which names nothing)."""
        outcome = self.both(f"{kind}_token", registered_id)
        if outcome[0] == "error":  # a ghost, or an offer's since removed
            return self.ended_tokens.get(kind, 0)
        token: int = outcome[1]
        return token

    @rule()
    def registration_tokens(self) -> None:
        """Both hand out the same tokens, and none for an unknown id."""
        for agent_id in self.agents:
            self.token("agent", agent_id)
        for framework_id in self.frameworks:
            self.token("framework", framework_id)
        assert self.both("agent_token", "ghost")[0] == "error"
        assert self.both("framework_token", "ghost")[0] == "error"

    @rule(
        framework=st.sampled_from(["fw-1", "fw-2", "ghost"]),
        resources=st.sampled_from(["cpus:1", "cpus:-1", "mem:99999", ""]),
    )
    def bad_recover(self, framework: str, resources: str) -> None:
        agent = self.agents[0] if self.agents else "ghost"
        self.both("recover", framework, agent, resources, 1.0, self.now)

    # ------------------------------------------------------------ operations

    @precondition(lambda self: self.agents and self.frameworks)
    @rule(
        data=st.data(),
        principal=st.sampled_from([None, "alice"]),
        volume=st.sampled_from(["vol-1", "vol-2"]),
        half=st.booleans(),
    )
    def convert_allocated(
        self, data: st.DataObject, principal: str | None, volume: str, half: bool
    ) -> None:
        """A framework's RESERVE, UNRESERVE, CREATE or DESTROY on what it
        holds, mostly for the role it holds it in; with nothing held, on what
        a cycle offers now."""
        if not self.held():
            self.allocate(0.0)
        held = self.held()
        if not held:
            return
        framework_id, agent_id, role, text = data.draw(st.sampled_from(held))
        target = data.draw(st.just(role) | st.sampled_from(ROLES))
        operation = _draw_operation(data, PyResources.parse(text), target, principal, volume, half)
        if operation is None:
            return
        consumed, converted = operation
        result = self.both("update_allocation", framework_id, agent_id, role, consumed, converted)
        if result[0] != "ok":
            return
        # Keep the outstanding offer it came from declinable as a whole.
        for index, (f, a, r, offer_text) in enumerate(self.offers):
            offer = PyResources.parse(offer_text)
            if (f, a, r) == (framework_id, agent_id, role) and PyResources.parse(consumed) <= offer:
                after = offer - PyResources.parse(consumed) + PyResources.parse(converted)
                self.offers[index] = (f, a, r, str(after))
                break

    @precondition(lambda self: self.agents)
    @rule(
        data=st.data(),
        role=st.sampled_from(ROLES),
        principal=st.sampled_from([None, "alice"]),
        volume=st.sampled_from(["vol-1", "vol-2"]),
        half=st.booleans(),
    )
    def convert_available(
        self,
        data: st.DataObject,
        role: str,
        principal: str | None,
        volume: str,
        half: bool,
    ) -> None:
        """The operator's reserve, unreserve, create or destroy on what an
        agent has available."""
        agent_id = data.draw(st.sampled_from(self.agents))
        available = PyResources.parse(self.reference.snapshot()["agents"][agent_id]["available"])
        operation = _draw_operation(data, available, role, principal, volume, half)
        if operation is not None:
            self.both("update_available", agent_id, *operation)

    @precondition(lambda self: self.agents and self.frameworks)
    @rule(
        data=st.data(),
        consumed=st.sampled_from(BLIND_BUNDLES),
        converted=st.sampled_from(BLIND_BUNDLES),
    )
    def blind_operation(self, data: st.DataObject, consumed: str, converted: str) -> None:
        framework_id = data.draw(st.sampled_from([*sorted(self.frameworks), "ghost"]))
        agent_id = data.draw(st.sampled_from([*self.agents, "ghost"]))
        role = data.draw(st.sampled_from([*self.frameworks.get(framework_id, []), *ROLES]))
        self.both("update_allocation", framework_id, agent_id, role, consumed, converted)
        self.both("update_available", agent_id, consumed, converted)

    # ------------------------------------------------------------ checks

    def held(self) -> list[tuple[str, str, str, str]]:
        """(framework, agent, role, resources) of every allocation."""
        return [
            (framework_id, agent_id, role, text)
            for agent_id, agent in self.reference.snapshot()["agents"].items()
            for framework_id, by_role in agent["allocated"].items()
            for role, text in by_role.items()
        ]

    def check_offers_respect_filters(self, before: dict[str, Any]) -> None:
        for framework_id, agent_id, role, text in self.offers:
            offer = PyResources.parse(text)
            for f in before["frameworks"][framework_id]["filters"]:
                if f["agent"] == agent_id and f["role"] == role and f["expires"] > self.now:
                    assert not offer <= PyResources.parse(f["resources"]), (framework_id, f)

    def check_cycle_respects_limits(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """A cycle never takes a role's consumption above its limit (it may
        already be above, if the limit was set later)."""
        for role, info in after["roles"].items():
            for name, cap in (info["limit"] or {}).items():
                was = before["roles"].get(role, {}).get("consumed_quota", {}).get(name, 0.0)
                now = info["consumed_quota"].get(name, 0.0)
                assert now <= max(was, cap) + 1e-9, (role, name, was, now, cap)

    @invariant()
    def same_state_and_invariants(self) -> None:
        if not hasattr(self, "rust"):
            return
        snapshot = self.reference.snapshot()
        assert self.rust.snapshot() == snapshot
        assert self.rust.shares() == self.reference.shares()
        # Cluster totals and quota consumption recomputed from scratch: what
        # the allocators keep incrementally must match.
        totals: dict[str, int] = defaultdict(int)
        consumed: dict[str, dict[str, int]] = {role: defaultdict(int) for role in snapshot["roles"]}

        def consume(role: str, scalars: PyResources) -> None:
            for ancestor, used in consumed.items():
                if is_ancestor_or_self(ancestor, role):
                    for entry in scalars:
                        assert isinstance(entry.value, int)
                        used[entry.name] += entry.value

        for agent_id, agent in snapshot["agents"].items():
            total = PyResources.parse(agent["total"])
            for name, millis in total.totals_millis():
                totals[name] += millis
            for entry in total.reserved().scalars():
                assert entry.role is not None
                consume(entry.role, PyResources.from_entries([entry]))
            held = PyResources.parse(agent["available"])
            for by_role in agent["allocated"].values():
                for role, text in by_role.items():
                    bundle = PyResources.parse(text)
                    held = held + bundle  # raises if anything is held twice
                    consume(role, bundle.unreserved().scalars())
                    for entry in bundle.reserved():
                        assert entry.role is not None
                        assert is_ancestor_or_self(entry.role, role), (agent_id, role, text)
            assert held == total, agent_id
        assert snapshot["total"] == {n: m / 1000 for n, m in sorted(totals.items()) if m}
        for role, info in snapshot["roles"].items():
            expected = {n: m / 1000 for n, m in sorted(consumed[role].items()) if m}
            assert info["consumed_quota"] == expected, role


Twins.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestTwins = Twins.TestCase
