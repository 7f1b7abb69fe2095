"""The reference allocator: the executable specification of the Rust core.

Plain, readable Python with no attention to speed. `pyactors.core.allocator.Allocator`
(Rust) must return exactly the offers this class returns for the same calls;
the differential tests drive both and compare after every step.

The model is Mesos's hierarchical allocator. One `allocate(now)` call is a
cycle over every agent that may be offered:

1. The candidate agents (registered, active, not inside an unavailability
   window at `now`) are taken in registration order and shuffled with the
   seeded SplitMix64 generator (Fisher-Yates). With the random sorter, the
   role order and each role's framework order are then drawn once for the
   cycle (see `_RandomOrder`).
2. Stage 1 serves quota guarantees; stage 2 offers everything else. Both walk
   the agents in the shuffled order; for each agent they take the role order
   at that moment, and for each role its framework order at that moment, and
   walk them as taken even if an allocation on this agent changes shares.
3. A framework visited for (agent, role) is offered
   `available.allocatable_to(role)` (unreserved resources and those reserved
   to the role or an ancestor), shaped by quota limits and the headroom kept
   for unsatisfied guarantees, unless: it is not offerable in that role
   (inactive, suppressed); the agent has GPUs and the framework lacks
   GPU_RESOURCES; it was already offered this agent in another role this
   cycle; the bundle is below the minimum allocatable resources; or one of its
   unexpired filters for (agent, role) holds a superset of the bundle.
4. Offered resources are allocated until recovered. Offers for the same
   (framework, agent, role) in both stages are merged into one bundle, listed
   where the first was made.

DRF order: among siblings of the role tree, and among a role's frameworks,
clients are ordered by weighted dominant share (largest fraction of a scalar
resource's cluster total, over names not excluded from fairness, divided by
the role's weight; frameworks have weight 1), then by how many allocations
they have received so far, then by name. A role that has frameworks of its
own and child roles takes part among its children as a virtual client named
"." holding only its own frameworks' allocation.

Quota: a role's consumption is what is reserved for it or its descendants on
any agent, plus the unreserved scalars allocated to them. Limits bound the
consumption of the role and of every ancestor; guarantees are served in stage
1, and the unreserved scalars still needed by the outermost roles with a
guarantee are held back from other roles in both stages (headroom).

Operations: RESERVE, UNRESERVE, CREATE and DESTROY (Mesos's offer operations,
and the operator's reserve/unreserve on unallocated resources) convert
resources in place: `consumed` becomes `converted`, which must hold the same
resources once reservations (role, principal) and volume ids are set aside
(the same scalar quantities, the same ranges, the same set items).
`update_allocation` converts part of what a framework holds on an agent in
one role; there a reservation may be made only for that role (reservations
already held, e.g. a parent role's, may be kept, say to create a volume on
them). `update_available` converts part of what an agent has available (not
offered nor allocated), for any role. A volume id may not be created twice on
an agent. The agent's total changes with the resources, so `available + Σ
allocated == total` still holds, the reservations count for quota at once,
and what is reserved is offered only to its role and that role's
descendants. Cluster totals and shares do not change: the quantities do not.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyactors._reference.resources import (
    PyResources,
    Resource,
    format_millis,
    is_ancestor_or_self,
    validate_role,
)
from pyactors._reference.rng import SplitMix64
from pyactors.core.offer import Offer
from pyactors.core.quota import QuotaArgument, quota_quantities
from pyactors.errors import (
    DuplicateError,
    InvalidArgumentError,
    ResourceError,
    UnknownAgentError,
    UnknownFrameworkError,
)

GPU_CAPABILITY = "GPU_RESOURCES"
DEFAULT_MIN_ALLOCATABLE = ("cpus:0.01", "mem:32")
# Mesos caps refuse_seconds at a year; a longer filter is a mistake, not a wish.
MAX_REFUSE_SECONDS = 365 * 24 * 3600.0
SORTERS = ("drf", "random")

Quantities = dict[str, int]  # scalar name -> millis; absent means zero


def _quantities(resources: PyResources) -> Quantities:
    return dict(resources.totals_millis())


def _add_q(a: Quantities, b: Mapping[str, int]) -> None:
    for name, millis in b.items():
        a[name] = a.get(name, 0) + millis


def _minus_q(a: Mapping[str, int], b: Mapping[str, int]) -> Quantities:
    """a - b per name, clamped at zero, zeros dropped."""
    out = {}
    for name, millis in a.items():
        left = millis - b.get(name, 0)
        if left > 0:
            out[name] = left
    return out


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


def _as_resources(value: Any, what: str) -> PyResources:
    if isinstance(value, PyResources):
        return value
    if isinstance(value, str):
        return PyResources.parse(value)
    if isinstance(value, Mapping):
        return PyResources.from_dict(dict(value))
    if hasattr(value, "to_json"):  # the Rust Resources
        return PyResources.parse(str(value))
    raise TypeError(f"{what} must be Resources, text or a dict, not {type(value).__name__}")


def _check_time(value: float, what: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value):
        raise InvalidArgumentError(f"{what} must be a finite number of seconds, got {value!r}")
    return float(value)


@dataclass
class _Agent:
    agent_id: str
    total: PyResources
    attributes: dict[str, str]
    registered_at: float
    available: PyResources
    # (framework_id, role) -> resources offered or allocated
    allocated: dict[tuple[str, str], PyResources] = field(default_factory=dict)
    active: bool = True
    unavailability: tuple[float, float | None] | None = None

    @property
    def has_gpus(self) -> bool:
        return self.total.scalar_millis("gpus") > 0

    def unavailable_at(self, now: float) -> bool:
        if self.unavailability is None:
            return False
        start, duration = self.unavailability
        return start <= now and (duration is None or now < start + duration)


@dataclass
class _Filter:
    role: str
    resources: PyResources
    expires: float


@dataclass
class _Framework:
    framework_id: str
    roles: list[str]
    capabilities: frozenset[str]
    registered_at: float
    active: bool = True
    suppressed: set[str] = field(default_factory=set)
    filters: dict[str, list[_Filter]] = field(default_factory=dict)  # by agent id

    def offerable_in(self, role: str) -> bool:
        return self.active and role not in self.suppressed


@dataclass
class _Quota:
    guarantee: Quantities
    limit: Quantities | None


class ReferenceAllocator:
    """Pure-Python twin of `pyactors.core.allocator.Allocator`; see the module doc."""

    def __init__(
        self,
        sorter: str = "drf",
        seed: int = 0,
        min_allocatable: Sequence[str] | None = DEFAULT_MIN_ALLOCATABLE,
        fairness_exclude: Iterable[str] = (),
    ) -> None:
        if sorter not in SORTERS:
            raise InvalidArgumentError(f"sorter must be one of {SORTERS}, not {sorter!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**64:
            raise InvalidArgumentError(f"seed must be an integer in [0, 2**64), got {seed!r}")
        self._sorter = sorter
        self._rng = SplitMix64(seed)
        self._min_allocatable = [
            _quantities(PyResources.parse(text)) for text in (min_allocatable or ())
        ]
        self._fairness_exclude = frozenset(fairness_exclude)
        self._agents: dict[str, _Agent] = {}
        self._frameworks: dict[str, _Framework] = {}
        self._weights: dict[str, float] = {}
        self._quotas: dict[str, _Quota] = {}
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

    # ---------------------------------------------------------------- agents

    def add_agent(
        self,
        agent_id: str,
        total: Any,
        now: float,
        attributes: Mapping[str, str] | None = None,
        allocated: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Register an agent. `allocated` (framework -> role -> resources) is
        what its running tasks already use, e.g. when it re-registers."""
        # As the Rust bindings do: types first, then resources, then the rest.
        attrs = _check_attributes(attributes)
        total = _as_resources(total, "total")
        given = [
            (framework_id, role, _as_resources(resources, "allocated resources"))
            for framework_id, by_role in (allocated or {}).items()
            for role, resources in by_role.items()
        ]
        _check_id(agent_id, "agent id")
        if agent_id in self._agents:
            raise DuplicateError(f"agent '{agent_id}' is already registered")
        now = _check_time(now, "now")
        used: dict[tuple[str, str], PyResources] = {}
        used_sum = PyResources()
        for framework_id, role, bundle in given:
            if role not in self._framework(framework_id).roles:
                raise InvalidArgumentError(
                    f"framework '{framework_id}' is not subscribed to role '{role}'"
                )
            if bundle:
                used[(framework_id, role)] = bundle
                used_sum = used_sum + bundle
        if not used_sum <= total:
            raise InvalidArgumentError(
                f"agent '{agent_id}': allocated {used_sum} does not fit in its total {total}"
            )
        agent = _Agent(agent_id, total, attrs, now, total)
        self._agents[agent_id] = agent
        self._account_total(total, 1)
        for (framework_id, role), bundle in used.items():
            self._hold(agent, framework_id, role, bundle, counted=False)

    def remove_agent(self, agent_id: str) -> None:
        """Forget an agent: its resources and every allocation on it leave the
        cluster, and filters that name it are dropped."""
        agent = self._agent(agent_id)
        for (framework_id, role), bundle in list(agent.allocated.items()):
            self._release(agent, framework_id, role, bundle)
        self._account_total(agent.total, -1)
        del self._agents[agent_id]
        for framework in self._frameworks.values():
            framework.filters.pop(agent_id, None)

    def activate_agent(self, agent_id: str) -> None:
        self._agent(agent_id).active = True

    def deactivate_agent(self, agent_id: str) -> None:
        """No offers from this agent until activated; allocations stay."""
        self._agent(agent_id).active = False

    def update_agent(
        self,
        agent_id: str,
        total: Any = None,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        """Change an agent's total (it must still hold what is allocated) or
        attributes."""
        attrs = _check_attributes(attributes) if attributes is not None else None
        if total is not None:
            total = _as_resources(total, "total")
        agent = self._agent(agent_id)
        if total is not None:
            in_use = agent.total - agent.available
            if not in_use <= total:
                raise InvalidArgumentError(
                    f"agent '{agent_id}': new total {total} does not hold the allocated {in_use}"
                )
            self._account_total(agent.total, -1)
            self._account_total(total, 1)
            agent.total = total
            agent.available = total - in_use
        if attrs is not None:
            agent.attributes = attrs

    def set_unavailability(
        self, agent_id: str, start: float | None, duration: float | None = None
    ) -> None:
        """Maintenance: no offers from the agent while start <= now < start +
        duration (forever after start when duration is None). start=None clears."""
        agent = self._agent(agent_id)
        if start is None:
            agent.unavailability = None
            return
        start = _check_time(start, "start")
        if duration is not None:
            duration = _check_time(duration, "duration")
            if duration < 0:
                raise InvalidArgumentError(f"duration must not be negative, got {duration}")
        agent.unavailability = (start, duration)

    # ------------------------------------------------------------ frameworks

    def add_framework(
        self,
        framework_id: str,
        roles: Sequence[str],
        now: float,
        capabilities: Iterable[str] = (),
        active: bool = True,
    ) -> None:
        _check_id(framework_id, "framework id")
        if framework_id in self._frameworks:
            raise DuplicateError(f"framework '{framework_id}' is already registered")
        now = _check_time(now, "now")
        role_list = _check_roles(roles)
        caps = _check_capabilities(capabilities)
        self._frameworks[framework_id] = _Framework(
            framework_id, role_list, caps, now, active=bool(active)
        )

    def update_framework(
        self,
        framework_id: str,
        roles: Sequence[str] | None = None,
        capabilities: Iterable[str] | None = None,
    ) -> None:
        """Change a framework's roles or capabilities. A role it still holds
        allocations in cannot be dropped."""
        framework = self._framework(framework_id)
        role_list = _check_roles(roles) if roles is not None else framework.roles
        caps = _check_capabilities(capabilities) if capabilities is not None else None
        for dropped in set(framework.roles) - set(role_list):
            for agent in self._agents.values():
                if (framework_id, dropped) in agent.allocated:
                    raise InvalidArgumentError(
                        f"framework '{framework_id}' still holds resources in role "
                        f"'{dropped}' on agent '{agent.agent_id}'; recover them first"
                    )
        for dropped in set(framework.roles) - set(role_list):
            framework.suppressed.discard(dropped)
            self._framework_counts.pop((dropped, framework_id), None)
            for filters in framework.filters.values():
                filters[:] = [f for f in filters if f.role != dropped]
        framework.roles = role_list
        if caps is not None:
            framework.capabilities = caps

    def remove_framework(self, framework_id: str) -> None:
        """Forget a framework; everything allocated to it returns to its agents."""
        self._framework(framework_id)
        for agent in self._agents.values():
            for (holder, role), bundle in list(agent.allocated.items()):
                if holder == framework_id:
                    self._release(agent, framework_id, role, bundle)
        del self._frameworks[framework_id]
        for key in [k for k in self._framework_counts if k[1] == framework_id]:
            del self._framework_counts[key]

    def activate_framework(self, framework_id: str) -> None:
        self._framework(framework_id).active = True

    def deactivate_framework(self, framework_id: str) -> None:
        """No offers to this framework until activated; allocations and filters stay."""
        self._framework(framework_id).active = False

    def suppress(self, framework_id: str, roles: Sequence[str] | None = None) -> None:
        """Stop offers to the framework in these roles (all when None) until revived."""
        framework = self._framework(framework_id)
        framework.suppressed |= set(self._framework_roles(framework, roles))

    def revive(self, framework_id: str, roles: Sequence[str] | None = None) -> None:
        """Resume offers in these roles (all when None) and clear their filters."""
        framework = self._framework(framework_id)
        chosen = set(self._framework_roles(framework, roles))
        framework.suppressed -= chosen
        for agent_id in list(framework.filters):
            kept = [f for f in framework.filters[agent_id] if f.role not in chosen]
            if kept:
                framework.filters[agent_id] = kept
            else:
                del framework.filters[agent_id]

    # ------------------------------------------------------------ roles

    def set_weight(self, role: str, weight: float) -> None:
        validate_role(role)
        if not isinstance(weight, int | float) or isinstance(weight, bool):
            raise TypeError(f"weight must be a number, not {type(weight).__name__}")
        if not math.isfinite(weight) or weight <= 0:
            raise InvalidArgumentError(
                f"weight of '{role}' must be a positive number, got {weight}"
            )
        self._weights[role] = float(weight)

    def set_quota(
        self,
        role: str,
        guarantee: QuotaArgument | None = None,
        limit: QuotaArgument | None = None,
    ) -> None:
        """Guarantee (served first) and limit (never exceeded) for a role's
        subtree, as unreserved scalar quantities (see `pyactors.core.quota`). An
        empty guarantee with no limit removes the quota."""
        validate_role(role)
        if role == "*":
            raise InvalidArgumentError("quota cannot be set on the role '*'")
        wanted = {n: m for n, m in quota_quantities(guarantee, "guarantee").items() if m}
        cap = None if limit is None else quota_quantities(limit, "limit")
        if cap is not None:
            for name, millis in wanted.items():
                if name in cap and cap[name] < millis:
                    raise InvalidArgumentError(
                        f"quota of '{role}': limit {name}:{format_millis(cap[name])} is below "
                        f"the guarantee {name}:{format_millis(millis)}"
                    )
        if not wanted and cap is None:
            self._quotas.pop(role, None)
        else:
            self._quotas[role] = _Quota(wanted, cap)

    # ------------------------------------------------------------ offers

    def recover(
        self,
        framework_id: str,
        agent_id: str,
        resources: Any,
        refuse_seconds: float = 0.0,
        now: float | None = None,
        role: str | None = None,
    ) -> None:
        """Return resources a framework declined or a task released. With
        refuse_seconds > 0 the framework is not offered a subset of them on this
        agent in this role until now + refuse_seconds. Without `role` the role
        is the first (by name) whose allocation there holds the resources."""
        bundle = _as_resources(resources, "resources")
        framework = self._framework(framework_id)
        agent = self._agent(agent_id)
        refuse = _check_time(refuse_seconds, "refuse_seconds")
        if refuse < 0:
            raise InvalidArgumentError(f"refuse_seconds must not be negative, got {refuse}")
        refuse = min(refuse, MAX_REFUSE_SECONDS)
        if refuse > 0:
            if now is None:
                raise InvalidArgumentError("now is required to set a filter")
            now = _check_time(now, "now")
        if role is not None and role not in framework.roles:
            raise InvalidArgumentError(
                f"framework '{framework_id}' is not subscribed to role '{role}'"
            )
        if not bundle:
            return
        candidates = [role] if role is not None else sorted(framework.roles)
        for candidate in candidates:
            held = agent.allocated.get((framework_id, candidate))
            if held is not None and bundle <= held:
                break
        else:
            held_text = {
                r: str(r_res) for (f, r), r_res in agent.allocated.items() if f == framework_id
            }
            raise InvalidArgumentError(
                f"cannot recover {bundle}: framework '{framework_id}' holds "
                f"{held_text or 'nothing'} on agent '{agent_id}'"
            )
        self._release(agent, framework_id, candidate, bundle)
        if refuse > 0:
            assert now is not None
            self._add_filter(framework, agent_id, _Filter(candidate, bundle, now + refuse))

    def update_allocation(
        self, framework_id: str, agent_id: str, role: str, consumed: Any, converted: Any
    ) -> None:
        """Apply a framework's RESERVE, UNRESERVE, CREATE or DESTROY: part of
        what it holds on the agent in `role` (`consumed`) becomes `converted`
        (see the module doc)."""
        consumed = _as_resources(consumed, "consumed")
        converted = _as_resources(converted, "converted")
        for value, what in ((framework_id, "framework id"), (agent_id, "agent id"), (role, "role")):
            if not isinstance(value, str):
                raise TypeError(f"{what} must be a string, not {type(value).__name__}")
        framework = self._framework(framework_id)
        agent = self._agent(agent_id)
        if role not in framework.roles:
            raise InvalidArgumentError(
                f"framework '{framework_id}' is not subscribed to role '{role}'"
            )
        key = (framework_id, role)
        held = agent.allocated.get(key, PyResources())
        if not consumed <= held:
            raise InvalidArgumentError(
                f"cannot convert '{consumed}': framework '{framework_id}' holds '{held}' in role "
                f"'{role}' on agent '{agent_id}'"
            )
        _check_conversion(consumed, converted)
        kept = {entry.role for entry in consumed.reserved()}
        for entry in converted.reserved():
            if entry.role != role and entry.role not in kept:
                raise InvalidArgumentError(
                    f"framework '{framework_id}' holds these resources in role '{role}': it may "
                    f"reserve them for '{role}' only, not for '{entry.role}'"
                )
        _check_volumes(agent, consumed, converted)
        total = agent.total - consumed + converted
        allocation = held - consumed + converted
        if not consumed:
            return
        self._set_total(agent, total)
        agent.allocated[key] = allocation
        self._tally(framework_id, role, consumed, -1)
        self._tally(framework_id, role, converted, 1)

    def update_available(self, agent_id: str, consumed: Any, converted: Any) -> None:
        """Apply an operator's reserve, unreserve, create or destroy to part of
        what the agent has available (`consumed`), which becomes `converted`;
        reservations may be for any role (see the module doc)."""
        consumed = _as_resources(consumed, "consumed")
        converted = _as_resources(converted, "converted")
        if not isinstance(agent_id, str):
            raise TypeError(f"agent id must be a string, not {type(agent_id).__name__}")
        agent = self._agent(agent_id)
        if not consumed <= agent.available:
            raise InvalidArgumentError(
                f"cannot convert '{consumed}': agent '{agent_id}' has '{agent.available}' "
                "available; offered and allocated resources must be recovered first"
            )
        _check_conversion(consumed, converted)
        _check_volumes(agent, consumed, converted)
        total = agent.total - consumed + converted
        available = agent.available - consumed + converted
        self._set_total(agent, total)
        agent.available = available

    def allocate(self, now: float) -> list[Offer]:
        """Run one allocation cycle; see the module doc for the order of things."""
        now = _check_time(now, "now")
        self._expire_filters(now)
        candidates = [a for a in self._agents.values() if a.active and not a.unavailable_at(now)]
        self._rng.shuffle(candidates)
        cycle = _Cycle(self, now, candidates)
        if any(quota.guarantee for quota in self._quotas.values()):
            for agent in candidates:
                cycle.visit(agent, stage=1)
        for agent in candidates:
            cycle.visit(agent, stage=2)
        return cycle.offers()

    # ------------------------------------------------------------ state

    def snapshot(self) -> dict[str, Any]:
        """Everything the allocator knows, as plain sorted data. Both
        implementations produce the same document for the same history."""
        totals = self._totals
        agents = {}
        for agent_id in sorted(self._agents):
            agent = self._agents[agent_id]
            by_framework: dict[str, dict[str, str]] = {}
            for (framework_id, role), bundle in sorted(agent.allocated.items()):
                by_framework.setdefault(framework_id, {})[role] = str(bundle)
            agents[agent_id] = {
                "total": str(agent.total),
                "available": str(agent.available),
                "allocated": by_framework,
                "active": agent.active,
                "attributes": dict(sorted(agent.attributes.items())),
                "unavailability": None
                if agent.unavailability is None
                else {"start": agent.unavailability[0], "duration": agent.unavailability[1]},
                "registered_at": agent.registered_at,
            }
        frameworks = {}
        for framework_id in sorted(self._frameworks):
            framework = self._frameworks[framework_id]
            allocated = {
                role: _floats(self._allocations.get((framework_id, role), {}))
                for role in sorted(framework.roles)
            }
            frameworks[framework_id] = {
                "roles": list(framework.roles),
                "active": framework.active,
                "suppressed_roles": sorted(framework.suppressed),
                "capabilities": sorted(framework.capabilities),
                "allocated": allocated,
                "shares": {
                    role: self._share(self._allocations.get((framework_id, role), {}), 1.0, totals)
                    for role in sorted(framework.roles)
                },
                "filters": sorted(
                    (
                        {
                            "agent": agent_id,
                            "role": f.role,
                            "resources": str(f.resources),
                            "expires": f.expires,
                        }
                        for agent_id, filters in framework.filters.items()
                        for f in filters
                    ),
                    key=lambda d: (d["agent"], d["role"], d["resources"], d["expires"]),
                ),
                "registered_at": framework.registered_at,
            }
        roles = {}
        for role in sorted(self._known_roles()):
            quota = self._quotas.get(role)
            roles[role] = {
                "weight": self._weights.get(role, 1.0),
                "guarantee": _floats(quota.guarantee) if quota else {},
                "limit": {n: m / 1000 for n, m in sorted(quota.limit.items())}
                if quota and quota.limit is not None
                else None,
                "allocated": _floats(self._subtree(self._role_allocations, role)),
                "consumed_quota": _floats(self._consumed(role)),
                "share": self._share(
                    self._subtree(self._role_allocations, role), self._weight(role), totals
                ),
                "frameworks": sorted(f for f, fw in self._frameworks.items() if role in fw.roles),
            }
        return {
            "sorter": self._sorter,
            "total": _floats(totals),
            "allocated": _floats(self._subtree(self._role_allocations, None)),
            "agents": agents,
            "frameworks": frameworks,
            "roles": roles,
        }

    # ------------------------------------------------------------ internals

    def _agent(self, agent_id: str) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgentError(f"unknown agent '{agent_id}'")
        return agent

    def _framework(self, framework_id: str) -> _Framework:
        framework = self._frameworks.get(framework_id)
        if framework is None:
            raise UnknownFrameworkError(f"unknown framework '{framework_id}'")
        return framework

    @staticmethod
    def _framework_roles(framework: _Framework, roles: Sequence[str] | None) -> list[str]:
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

    def _add_filter(self, framework: _Framework, agent_id: str, new: _Filter) -> None:
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
        self, framework: _Framework, agent_id: str, role: str, bundle: PyResources, now: float
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
        self, agent: _Agent, framework_id: str, role: str, bundle: PyResources, counted: bool
    ) -> None:
        """Move `bundle` from the agent's available part to the framework's
        allocation in `role`; `counted` adds one to the DRF counters."""
        agent.available = agent.available - bundle
        key = (framework_id, role)
        agent.allocated[key] = agent.allocated[key] + bundle if key in agent.allocated else bundle
        self._tally(framework_id, role, bundle, 1)
        if counted:
            self._record_allocation(framework_id, role)

    def _release(self, agent: _Agent, framework_id: str, role: str, bundle: PyResources) -> None:
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
        scalars = {n: sign * m for n, m in _quantities(bundle).items()}
        unreserved = {n: sign * m for n, m in _quantities(bundle.unreserved()).items()}
        _add_q(self._allocations.setdefault((framework_id, role), {}), scalars)
        _add_q(self._role_allocations.setdefault(role, {}), scalars)
        _add_q(self._role_unreserved.setdefault(role, {}), unreserved)

    def _account_total(self, total: PyResources, sign: int) -> None:
        """Add (1) or remove (-1) an agent's total from the cluster totals and
        its reservations from the roles' quota consumption."""
        _add_q(self._totals, {n: sign * m for n, m in _quantities(total).items()})
        for (role, name), millis in _reserved_quantities(total):
            _add_q(self._role_reserved.setdefault(role, {}), {name: sign * millis})

    def _set_total(self, agent: _Agent, total: PyResources) -> None:
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
                _add_q(out, quantities)
        return out

    def _consumed(self, role: str) -> Quantities:
        """Quota consumption: reservations for the subtree plus its unreserved
        scalar allocations."""
        out = self._subtree(self._role_reserved, role)
        _add_q(out, self._subtree(self._role_unreserved, role))
        return out

    def _known_roles(self) -> set[str]:
        roles: set[str] = set(self._weights) | set(self._quotas)
        for framework in self._frameworks.values():
            roles.update(framework.roles)
        roles.update(r for r, held in self._role_reserved.items() if any(held.values()))
        with_ancestors = set()
        for role in roles:
            with_ancestors.update(_self_and_ancestors(role))
        return with_ancestors

    def _limit_room(self, role: str) -> Quantities | None:
        """How much more unreserved scalar each name may take without breaking
        the limit of the role or an ancestor; None when nothing limits it."""
        room: Quantities | None = None
        for ancestor in _self_and_ancestors(role):
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
            if any(self._guarantee(a) for a in _self_and_ancestors(role)[1:]):
                continue
            _add_q(required, _minus_q(quota.guarantee, self._consumed(role)))
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
        for node in _self_and_ancestors(role):
            self._subtree_counts[node] = self._subtree_counts.get(node, 0) + 1


