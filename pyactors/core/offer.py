"""Offers: the value an allocation cycle produces, an offer as a framework
receives it, and an inverse offer (Mesos's maintenance primitives)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pyactors._core import Resources


class Offer(NamedTuple):
    """Resources of one agent offered to one framework in one of its roles.

    `resources` is a `pyactors.Resources` from the Rust allocator and a
    `PyResources` from the reference one; both print the same canonical text.
    A named tuple because a cycle at 10,000 agents builds 10,000 of them:
    construction is several times cheaper than a frozen dataclass's.
    """

    framework_id: str
    agent_id: str
    role: str
    resources: Any


@dataclass(frozen=True)
class Unavailability:
    """When an agent's machine is expected to be down for maintenance
    (Mesos's `Unavailability`): from `start` (seconds since the epoch) for
    `duration` seconds (None: indefinitely)."""

    start: float
    duration: float | None = None


@dataclass(frozen=True)
class OfferInfo:
    """An offer as a framework receives it: the master's id for it, and the
    agent's hostname and attributes for the scheduler's placement; the
    agent's `unavailability` when its machine is scheduled for maintenance."""

    id: str
    framework_id: str
    agent_id: str
    role: str
    resources: Resources
    hostname: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    unavailability: Unavailability | None = None


@dataclass(frozen=True)
class InverseOfferInfo:
    """Mesos's `InverseOffer`: the master asks the framework to give back
    what it holds on the agent (the whole agent) by its `unavailability`.
    The framework answers with `Driver.accept_inverse_offers` or
    `decline_inverse_offers`; the operator sees the answer in the
    maintenance status."""

    id: str
    framework_id: str
    agent_id: str
    hostname: str
    unavailability: Unavailability
