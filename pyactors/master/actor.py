"""The master actor: a thin async shell over `MasterState`.

It feeds what arrives into the state machine with the time and sends the
effects it returns; a background loop runs expiry and the allocation cycle
every `allocation_interval`, and sooner after resources are freed.

Frameworks send their calls in batches (`calls`): everything a scheduler
asked during one callback arrives in one message and is answered with one
message per receiver. Every message to an agent or a framework is watched:
if its actor has died, the agent is marked unreachable at once and the
framework disconnected (its failover timeout starts). Idle frameworks get a
heartbeat so their death is noticed too.

High availability: with a `zk://` URL, several master actors contend in a
ZooKeeper election (`pyactors.ha.election`), each on its own kazoo session. The
one elected builds a fresh `MasterState` over the ZooKeeper registry and
recovers it; the others are standbys: they refuse questions
(`NotLeaderError`) and drop one-way messages. Leadership ends the moment the
session is suspended or lost (the contender's `is_leader` turns False on
kazoo's thread, and every send checks it) or a registry write fails (this
master withdraws and joins again at the back); the state is then dropped.
Without ZooKeeper, the one master leads at once over an in-memory registry.

Every master serves the HTTP API (`pyactors.api.http`) on
`http_host:http_port` from this same event loop, bound before it joins the
election (port 0: a free one) and published with its leader info. The
leader answers; a standby redirects (307) to the leader's address, as
Mesos's standbys do. `url()` gives the leader's address.

A killed leader's candidacy would outlive it by the ZooKeeper session
timeout. Standbys wait on the leader's actor instead (`outlive`): when Ray
reports it dead, they delete its candidate znode, and the next master is
elected at once. (So the masters of one ZooKeeper path must share one Ray
cluster: a leader a standby cannot find by name counts as dead.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import psutil
from kazoo.client import KazooClient

from pyactors._core import Resources
from pyactors.agent.sandbox_files import FileChunk
from pyactors.agent.state import TaskReport
from pyactors.api import state_json
from pyactors.api.http import Change, HttpServer
from pyactors.api.metrics import MasterMetrics, Reading
from pyactors.core.operations import Operation
from pyactors.core.tasks import TaskStatus
from pyactors.core.version import VERSION
from pyactors.errors import (
    AgentUnreachableError,
    AllocatorError,
    CorruptRecordError,
    NotLeaderError,
    PyactorsError,
    RegistryError,
    ResourceError,
    SandboxGoneError,
    SchemaVersionError,
    UnknownAgentError,
    UnknownFrameworkError,
    UnknownTaskError,
)
from pyactors.ha.election import LeaderContender, LeaderDetector, parse_zk_url, remove_candidate
from pyactors.ha.leader import ELECTION, REGISTRY, close_client, zk_client
from pyactors.master import task_usage
from pyactors.master.registry import MemoryRegistry, Registry, ZooKeeperRegistry
from pyactors.master.share_history import ShareHistory
from pyactors.master.state import (
    AcknowledgeToAgent,
    AgentLost,
    DestroyVolumes,
    Effect,
    ErrorEvent,
    ForwardUpdates,
    FrameworkMessages,
    KillTasks,
    LaunchTasks,
    MasterConfig,
    MasterState,
    MessageToTask,
    Rescind,
    ResendUpdates,
    SendOffers,
    coalesce,
)
from pyactors.runtime import ray_calls

log = logging.getLogger(__name__)

# How long one `outlive` call lasts before a standby asks again: bounds what
# a standby leaves pending on a leader it no longer watches.
OUTLIVE_SECONDS = 30.0

# How long the HTTP API waits for an agent to read a sandbox file.
READ_FILE_SECONDS = 10.0

# A framework call as the driver sends it: (call name, arguments).
Call = tuple[str, tuple[Any, ...]]
# An agent's registration: (agent id, hostname, resources, attributes,
# the tasks it holds).
Registration = tuple[str, str, str, dict[str, str], list[TaskReport]]
# A message for an agent or a framework, as `deliver` / `deliver_events`
# take them: (agent or framework id, method, args); grouped by actor handle.
Message = tuple[str, str, tuple[Any, ...]]
Outbox = dict[Any, list[Message]]


class MasterActor:
    def __init__(
        self,
        config: MasterConfig,
        allocation_interval: float = 1.0,
        framework_heartbeat_interval: float = 5.0,
        zk: str | None = None,
        name: str = "",
        zk_session_timeout: float = 10.0,
        http_host: str = "127.0.0.1",
        http_port: int | None = 0,
    ) -> None:
        self.config = config
        self.zk = zk
        self.zk_session_timeout = zk_session_timeout
        # What the leader publishes in ZooKeeper; `actor` is how followers find it.
        self.info: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "actor": name,
            "version": VERSION,
            "start": time.time(),
        }
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
        self.allocation_interval = allocation_interval
        self.framework_heartbeat_interval = framework_heartbeat_interval
        self.agent_handles: dict[str, Any] = {}
        self.framework_handles: dict[str, Any] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        # The HTTP API (None: not served at all), and when this master was
        # last elected (wall clock).
        self.http = None if http_port is None else HttpServer(self, http_host, http_port)
        self.elected_time = 0.0
        self.metrics = MasterMetrics(self._metrics_reading)
        # The frameworks' dominant shares over the last minutes (the web UI's chart).
        self.share_history = ShareHistory()
        # Wall clock minus monotonic clock, taken once: the state's times
        # (monotonic inside) are shown as wall-clock times that stay the
        # same from one request to the next.
        self._clock_offset = time.time() - time.monotonic()
        # What the current leader published (None: none known).
        self.leader_info: dict[str, Any] | None = None
        self._serving: asyncio.Task[None] | None = None
        self._calls: dict[str, Callable[..., list[Effect]]] = {
            "accept": self._accept,
            "decline": self._decline,
            "acknowledge": self._acknowledge,
            "kill": self._kill,
            "reconcile": self._reconcile,
            "revive": self._revive,
            "suppress": self._suppress,
            "request": self._revive,
            "teardown": self._teardown,
            "update_framework": self._update_framework,
            "message": self._message,
            "shutdown": self._shutdown,
        }

    async def start(self) -> None:
        """Lead at once (no ZooKeeper), or join the election as a standby."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop().create_task(self._run())
        if self.http is not None:
            await self.http.start()
            if self.http.address is not None:
                self.info["url"] = self._url(self.http.address)
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
                leader = ray_calls.named(str(info.get("actor")))
                await ray_calls.ask_async(leader, "outlive", OUTLIVE_SECONDS)
            except (ray_calls.ActorDiedError, ray_calls.NoSuchActorError):
                break
            except ray_calls.RayActorError:
                # Unreachable for now is not dead: ZooKeeper's session decides.
                await asyncio.sleep(1.0)
        assert self.client is not None
        if await asyncio.to_thread(remove_candidate, self.client, self._election, info["id"]):
            log.warning("master %s: the leader %s died", self.info["actor"], info.get("actor"))

    async def outlive(self, seconds: float) -> None:
        """Returns after `seconds`: standbys wait on it to hear at once from
        Ray when this master's actor dies."""
        await asyncio.sleep(seconds)

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
            self._step_down()

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
            log.error("master %s refuses to lead: %s", self.info["actor"], error)
            self._withdraw()
            return
        except RegistryError as error:
            self._abdicate(error)
            return
        self.refusal = None
        self.agent_handles, self.framework_handles = {}, {}
        self.state = state
        self.elected_time = time.time()
        self.share_history.clear()
        self._send(effects)
        self._soon()
        if self.http is not None and self.http.address is None:
            # Its port was taken while it stood by (masters sharing a host
            # and a fixed port): the old leader's may be free now.
            self._serving = asyncio.get_running_loop().create_task(self.http.start())

    def _step_down(self) -> None:
        """End the leadership term: forget everything but the registry."""
        self.state = None
        self.agent_handles, self.framework_handles = {}, {}

    def _abdicate(self, error: RegistryError) -> None:
        """A registry write failed (fenced by a newer leader, or of unknown
        outcome): stop leading now and join the election again at the back."""
        log.warning("master %s steps down: %s", self.info["actor"], error)
        self._step_down()
        if self._withdraw() is not None:
            self._rejoin = asyncio.get_running_loop().create_task(self._contend())

    def _withdraw(self) -> LeaderContender | None:
        old, self.contender = self.contender, None
        self._step_down()
        if old is not None:
            # Withdrawing waits on ZooKeeper: not on the event loop.
            asyncio.get_running_loop().run_in_executor(None, old.stop)
        return old

    def _leader(self) -> MasterState | None:
        """The state, while this master leads. Checked before anything goes
        out: a contender that lost its session is no leader any more, even
        before its deposition reaches this loop."""
        if self.state is None or (self.contender is not None and not self.contender.is_leader):
            return None
        return self.state

    def _leading(self) -> MasterState:
        state = self._leader()
        if state is None:
            raise NotLeaderError(f"master {self.info['actor']} is not the leader")
        return state

    async def _run(self) -> None:
        last_heartbeat = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.allocation_interval)
            self._wake.clear()
            state = self._leader()
            if state is None:
                continue
            now = time.monotonic()
            try:
                effects = state.expire(now) + state.allocate(now)
            except RegistryError as error:
                self._abdicate(error)
                continue
            self.metrics.observe_cycle(state.allocator.last_cycle_seconds)
            self._send(effects)
            if self.share_history.due(wall := time.time()):
                self.share_history.record(wall, state_json.shares(state.allocator.snapshot()))
            if now - last_heartbeat >= self.framework_heartbeat_interval:
                last_heartbeat = now
                heartbeats: Outbox = {}
                for framework_id, record in state.frameworks.items():
                    if record.connected:
                        self._post(heartbeats, self.framework_handles, framework_id, "heartbeat")
                self._flush(heartbeats, "deliver_events", self._frameworks_died)

    async def status(self) -> dict[str, Any]:
        """Whether this master leads, who it is, and why it refuses to lead."""
        return {"leading": self._leader() is not None, "info": self.info, "refusal": self.refusal}

    async def zk_session(self) -> tuple[int, bytes] | None:
        """This master's ZooKeeper session (id, password): what a test needs
        to expire it as a partition would."""
        if self.client is None:
            return None
        session_id, password = self.client.client_id
        return int(session_id), bytes(password)

    async def shutdown(self) -> None:
        """Leave the election and close the ZooKeeper session now, so that
        another master is elected without waiting for the session to expire."""
        self._step_down()
        if self.http is not None:
            await self.http.stop()
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

    def _soon(self) -> None:
        """Resources were freed: run a cycle now rather than at the timer."""
        self._wake.set()

    # ----------------------------------------------------------------- agents

    async def register_agent(
        self,
        agent_id: str,
        handle: Any,
        hostname: str,
        resources: str,
        attributes: dict[str, str],
        tasks: list[TaskReport],
    ) -> None:
        await self.register_agents(handle, [(agent_id, hostname, resources, attributes, tasks)])

    async def register_agents(self, handle: Any, registrations: list[Registration]) -> None:
        """Agents hosted by one actor (one real agent, or a pool of emulated
        ones) register or come back: (agent id, hostname, resources,
        attributes, the tasks it holds) each."""
        state = self._leading()
        now = time.monotonic()
        effects: list[Effect] = []
        try:
            for agent_id, hostname, resources, attributes, tasks in registrations:
                self.agent_handles[agent_id] = handle
                effects += state.register_agent(
                    agent_id, hostname, Resources.parse(resources), attributes, now, tasks
                )
        except RegistryError as error:
            self._abdicate(error)
            raise NotLeaderError(f"master {self.info['actor']} stepped down: {error}") from error
        self._send(effects)
        self._soon()

    async def heartbeat(self, agent_id: str, usage: task_usage.Usage = ()) -> bool:
        """False tells the agent to register again. `usage`: its running
        tasks' statistics, kept on their records."""
        unknown = await self.heartbeats([agent_id])
        if not unknown:
            task_usage.record(self._leading(), agent_id, usage)
        return not unknown

    async def heartbeats(self, agent_ids: list[str]) -> list[str]:
        """The agents among these that must register again."""
        state = self._leading()
        now, unknown = time.monotonic(), []
        for agent_id in agent_ids:
            try:
                state.heartbeat(agent_id, now)
            except LookupError:
                unknown.append(agent_id)
        return unknown

    async def status_updates(self, agent_id: str, statuses: list[TaskStatus]) -> None:
        await self.status_update_batches([(agent_id, statuses)])

    async def status_update_batches(self, batches: list[tuple[str, list[TaskStatus]]]) -> None:
        """Updates from several agents hosted by one actor, one batch each."""
        state = self._leader()
        if state is None:
            return
        effects: list[Effect] = []
        for agent_id, statuses in batches:
            # An agent a new leader does not know yet resends once registered.
            with contextlib.suppress(UnknownAgentError):
                effects += state.status_updates(agent_id, statuses)
        self._send(effects)
        if any(s.state.is_terminal for _, statuses in batches for s in statuses):
            self._soon()

    async def agents_lost(self, agent_ids: list[str]) -> None:
        """Agents whose Ray node left the cluster, or whose actor died (the
        supervisor of `pyactors up` watches both): unreachable now, as when
        their actor is found dead."""
        state = self._leader()
        if state is None:
            return
        now, effects = time.monotonic(), []
        for agent_id in agent_ids:
            self.agent_handles.pop(agent_id, None)
            with contextlib.suppress(UnknownAgentError):
                effects += state.agent_lost(agent_id, now)
        self._send(effects)
        self._soon()

    # ------------------------------------------------------------- frameworks

    async def subscribe(
        self,
        handle: Any,
        name: str,
        roles: list[str],
        framework_id: str | None,
        capabilities: list[str],
        failover_timeout: float,
    ) -> str:
        """Register a framework, or fail one over to this new actor; the
        actor it replaces (if still alive) is told and no longer heard."""
        state = self._leading()
        try:
            framework_id, effects = state.subscribe(
                name, roles, time.monotonic(), framework_id, capabilities, failover_timeout
            )
        except RegistryError as error:
            self._abdicate(error)
            raise NotLeaderError(f"master {self.info['actor']} stepped down: {error}") from error
        previous = self.framework_handles.get(framework_id)
        if previous is not None and previous != handle:
            ray_calls.tell(previous, "error", "framework failed over to a new scheduler")
        self.framework_handles[framework_id] = handle
        self._send(effects)
        self._soon()
        return framework_id

    async def calls(self, framework_id: str, calls: list[Call]) -> None:
        """A batch of one framework's calls, carried out in order. A call
        that fails is answered with an error event and changes nothing; the
        others still run."""
        await self.calls_batch([(framework_id, calls)])

    async def calls_batch(self, batches: list[tuple[str, list[Call]]]) -> None:
        """The call batches of several frameworks hosted by one actor."""
        state = self._leader()
        if state is None:
            return
        effects: list[Effect] = []
        now = time.monotonic()
        for framework_id, calls in batches:
            if framework_id not in state.frameworks:
                continue
            for name, args in calls:
                handler = self._calls.get(name)
                try:
                    if handler is None:
                        raise PyactorsError(f"unknown call {name!r}")
                    effects += handler(state, framework_id, now, *args)
                except RegistryError as error:
                    self._abdicate(error)
                    return
                except (PyactorsError, TypeError) as error:
                    effects.append(ErrorEvent(framework_id, f"{name}: {error}"))
        self._send(effects)

    def _accept(
        self,
        state: MasterState,
        framework_id: str,
        now: float,
        offer_ids: list[str],
        operations: list[Operation],
        refuse_seconds: float,
    ) -> list[Effect]:
        return state.accept(framework_id, offer_ids, operations, refuse_seconds, now)

    def _decline(
        self,
        state: MasterState,
        framework_id: str,
        now: float,
        offer_ids: list[str],
        refuse_seconds: float,
    ) -> list[Effect]:
        return state.decline(framework_id, offer_ids, refuse_seconds, now)

    def _acknowledge(
        self,
        state: MasterState,
        framework_id: str,
        now: float,
        acknowledgements: list[tuple[str, str]],
    ) -> list[Effect]:
        effects = state.acknowledge(framework_id, acknowledgements)
        self.metrics.acknowledged((uuid for _, uuid in acknowledgements), now)
        return effects

    def _kill(
        self, state: MasterState, framework_id: str, now: float, task_id: str
    ) -> list[Effect]:
        return state.kill(framework_id, task_id, now)

    def _reconcile(
        self,
        state: MasterState,
        framework_id: str,
        now: float,
        task_ids: list[str],
        agent_ids: dict[str, str] | None = None,
    ) -> list[Effect]:
        return state.reconcile(framework_id, task_ids, now, agent_ids)

    def _revive(
        self, state: MasterState, framework_id: str, now: float, roles: list[str] | None
    ) -> list[Effect]:
        state.allocator.revive(framework_id, roles)
        self._soon()
        return []

    def _suppress(
        self, state: MasterState, framework_id: str, now: float, roles: list[str] | None
    ) -> list[Effect]:
        state.allocator.suppress(framework_id, roles)
        return []

    def _teardown(self, state: MasterState, framework_id: str, now: float) -> list[Effect]:
        effects = state.teardown(framework_id)
        self.framework_handles.pop(framework_id, None)
        self._soon()
        return effects

    def _update_framework(
        self, state: MasterState, framework_id: str, now: float, changes: dict[str, Any]
    ) -> list[Effect]:
        state.update_framework(framework_id, **changes)
        return []

    def _shutdown(
        self, state: MasterState, framework_id: str, now: float, agent_id: str, executor_id: str
    ) -> list[Effect]:
        return state.shutdown_executor(framework_id, agent_id, executor_id, now)

    def _message(
        self,
        state: MasterState,
        framework_id: str,
        now: float,
        agent_id: str,
        task_id: str,
        data: bytes,
    ) -> list[Effect]:
        return state.message_to_task(framework_id, agent_id, task_id, data)

    async def teardown(self, framework_id: str) -> None:
        """The operator ends a framework (Mesos's /teardown)."""
        state = self._leading()
        try:
            self._send(self._teardown(state, framework_id, time.monotonic()))
        except RegistryError as error:
            self._abdicate(error)
            raise NotLeaderError(f"master {self.info['actor']} stepped down: {error}") from error

    async def set_weight(self, role: str, weight: float) -> None:
        """A role's weight: stored in the registry, then applied."""
        self._store(lambda state: state.set_weight(role, weight))

    async def set_quota(self, role: str, guarantee: str, limit: str | None = None) -> None:
        """A role's quota as resource text (`limit` None: none); an empty
        guarantee without a limit removes it. Stored, then applied."""
        self._store(lambda state: state.set_quota(role, guarantee, limit))

    def _store(self, change: Callable[[MasterState], None]) -> None:
        state = self._leading()
        try:
            change(state)
        except RegistryError as error:
            self._abdicate(error)
            raise NotLeaderError(f"master {self.info['actor']} stepped down: {error}") from error
        self._soon()

    async def task_messages(self, agent_id: str, messages: list[tuple[str, bytes]]) -> None:
        state = self._leader()
        if state is not None:
            with contextlib.suppress(UnknownAgentError):
                self._send(state.messages_from_tasks(agent_id, messages))

    async def process_usage(self) -> dict[str, float]:
        """The master process's CPU seconds and resident memory, and the
        last allocation cycle's time in the core."""
        process = psutil.Process()
        times = process.cpu_times()
        return {
            "cpu_user_seconds": times.user,
            "cpu_system_seconds": times.system,
            "rss_bytes": float(process.memory_info().rss),
            "allocation_cycle_seconds": self._leading().allocator.last_cycle_seconds,
        }

    async def state_summary(self) -> dict[str, Any]:
        return self._leading().state()

    # ---------------------------------------------------------------- HTTP API

    async def url(self) -> str:
        """The HTTP API's base address, while this master leads."""
        self._leading()
        if self.http is None:
            raise PyactorsError(f"master {self.info['actor']} serves no HTTP API")
        return self._url(await self.http.wait_bound())

    def leader_url(self) -> str | None:
        """Where the leader serves its HTTP API, if known."""
        if self._leader() is not None:
            bound = None if self.http is None else self.http.address
            return None if bound is None else self._url(bound)
        info = self.leader_info
        if info is None or info.get("id") == self.info["id"]:
            return None
        return info.get("url")

    def _url(self, bound: tuple[str, int]) -> str:
        return f"http://{self._public_host(bound[0])}:{bound[1]}"

    @staticmethod
    def _public_host(host: str) -> str:
        if host in ("0.0.0.0", "::", ""):
            return ray_calls.current_node_ip()
        return f"[{host}]" if ":" in host else host

    def leading_state(self) -> MasterState | None:
        return self._leader()

    def about(self) -> state_json.About:
        bound = None if self.http is None else self.http.address
        state = self._leader()
        return state_json.About(
            id=str(self.info["id"]),
            version=str(self.info["version"]),
            hostname="" if bound is None else self._public_host(bound[0]),
            start_time=float(self.info["start"]),
            elected_time=self.elected_time,
            clock_offset=self._clock_offset,
            leader=str(self.info["actor"]),
            allocation_run_seconds=0.0 if state is None else state.allocator.last_cycle_seconds,
            now=time.time(),
        )

    def operate(self, change: Change) -> None:
        """An operator's change to the leading state (checked whole by the
        state before it changes anything); its effects are sent."""
        state = self._leading()
        try:
            effects = change(state, time.monotonic())
        except RegistryError as error:
            self._abdicate(error)
            raise NotLeaderError(f"master {self.info['actor']} stepped down: {error}") from error
        self._send(effects)
        self._soon()

    def teardown_framework(self, framework_id: str) -> None:
        """The operator's teardown: the framework's scheduler is told, then
        the framework removed."""
        state = self._leading()
        if framework_id not in state.frameworks:
            raise UnknownFrameworkError(f"unknown framework '{framework_id}'")
        self._send([ErrorEvent(framework_id, "framework removed by the operator")])
        self.operate(lambda state, now: self._teardown(state, framework_id, now))

    def _metrics_reading(self) -> Reading | None:
        state = self._leader()
        if state is None:
            return None
        return Reading(
            state_json.metrics(state, self.about()),
            state_json.shares(state.allocator.snapshot()),
            task_usage.framework_totals(state),
        )

    async def read_task_file(
        self, task_id: str, name: str, offset: int, length: int | None
    ) -> FileChunk:
        """A chunk of a file in the sandbox of a live or completed task,
        read by its agent (one call, awaited: this loop goes on meanwhile)."""
        state = self._leading()
        record = state.tasks.get(task_id) or state.completed.get(task_id)
        if record is None:
            raise UnknownTaskError(f"unknown task '{task_id}'")
        handle = self.agent_handles.get(record.agent_id)
        if handle is None:
            raise AgentUnreachableError(
                f"agent '{record.agent_id}' of task '{task_id}' is not registered with this master"
            )
        try:
            chunk: FileChunk = await asyncio.wait_for(
                ray_calls.ask_async(handle, "read_file", task_id, name, offset, length),
                READ_FILE_SECONDS,
            )
        except PyactorsError as error:
            raise ray_calls.cause(error) from None
        except AttributeError:
            # An emulated agent (`pyactors.agent.pool`): no processes, no files.
            raise SandboxGoneError(
                f"agent '{record.agent_id}' of task '{task_id}' keeps no sandboxes"
            ) from None
        except (ray_calls.RayActorError, TimeoutError) as error:
            raise AgentUnreachableError(
                f"agent '{record.agent_id}' of task '{task_id}' did not answer: {error}"
            ) from None
        return chunk

    # ----------------------------------------------------------------- effects

    def _send(self, effects: list[Effect]) -> None:
        """Send effects: one message per actor, carrying everything for the
        agents (`deliver`) or frameworks (`deliver_events`) it hosts, in
        order; several of a framework's effects of one kind are merged.
        Nothing goes out unless this master leads."""
        if self._leader() is None:
            return
        agents: Outbox = {}
        frameworks: Outbox = {}
        now = time.monotonic()
        to_framework = functools.partial(self._post, frameworks, self.framework_handles)
        to_agent = functools.partial(self._post, agents, self.agent_handles)
        for effect in coalesce(effects):
            match effect:
                case SendOffers(framework_id, offers):
                    to_framework(framework_id, "offers", offers)
                case Rescind(framework_id, offer_ids):
                    to_framework(framework_id, "rescind", offer_ids)
                case ForwardUpdates(framework_id, statuses):
                    to_framework(framework_id, "updates", statuses)
                    self.metrics.forwarded((s.uuid for s in statuses if s.uuid), now)
                case ErrorEvent(framework_id, message):
                    to_framework(framework_id, "error", message)
                case AgentLost(framework_id, agent_id):
                    to_framework(framework_id, "agent_lost", agent_id)
                case FrameworkMessages(framework_id, messages):
                    to_framework(framework_id, "messages", messages)
                case LaunchTasks(agent_id, framework_id, tasks, groups, role):
                    to_agent(agent_id, "launch", framework_id, tasks, groups, role)
                case KillTasks(agent_id, _, task_ids, grace):
                    to_agent(agent_id, "kill", task_ids, grace)
                case DestroyVolumes(agent_id, persistence_ids):
                    to_agent(agent_id, "destroy_volumes", persistence_ids)
                case AcknowledgeToAgent(agent_id, acknowledgements):
                    to_agent(agent_id, "acknowledge", acknowledgements)
                case ResendUpdates(agent_id, task_ids):
                    to_agent(agent_id, "resend", task_ids)
                case MessageToTask(agent_id, task_id, data):
                    to_agent(agent_id, "message", task_id, data)
        self._flush(frameworks, "deliver_events", self._frameworks_died)
        self._flush(agents, "deliver", self._agents_died)

    @staticmethod
    def _post(
        outbox: Outbox, handles: dict[str, Any], receiver: str, method: str, *args: Any
    ) -> None:
        handle = handles.get(receiver)
        if handle is not None:
            outbox.setdefault(handle, []).append((receiver, method, args))

    @staticmethod
    def _flush(outbox: Outbox, method: str, on_dead: Callable[[set[str], Any], None]) -> None:
        for handle, batch in outbox.items():
            receivers = {receiver for receiver, _, _ in batch}
            ray_calls.tell_watched(
                handle, method, (batch,), functools.partial(on_dead, receivers, handle)
            )

    def _frameworks_died(self, framework_ids: set[str], handle: Any) -> None:
        # Only the actor currently serving a framework matters: one that was
        # failed over from may die without consequence.
        state = self._leader()
        if state is None:
            return
        effects: list[Effect] = []
        for framework_id in framework_ids:
            if self.framework_handles.get(framework_id) != handle:
                continue
            del self.framework_handles[framework_id]
            record = state.frameworks.get(framework_id)
            if record is not None and record.connected:
                effects += state.disconnect(framework_id, time.monotonic())
        self._send(effects)
        self._soon()

    def _agents_died(self, agent_ids: set[str], handle: Any) -> None:
        state = self._leader()
        if state is None:
            return
        effects: list[Effect] = []
        for agent_id in agent_ids:
            if self.agent_handles.get(agent_id) == handle:
                del self.agent_handles[agent_id]
                effects += state.agent_lost(agent_id, time.monotonic())
        self._send(effects)
