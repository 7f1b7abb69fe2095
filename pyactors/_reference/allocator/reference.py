"""`ReferenceAllocator`: the public calls of the pure-Python allocator, the
same surface as `pyactors.core.allocator.Allocator` (the semantics are in the
package documentation)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pyactors._reference.allocator.checks import (
    as_resources,
    check_attributes,
    check_capabilities,
    check_conversion,
    check_id,
    check_roles,
    check_time,
    check_volumes,
)
from pyactors._reference.allocator.cycle import Cycle
from pyactors._reference.allocator.quantities import scalar_quantities
from pyactors._reference.allocator.records import Agent, Filter, Framework, Quota
from pyactors._reference.allocator.snapshot import snapshot
from pyactors._reference.allocator.state import AllocatorState
from pyactors._reference.resources import PyResources, format_millis, validate_role
from pyactors._reference.rng import SplitMix64
from pyactors.core.allocator import DEFAULT_MIN_ALLOCATABLE
from pyactors.core.offer import Offer
from pyactors.core.quota import QuotaArgument, quota_quantities
from pyactors.errors import (
    DuplicateError,
    InvalidArgumentError,
    UnknownAgentError,
    UnknownFrameworkError,
)

# Mesos caps refuse_seconds at a year; a longer filter is a mistake, not a wish.
MAX_REFUSE_SECONDS = 365 * 24 * 3600.0
SORTERS = ("drf", "random")


class ReferenceAllocator(AllocatorState):
    """Pure-Python twin of `pyactors.core.allocator.Allocator`; see the package doc."""

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
        self._last_cycle_visits = 0
        self._last_cycle_candidates = 0
        super().__init__(
            sorter,
            SplitMix64(seed),
            [scalar_quantities(PyResources.parse(text)) for text in (min_allocatable or ())],
            frozenset(fairness_exclude),
        )

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
        attrs = check_attributes(attributes)
        total = as_resources(total, "total")
        given = [
            (framework_id, role, as_resources(resources, "allocated resources"))
            for framework_id, by_role in (allocated or {}).items()
            for role, resources in by_role.items()
        ]
        check_id(agent_id, "agent id")
        if agent_id in self._agents:
            raise DuplicateError(f"agent '{agent_id}' is already registered")
        now = check_time(now, "now")
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
        agent = Agent(agent_id, total, attrs, now, total)
        self._agents[agent_id] = agent
        self._agent_tokens.register(agent_id)
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
        self._agent_tokens.unregister(agent_id)
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
        attrs = check_attributes(attributes) if attributes is not None else None
        if total is not None:
            total = as_resources(total, "total")
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
        start = check_time(start, "start")
        if duration is not None:
            duration = check_time(duration, "duration")
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
        check_id(framework_id, "framework id")
        if framework_id in self._frameworks:
            raise DuplicateError(f"framework '{framework_id}' is already registered")
        now = check_time(now, "now")
        role_list = check_roles(roles)
        caps = check_capabilities(capabilities)
        self._frameworks[framework_id] = Framework(
            framework_id, role_list, caps, now, active=bool(active)
        )
        self._framework_tokens.register(framework_id)

    def update_framework(
        self,
        framework_id: str,
        roles: Sequence[str] | None = None,
        capabilities: Iterable[str] | None = None,
    ) -> None:
        """Change a framework's roles or capabilities. A role it still holds
        allocations in cannot be dropped."""
        framework = self._framework(framework_id)
        role_list = check_roles(roles) if roles is not None else framework.roles
        caps = check_capabilities(capabilities) if capabilities is not None else None
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
        self._framework_tokens.unregister(framework_id)
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
            self._quotas[role] = Quota(wanted, cap)

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
        bundle = as_resources(resources, "resources")
        self._framework(framework_id)
        self._agent(agent_id)
        expires = _filter_expiry(refuse_seconds, now)
        held = self._resolve_recovery(framework_id, agent_id, role, bundle, {})
        if held is not None:
            self._apply_recovery(framework_id, agent_id, held, bundle, expires)

    def recover_many(
        self,
        recoveries: Iterable[tuple[str, str, str | None, Any]],
        refuse_seconds: float = 0.0,
        now: float | None = None,
    ) -> None:
        """`recover` on each (framework_id, agent_id, role, resources) item in
        order, with one refuse_seconds and now for all (a round's declines;
        an `Offer` is such an item). Every item is checked, against what the
        items before it leave, before any is applied: an error changes
        nothing and names the first item that fails."""
        items = [_recovery_item(item) for item in recoveries]
        expires = _filter_expiry(refuse_seconds, now)
        self._recover_batch(
            [
                (_named(framework_id, agent_id), role, bundle)
                for framework_id, agent_id, role, bundle in items
            ],
            expires,
        )

    def recover_many_by_token(
        self,
        recoveries: Iterable[tuple[int, int, str | None, Any]],
        refuse_seconds: float = 0.0,
        now: float | None = None,
    ) -> None:
        """`recover_many` with each item's framework and agent named by their
        tokens (`framework_token`, `agent_token`). A token whose registration
        ended fails its item as an unknown framework or agent."""
        items = [_token_recovery_item(item) for item in recoveries]
        expires = _filter_expiry(refuse_seconds, now)
        self._recover_batch(
            [(self._token_holder(f, a), role, bundle) for f, a, role, bundle in items], expires
        )

    def agent_token(self, agent_id: str) -> int:
        """The agent's token: valid while this registration lasts."""
        self._agent(agent_id)
        return self._agent_tokens.token(agent_id)

    def framework_token(self, framework_id: str) -> int:
        """The framework's token: valid while this registration lasts."""
        self._framework(framework_id)
        return self._framework_tokens.token(framework_id)

    def _token_holder(self, framework: int, agent: int) -> Callable[[], tuple[str, str]]:
        """The (framework id, agent id) two tokens name, looked up when the
        batch reaches their item: the framework first, as for ids."""

        def holder() -> tuple[str, str]:
            framework_id = self._framework_tokens.id_of(framework)
            if framework_id is None:
                raise UnknownFrameworkError(
                    f"framework token {framework} names no registered framework"
                )
            agent_id = self._agent_tokens.id_of(agent)
            if agent_id is None:
                raise UnknownAgentError(f"agent token {agent} names no registered agent")
            return framework_id, agent_id

        return holder

    def _recover_batch(
        self,
        items: Sequence[tuple[Callable[[], tuple[str, str]], str | None, PyResources]],
        expires: float | None,
    ) -> None:
        """Every item is checked, against what the items before it leave,
        before any is applied: an error changes nothing and names the first
        item that fails."""
        # What the earlier items leave of each (agent, framework, role) allocation.
        pending: dict[tuple[str, str, str], PyResources] = {}
        checked: list[tuple[str, str, str, PyResources]] = []
        for index, (holder, role, bundle) in enumerate(items):
            try:
                framework_id, agent_id = holder()
                held = self._resolve_recovery(framework_id, agent_id, role, bundle, pending)
            except (InvalidArgumentError, UnknownAgentError, UnknownFrameworkError) as error:
                raise type(error)(f"recovery {index}: {error}") from None
            if held is None:
                continue
            key = (agent_id, framework_id, held)
            before = self._held(pending, key)
            assert before is not None  # resolved: it holds the bundle
            pending[key] = before - bundle
            checked.append((framework_id, agent_id, held, bundle))
        for framework_id, agent_id, held, bundle in checked:
            self._apply_recovery(framework_id, agent_id, held, bundle, expires)

    def _held(
        self, pending: Mapping[tuple[str, str, str], PyResources], key: tuple[str, str, str]
    ) -> PyResources | None:
        """What (framework, role) holds on the agent once a batch's earlier
        items are taken out; key is (agent, framework, role)."""
        if key in pending:
            return pending[key]
        agent_id, framework_id, role = key
        return self._agents[agent_id].allocated.get((framework_id, role))

    def _resolve_recovery(
        self,
        framework_id: str,
        agent_id: str,
        role: str | None,
        bundle: PyResources,
        pending: Mapping[tuple[str, str, str], PyResources],
    ) -> str | None:
        """The role whose allocation a recovery comes out of; None when it
        returns nothing (empty resources)."""
        framework = self._framework(framework_id)
        self._agent(agent_id)
        if role is not None and role not in framework.roles:
            raise InvalidArgumentError(
                f"framework '{framework_id}' is not subscribed to role '{role}'"
            )
        if not bundle:
            return None
        for candidate in [role] if role is not None else sorted(framework.roles):
            held = self._held(pending, (agent_id, framework_id, candidate))
            if held is not None and bundle <= held:
                return candidate
        holdings = (
            (r, self._held(pending, (agent_id, f, r)))
            for f, r in self._agents[agent_id].allocated
            if f == framework_id
        )
        held_text = {r: str(bundle) for r, bundle in holdings if bundle}
        raise InvalidArgumentError(
            f"cannot recover {bundle}: framework '{framework_id}' holds "
            f"{held_text or 'nothing'} on agent '{agent_id}'"
        )

    def _apply_recovery(
        self,
        framework_id: str,
        agent_id: str,
        role: str,
        bundle: PyResources,
        expires: float | None,
    ) -> None:
        self._release(self._agents[agent_id], framework_id, role, bundle)
        if expires is not None:
            self._add_filter(
                self._frameworks[framework_id], agent_id, Filter(role, bundle, expires)
            )

    def update_allocation(
        self, framework_id: str, agent_id: str, role: str, consumed: Any, converted: Any
    ) -> None:
        """Apply a framework's RESERVE, UNRESERVE, CREATE or DESTROY: part of
        what it holds on the agent in `role` (`consumed`) becomes `converted`
        (see the package doc)."""
        consumed = as_resources(consumed, "consumed")
        converted = as_resources(converted, "converted")
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
        check_conversion(consumed, converted)
        kept = {entry.role for entry in consumed.reserved()}
        for entry in converted.reserved():
            if entry.role != role and entry.role not in kept:
                raise InvalidArgumentError(
                    f"framework '{framework_id}' holds these resources in role '{role}': it may "
                    f"reserve them for '{role}' only, not for '{entry.role}'"
                )
        check_volumes(agent, consumed, converted)
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
        reservations may be for any role (see the package doc)."""
        consumed = as_resources(consumed, "consumed")
        converted = as_resources(converted, "converted")
        if not isinstance(agent_id, str):
            raise TypeError(f"agent id must be a string, not {type(agent_id).__name__}")
        agent = self._agent(agent_id)
        if not consumed <= agent.available:
            raise InvalidArgumentError(
                f"cannot convert '{consumed}': agent '{agent_id}' has '{agent.available}' "
                "available; offered and allocated resources must be recovered first"
            )
        check_conversion(consumed, converted)
        check_volumes(agent, consumed, converted)
        total = agent.total - consumed + converted
        available = agent.available - consumed + converted
        self._set_total(agent, total)
        agent.available = available

    def allocate(self, now: float) -> list[Offer]:
        """Run one allocation cycle; see the package doc for the order of things."""
        now = check_time(now, "now")
        self._expire_filters(now)
        # Only agents with something available are candidates (the others
        # would be offered nothing): a cycle's work follows the agents whose
        # resources came back, not the cluster's size.
        candidates = [
            a
            for a in self._agents.values()
            if a.active and a.available and not a.unavailable_at(now)
        ]
        self._last_cycle_candidates = len(candidates)
        self._rng.shuffle(candidates)
        cycle = Cycle(self, now, candidates)
        self._last_cycle_visits = 0
        # Stage 1 lasts while a role in the order misses part of its
        # guarantee: a grant only adds to consumption, so once none does, no
        # visit of stage 1 can grant anything.
        if any(quota.guarantee for quota in self._quotas.values()):
            for agent in candidates:
                if not cycle.guarantee_unmet():
                    break
                if agent.available:
                    self._last_cycle_visits += 1
                    cycle.visit(agent, stage=1)
        # An agent emptied in stage 1 is passed over in stage 2.
        for agent in candidates:
            if agent.available:
                self._last_cycle_visits += 1
                cycle.visit(agent, stage=2)
        return cycle.offers()

    @property
    def last_cycle_visits(self) -> int:
        """Agents the last allocate() looked at, once per stage: those with
        something available when their turn came (stage 1 only while a
        guarantee is unmet)."""
        return self._last_cycle_visits

    @property
    def last_cycle_candidates(self) -> int:
        """Agents the last allocate() took into its shuffle: the active ones
        with something available, outside maintenance windows."""
        return self._last_cycle_candidates

    # ------------------------------------------------------------ state

    def shares(self) -> dict[tuple[str, str], float]:
        """(framework, role) -> the framework's dominant share in the role,
        as in the snapshot."""
        return {
            (framework_id, role): float(share)
            for framework_id, entry in self.snapshot()["frameworks"].items()
            for role, share in entry["shares"].items()
        }

    def snapshot(self) -> dict[str, Any]:
        """Everything the allocator knows, as plain sorted data. Both
        implementations produce the same document for the same history."""
        return snapshot(self)


def _filter_expiry(refuse_seconds: float, now: float | None) -> float | None:
    """When a recovery's filter expires: None without one (refuse_seconds 0)."""
    refuse = check_time(refuse_seconds, "refuse_seconds")
    if refuse < 0:
        raise InvalidArgumentError(f"refuse_seconds must not be negative, got {refuse}")
    refuse = min(refuse, MAX_REFUSE_SECONDS)
    if refuse <= 0:
        return None
    if now is None:
        raise InvalidArgumentError("now is required to set a filter")
    return check_time(now, "now") + refuse