class _RoleTree:
    """The roles that have offerable frameworks, with their ancestors, as
    parent (None = root) -> children."""

    def __init__(self, members: Mapping[str, list[str]]) -> None:
        self.children: dict[str | None, list[str]] = {}
        self.has_own = set(members)
        seen: set[str] = set()
        for role in members:
            for node in _self_and_ancestors(role):
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


class _Cycle:
    """The bookkeeping of one allocate() call. Which frameworks are offerable
    cannot change during a cycle, so the role tree and members are taken once."""

    def __init__(self, allocator: ReferenceAllocator, now: float, candidates: list[_Agent]) -> None:
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
            _add_q(self.available_headroom, _quantities(agent.available.unreserved().scalars()))

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

    def visit(self, agent: _Agent, stage: int) -> None:
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
        self, agent: _Agent, role: str, stage: int
    ) -> tuple[PyResources, Quantities] | None:
        """The bundle `role` may be offered on `agent` now and how much it adds
        to the role's quota consumption; None when the role can take nothing
        there in this stage (guarantee met, nothing allocatable, cut down to
        nothing by limits or headroom)."""
        allocator = self.allocator
        unsatisfied = None
        if stage == 1:
            unsatisfied = _minus_q(allocator._guarantee(role), allocator._consumed(role))
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
                taken = _quantities(guaranteed)
                room = {n: max(0, m - taken.get(n, 0)) for n, m in room.items()}
        additional = _shrink_limits(quota_scalars - guaranteed, room)
        required = self.allocator._required_headroom()
        if required and additional:
            additional = _shrink_to(additional, _minus_q(self.available_headroom, required))
        increase = _quantities(guaranteed)
        _add_q(increase, _quantities(additional))
        return always + guaranteed + additional, increase

    def _allocate(
        self,
        agent: _Agent,
        framework_id: str,
        role: str,
        bundle: PyResources,
        quota_increase: Quantities,
    ) -> None:
        self.allocator._hold(agent, framework_id, role, bundle, counted=True)
        self.available_headroom = _minus_q(self.available_headroom, quota_increase)
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


