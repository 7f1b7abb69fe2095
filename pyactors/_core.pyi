"""Type stub of the Rust extension `pyactors._core` (rust/bindings/).

Written by hand; keep it in step with the `#[pymethods]` blocks there. Errors
raise the classes of `pyactors.errors` (a wrong argument type: `TypeError`).
Neither class may be subclassed (pyo3 classes without `subclass`).
"""

from collections.abc import Callable, Sequence
from typing import Any, final

__all__ = ["Allocator", "Resources"]

# The value of one name in `Resources.to_dict()`.
_DictValue = float | list[list[int]] | list[str]

@final
class Resources:
    """An immutable, canonical bundle of resources (fixed point, 3 decimals)."""

    def __new__(cls) -> Resources:
        """The empty bundle."""

    @staticmethod
    def parse(text: str) -> Resources:
        """Parse resource text such as `cpus:2;mem(web):512;ports:[31000-31999]`."""

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Resources:
        """Build from `{key: number | "text" | [[begin, end], ...] | ["item", ...]}`."""

    @staticmethod
    def from_json(data: str | list[dict[str, Any]]) -> Resources:
        """Build from the Mesos JSON form (a list of resource objects, or its text)."""

    def to_text(self) -> str:
        """The canonical text form, which `parse` reads back."""

    def to_dict(self) -> dict[str, _DictValue]:
        """`{key text: float | [[begin, end], ...] | [item, ...]}`."""

    def to_json(self) -> list[dict[str, Any]]:
        """The Mesos JSON form: one object per resource, with name, type and role."""

    def unreserved(self) -> Resources:
        """Only the unreserved (role `*`) resources."""

    def reserved(self, role: str | None = None) -> Resources:
        """Only the reserved resources: for `role` exactly, or for any role."""

    def allocatable_to(self, role: str) -> Resources:
        """Unreserved resources and those reserved to `role` or an ancestor."""

    def scalars(self) -> Resources:
        """Only the scalar resources."""

    def scalar(self, name: str) -> float:
        """The total of scalar `name` over all roles (0.0 when absent)."""

    def totals(self) -> dict[str, float]:
        """Scalar name -> total over all roles."""

    def names(self) -> list[str]:
        """The distinct resource names, sorted."""

    def contains(self, other: Resources) -> bool:
        """Whether this bundle holds all of `other`."""

    def is_empty(self) -> bool:
        """Whether the bundle holds nothing."""

    def __add__(self, other: Resources, /) -> Resources:
        """The sum; ResourceError on conflicting types."""

    def __sub__(self, other: Resources, /) -> Resources:
        """The difference; ResourceError if `other` is not contained."""

    def __radd__(self, other: Resources, /) -> Resources:
        """`other + self` (pyo3's reflected slot)."""

    def __rsub__(self, other: Resources, /) -> Resources:
        """`other - self` (pyo3's reflected slot)."""

    def __eq__(self, other: object, /) -> bool:
        """Same canonical content."""

    def __ne__(self, other: object, /) -> bool:
        """Different canonical content."""

    def __le__(self, other: Resources, /) -> bool:
        """Contained in `other`."""

    def __lt__(self, other: Resources, /) -> bool:
        """Contained in `other` and different."""

    def __ge__(self, other: Resources, /) -> bool:
        """Contains `other`."""

    def __gt__(self, other: Resources, /) -> bool:
        """Contains `other` and different."""

    def __bool__(self) -> bool:
        """Not empty."""

    def __len__(self) -> int:
        """The number of resource entries."""

    def __hash__(self) -> int:
        """The hash of the canonical text."""

    def __reduce__(self) -> tuple[Callable[[str], Resources], tuple[str]]:
        """Pickle as `Resources.parse(text)`."""

# What the core accepts where it takes resources: a bundle, resource text, or
# the dict form (a real `dict`; other mappings are rejected with TypeError).
_ResourcesArgument = Resources | str | dict[str, Any]

