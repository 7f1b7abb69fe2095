"""A master actor's leadership: the election, its terms, stepping down.

With a `zk://` URL, several master actors contend in a ZooKeeper election
(`pyactors.ha.election`), each on its own kazoo session. The one elected
builds a fresh `MasterState` over the ZooKeeper registry and recovers it;
the others are standbys: they refuse questions (`NotLeaderError`) and drop
one-way messages. Leadership ends the moment the session is suspended or
lost (the contender's `is_leader` turns False on kazoo's thread, and every
send checks it) or a registry write fails (this master withdraws and joins
again at the back); the state is then dropped. Without ZooKeeper, the one
master leads at once over an in-memory registry.

A killed leader's candidacy would outlive it by the ZooKeeper session
timeout. Standbys wait on the leader's actor instead (`outlive`): when Ray
reports it dead, they delete its candidate znode, and the next master is
elected at once. (So the masters of one ZooKeeper path must share one Ray
cluster: a leader a standby cannot find by name counts as dead.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kazoo.client import KazooClient

from pyactors.core.protocol import Effect
from pyactors.errors import (
    AllocatorError,
    CorruptRecordError,
    NotLeaderError,
    RegistryError,
    ResourceError,
    SchemaVersionError,
)
from pyactors.ha.election import LeaderContender, LeaderDetector, parse_zk_url, remove_candidate
from pyactors.ha.leader import ELECTION, REGISTRY, close_client, zk_client
from pyactors.master.records import MasterConfig
from pyactors.master.registry import MemoryRegistry, Registry, ZooKeeperRegistry
from pyactors.master.state import MasterState
from pyactors.runtime import ray_calls
from pyactors.runtime.handles import MasterRef

log = logging.getLogger(__name__)

# How long one `outlive` call lasts before a standby asks again: bounds what
# a standby leaves pending on a leader it no longer watches.
OUTLIVE_SECONDS = 30.0


class Leadership:
    """This master's place in the election and, while it leads, the term's
    state. `on_elected` hears the effects of a new term's recovery (the
    state is set by then); `on_step_down` hears that a term ended."""

    def __init__(
        self,
        info: dict[str, Any],
        config: MasterConfig,
        zk: str | None,
        zk_session_timeout: float,
        on_elected: Callable[[list[Effect]], None],
        on_step_down: Callable[[], None],
    ) -> None:
        # What the leader publishes in ZooKeeper; `actor` is how followers find it.
        self.info = info
        self.config = config
        self.zk = zk
        self.zk_session_timeout = zk_session_timeout
        self.on_elected = on_elected
        self.on_step_down = on_step_down
        # The leader's state; None on a standby.
        self.state: MasterState | None = None
        self.client: KazooClient | None = None
        self.registry: Registry = MemoryRegistry()
        self.contender: LeaderContender | None = None
        self.detector: LeaderDetector | None = None
        self._watch: asyncio.Task[None] | None = None
        self._rejoin: asyncio.Task[None] | None = None
        # Why this master refuses to lead (a registry it cannot read), if it does.
        self.refusal: str | None = None
        # Leadership terms so far, to name this term's offers.
        self._terms = 0
        # When this master was last elected (wall clock).
        self.elected_time = 0.0
        # What the current leader published (None: none known).
        self.leader_info: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return str(self.info["actor"])

    async def start(self) -> None:
        """Lead at once (no ZooKeeper), or join the election as a standby."""
        if self.zk is None:
            self.leader_info = self.info
            self._lead()
            return
        self.client = await asyncio.to_thread(zk_client, self.zk, self.zk_session_timeout)
        self.registry = ZooKeeperRegistry(self.client, parse_zk_url(self.zk).path + REGISTRY)
        loop = asyncio.get_running_loop()

        def changed(info: dict[str, Any] | None) -> None:
            loop.call_soon_threadsafe(self._leader_changed, info)

        self.detector = LeaderDetector(self.client, self._election, on_change=changed)
        await asyncio.to_thread(self.detector.start)
        await self._contend()

    async def stop(self) -> None:
        """Leave the election and close the ZooKeeper session now, so that
        another master is elected without waiting for the session to expire
        (after `step_down`)."""
        if self._watch is not None:
            self._watch.cancel()
        if self.detector is not None:
            self.detector.stop()
        contender, self.contender = self.contender, None
        if contender is not None:
            await asyncio.to_thread(contender.stop)
        if self.client is not None:
            await asyncio.to_thread(close_client, self.client)
            self.client = None

    def leading(self) -> MasterState | None:
        """The state, while this master leads. Checked before anything goes
        out: a contender that lost its session is no leader any more, even
        before its deposition reaches this loop."""
        if self.state is None or (self.contender is not None and not self.contender.is_leader):
            return None
        return self.state

    def require(self) -> MasterState:
        state = self.leading()
        if state is None:
            raise NotLeaderError(f"master {self.name} is not the leader")
        return state

    @contextmanager
    def writing(self) -> Iterator[MasterState]:
        """The state, for a change that may write to the registry: a failed
        write ends the term, and the caller hears NotLeaderError."""
        state = self.require()
        try:
            yield state
        except RegistryError as error:
            self.abdicate(error)
            raise NotLeaderError(f"master {self.name} stepped down: {error}") from error

    def abdicate(self, error: RegistryError) -> None:
        """A registry write failed (fenced by a newer leader, or of unknown
        outcome): stop leading now and join the election again at the back."""
        log.warning("master %s steps down: %s", self.name, error)
        self.step_down()
        if self._withdraw() is not None:
            self._rejoin = asyncio.get_running_loop().create_task(self._contend())

    def zk_session(self) -> tuple[int, bytes] | None:
        """This master's ZooKeeper session (id, password)."""
        if self.client is None:
            return None
        session_id, password = self.client.client_id
        return int(session_id), bytes(password)

    @property
    def _election(self) -> str:
        return parse_zk_url(str(self.zk)).path + ELECTION

    def _leader_changed(self, info: dict[str, Any] | None) -> None:
        self.leader_info = info
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if info is not None and info.get("id") != self.info["id"]:
            self._watch = asyncio.get_running_loop().create_task(self._outlive(info))

    async def _outlive(self, info: dict[str, Any]) -> None:
        """Wait on the leader's actor; once Ray says it is dead (for good:
        killed, or its process gone), delete its candidacy."""
        while True:
            try:
                leader = MasterRef(ray_calls.named(str(info.get("actor"))))
                await leader.outlive(OUTLIVE_SECONDS)
            except (ray_calls.ActorDiedError, ray_calls.NoSuchActorError):
                break
            except ray_calls.RayActorError:
                # Unreachable for now is not dead: ZooKeeper's session decides.
                await asyncio.sleep(1.0)
        assert self.client is not None
        if await asyncio.to_thread(remove_candidate, self.client, self._election, info["id"]):
            log.warning("master %s: the leader %s died", self.name, info.get("actor"))

    async def _contend(self) -> None:
        assert self.client is not None
        loop = asyncio.get_running_loop()

        # The contender calls back on its own thread: hop to the loop.
        def elected() -> None:
            loop.call_soon_threadsafe(self._elected, contender)

        def deposed() -> None:
            loop.call_soon_threadsafe(self._deposed, contender)

        contender = LeaderContender(
            self.client,
            self._election,
            self.info,
            on_elected=elected,
            on_deposed=deposed,
        )
        self.contender = contender
        await asyncio.to_thread(contender.start)

    def _elected(self, contender: LeaderContender) -> None:
        if contender is self.contender and contender.is_leader:
            self._lead()

    def _deposed(self, contender: LeaderContender) -> None:
        if contender is self.contender:
            self.step_down()

    def _lead(self) -> None:
        """Start a leadership term: a fresh state, recovered from the registry.
        A registry this master cannot read makes it refuse to lead (it
        withdraws from the election) rather than guess."""
        self._terms += 1
        state = MasterState(self.config, self.registry, f"{self.info['id']}-{self._terms}-offer")
        try:
            effects = state.recover(time.monotonic())
        except (CorruptRecordError, SchemaVersionError, AllocatorError, ResourceError) as error:
            # What is stored cannot be read, or not applied: no guessing.
            self.refusal = str(error)
            log.error("master %s refuses to lead: %s", self.name, error)
            self._withdraw()
            return
        except RegistryError as error:
            self.abdicate(error)
            return
        self.refusal = None
        self.state = state
        self.elected_time = time.time()
        self.on_elected(effects)

    def step_down(self) -> None:
        """End the leadership term: forget everything but the registry."""
        self.state = None
        self.on_step_down()

    def _withdraw(self) -> LeaderContender | None:
        old, self.contender = self.contender, None
        self.step_down()
        if old is not None:
            # Withdrawing waits on ZooKeeper: not on the event loop.
            asyncio.get_running_loop().run_in_executor(None, old.stop)
        return old
