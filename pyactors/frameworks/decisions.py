"""What the built-in frameworks' state machines decide, as plain data.

The planners never touch a driver: each call returns `Decisions` (accepts,
declines, kills, and whether to suppress or revive offers), which unit tests
inspect and the scheduler shell hands to `apply`, inside the callback's
batch (so one callback is still one message to the master).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyactors._core import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Operation
from pyactors.scheduler.api import Driver


@dataclass(frozen=True)
class Accept:
    """Offers of one agent and role, used for `operations`; what is left is
    declined with `refuse_seconds`."""

    offer_ids: list[str]
    operations: list[Operation]
    refuse_seconds: float = 0.0


@dataclass
class Decisions:
    accepts: list[Accept] = field(default_factory=list)
    # (offer ids, refuse seconds)
    declines: list[tuple[list[str], float]] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    suppress: bool = False
    revive: bool = False

    def extend(self, other: Decisions) -> None:
        self.accepts += other.accepts
        self.declines += other.declines
        self.kills += other.kills
        # The later demand wins: a suppress then a revive in one step is a revive.
        if other.suppress or other.revive:
            self.suppress, self.revive = other.suppress, other.revive

    def decline(self, offer_ids: list[str], refuse_seconds: float) -> None:
        if offer_ids:
            self.declines.append((offer_ids, max(0.0, refuse_seconds)))


def apply(driver: Driver, decisions: Decisions) -> None:
    """Send the decisions through the driver, in one batch."""
    with driver.batch():
        for accept in decisions.accepts:
            driver.accept(accept.offer_ids, accept.operations, accept.refuse_seconds)
        for offer_ids, refuse_seconds in decisions.declines:
            driver.decline(offer_ids, refuse_seconds)
        for task_id in decisions.kills:
            driver.kill(task_id)
        if decisions.revive:
            driver.revive()
        if decisions.suppress:
            driver.suppress()


class Demand:
    """Whether a framework wants offers, turned into suppress and revive
    calls only when it changes (Mesos's advice: suppress when idle, so the
    allocator stops offering to a framework with nothing to run)."""

    def __init__(self) -> None:
        self.suppressed = False

    def report(self, wanted: bool, decisions: Decisions) -> None:
        if wanted and self.suppressed:
            self.suppressed = False
            decisions.revive, decisions.suppress = True, False
        elif not wanted and not self.suppressed:
            self.suppressed = True
            decisions.revive, decisions.suppress = False, True


def how_many_fit(shape: Resources, available: Resources, most: int) -> int:
    """How many tasks of `shape` fit in `available`, up to `most`."""
    count, left = 0, available
    while count < most and shape <= left:
        left = left - shape
        count += 1
    return count


def total_of(offers: list[OfferInfo]) -> Resources:
    total = Resources()
    for offer in offers:
        total = total + offer.resources
    return total