@final
class Allocator:
    """The raw Rust allocator; `pyactors.core.allocator.Allocator` is its typed facade."""

    def __new__(
        cls,
        sorter: str,
        seed: int,
        min_allocatable: Sequence[str],
        fairness_exclude: Sequence[str],
    ) -> Allocator:
        """sorter "drf" or "random"; seed in [0, 2**64); minimums as resource text."""

    def add_agent(
        self,
        agent_id: str,
        total: _ResourcesArgument,
        now: float,
        attributes: dict[str, str],
        allocated: Sequence[tuple[str, str, _ResourcesArgument]],
    ) -> None:
        """Register an agent; `allocated` is (framework, role, resources) in use."""

    def remove_agent(self, agent_id: str) -> None:
        """Forget an agent, its allocations and the filters naming it."""

    def activate_agent(self, agent_id: str) -> None:
        """Offer this agent's resources again."""

    def deactivate_agent(self, agent_id: str) -> None:
        """Stop offering this agent's resources; allocations stay."""

    def update_agent(
        self,
        agent_id: str,
        total: _ResourcesArgument | None,
        attributes: dict[str, str] | None,
    ) -> None:
        """Change the total and/or attributes (None keeps them)."""

    def set_unavailability(
        self, agent_id: str, start: float | None, duration: float | None
    ) -> None:
        """Maintenance window [start, start + duration); start None clears it."""

    def add_framework(
        self,
        framework_id: str,
        roles: Sequence[str],
        now: float,
        capabilities: Sequence[str],
        active: bool,
    ) -> None:
        """Register a framework subscribed to `roles`."""

    def update_framework(
        self,
        framework_id: str,
        roles: Sequence[str] | None,
        capabilities: Sequence[str] | None,
    ) -> None:
        """Change roles and/or capabilities (None keeps them)."""

    def remove_framework(self, framework_id: str) -> None:
        """Forget a framework; its allocations return to their agents."""

    def activate_framework(self, framework_id: str) -> None:
        """Make a framework offerable again."""

    def deactivate_framework(self, framework_id: str) -> None:
        """No offers until activated; allocations and filters stay."""

    def suppress(self, framework_id: str, roles: Sequence[str] | None) -> None:
        """Stop offers in these roles (all when None)."""

    def revive(self, framework_id: str, roles: Sequence[str] | None) -> None:
        """Resume offers in these roles (all when None) and clear their filters."""

    def set_weight(self, role: str, weight: float) -> None:
        """Set a role's DRF weight."""

    def set_quota(
        self,
        role: str,
        guarantee: Sequence[tuple[str, int]],
        limit: Sequence[tuple[str, int]] | None,
    ) -> None:
        """Quota as (scalar name, millis) pairs; empty guarantee and no limit removes it."""

    def recover(
        self,
        framework_id: str,
        agent_id: str,
        resources: _ResourcesArgument,
        refuse_seconds: float,
        now: float | None,
        role: str | None,
    ) -> None:
        """Return resources; refuse_seconds > 0 also filters them until now + refuse."""

    def recover_many(
        self,
        recoveries: Sequence[tuple[str, str, str | None, _ResourcesArgument]],
        refuse_seconds: float,
        now: float | None,
    ) -> None:
        """recover() on each (framework, agent, role, resources) tuple, checked whole first."""

    def recover_many_by_token(
        self,
        recoveries: Sequence[tuple[int, int, str | None, _ResourcesArgument]],
        refuse_seconds: float,
        now: float | None,
    ) -> None:
        """recover_many() with (framework token, agent token, role, resources) items."""

    def agent_token(self, agent_id: str) -> int:
        """The agent's registration token."""

    def framework_token(self, framework_id: str) -> int:
        """The framework's registration token."""

    def update_allocation(
        self,
        framework_id: str,
        agent_id: str,
        role: str,
        consumed: _ResourcesArgument,
        converted: _ResourcesArgument,
    ) -> None:
        """Convert part of a framework's allocation in `role` (reserve, unreserve, volumes)."""

    def update_available(
        self, agent_id: str, consumed: _ResourcesArgument, converted: _ResourcesArgument
    ) -> None:
        """Convert part of an agent's available resources (the operator's operations)."""

    def allocate(self, now: float) -> list[tuple[str, str, str, Resources]]:
        """One allocation cycle: (framework, agent, role, resources) per offer."""

    @property
    def last_cycle_visits(self) -> int:
        """Agents the last allocate() looked at, once per stage (not the idle ones)."""

    @property
    def last_cycle_candidates(self) -> int:
        """Agents the last allocate() shuffled: active, something available."""

    @property
    def last_cycle_seconds(self) -> float:
        """Seconds the last allocate() spent in the core (0.0 before the first)."""

    def shares(self) -> list[tuple[str, str, float]]:
        """(framework, role, dominant share) per framework and role, sorted;
        its cost grows with the frameworks, not the agents."""

    def snapshot_json(self) -> str:
        """The allocator's state document as JSON text (written without the GIL)."""
