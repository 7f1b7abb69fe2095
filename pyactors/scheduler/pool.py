"""Many frameworks hosted by one actor, for scale experiments.

Each framework is an ordinary `FrameworkActor` (a user's `Scheduler` behind
its driver), subscribed with the pool's handle, so the master sends the pool
one `deliver_events` per batch for all of them; the pool hands each event to
its framework. Two hundred frameworks then cost one Ray worker, not two
hundred.
"""

from __future__ import annotations

from typing import Any

from ray.actor import ActorHandle

from pyactors.core.protocol import Call, CallBatch, FrameworkEvent
from pyactors.ha.leader import MasterLocation
from pyactors.runtime.handles import FrameworkRef, MasterRef
from pyactors.scheduler.api import FrameworkActor, Scheduler

# What the pool runs: (scheduler class, its arguments, name, roles).
FrameworkSpec = tuple[type[Scheduler], tuple[Any, ...], str, list[str]]


class FrameworkPoolActor:
    """Every framework of the pool subscribes as `principal` with `secret`
    (a master with credentials requires them)."""

    def __init__(
        self,
        location: MasterLocation,
        specs: list[FrameworkSpec],
        principal: str | None = None,
        secret: str | None = None,
    ) -> None:
        self.frameworks = [
            FrameworkActor(
                cls,
                args,
                location,
                name,
                roles,
                0.0,
                [],
                sink=self._hold,
                principal=principal,
                secret=secret,
            )
            for cls, args, name, roles in specs
        ]
        self.by_id: dict[str, FrameworkActor] = {}
        self._held: list[CallBatch] = []

    async def start(self, handle: ActorHandle[Any]) -> list[str]:
        """Subscribe every framework (the actor passes its own handle)."""
        for framework in self.frameworks:
            self.by_id[await framework.start(handle)] = framework
        self._flush()
        return list(self.by_id)

    async def deliver_events(self, events: list[FrameworkEvent]) -> None:
        """Hand each event to its framework, then send every call they made
        to the master in one message."""
        for event in events:
            framework = self.by_id.get(event.framework_id)
            if framework is not None:
                await framework.deliver_events([event])
        self._flush()

    async def call(self, framework_id: str, method: str, *args: Any) -> Any:
        """Run a method of one framework's scheduler (for inspection)."""
        try:
            return await self.by_id[framework_id].call(method, *args)
        finally:
            self._flush()

    def _hold(self, framework_id: str, calls: list[Call]) -> None:
        self._held.append((framework_id, calls))

    def _flush(self) -> None:
        """One message per master (there is one, but for a moment around a
        leader change two frameworks may be following different ones)."""
        per_master: dict[tuple[MasterRef, FrameworkRef], list[CallBatch]] = {}
        for framework_id, calls in self._held:
            driver = self.by_id[framework_id].driver if framework_id in self.by_id else None
            if driver is not None:
                sent_as = (driver.master, driver.host)
                per_master.setdefault(sent_as, []).append((framework_id, calls))
        self._held = []
        for (master, host), batches in per_master.items():
            master.calls_batch(host, batches)
