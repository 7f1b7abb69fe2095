"""The scheduler API: subclass `Scheduler`, and pyactors runs it as an actor.

Callbacks follow Mesos's scheduler API; each receives the `Driver`, through
which the scheduler sends its calls. Status updates are acknowledged after
`update` returns unless the scheduler sets `auto_acknowledge = False`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyactors import ray_calls
from pyactors.offer_book import OfferInfo
from pyactors.operations import Operation
from pyactors.tasks import TaskStatus


class Driver:
    """What a scheduler can ask of the master (one-way messages)."""

    def __init__(self, master: Any, framework_id: str) -> None:
        self.master = master
        self.framework_id = framework_id

    def accept(
        self, offer_ids: Sequence[str], operations: Sequence[Operation], refuse_seconds: float = 5.0
    ) -> None:
        ray_calls.tell(
            self.master,
            "accept",
            self.framework_id,
            list(offer_ids),
            list(operations),
            refuse_seconds,
        )

    def decline(self, offer_ids: Sequence[str], refuse_seconds: float = 5.0) -> None:
        ray_calls.tell(self.master, "decline", self.framework_id, list(offer_ids), refuse_seconds)

    def acknowledge(self, status: TaskStatus) -> None:
        if status.uuid is not None:
            ray_calls.tell(
                self.master, "acknowledge", self.framework_id, status.task_id, status.uuid
            )

    def kill(self, task_id: str) -> None:
        ray_calls.tell(self.master, "kill", self.framework_id, task_id)

    def reconcile(self, task_ids: Sequence[str] = ()) -> None:
        ray_calls.tell(self.master, "reconcile", self.framework_id, list(task_ids))

    def revive(self, roles: Sequence[str] | None = None) -> None:
        ray_calls.tell(
            self.master, "revive", self.framework_id, None if roles is None else list(roles)
        )

    def suppress(self, roles: Sequence[str] | None = None) -> None:
        ray_calls.tell(
            self.master, "suppress", self.framework_id, None if roles is None else list(roles)
        )


class Scheduler:
    """Override the callbacks you need; the defaults decline and ignore."""

    auto_acknowledge = True

    def subscribed(self, driver: Driver, framework_id: str, master_info: dict[str, Any]) -> None:
        pass

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        driver.decline([o.id for o in offers])

    def rescind(self, driver: Driver, offer_id: str) -> None:
        pass

    def update(self, driver: Driver, status: TaskStatus) -> None:
        pass

    def error(self, driver: Driver, message: str) -> None:
        pass


class FrameworkActor:
    """Runs a user's Scheduler: subscribes, turns events into callbacks."""

    def __init__(
        self,
        scheduler_cls: type[Scheduler],
        args: tuple[Any, ...],
        master: Any,
        name: str,
        roles: list[str],
        failover_timeout: float,
        capabilities: list[str],
        framework_id: str | None = None,
    ) -> None:
        self.scheduler = scheduler_cls(*args)
        self.master = master
        self.name = name
        self.roles = roles
        self.failover_timeout = failover_timeout
        self.capabilities = capabilities
        self.framework_id = framework_id
        self.driver: Driver | None = None

    async def start(self, handle: Any) -> str:
        framework_id: str = await ray_calls.ask_async(
            self.master,
            "subscribe",
            handle,
            self.name,
            self.roles,
            self.framework_id,
            self.capabilities,
            self.failover_timeout,
        )
        self.framework_id = framework_id
        self.driver = Driver(self.master, framework_id)
        self.scheduler.subscribed(self.driver, framework_id, {"master": "pyactors"})
        return framework_id

    async def offers(self, offers: list[OfferInfo]) -> None:
        self.scheduler.offers(self._driver(), offers)

    async def rescind(self, offer_ids: list[str]) -> None:
        for offer_id in offer_ids:
            self.scheduler.rescind(self._driver(), offer_id)

    async def updates(self, statuses: list[TaskStatus]) -> None:
        driver = self._driver()
        for status in statuses:
            self.scheduler.update(driver, status)
            if self.scheduler.auto_acknowledge:
                driver.acknowledge(status)

    async def error(self, message: str) -> None:
        self.scheduler.error(self._driver(), message)

    async def call(self, method: str, *args: Any) -> Any:
        """Run a method of the user's scheduler inside the actor (for
        inspection from the cluster handle)."""
        return getattr(self.scheduler, method)(*args)

    def _driver(self) -> Driver:
        if self.driver is None:
            raise RuntimeError("the framework has not subscribed yet")
        return self.driver