def _named(framework_id: str, agent_id: str) -> Callable[[], tuple[str, str]]:
    return lambda: (framework_id, agent_id)


def _token_recovery_item(item: Any) -> tuple[int, int, str | None, PyResources]:
    """An item of `recover_many_by_token` checked as the Rust bindings
    convert it: tokens are unsigned 64-bit ints."""
    if not isinstance(item, tuple) or len(item) != 4:
        raise TypeError(f"a recovery must be a 4-tuple, not {type(item).__name__}")
    framework, agent, role, resources = item
    for value, what in ((framework, "framework token"), (agent, "agent token")):
        if not isinstance(value, int):
            raise TypeError(f"{what} must be an int, not {type(value).__name__}")
        if not 0 <= value < 1 << 64:
            raise OverflowError(f"{what} {value} is not an unsigned 64-bit int")
    if role is not None and not isinstance(role, str):
        raise TypeError(f"role must be a string or None, not {type(role).__name__}")
    return framework, agent, role, as_resources(resources, "resources")


def _recovery_item(item: Any) -> tuple[str, str, str | None, PyResources]:
    """An item of `recover_many` checked as the Rust bindings convert it."""
    if not isinstance(item, tuple) or len(item) != 4:
        raise TypeError(f"a recovery must be a 4-tuple, not {type(item).__name__}")
    framework_id, agent_id, role, resources = item
    bundle = as_resources(resources, "resources")
    for value, what in ((framework_id, "framework id"), (agent_id, "agent id")):
        if not isinstance(value, str):
            raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    if role is not None and not isinstance(role, str):
        raise TypeError(f"role must be a string or None, not {type(role).__name__}")
    return framework_id, agent_id, role, bundle