def _self_and_ancestors(role: str) -> list[str]:
    parts = role.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _reserved_quantities(total: PyResources) -> list[tuple[tuple[str, str], int]]:
    """((role, name), millis) for each reserved scalar of an agent's total."""
    return [
        ((entry.role, entry.name), entry.value)
        for entry in total.reserved().scalars()
        if entry.role is not None and isinstance(entry.value, int)
    ]


def _stripped(bundle: PyResources) -> PyResources:
    """The bundle without reservations and volume ids: what an operation keeps."""
    try:
        return PyResources.from_entries(Resource(e.name, None, None, None, e.value) for e in bundle)
    except ResourceError as err:
        raise ResourceError(f"{err} in '{bundle}' without its reservations and volumes") from None


def _check_conversion(consumed: PyResources, converted: PyResources) -> None:
    before, after = _stripped(consumed), _stripped(converted)
    if before != after:
        raise InvalidArgumentError(
            f"cannot convert '{consumed}' into '{converted}': an operation changes only "
            f"reservations and volumes, and '{before}' is not '{after}'"
        )


def _check_volumes(agent: _Agent, consumed: PyResources, converted: PyResources) -> None:
    """Two volumes with one id on an agent would merge into one."""
    released = {entry.volume for entry in consumed if entry.volume is not None}
    existing = {entry.volume for entry in agent.total if entry.volume is not None}
    for entry in converted:
        if entry.volume in existing and entry.volume not in released:
            raise InvalidArgumentError(
                f"volume '{entry.volume}' already exists on agent '{agent.agent_id}'"
            )


