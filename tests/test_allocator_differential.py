"""The Rust allocator against its Python twin on random histories.

Hypothesis drives both with the same calls: agents and frameworks coming and
going, weights, quotas, reservations, allocation cycles, declines with
filters, suppress and revive, time passing. After every step both must have
returned the same thing (the same offers, or the same exception class) and
hold the same state, and the state must keep the allocator's invariants.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pyactors._reference.resources import PyResources, is_ancestor_or_self
from pyactors.allocator import Allocator, ReferenceAllocator

ROLES = ["a", "a/x", "a/y", "b", "c/d"]
AGENT_SHAPES = [
    "cpus:4;mem:4096;disk:1000;ports:[31000-31009]",
    "cpus:8;mem:2048",
    "cpus:2;mem:8192;gpus:1",
    "cpus:4;cpus(a):2;mem:4096;mem(a/x):1024",
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
    @initialize(sorter=st.sampled_from(["drf", "random"]), seed=st.integers(0, 2**64 - 1))
    def start(self, sorter: str, seed: int) -> None:
        self.rust = Allocator(sorter=sorter, seed=seed)
        self.reference = ReferenceAllocator(sorter=sorter, seed=seed)
        self.now = 0.0
        self.agents: list[str] = []
        self.frameworks: dict[str, list[str]] = {}
        self.serial = 0
        self.offers: list[tuple[str, str, str, str]] = []

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

    @rule(
        framework=st.sampled_from(["fw-1", "fw-2", "ghost"]),
        resources=st.sampled_from(["cpus:1", "cpus:-1", "mem:99999", ""]),
    )
    def bad_recover(self, framework: str, resources: str) -> None:
        agent = self.agents[0] if self.agents else "ghost"
        self.both("recover", framework, agent, resources, 1.0, self.now)

    # ------------------------------------------------------------ checks

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
        for agent_id, agent in snapshot["agents"].items():
            total = PyResources.parse(agent["total"])
            held = PyResources.parse(agent["available"])
            for by_role in agent["allocated"].values():
                for role, text in by_role.items():
                    bundle = PyResources.parse(text)
                    held = held + bundle  # raises if anything is held twice
                    for entry in bundle.reserved():
                        assert entry.role is not None
                        assert is_ancestor_or_self(entry.role, role), (agent_id, role, text)
            assert held == total, agent_id


Twins.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestTwins = Twins.TestCase
