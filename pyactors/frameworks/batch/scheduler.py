"""The batch framework: a thin scheduler over `DelayPlanner`.

framework = cluster.run_framework(
    Batch, [BatchTask("part-0", "wc -l /data/0", prefer={"rack": "r1"})],
    locality_wait=3.0, name="etl",
)
framework.call("add", [BatchTask(...)])   # more tasks (revives offers)
framework.call("tasks")                   # state, agent, whether it ran local
framework.call("done")
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pyactors.core.offer import OfferInfo
from pyactors.core.tasks import TaskStatus
from pyactors.frameworks.batch.delay_plan import BatchTask, DelayPlanner
from pyactors.frameworks.decisions import apply
from pyactors.scheduler.api import Driver, Scheduler


class Batch(Scheduler):
    """Runs tasks with delay scheduling (see `pyactors.frameworks.batch.delay_plan`)."""

    def __init__(self, tasks: Sequence[BatchTask] = (), locality_wait: float = 3.0) -> None:
        self.planner = DelayPlanner(locality_wait)
        self.planner.add(tasks, time.monotonic())
        self._driver: Driver | None = None

    def subscribed(self, driver: Driver, framework_id: str, master_info: dict[str, Any]) -> None:
        self._driver = driver
        if self.planner.demand.suppressed:
            # A new leader starts the framework unsuppressed: say it again.
            driver.suppress()

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        apply(driver, self.planner.offers(offers, time.monotonic()))

    def update(self, driver: Driver, status: TaskStatus) -> None:
        self.planner.update(status)

    # Called through `Framework.call`.

    def add(self, tasks: Sequence[BatchTask]) -> None:
        decisions = self.planner.add(tasks, time.monotonic())
        if self._driver is not None:
            apply(self._driver, decisions)

    def tasks(self) -> list[dict[str, Any]]:
        return self.planner.report()

    def done(self) -> bool:
        return self.planner.done()
