"""One allocation cycle: the role and framework orders (DRF or random), and
what each role is offered on each agent, shaped by quota limits and the
headroom kept for guarantees (stages 1 and 2 of the package documentation)."""

from __future__ import annotations

from collections.abc import Mapping

from pyactors._reference.allocator.quantities import (
    Quantities,
    add_quantities,
    scalar_quantities,
    self_and_ancestors,
    subtract_quantities,
)
from pyactors._reference.allocator.records import Agent
from pyactors._reference.allocator.state import AllocatorState
from pyactors._reference.resources import PyResources, format_millis
from pyactors.core.offer import Offer

GPU_CAPABILITY = "GPU_RESOURCES"


def _bundle(quantities: Mapping[str, int]) -> PyResources:
    return PyResources.parse(
        ";".join(f"{name}:{format_millis(m)}" for name, m in sorted(quantities.items()) if m > 0)
    )


def _shrink_to(scalars: PyResources, target: Mapping[str, int]) -> PyResources:
    """Keep of the unreserved `scalars` only up to `target`; absent names go."""
    return _bundle({n: min(m, target.get(n, 0)) for n, m in scalars.totals_millis()})


def _shrink_limits(scalars: PyResources, room: Mapping[str, int] | None) -> PyResources:
    """Cap the unreserved `scalars` at `room`; names absent from room are unlimited."""
    if room is None:
        return scalars
    return _bundle({n: min(m, room[n]) if n in room else m for n, m in scalars.totals_millis()})


class _RoleTree:
    """The roles that have offerable frameworks, with their ancestors, as
    parent (None = root) -> children."""

    def __init__(self, members: Mapping[str, list[str]]) -> None:
        self.children: dict[str | None, list[str]] = {}
        self.has_own = set(members)
        seen: set[str] = set()
        for role in members:
            for node in self_and_ancestors(role):
                if node in seen:
                    continue
                seen.add(node)
                parent = node.rsplit("/", 1)[0] if "/" in node else None
                self.children.setdefault(parent, []).append(node)

    def entries(self, prefix: str | None) -> list[tuple[str, bool]]:
        """The entries among which `prefix`'s children are ordered: each
        child's subtree, and (prefix, True), the virtual "." client, for a
        role with frameworks of its own and children."""
        out = [(child, False) for child in self.children.get(prefix, ())]
        if prefix is not None and out and prefix in self.has_own:
            out.append((prefix, True))
        return out

    def is_leaf(self, role: str) -> bool:
        return role not in self.children


