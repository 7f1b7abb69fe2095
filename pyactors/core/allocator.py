"""The allocator: which framework is offered which agent's resources.

`Allocator` is the Rust core (`pyactors._core.Allocator`) behind a typed
facade. Its pure-Python twin and executable specification,
`ReferenceAllocator` (`pyactors._reference.allocator`, whose package
documentation states the semantics), is a test oracle that production never
imports; it has this surface and returns the same offers.

Time is always an argument (`now`, in seconds on any monotonic scale the
caller chooses); randomness comes only from `seed`. Calls that get bad input
raise a `pyactors.errors` exception (or `TypeError` for a wrong type) and
change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from pyactors import _core
from pyactors._core import Resources
from pyactors.core.offer import Offer
from pyactors.core.quota import QuotaArgument, quota_quantities

ResourcesArgument = Resources | str | Mapping[str, Any]
# One item of `recover_many`: (framework_id, agent_id, role or None, resources),
# the shape of an `Offer`; the resources as Resources, text or a dict.
Recovery = tuple[str, str, str | None, Resources | str | dict[str, Any]]
# One item of `recover_many_by_token`: a `Recovery` with the framework's and
# the agent's tokens (`framework_token`, `agent_token`) in place of their ids.
TokenRecovery = tuple[int, int, str | None, Resources | str | dict[str, Any]]

__all__ = ["DEFAULT_MIN_ALLOCATABLE", "Allocator", "Offer", "Recovery", "TokenRecovery"]

# Mesos's default minimum allocatable resources: a bundle that holds neither
# this many cpus nor this much memory is not worth an offer.
DEFAULT_MIN_ALLOCATABLE = ("cpus:0.01", "mem:32")


class Allocator:
    """Mesos's hierarchical DRF allocator, in Rust.

    sorter: "drf" (weighted Dominant Resource Fairness) or "random".
    seed: drives the agent shuffle of each cycle and the random sorter.
    min_allocatable: a bundle is offered only if it holds all of one of these
        (default: cpus:0.01 or mem:32); empty offers any non-empty bundle.
    fairness_exclude: scalar names ignored when computing shares (e.g. gpus).
    """

    __slots__ = ("_core",)

    def __init__(
        self,
        sorter: str = "drf",
        seed: int = 0,
        min_allocatable: Sequence[str] | None = DEFAULT_MIN_ALLOCATABLE,
        fairness_exclude: Iterable[str] = (),
    ) -> None:
        self._core = _core.Allocator(
            sorter, seed, list(min_allocatable or ()), list(fairness_exclude)
        )

    # agents

    def add_agent(
        self,
        agent_id: str,
        total: ResourcesArgument,
        now: float,
        attributes: Mapping[str, str] | None = None,
        allocated: Mapping[str, Mapping[str, ResourcesArgument]] | None = None,
    ) -> None:
        """Register an agent. `allocated` (framework -> role -> resources) is
        what its running tasks already use, e.g. when it re-registers."""
        used = [
            (framework_id, role, _resources(resources))
            for framework_id, by_role in (allocated or {}).items()
            for role, resources in by_role.items()
        ]
        self._core.add_agent(agent_id, _resources(total), now, dict(attributes or {}), used)

    def remove_agent(self, agent_id: str) -> None:
        """Forget an agent with every allocation on it and the filters naming it."""
        self._core.remove_agent(agent_id)

    def activate_agent(self, agent_id: str) -> None:
        self._core.activate_agent(agent_id)

    def deactivate_agent(self, agent_id: str) -> None:
        """No offers from this agent until activated; allocations stay."""
        self._core.deactivate_agent(agent_id)

    def update_agent(
        self,
        agent_id: str,
        total: ResourcesArgument | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        """Change an agent's total (it must still hold what is allocated) or
        attributes."""
        self._core.update_agent(
            agent_id,
            None if total is None else _resources(total),
            None if attributes is None else dict(attributes),
        )

    def set_unavailability(
        self, agent_id: str, start: float | None, duration: float | None = None
    ) -> None:
        """Maintenance: no offers while start <= now < start + duration
        (forever after start when duration is None); start=None clears it."""
        self._core.set_unavailability(agent_id, start, duration)

    # frameworks

    def add_framework(
        self,
        framework_id: str,
        roles: Sequence[str],
        now: float,
        capabilities: Iterable[str] = (),
        active: bool = True,
    ) -> None:
        self._core.add_framework(framework_id, _role_list(roles), now, _names(capabilities), active)

    def update_framework(
        self,
        framework_id: str,
        roles: Sequence[str] | None = None,
        capabilities: Iterable[str] | None = None,
    ) -> None:
        """Change roles (one it still holds resources in cannot be dropped) or
        capabilities."""
        self._core.update_framework(
            framework_id,
            None if roles is None else _role_list(roles),
            None if capabilities is None else _names(capabilities),
        )

    def remove_framework(self, framework_id: str) -> None:
        """Forget a framework; everything allocated to it returns to its agents."""
        self._core.remove_framework(framework_id)

    def activate_framework(self, framework_id: str) -> None:
        self._core.activate_framework(framework_id)

    def deactivate_framework(self, framework_id: str) -> None:
        """No offers until activated; allocations and filters stay."""
        self._core.deactivate_framework(framework_id)

    def suppress(self, framework_id: str, roles: Sequence[str] | None = None) -> None:
        """Stop offers in these roles (all when None) until revived."""
        self._core.suppress(framework_id, None if roles is None else _role_list(roles))

    def revive(self, framework_id: str, roles: Sequence[str] | None = None) -> None:
        """Resume offers in these roles (all when None) and clear their filters."""
        self._core.revive(framework_id, None if roles is None else _role_list(roles))

    # roles

    def set_weight(self, role: str, weight: float) -> None:
        self._core.set_weight(role, weight)

    def set_quota(
        self,
        role: str,
        guarantee: QuotaArgument | None = None,
        limit: QuotaArgument | None = None,
    ) -> None:
        """Guarantee (served first) and limit (never exceeded) for the role's
        subtree; an empty guarantee and no limit removes the quota."""
        self._core.set_quota(
            role,
            list(quota_quantities(guarantee, "guarantee").items()),
            None if limit is None else list(quota_quantities(limit, "limit").items()),
        )

    # offers

    def recover(
        self,
        framework_id: str,
        agent_id: str,
        resources: ResourcesArgument,
        refuse_seconds: float = 0.0,
        now: float | None = None,
        role: str | None = None,
    ) -> None:
        """Return declined or released resources. refuse_seconds > 0 filters a
        subset of them from this framework on this agent and role until
        now + refuse_seconds. Without `role`, the first role (by name) whose
        allocation there holds them."""
        self._core.recover(framework_id, agent_id, _resources(resources), refuse_seconds, now, role)

    def recover_many(
        self,
        recoveries: Iterable[Recovery],
        refuse_seconds: float = 0.0,
        now: float | None = None,
    ) -> None:
        """`recover` on each (framework_id, agent_id, role, resources) item, in
        order, as one call with one refuse_seconds and now for all: a round's
        declines (an `Offer` is such an item; role None picks as `recover`
        does). The whole batch is checked before any of it is applied, so an
        error changes nothing; it names the first item that fails. The core
        works with the GIL released and borrows the items' `Resources`."""
        items = recoveries if isinstance(recoveries, list) else list(recoveries)
        self._core.recover_many(items, refuse_seconds, now)

    def recover_many_by_token(
        self,
        recoveries: Iterable[TokenRecovery],
        refuse_seconds: float = 0.0,
        now: float | None = None,
    ) -> None:
        """`recover_many` with each item's framework and agent named by their
        tokens (`framework_token`, `agent_token`), as a caller that keeps
        them with its records can: the core then hashes and compares no id,
        which is most of a large batch's cost. A token whose registration
        ended fails its item as an unknown framework or agent; otherwise the
        same results and errors as `recover_many`."""
        items = recoveries if isinstance(recoveries, list) else list(recoveries)
        self._core.recover_many_by_token(items, refuse_seconds, now)

    def agent_token(self, agent_id: str) -> int:
        """The agent's token for `recover_many_by_token`: valid while this
        registration lasts (a later one of the same id gets another)."""
        return self._core.agent_token(agent_id)

    def framework_token(self, framework_id: str) -> int:
        """The framework's token for `recover_many_by_token`: valid while
        this registration lasts (a later one of the same id gets another)."""
        return self._core.framework_token(framework_id)

    def update_allocation(
        self,
        framework_id: str,
        agent_id: str,
        role: str,
        consumed: ResourcesArgument,
        converted: ResourcesArgument,
    ) -> None:
        """Apply a framework's RESERVE, UNRESERVE, CREATE or DESTROY: `consumed`,
        part of what it holds on the agent in `role`, becomes `converted`, the
        same resources with other reservations or volume ids. It may reserve
        only for `role`; the agent's total changes alike."""
        self._core.update_allocation(
            framework_id, agent_id, role, _resources(consumed), _resources(converted)
        )

    def update_available(
        self, agent_id: str, consumed: ResourcesArgument, converted: ResourcesArgument
    ) -> None:
        """The operator's reserve, unreserve, create or destroy: `consumed`,
        part of what the agent has available (neither offered nor allocated),
        becomes `converted`, reserved for any role."""
        self._core.update_available(agent_id, _resources(consumed), _resources(converted))

    def allocate(self, now: float) -> list[Offer]:
        """Run one allocation cycle (the GIL is released meanwhile)."""
        return list(map(Offer._make, self._core.allocate(now)))

    @property
    def last_cycle_visits(self) -> int:
        """Agents the last allocate() looked at, once per stage: those with
        something available."""
        return self._core.last_cycle_visits

    @property
    def last_cycle_candidates(self) -> int:
        """Agents the last allocate() took into its shuffle: the active ones
        with something available, outside maintenance windows. Idle agents
        (everything offered or allocated) are not among them: they cost a
        cycle nothing."""
        return self._core.last_cycle_candidates

    @property
    def last_cycle_seconds(self) -> float:
        """Wall time of the last allocate() inside the Rust core, without
        turning its offers into Python objects (Mesos's allocation_run_ms)."""
        return self._core.last_cycle_seconds

    def shares(self) -> dict[tuple[str, str], float]:
        """(framework, role) -> the framework's dominant share in the role:
        the snapshot's shares, at a cost that does not grow with the agents
        (the master samples them on its loop)."""
        return {(framework, role): share for framework, role, share in self._core.shares()}

    def snapshot(self) -> dict[str, Any]:
        """Roles, shares, allocations and filters as plain sorted data."""
        snapshot: dict[str, Any] = orjson.loads(self._core.snapshot_json())
        return snapshot

    def snapshot_json(self) -> str:
        """`snapshot()`'s JSON text, for a reader that parses it elsewhere
        (the HTTP state does, off the master's loop)."""
        return self._core.snapshot_json()


def _resources(value: ResourcesArgument) -> Resources | str | dict[str, Any]:
    """The core takes a real dict for the dict form; any mapping will do here."""
    if isinstance(value, Mapping) and not isinstance(value, dict):
        return dict(value)
    return value


def _role_list(roles: Sequence[str]) -> list[str]:
    if isinstance(roles, str):
        raise TypeError("roles must be a list of role names, not a string")
    return list(roles)


def _names(values: Iterable[str]) -> list[str]:
    if isinstance(values, str):
        raise TypeError("capabilities must be a collection of names, not a string")
    return sorted(set(values))