def _floats(quantities: Mapping[str, int]) -> dict[str, float]:
    return {name: quantities[name] / 1000 for name in sorted(quantities) if quantities[name]}


def _check_id(value: Any, what: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    if not value or len(value.encode()) > 256:
        raise InvalidArgumentError(
            f"{what} must be a non-empty string of at most 256 bytes, got '{value}'"
        )


def _check_roles(roles: Any) -> list[str]:
    if isinstance(roles, str) or not isinstance(roles, Sequence):
        raise TypeError("roles must be a list of role names")
    if not roles:
        raise InvalidArgumentError("roles must be a non-empty list of role names, got []")
    seen: list[str] = []
    for role in roles:
        if not isinstance(role, str):
            raise TypeError(f"role must be a string, not {type(role).__name__}")
        validate_role(role)
        if role in seen:
            raise InvalidArgumentError(f"role '{role}' is listed twice")
        seen.append(role)
    return seen


def _check_capabilities(capabilities: Any) -> frozenset[str]:
    if isinstance(capabilities, str):
        raise TypeError("capabilities must be a collection of names, not a string")
    caps = frozenset(capabilities)
    for cap in caps:
        if not isinstance(cap, str):
            raise TypeError(f"capability must be a string, not {type(cap).__name__}")
        if not cap:
            raise InvalidArgumentError("capability must be a non-empty string")
    return caps


def _check_attributes(attributes: Mapping[str, str] | None) -> dict[str, str]:
    attrs = dict(attributes or {})
    for key, value in attrs.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"attributes must map strings to strings, got {key!r}: {value!r}")
    return attrs