class Cycle:
    """The bookkeeping of one allocate() call. Which frameworks are offerable
    cannot change during a cycle, so the role tree and members are taken once."""

    def __init__(self, allocator: AllocatorState, now: float, candidates: list[Agent]) -> None:
        self.allocator = allocator
        self.now = now
        self.members = allocator._offerable_members()
        self.tree = _RoleTree(self.members)
        self.random_roles: list[str] | None = None
        self.random_frameworks: dict[str, list[str]] = {}
        if allocator._sorter == "random":
            self._draw_random_order()
        self.offered: dict[tuple[str, str], tuple[str, PyResources]] = {}
        self.order: list[tuple[str, str]] = []
        self.available_headroom: Quantities = {}
        for agent in candidates:
            add_quantities(
                self.available_headroom, scalar_quantities(agent.available.unreserved().scalars())
            )

    def _draw_random_order(self) -> None:
        """The random sorter's orders, drawn once per cycle: at each level of
        the role tree a weighted random order of the entries sorted by name
        ("." for a role's own frameworks), then for each role in the resulting
        order a uniform shuffle of its frameworks sorted by id."""
        rng = self.allocator._rng
        roles: list[str] = []

        def visit(prefix: str | None) -> None:
            entries = self.tree.entries(prefix)
            entries.sort(key=lambda e: "." if e[1] else e[0].rsplit("/", 1)[-1])
            weights = [self.allocator._weight(role) for role, _ in entries]
            for role, is_own in rng.weighted_order(entries, weights):
                if is_own or self.tree.is_leaf(role):
                    roles.append(role)
                else:
                    visit(role)

        visit(None)
        self.random_roles = roles
        for role in roles:
            members = sorted(self.members[role])
            rng.shuffle(members)
            self.random_frameworks[role] = members

    def role_order(self) -> list[str]:
        if self.random_roles is not None:
            return self.random_roles
        allocator = self.allocator
        totals = allocator._totals
        order: list[str] = []

        def key(role: str, is_own: bool) -> tuple[float, int, str]:
            if is_own:
                own = allocator._role_allocations.get(role, {})
                return (
                    allocator._share(own, allocator._weight(role), totals),
                    allocator._own_counts.get(role, 0),
                    ".",
                )
            subtree = allocator._subtree(allocator._role_allocations, role)
            return (
                allocator._share(subtree, allocator._weight(role), totals),
                allocator._subtree_counts.get(role, 0),
                role.rsplit("/", 1)[-1],
            )

        def visit(prefix: str | None) -> None:
            for role, is_own in sorted(self.tree.entries(prefix), key=lambda e: key(*e)):
                if is_own or self.tree.is_leaf(role):
                    order.append(role)
                else:
                    visit(role)

        visit(None)
        return order

    def framework_order(self, role: str) -> list[str]:
        if self.random_roles is not None:
            return self.random_frameworks[role]
        allocator = self.allocator
        keyed = []
        for framework_id in self.members[role]:
            allocation = allocator._allocations.get((framework_id, role), {})
            keyed.append(
                (
                    allocator._share(allocation, 1.0, allocator._totals),
                    allocator._framework_counts.get((role, framework_id), 0),
                    framework_id,
                )
            )
        return [framework_id for _, _, framework_id in sorted(keyed)]

    def guarantee_unmet(self) -> bool:
        """Whether a role in the order has a guarantee not yet consumed in
        full: what stage 1 serves."""
        allocator = self.allocator
        return any(
            subtract_quantities(allocator._guarantee(role), allocator._consumed(role))
            for role in self.role_order()
        )

    def visit(self, agent: Agent, stage: int) -> None:
        allocator = self.allocator
        for role in self.role_order():
            if stage == 1 and not allocator._guarantee(role):
                continue
            if not agent.available:
                break
            # What the role would be offered here: the same whichever of its
            # frameworks asks, until something is allocated on this agent.
            offer: tuple[PyResources, Quantities] | None = None
            for framework_id in self.framework_order(role):
                if offer is None:
                    offer = self._offer_for(agent, role, stage)
                    if offer is None:
                        break
                framework = allocator._frameworks[framework_id]
                previous = self.offered.get((framework_id, agent.agent_id))
                if previous is not None and previous[0] != role:
                    continue
                if agent.has_gpus and GPU_CAPABILITY not in framework.capabilities:
                    continue
                bundle, quota_increase = offer
                if allocator._is_filtered(framework, agent.agent_id, role, bundle, self.now):
                    continue
                self._allocate(agent, framework_id, role, bundle, quota_increase)
                offer = None

    def _offer_for(
        self, agent: Agent, role: str, stage: int
    ) -> tuple[PyResources, Quantities] | None:
        """The bundle `role` may be offered on `agent` now and how much it adds
        to the role's quota consumption; None when the role can take nothing
        there in this stage (guarantee met, nothing allocatable, cut down to
        nothing by limits or headroom)."""
        allocator = self.allocator
        unsatisfied = None
        if stage == 1:
            unsatisfied = subtract_quantities(allocator._guarantee(role), allocator._consumed(role))
            if not unsatisfied:
                return None
        available = agent.available.allocatable_to(role)
        if not allocator._allocatable(available):
            return None
        shaped = self._shape(available, role, unsatisfied)
        if shaped is None or not allocator._allocatable(shaped[0]):
            return None
        return shaped

    def _shape(
        self, available: PyResources, role: str, unsatisfied: Quantities | None
    ) -> tuple[PyResources, Quantities] | None:
        """Reservations and non-scalars are always offered; unreserved scalars
        are cut to what stage 1 still needs for the guarantee (`unsatisfied`),
        to the room under the limits of the role and its ancestors, and to
        what the headroom for unsatisfied guarantees leaves."""
        quota_scalars = available.unreserved().scalars()
        always = available - quota_scalars
        room = self.allocator._limit_room(role)
        guaranteed = PyResources()
        if unsatisfied is not None:
            guaranteed = _shrink_limits(_shrink_to(quota_scalars, unsatisfied), room)
            if not guaranteed:
                return None
            if room is not None:
                taken = scalar_quantities(guaranteed)
                room = {n: max(0, m - taken.get(n, 0)) for n, m in room.items()}
        additional = _shrink_limits(quota_scalars - guaranteed, room)
        required = self.allocator._required_headroom()
        if required and additional:
            additional = _shrink_to(
                additional, subtract_quantities(self.available_headroom, required)
            )
        increase = scalar_quantities(guaranteed)
        add_quantities(increase, scalar_quantities(additional))
        return always + guaranteed + additional, increase

    def _allocate(
        self,
        agent: Agent,
        framework_id: str,
        role: str,
        bundle: PyResources,
        quota_increase: Quantities,
    ) -> None:
        self.allocator._hold(agent, framework_id, role, bundle, counted=True)
        self.available_headroom = subtract_quantities(self.available_headroom, quota_increase)
        offer_key = (framework_id, agent.agent_id)
        if offer_key in self.offered:
            self.offered[offer_key] = (role, self.offered[offer_key][1] + bundle)
        else:
            self.offered[offer_key] = (role, bundle)
            self.order.append(offer_key)

    def offers(self) -> list[Offer]:
        out = []
        for framework_id, agent_id in self.order:
            role, bundle = self.offered[(framework_id, agent_id)]
            out.append(Offer(framework_id, agent_id, role, bundle))
        return out
