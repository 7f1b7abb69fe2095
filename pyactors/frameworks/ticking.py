"""A scheduler that is also called on a timer.

Mesos calls a scheduler only when something happens; a framework that holds
offers must act when nothing does (two gangs each holding half the cluster
get no more offers: only a clock can make one let go). `Ticking` runs
`tick(driver, now)` every `tick_interval` seconds on the framework actor's
event loop, between callbacks, its driver calls batched like a callback's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from pyactors.scheduler import Driver, Scheduler

log = logging.getLogger(__name__)


class Ticking(Scheduler):
    """Subclasses override `tick`; one that overrides `subscribed` calls
    `super().subscribed(...)` to start the clock."""

    tick_interval = 0.25
    _ticker: asyncio.Task[None] | None = None

    def subscribed(self, driver: Driver, framework_id: str, master_info: dict[str, Any]) -> None:
        # A new leader means a new subscription, not a second clock.
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._ticks(driver))

    def tick(self, driver: Driver, now: float) -> None:
        pass

    async def _ticks(self, driver: Driver) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                with driver.batch():
                    self.tick(driver, time.monotonic())
            except Exception:
                # One bad tick must not stop the clock for good.
                log.exception("%s.tick failed", type(self).__name__)
