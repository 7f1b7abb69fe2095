"""The gang framework: a thin scheduler over `GangPlanner`.

framework = cluster.run_framework(
    Gang, [GangJob("mpi", size=4, command="./ring", resources="cpus:1;mem:256")], name="mpi"
)
framework.call("submit", GangJob(...))   # more gangs, run in order
framework.call("gangs")                  # states, attempts, where each member ran
framework.call("state")                  # the gangs, those unplaceable and why, agents' capacity
framework.call("done")
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pyactors.core.offer import OfferInfo
from pyactors.core.tasks import TaskStatus
from pyactors.frameworks.decisions import apply
from pyactors.frameworks.gang.plan import GangJob, GangPlanner
from pyactors.scheduler.api import Driver, Scheduler


class Gang(Scheduler):
    """Runs gangs all or nothing (see `pyactors.frameworks.gang.plan`).

    `hold_timeout` bounds how long offers are held for a gang that does not
    fit yet (keep it well under the master's `offer_timeout`); `seed` makes
    the random hold and backoff reproducible; the framework id is mixed in,
    so two gang frameworks never back off in lockstep, whatever their seeds
    (identical random draws would have them hold and let go together forever)."""

    def __init__(
        self, jobs: Sequence[GangJob] = (), hold_timeout: float = 2.0, seed: int = 0
    ) -> None:
        self.planner = GangPlanner(hold_timeout)
        self.seed = seed
        # Held offers must be let go when no event comes: only a clock can
        # make one of two gangs holding half the cluster each give way.
        self.tick_interval = min(0.25, hold_timeout / 4)
        self._driver: Driver | None = None
        for job in jobs:
            self.planner.submit(job, time.monotonic())

    def subscribed(self, driver: Driver, framework_id: str, master_info: dict[str, Any]) -> None:
        if self._driver is None:
            self.planner.reseed(f"{self.seed}:{framework_id}")
        else:
            # Offers die with the master that made them.
            self.planner.forget_offers()
        self._driver = driver
        if self.planner.demand.suppressed:
            # A new leader starts the framework unsuppressed: say it again.
            driver.suppress()

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        apply(driver, self.planner.offers(offers, time.monotonic()))

    def rescind(self, driver: Driver, offer_id: str) -> None:
        self.planner.rescind(offer_id)

    def update(self, driver: Driver, status: TaskStatus) -> None:
        apply(driver, self.planner.update(status, time.monotonic()))

    def tick(self, driver: Driver) -> None:
        apply(driver, self.planner.tick(time.monotonic()))

    def failure(
        self, driver: Driver, agent_id: str, executor_id: str | None, status: int | None
    ) -> None:
        if executor_id is None:
            self.planner.agent_lost(agent_id)

    # Called through `Framework.call`.

    def submit(self, job: GangJob) -> None:
        decisions = self.planner.submit(job, time.monotonic())
        if self._driver is not None:
            apply(self._driver, decisions)

    def gangs(self) -> list[dict[str, Any]]:
        return self.planner.report()

    def state(self) -> dict[str, Any]:
        """The gangs, the pending ones the cluster cannot hold (and why),
        and the most each agent offered at once."""
        gangs = self.planner.report()
        return {
            "gangs": gangs,
            "pending": self.planner.pending(),
            "unplaceable": {g["name"]: g["unplaceable"] for g in gangs if g["unplaceable"]},
            "capacity": self.planner.capacity(),
        }

    def done(self) -> bool:
        return self.planner.done()
