"""What the reference allocator records about each agent, framework, filter
and quota."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyactors._reference.allocator.quantities import Quantities
from pyactors._reference.resources import PyResources


@dataclass
class Agent:
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
class Filter:
    role: str
    resources: PyResources
    expires: float


@dataclass
class Framework:
    framework_id: str
    roles: list[str]
    capabilities: frozenset[str]
    registered_at: float
    active: bool = True
    suppressed: set[str] = field(default_factory=set)
    filters: dict[str, list[Filter]] = field(default_factory=dict)  # by agent id

    def offerable_in(self, role: str) -> bool:
        return self.active and role not in self.suppressed


@dataclass
class Quota:
    guarantee: Quantities
    limit: Quantities | None
