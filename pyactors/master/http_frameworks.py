"""Frameworks that speak Mesos's v1 scheduler HTTP API, relayed by the
master's own event loop: each is a framework like any other to the master.

A subscription (one SUBSCRIBE request's stream) is a `FrameworkRef` whose
`deliver_events` turns the master's events into v1 events and queues them
(`pyactors.api.v1.scheduler_events`): the master subscribes it, sends it
offers, updates and heartbeats, and hears its calls (`carry_out_calls`, what
a framework actor's `calls_batch` comes to) through the same `MasterState`: the same
allocator, ACLs, acknowledgement gating, failover and removal. Nothing the
master does waits on a client: the stream's writer (the SUBSCRIBE request's
handler) drains its queue in batches at its own pace.

A stream ends when its framework subscribes again (the new stream replaces
it, as in Mesos, after the old one is told), is torn down or removed, or
when this master stops leading the term it subscribed in; the client going
away disconnects the framework, which starts its failover timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pyactors.api.v1 import scheduler_events
from pyactors.api.v1.mesos_json import FrameworkInfo
from pyactors.core.protocol import CallBatch, FrameworkEvent
from pyactors.master.state import MasterState
from pyactors.runtime.handles import FrameworkRef


class FrameworkCalls(Protocol):
    """What the relay needs of the master actor (`MasterActor`)."""

    framework_heartbeat_interval: float

    async def subscribe(
        self,
        host: FrameworkRef,
        name: str,
        roles: list[str],
        framework_id: str | None,
        capabilities: list[str],
        failover_timeout: float,
        principal: str | None = None,
        secret: str | None = None,
        user: str | None = None,
        webui_url: str | None = None,
    ) -> str: ...

    async def carry_out_calls(self, host: FrameworkRef, batches: list[CallBatch]) -> None: ...


class Subscription:
    """One SUBSCRIBE's stream: its id, its framework, and the v1 events
    waiting to be written."""

    def __init__(self, info: FrameworkInfo, term: MasterState) -> None:
        self.stream_id = str(uuid.uuid4())
        self.info = info
        # The leading state it subscribed in: a new term ends the stream.
        self.term = term
        self.framework_id = ""
        self.ref = StreamRef(handle=None, subscription=self)  # type: ignore[arg-type]
        self.end_reason: str | None = None
        self._batches: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
        self._on_dead: Callable[[], None] | None = None
        # Statuses' monotonic times shown as wall-clock times.
        self._clock_offset = time.time() - time.monotonic()

    @property
    def ended(self) -> bool:
        return self.end_reason is not None

    def push(self, events: list[dict[str, Any]]) -> None:
        if events and not self.ended:
            self._batches.put_nowait(events)

    def deliver(self, events: list[FrameworkEvent], on_dead: Callable[[], None] | None) -> None:
        """The master's events for this framework (`FrameworkRef.deliver_events`)."""
        if on_dead is not None:
            self._on_dead = on_dead
        if self.ended:
            # As a dead actor's: the master disconnects the framework, but
            # not from inside its own send.
            if on_dead is not None:
                asyncio.get_running_loop().call_soon(on_dead)
            return
        refined = self.info.refined
        shaped = []
        for event in events:
            shaped += scheduler_events.events(event, refined, self._clock_offset)
        self.push(shaped)

    async def next_batch(self, timeout: float) -> list[dict[str, Any]]:
        """Every event queued (waiting up to `timeout` for one); [] if none."""
        batch: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            batch += await asyncio.wait_for(self._batches.get(), timeout)
        while not self._batches.empty():
            batch += self._batches.get_nowait()
        return batch

    def end(self, reason: str) -> None:
        """No more events: the writer writes what is queued and closes."""
        if self.end_reason is None:
            self.end_reason = reason
            self._batches.put_nowait([])

    def client_gone(self) -> None:
        """The client closed the stream: the framework is disconnected now,
        as when a framework actor dies (or at the next event sent to it)."""
        self.end("the client closed the stream")
        on_dead, self._on_dead = self._on_dead, None
        if on_dead is not None:
            on_dead()


@dataclass(frozen=True)
class StreamRef(FrameworkRef):
    """A subscription as the master addresses a framework host; equal only
    to itself (`handle` is unused)."""

    subscription: Subscription = field(kw_only=True)

    def deliver_events(
        self, events: list[FrameworkEvent], on_dead: Callable[[], None] | None = None
    ) -> None:
        self.subscription.deliver(events, on_dead)

    def subscribed_as(self) -> str:
        return self.subscription.framework_id

    def alive(self) -> None:
        return None

    def call(self, method: str, *args: Any) -> Any:
        raise TypeError(f"a framework on the HTTP API runs no Python scheduler ({method})")


class HttpFrameworks:
    """The current stream of each HTTP framework, subscribed and heard
    through the master (`calls`)."""

    def __init__(self, calls: FrameworkCalls) -> None:
        self.calls = calls
        self.streams: dict[str, Subscription] = {}

    @property
    def heartbeat_interval(self) -> float:
        return self.calls.framework_heartbeat_interval

    async def subscribe(
        self,
        info: FrameworkInfo,
        term: MasterState,
        principal: str | None,
        secret: str | None,
    ) -> Subscription:
        """Subscribe (or fail over) the framework through the master; the
        stream it had, if any, ends. Raises what `MasterState.subscribe`
        raises (authentication, ACLs, a torn-down id)."""
        subscription = Subscription(info, term)
        framework_id = await self.calls.subscribe(
            subscription.ref,
            info.name,
            info.roles,
            info.framework_id,
            info.capabilities,
            info.failover_timeout,
            principal=principal,
            secret=secret,
            user=info.user,
            webui_url=info.webui_url,
        )
        subscription.framework_id = framework_id
        previous = self.streams.get(framework_id)
        self.streams[framework_id] = subscription
        if previous is not None:
            previous.end("the framework subscribed again on another stream")
        return subscription

    def current(self, framework_id: str) -> Subscription | None:
        return self.streams.get(framework_id)

    async def carry_out(self, subscription: Subscription, batch: CallBatch) -> None:
        await self.calls.carry_out_calls(subscription.ref, [batch])

    def forget(self, subscription: Subscription) -> None:
        """Its stream is closed."""
        if self.streams.get(subscription.framework_id) is subscription:
            del self.streams[subscription.framework_id]
