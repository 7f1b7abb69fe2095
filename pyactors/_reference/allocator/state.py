"""The reference allocator's state and books: its records, the running sums
a cycle reads shares and quota consumption from, and the lookups and
bookkeeping every call shares. `ReferenceAllocator` adds the public calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyactors._reference.allocator.quantities import (
    Quantities,
    add_quantities,
    scalar_quantities,
    self_and_ancestors,
    subtract_quantities,
)
from pyactors._reference.allocator.records import Agent, Filter, Framework, Quota
from pyactors._reference.allocator.tokens import Serials, TokenBook
from pyactors._reference.resources import PyResources, is_ancestor_or_self
from pyactors._reference.rng import SplitMix64
from pyactors.errors import InvalidArgumentError, UnknownAgentError, UnknownFrameworkError


class AllocatorState:
    """Everything the allocator knows, with the bookkeeping that keeps its
    running sums true."""

    def __init__(
        self,
        sorter: str,
        rng: SplitMix64,
        min_allocatable: list[Quantities],
        fairness_exclude: frozenset[str],
    ) -> None:
        self._sorter = sorter
        self._rng = rng
        self._min_allocatable = min_allocatable
        self._fairness_exclude = fairness_exclude
        self._agents: dict[str, Agent] = {}
        self._frameworks: dict[str, Framework] = {}
        serials = Serials()
        self._agent_tokens = TokenBook(serials)
        self._framework_tokens = TokenBook(serials)
        self._weights: dict[str, float] = {}
        self._quotas: dict[str, Quota] = {}
        # Allocation counters, the DRF tie-breaker. Role counters are keyed by
        # role path (whole subtree) and by role for its own frameworks only.
        self._subtree_counts: dict[str, int] = {}
        self._own_counts: dict[str, int] = {}
        self._framework_counts: dict[tuple[str, str], int] = {}
        # Running sums, kept by _hold/_release/_account_total so that a cycle
        # need not rescan every agent to know a share or a quota consumption.
        self._totals: Quantities = {}
        self._allocations: dict[tuple[str, str], Quantities] = {}  # (framework, role)
        self._role_allocations: dict[str, Quantities] = {}  # exact role, all scalars
        self._role_unreserved: dict[str, Quantities] = {}  # exact role, unreserved scalars
        self._role_reserved: dict[str, Quantities] = {}  # exact role, reserved on agents

    def _agent(self, agent_id: str) -> Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgentError(f"unknown agent '{agent_id}'")
        return agent

    def _framework(self, framework_id: str) -> Framework:
        framework = self._frameworks.get(framework_id)
        if framework is None:
            raise UnknownFrameworkError(f"unknown framework '{framework_id}'")
        return framework

    @staticmethod
    def _framework_roles(framework: Framework, roles: Sequence[str] | None) -> list[str]:
        if roles is None:
            return list(framework.roles)
        if isinstance(roles, str):
            raise TypeError("roles must be a list of role names, not a string")
        for role in roles:
            if role not in framework.roles:
                raise InvalidArgumentError(
                    f"framework '{framework.framework_id}' is not subscribed to role '{role}'"
                )
        return list(roles)

    def _add_filter(self, framework: Framework, agent_id: str, new: Filter) -> None:
        filters = framework.filters.setdefault(agent_id, [])
        for existing in filters:
            if existing.role == new.role and existing.resources == new.resources:
                existing.expires = max(existing.expires, new.expires)
                return
        filters.append(new)

    def _expire_filters(self, now: float) -> None:
        for framework in self._frameworks.values():
            for agent_id in list(framework.filters):
                kept = [f for f in framework.filters[agent_id] if f.expires > now]
                if kept:
                    framework.filters[agent_id] = kept
                else:
                    del framework.filters[agent_id]

    def _is_filtered(
        self, framework: Framework, agent_id: str, role: str, bundle: PyResources, now: float
    ) -> bool:
        return any(
            f.role == role and f.expires > now and bundle <= f.resources
            for f in framework.filters.get(agent_id, ())
        )

    def _allocatable(self, bundle: PyResources) -> bool:
        if not bundle:
            return False
        if not self._min_allocatable:
            return True
        return any(
            all(bundle.scalar_millis(name) >= m for name, m in requirement.items())
            for requirement in self._min_allocatable
        )

    def _guarantee(self, role: str) -> Quantities:
        quota = self._quotas.get(role)
        return quota.guarantee if quota is not None else {}

    def _weight(self, role: str) -> float:
        return self._weights.get(role, 1.0)

    def _share(self, allocation: Mapping[str, int], weight: float, totals: Quantities) -> float:
        share = 0.0
        for name, total in totals.items():
            if name in self._fairness_exclude or total <= 0:
                continue
            share = max(share, allocation.get(name, 0) / total)
        return share / weight

    def _hold(
        self, agent: Agent, framework_id: str, role: str, bundle: PyResources, counted: bool
    ) -> None:
        """Move `bundle` from the agent's available part to the framework's
        allocation in `role`; `counted` adds one to the DRF counters."""
        agent.available = agent.available - bundle
        key = (framework_id, role)
        agent.allocated[key] = agent.allocated[key] + bundle if key in agent.allocated else bundle
        self._tally(framework_id, role, bundle, 1)
        if counted:
            self._record_allocation(framework_id, role)

    def _release(self, agent: Agent, framework_id: str, role: str, bundle: PyResources) -> None:
        """The inverse of `_hold` (counters stay)."""
        key = (framework_id, role)
        left = agent.allocated[key] - bundle
        if left:
            agent.allocated[key] = left
        else:
            del agent.allocated[key]
        agent.available = agent.available + bundle
        self._tally(framework_id, role, bundle, -1)

    def _tally(self, framework_id: str, role: str, bundle: PyResources, sign: int) -> None:
        scalars = {n: sign * m for n, m in scalar_quantities(bundle).items()}
        unreserved = {n: sign * m for n, m in scalar_quantities(bundle.unreserved()).items()}
        add_quantities(self._allocations.setdefault((framework_id, role), {}), scalars)
        add_quantities(self._role_allocations.setdefault(role, {}), scalars)
        add_quantities(self._role_unreserved.setdefault(role, {}), unreserved)

    def _account_total(self, total: PyResources, sign: int) -> None:
        """Add (1) or remove (-1) an agent's total from the cluster totals and
        its reservations from the roles' quota consumption."""
        add_quantities(self._totals, {n: sign * m for n, m in scalar_quantities(total).items()})
        for (role, name), millis in _reserved_quantities(total):
            add_quantities(self._role_reserved.setdefault(role, {}), {name: sign * millis})

    def _set_total(self, agent: Agent, total: PyResources) -> None:
        """Replace a total whose quantities an operation kept: reservations
        move between roles (quota consumption), cluster totals stay."""
        self._account_total(agent.total, -1)
        self._account_total(total, 1)
        agent.total = total

    @staticmethod
    def _subtree(table: Mapping[str, Quantities], role: str | None) -> Quantities:
        """Sum of a per-role table over `role`'s subtree (everything when None)."""
        out: Quantities = {}
        for r, quantities in table.items():
            if role is None or is_ancestor_or_self(role, r):
                add_quantities(out, quantities)
        return out

    def _consumed(self, role: str) -> Quantities:
        """Quota consumption: reservations for the subtree plus its unreserved
        scalar allocations."""
        out = self._subtree(self._role_reserved, role)
        add_quantities(out, self._subtree(self._role_unreserved, role))
        return out

    def _known_roles(self) -> set[str]:
        roles: set[str] = set(self._weights) | set(self._quotas)
        for framework in self._frameworks.values():
            roles.update(framework.roles)
        roles.update(r for r, held in self._role_reserved.items() if any(held.values()))
        with_ancestors = set()
        for role in roles:
            with_ancestors.update(self_and_ancestors(role))
        return with_ancestors

    def _limit_room(self, role: str) -> Quantities | None:
        """How much more unreserved scalar each name may take without breaking
        the limit of the role or an ancestor; None when nothing limits it."""
        room: Quantities | None = None
        for ancestor in self_and_ancestors(role):
            quota = self._quotas.get(ancestor)
            if quota is None or quota.limit is None:
                continue
            used = self._consumed(ancestor)
            here = {n: max(0, m - used.get(n, 0)) for n, m in quota.limit.items()}
            if room is None:
                room = here
            else:
                for name, millis in here.items():
                    room[name] = min(room[name], millis) if name in room else millis
        return room

    def _required_headroom(self) -> Quantities:
        """Unreserved scalars the outermost guaranteed roles still need."""
        required: Quantities = {}
        for role, quota in self._quotas.items():
            if not quota.guarantee:
                continue
            if any(self._guarantee(a) for a in self_and_ancestors(role)[1:]):
                continue
            add_quantities(required, subtract_quantities(quota.guarantee, self._consumed(role)))
        return required

    def _offerable_members(self) -> dict[str, list[str]]:
        """role -> its frameworks that may be offered in it (active, not
        suppressed there), for the roles that have any."""
        members: dict[str, list[str]] = {}
        for framework_id, framework in self._frameworks.items():
            for role in framework.roles:
                if framework.offerable_in(role):
                    members.setdefault(role, []).append(framework_id)
        return members

    def _record_allocation(self, framework_id: str, role: str) -> None:
        self._framework_counts[(role, framework_id)] = (
            self._framework_counts.get((role, framework_id), 0) + 1
        )
        self._own_counts[role] = self._own_counts.get(role, 0) + 1
        for node in self_and_ancestors(role):
            self._subtree_counts[node] = self._subtree_counts.get(node, 0) + 1


def _reserved_quantities(total: PyResources) -> list[tuple[tuple[str, str], int]]:
    """((role, name), millis) for each reserved scalar of an agent's total."""
    return [
        ((entry.role, entry.name), entry.value)
        for entry in total.reserved().scalars()
        if entry.role is not None and isinstance(entry.value, int)
    ]
