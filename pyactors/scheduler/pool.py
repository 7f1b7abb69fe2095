"""Many frameworks hosted by one actor, for scale experiments.

Each framework is an ordinary `FrameworkActor` (a user's `Scheduler` behind
its driver), subscribed with the pool's handle, so the master sends the pool
one `deliver_events` per batch for all of them; the pool hands each event to
its framework. Two hundred frameworks then cost one Ray worker, not two
hundred.

`start` answers at once and the frameworks subscribe after it, all at once
(one at a time, each waiting its turn at a busy master, took minutes at
50,000 agents); `subscribed` tells which have.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psutil
from ray.actor import ActorHandle

from pyactors.core.protocol import Call, CallBatch, FrameworkEvent, SendOffers
from pyactors.errors import FrameworkStartError
from pyactors.ha.leader import MasterLocation
from pyactors.runtime.handles import FrameworkRef, MasterRef
from pyactors.runtime.wire import Wire, unpack
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
        self._subscribing: asyncio.Task[None] | None = None
        self._failure: FrameworkStartError | None = None
        # Events for a framework whose subscription's answer has not come
        # back yet (the master may offer before the pool hears its id).
        self._early: list[FrameworkEvent] = []
        self.offers_received = 0

    async def start(self, handle: ActorHandle[Any]) -> None:
        """Answers at once (the actor passes its own handle); every
        framework subscribes after it (`subscribed` tells which have)."""
        if self._subscribing is None:
            loop = asyncio.get_running_loop()
            self._subscribing = loop.create_task(self._subscribe_all(handle))

    async def _subscribe_all(self, handle: ActorHandle[Any]) -> None:
        async def subscribe(framework: FrameworkActor) -> None:
            self.by_id[await framework.start(handle)] = framework
            early, self._early = self._early, []
            await self.deliver_events(early)

        try:
            await asyncio.gather(*(subscribe(f) for f in self.frameworks))
        except Exception as error:
            self._failure = FrameworkStartError(
                f"{len(self.frameworks) - len(self.by_id)} of the pool's frameworks did not "
                f"subscribe: {type(error).__name__}: {error}"
            )
            raise
        finally:
            self._early = []

    async def subscribed(self) -> list[str]:
        """The ids of the frameworks subscribed so far
        (FrameworkStartError if one could not)."""
        if self._failure is not None:
            raise self._failure
        return list(self.by_id)

    async def figures(self) -> dict[str, float]:
        """Counters, and this process's CPU seconds (what the frameworks cost
        the machine they share with the master)."""
        times = psutil.Process().cpu_times()
        return {
            "frameworks": len(self.by_id),
            "offers_received": self.offers_received,
            "cpu_seconds": times.user + times.system,
        }

    async def deliver_events(self, events: Wire[list[FrameworkEvent]]) -> None:
        """Hand each event to its framework, then send every call they made
        to the master in one message."""
        subscribing = self._subscribing is not None and not self._subscribing.done()
        by_id = self.by_id
        for event in unpack(events):
            framework = by_id.get(event.framework_id)
            if framework is not None:
                if isinstance(event, SendOffers):
                    self.offers_received += len(event.offers)
                framework.receive(event)
            elif subscribing:
                self._early.append(event)
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
