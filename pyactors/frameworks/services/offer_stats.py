"""Why an app waits: what became of the offers evaluated for it, as
Marathon's launch queue tells it (`processedOffersSummary` and
`lastUnusedOffers` of `GET /v2/queue`).

A plain state machine (the time is an argument): `ServiceState` reports
each offer it evaluated for an app that was waiting to launch, used or
not, and for an unused one every reason it did not fit, in Marathon's
names (`mesosphere.mesos.NoOfferMatchReason`). An app's counts cover its
launch attempt: they are forgotten once it has nothing left to launch, as
Marathon forgets them when its launcher finishes. Only the last unused
offer of each agent is kept, and of at most `LAST_OFFERS_LIMIT` agents."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from pyactors._core import Resources
from pyactors.core.offer import OfferInfo

# Marathon's reasons, in the order of its funnel: an unused offer counts
# in the summaries under the first of its reasons in this order.
REASONS = (
    "UnfulfilledRole",
    "UnfulfilledConstraint",
    "NoCorrespondingReservationFound",
    "AgentMaintenance",
    "InsufficientCpus",
    "InsufficientMemory",
    "InsufficientDisk",
    "InsufficientGpus",
    "InsufficientPorts",
    "DeclinedScarceResources",
)
UNFULFILLED_ROLE = "UnfulfilledRole"
UNFULFILLED_CONSTRAINT = "UnfulfilledConstraint"
INSUFFICIENT_PORTS = "InsufficientPorts"
_BY_RESOURCE = {
    "cpus": "InsufficientCpus",
    "mem": "InsufficientMemory",
    "disk": "InsufficientDisk",
    "gpus": "InsufficientGpus",
}

# Agents whose last unused offer an app keeps (the oldest goes first).
LAST_OFFERS_LIMIT = 100


def insufficient(needed: Resources, left: Resources) -> list[str]:
    """The reasons `left` cannot hold `needed`: one per scalar it lacks."""
    return [
        _BY_RESOURCE[name]
        for name in needed.names()
        if name in _BY_RESOURCE and left.scalar(name) < needed.scalar(name)
    ]


@dataclass(frozen=True)
class UnusedOffer:
    """An offer an app could not use, why, and when it was evaluated."""

    offer: OfferInfo
    reasons: tuple[str, ...]
    at: float


@dataclass
class LaunchAttempt:
    """What became of the offers evaluated for one app since it began
    waiting to launch."""

    processed: int = 0
    unused: int = 0
    last_used_at: float | None = None
    last_unused_at: float | None = None
    # Unused offers by the first of their reasons in the funnel's order.
    rejected: dict[str, int] = field(default_factory=dict)
    # The last unused offer of each agent, oldest first.
    last_offers: dict[str, UnusedOffer] = field(default_factory=dict)

    def last_offers_rejected(self) -> dict[str, int]:
        """`rejected` over the last unused offer of each agent only."""
        counts: dict[str, int] = {}
        for unused in self.last_offers.values():
            reason = first_reason(unused.reasons)
            counts[reason] = counts.get(reason, 0) + 1
        return counts


def first_reason(reasons: Sequence[str]) -> str:
    return min(reasons, key=REASONS.index)


class OfferStats:
    def __init__(self) -> None:
        self._attempts: dict[str, LaunchAttempt] = {}

    def processed(
        self, app_id: str, offer: OfferInfo, reasons: Sequence[str] | None, now: float
    ) -> None:
        """The offer was evaluated for the app, waiting to launch: used
        (`reasons` None), or not, for `reasons` (at least one, each in
        `REASONS`; ValueError else, and nothing is counted)."""
        if reasons is not None and (not reasons or not set(reasons) <= set(REASONS)):
            raise ValueError(f"an unused offer needs reasons among {REASONS}, got {reasons!r}")
        attempt = self._attempts.setdefault(app_id, LaunchAttempt())
        attempt.processed += 1
        if reasons is None:
            attempt.last_used_at = now
            return
        attempt.unused += 1
        attempt.last_unused_at = now
        reason = first_reason(reasons)
        attempt.rejected[reason] = attempt.rejected.get(reason, 0) + 1
        # Re-inserted: the agent's entry moves to the newest end.
        attempt.last_offers.pop(offer.agent_id, None)
        attempt.last_offers[offer.agent_id] = UnusedOffer(offer, tuple(reasons), now)
        while len(attempt.last_offers) > LAST_OFFERS_LIMIT:
            del attempt.last_offers[next(iter(attempt.last_offers))]

    def keep(self, waiting: Collection[str]) -> None:
        """Forget the apps not `waiting` to launch: their attempt is over."""
        for app_id in [a for a in self._attempts if a not in waiting]:
            del self._attempts[app_id]

    def of(self, app_id: str) -> LaunchAttempt:
        """The app's attempt (an empty one if no offer was evaluated for it)."""
        return self._attempts.get(app_id, LaunchAttempt())
