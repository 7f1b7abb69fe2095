"""The master actor: a thin async shell over `MasterState`.

It feeds what arrives into the state machine with the time and sends the
effects it returns; a background loop runs expiry and the allocation cycle
every `allocation_interval`, and sooner after resources are freed.

Frameworks send their calls in batches (`calls_batch`): everything the
schedulers an actor hosts asked during one callback arrives in one message,
is carried out call by call (`_call`, the one place a scheduler's calls are
read) and answered with one message per receiving actor. Every message to an
agent or a framework is watched: if its actor has died, the agent is marked
unreachable at once and the framework disconnected (its failover timeout
starts). Idle frameworks get a heartbeat so their death is noticed too.

Whether this master leads (the ZooKeeper election, its terms, stepping down)
is `pyactors.master.leadership`'s; its HTTP API is served through
`pyactors.master.http_host`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import time
import uuid
from collections.abc import Callable
from typing import Any, assert_never

import psutil
from ray.actor import ActorHandle

from pyactors._core import Resources
from pyactors.api import state_json
from pyactors.core.protocol import (
    Accept,
    Acknowledge,
    AcknowledgeToAgent,
    AgentLost,
    AgentMessage,
    AnswerInverseOffers,
    Call,
    CallBatch,
    Decline,
    DestroyVolumes,
    Effect,
    ErrorEvent,
    ExitedExecutor,
    ForwardUpdates,
    FrameworkEvent,
    FrameworkMessages,
    Heartbeat,
    Kill,
    KillTasks,
    LaunchTasks,
    Message,
    MessageToTask,
    Reconcile,
    Registration,
    Request,
    Rescind,
    RescindInverseOffers,
    ResendUpdates,
    Revive,
    SendInverseOffers,
    SendOffers,
    Shutdown,
    ShutdownFramework,
    Suppress,
    Teardown,
    UpdateFramework,
    Usage,
    call_name,
)
from pyactors.core.tasks import TaskStatus
from pyactors.core.version import VERSION
from pyactors.errors import PyactorsError, RegistryError, UnknownAgentError
from pyactors.master import task_usage
from pyactors.master.http_host import HttpOptions, MasterHttp
from pyactors.master.leadership import Leadership
from pyactors.master.outbox import Outbox, coalesce, in_chunks
from pyactors.master.pauses import Pauses
from pyactors.master.records import MasterConfig
from pyactors.master.state import MasterState
from pyactors.runtime.handles import AgentRef, FrameworkRef
from pyactors.runtime.wire import Wire, unpack

_FAILED_OVER = "framework failed over to a new scheduler"

# The collector's thresholds in the master's process. Each launch makes
# dozens of short-lived objects while the master holds millions at 50,000
# agents; with Python's defaults (700, 10, 10) collections cost about a
# third of a launch's CPU there (bench/master_throughput.py, in one run:
# 117-129 us per launch against 80-86 us with these). Short-lived objects
# are freed by reference counting before a young collection sees them, so
# rarer ones lose nothing but the time.
COLLECTOR_THRESHOLDS = (100_000, 20, 10)


def tune_collector() -> None:
    """The master's collector thresholds, for this whole process (an actor
    has its own)."""
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


# A cycle's offers leave in messages of about this many (`in_chunks`).
OFFERS_PER_MESSAGE = 128

# Calls that neither read nor change what a held give-back would: between
# them, the unused parts of accepts wait to go back together.
_HOLDING_CALLS = (Accept, Decline, Acknowledge, Kill, Reconcile)


def _not_heard(framework_id: str, call: Call) -> ErrorEvent:
    return ErrorEvent(
        framework_id,
        f"{call_name(call)}: not carried out: {_FAILED_OVER}, and only that one is heard",
    )


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
        http_options: HttpOptions | None = None,
    ) -> None:
        tune_collector()
        self.pauses = Pauses()
        self.pauses.install()
        info = {"id": uuid.uuid4().hex, "actor": name, "version": VERSION, "start": time.time()}
        self.leadership = Leadership(
            info, config, zk, zk_session_timeout, self._elected, self._stepped_down
        )
        self.allocation_interval = allocation_interval
        self.framework_heartbeat_interval = framework_heartbeat_interval
        # The actors hosting this term's agents and frameworks.
        self.agents: dict[str, AgentRef] = {}
        self.frameworks: dict[str, FrameworkRef] = {}
        self.http = MasterHttp(
            self.leadership,
            self.agents,
            self._apply,
            self._operator_teardown,
            http_host,
            http_port,
            http_options,
            frameworks=self,
        )
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Serve the HTTP API, then lead at once (no ZooKeeper) or join the
        election as a standby."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop().create_task(self._run())
        self._watch = asyncio.get_running_loop().create_task(self.pauses.watch_loop())
        await self.http.start()
        await self.leadership.start()

    def _elected(self, effects: list[Effect]) -> None:
        self.agents.clear()
        self.frameworks.clear()
        self.http.elected()
        self._send(effects)
        self._soon()

    def _stepped_down(self) -> None:
        self.agents.clear()
        self.frameworks.clear()

    async def outlive(self, seconds: float) -> None:
        """Returns after `seconds`: standbys wait on it to hear at once from
        Ray when this master's actor dies."""
        await asyncio.sleep(seconds)

    async def status(self) -> dict[str, Any]:
        """Whether this master leads, who it is, and why it refuses to lead."""
        leadership = self.leadership
        return {
            "leading": leadership.leading() is not None,
            "info": leadership.info,
            "refusal": leadership.refusal,
        }

    async def zk_session(self) -> tuple[int, bytes] | None:
        """This master's ZooKeeper session (id, password): what a test needs
        to expire it as a partition would."""
        return self.leadership.zk_session()

    async def shutdown(self) -> None:
        """Leave the election and close the ZooKeeper session now, so that
        another master is elected without waiting for the session to expire."""
        self.leadership.step_down()
        await self.http.stop()
        await self.leadership.stop()

    async def url(self) -> str:
        """The HTTP API's base address, while this master leads."""
        return await self.http.url()

    async def _run(self) -> None:
        last_heartbeat = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.allocation_interval)
            self._wake.clear()
            state = self.leadership.leading()
            if state is None:
                continue
            now = time.monotonic()
            try:
                effects = state.expire(now) + state.allocate(now)
            except RegistryError as error:
                self.leadership.abdicate(error)
                continue
            self.http.metrics.observe_cycle(state.allocator.last_cycle_seconds)
            for chunk in in_chunks(effects, OFFERS_PER_MESSAGE):
                self._send(chunk)
            self.pauses.handled("cycle", time.monotonic() - now)
            history = self.http.share_history
            if history.due(wall := time.time()):
                history.record(wall, state.allocator.shares())
            if now - last_heartbeat >= self.framework_heartbeat_interval:
                last_heartbeat = now
                connected = (f for f, record in state.frameworks.items() if record.connected)
                self._send([Heartbeat(framework_id) for framework_id in connected])

    def _soon(self) -> None:
        """Resources were freed: run a cycle now rather than at the timer."""
        self._wake.set()

    # ----------------------------------------------------------------- agents

    async def register_agents(self, host: AgentRef, registrations: list[Registration]) -> None:
        """Agents hosted by one actor (one real agent, or a pool of emulated
        ones) register or come back."""
        now = time.monotonic()
        effects: list[Effect] = []
        with self.leadership.writing() as state:
            for agent in registrations:
                self.agents[agent.agent_id] = host
                effects += state.register_agent(
                    agent.agent_id,
                    agent.hostname,
                    Resources.parse(agent.resources),
                    agent.attributes,
                    now,
                    agent.tasks,
                    agent.recovered,
                    agent.executors,
                )
        self._send(effects)
        self._soon()

    async def heartbeat(self, agent_id: str, usage: Usage = ()) -> bool:
        """False tells the agent to register again. `usage`: its running
        tasks' statistics, kept on their records."""
        unknown = await self.heartbeats([agent_id])
        if not unknown:
            task_usage.record(self.leadership.require(), agent_id, usage)
        return not unknown

    async def heartbeats(self, agent_ids: list[str]) -> list[str]:
        """The agents among these that must register again."""
        return self.leadership.require().heartbeats(agent_ids, time.monotonic())

    async def status_update_batches(self, packed: Wire[list[tuple[str, list[TaskStatus]]]]) -> None:
        """Updates from the agents hosted by one actor, one batch each."""
        state = self.leadership.leading()
        if state is None:
            return
        batches = unpack(packed)
        self._send(state.status_update_batches(batches))
        if any(s.state.is_terminal for _, statuses in batches for s in statuses):
            self._soon()

    async def executors_exited(self, exits: list[ExitedExecutor]) -> None:
        """Custom executors' processes ended (Mesos's ExitedExecutorMessage)."""
        state = self.leadership.leading()
        if state is None:
            return
        state.executors_exited(exits)
        self._send([])  # the operator API's subscribers hear of the change
        self._soon()

    async def task_messages(self, agent_id: str, messages: list[tuple[str, bytes]]) -> None:
        state = self.leadership.leading()
        if state is not None:
            with contextlib.suppress(UnknownAgentError):
                self._send(state.messages_from_tasks(agent_id, messages))

    async def agents_lost(self, agent_ids: list[str]) -> None:
        """Agents whose Ray node left the cluster (the supervisor of
        `pyactors up` watches the node table): unreachable now, as when
        their actor is found dead for good."""
        state = self.leadership.leading()
        if state is None:
            return
        now, effects = time.monotonic(), []
        for agent_id in agent_ids:
            self.agents.pop(agent_id, None)
            with contextlib.suppress(UnknownAgentError):
                effects += state.agent_lost(agent_id, now)
        self._send(effects)
        self._soon()

    async def agents_disconnected(self, agent_ids: list[str]) -> None:
        """Agents whose actor died while their node stays (the supervisor
        starts them again there, and they recover their tasks):
        disconnected, not lost, for `agent_recovery_timeout`
        (`MasterState.agent_disconnected`)."""
        state = self.leadership.leading()
        if state is None:
            return
        now, effects = time.monotonic(), []
        for agent_id in agent_ids:
            with contextlib.suppress(UnknownAgentError):
                effects += state.agent_disconnected(agent_id, now)
        self._send(effects)

    # ------------------------------------------------------------- frameworks

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
    ) -> str:
        """Register a framework, or fail one over to this new actor; the
        actor it replaces (if still alive) is told and no longer heard.
        Authenticated and authorized by `MasterState.subscribe`."""
        with self.leadership.writing() as state:
            framework_id, effects = state.subscribe(
                name,
                roles,
                time.monotonic(),
                framework_id,
                capabilities,
                failover_timeout,
                principal=principal,
                secret=secret,
                user=user,
                webui_url=webui_url,
            )
        previous = self.frameworks.get(framework_id)
        if previous is not None and previous != host:
            failed_over = ErrorEvent(framework_id, _FAILED_OVER)
            previous.deliver_events([failed_over])
        self.frameworks[framework_id] = host
        self._send(effects)
        self._soon()
        return framework_id

    async def calls_batch(self, host: ActorHandle[Any], batches: Wire[list[CallBatch]]) -> None:
        """`MasterRef.calls_batch`: the calls of the frameworks the actor
        `host` hosts."""
        await self.carry_out_calls(FrameworkRef(host), unpack(batches))

    async def carry_out_calls(self, host: FrameworkRef, batches: list[CallBatch]) -> None:
        """The call batches of the frameworks one actor (`host`) hosts, each
        carried out in order. A call that fails is answered with an error
        event and changes nothing; the others still run.

        Only a framework's current scheduler is heard, as Mesos hears only
        its current stream: the calls of one it failed over from are refused
        (each answered with an error event, to that actor) and change
        nothing, and so are those of a framework not subscribed with this
        master now."""
        state = self.leadership.leading()
        if state is None:
            return
        effects: list[Effect] = []
        now = time.monotonic()
        # What the batch's accepts leave unused goes back in one call into
        # the allocator, before any call that could tell it is not back yet.
        state.offering.hold_give_backs()
        try:
            for framework_id, calls in batches:
                if framework_id not in state.frameworks:
                    continue
                current = self.frameworks.get(framework_id)
                if current != host:
                    # Not subscribed with this master (yet): dropped, as calls
                    # are while no leader is known; only a replaced one is told.
                    if current is not None:
                        host.deliver_events([_not_heard(framework_id, call) for call in calls])
                    continue
                for call in calls:
                    if not isinstance(call, _HOLDING_CALLS):
                        state.offering.flush_give_backs(keep_holding=True)
                    try:
                        effects += self._call(state, framework_id, call, now)
                    except RegistryError as error:
                        self.leadership.abdicate(error)
                        return
                    except (PyactorsError, TypeError) as error:
                        effects.append(ErrorEvent(framework_id, f"{call_name(call)}: {error}"))
        finally:
            state.offering.flush_give_backs()
        self._send(effects)

    def _call(self, state: MasterState, framework_id: str, call: Call, now: float) -> list[Effect]:
        match call:
            case Accept(offer_ids, operations, refuse_seconds):
                return state.accept(framework_id, offer_ids, operations, refuse_seconds, now=now)
            case Decline(offer_ids, refuse_seconds):
                return state.decline(framework_id, offer_ids, refuse_seconds, now=now)
            case AnswerInverseOffers(ids, accept, refuse_seconds):
                return state.answer_inverse_offers(framework_id, ids, accept, refuse_seconds, now)
            case Acknowledge(acknowledgements):
                effects = state.acknowledge(framework_id, acknowledgements)
                self.http.metrics.acknowledged((uuid for _, uuid in acknowledgements), now)
                return effects
            case Kill(task_id, grace_period):
                return state.kill(framework_id, task_id, now=now, grace_period=grace_period)
            case Reconcile(task_ids, agent_ids):
                return state.reconcile(framework_id, task_ids, now=now, agent_ids=agent_ids)
            case Revive(roles) | Request(roles):
                effects = state.revive(framework_id, roles)
                self._soon()
                return effects
            case Suppress(roles):
                return state.suppress(framework_id, roles)
            case Teardown():
                return self._teardown(state, framework_id)
            case UpdateFramework(roles, capabilities, failover_timeout, name):
                return state.update_framework(
                    framework_id, roles, capabilities, failover_timeout, name
                )
            case Message(agent_id, executor_id, data):
                return state.message_to_task(framework_id, agent_id, executor_id, data)
            case Shutdown(agent_id, executor_id):
                return state.shutdown_executor(framework_id, agent_id, executor_id, now=now)
            case _:
                assert_never(call)

    def _teardown(self, state: MasterState, framework_id: str) -> list[Effect]:
        effects = state.teardown(framework_id, time.monotonic())
        self.frameworks.pop(framework_id, None)
        self._soon()
        return effects

    def _operator_teardown(
        self, state: MasterState, framework_id: str, principal: str | None = None
    ) -> list[Effect]:
        """The HTTP API's teardown, by `principal` (None: an unauthenticated
        caller), as the ACL teardown_frameworks allows."""
        effects = state.operator_teardown(framework_id, time.monotonic(), principal)
        self.frameworks.pop(framework_id, None)
        self._soon()
        return effects

    # --------------------------------------------------------------- operator

    async def teardown(self, framework_id: str) -> None:
        """The driver ends a framework it runs (`Cluster.teardown`); no ACL,
        as when the framework tears itself down."""
        with self.leadership.writing() as state:
            effects = self._teardown(state, framework_id)
        self._send(effects)

    async def set_weight(self, role: str, weight: float, principal: str | None = None) -> None:
        """A role's weight: stored in the registry, then applied, if the ACL
        update_weights lets `principal` (the driver's) set it."""
        self._store(lambda state: state.set_weight(role, weight, principal))

    async def set_quota(
        self, role: str, guarantee: str, limit: str | None = None, principal: str | None = None
    ) -> None:
        """A role's quota as resource text (`limit` None: none); an empty
        guarantee without a limit removes it. Stored, then applied, if the
        ACL update_quotas lets `principal` (the driver's) set it."""
        self._store(lambda state: state.set_quota(role, guarantee, limit, principal))

    def _store(self, change: Callable[[MasterState], None]) -> None:
        with self.leadership.writing() as state:
            change(state)
        self._soon()

    def _apply(self, effects: list[Effect]) -> None:
        """An operator's change was made: send its effects, allocate soon."""
        self._send(effects)
        self._soon()

    async def process_usage(self) -> dict[str, float]:
        """The master process's id (for a profiler), CPU seconds and
        resident memory, the last allocation cycle's time in the core, and
        its pauses since the previous call (`Pauses.take`)."""
        process = psutil.Process()
        times = process.cpu_times()
        return {
            "pid": float(process.pid),
            "cpu_user_seconds": times.user,
            "cpu_system_seconds": times.system,
            "rss_bytes": float(process.memory_info().rss),
            "allocation_cycle_seconds": self.leadership.require().allocator.last_cycle_seconds,
            **self.pauses.take(),
        }

    async def state_summary(self) -> dict[str, Any]:
        """What `Cluster.state()` returns (`state_json.cluster_state`)."""
        return state_json.cluster_state(self.leadership.require())

    # ----------------------------------------------------------------- sending

    def _send(self, effects: list[Effect]) -> None:
        """Send effects: one message per actor, carrying everything for the
        agents (`deliver`) or frameworks (`deliver_events`) it hosts, in
        order; several of a receiver's effects of one kind are merged.
        Nothing goes out unless this master leads. Every change to the
        state ends here, so the operator API's subscribers hear of it here."""
        self.http.operator_events.observe(self.leadership.leading())
        if self.leadership.leading() is None:
            return
        to_agents: Outbox[AgentRef, AgentMessage] = Outbox(self.agents)
        to_frameworks: Outbox[FrameworkRef, FrameworkEvent] = Outbox(self.frameworks)
        now = time.monotonic()
        for effect in coalesce(effects):
            match effect:
                case (
                    LaunchTasks()
                    | KillTasks()
                    | DestroyVolumes()
                    | AcknowledgeToAgent()
                    | ResendUpdates()
                    | MessageToTask()
                    | ShutdownFramework()
                ):
                    to_agents.post(effect.agent_id, effect)
                case ForwardUpdates(framework_id, statuses):
                    self.http.metrics.forwarded((s.uuid for s in statuses if s.uuid), now)
                    to_frameworks.post(framework_id, effect)
                case (
                    SendOffers()
                    | Rescind()
                    | SendInverseOffers()
                    | RescindInverseOffers()
                    | FrameworkMessages()
                    | AgentLost()
                    | ErrorEvent()
                    | Heartbeat()
                ):
                    to_frameworks.post(effect.framework_id, effect)
                case _:
                    assert_never(effect)
        for framework_host, events in to_frameworks.batches.items():
            receivers = to_frameworks.receivers[framework_host]
            died = functools.partial(self._frameworks_died, receivers, framework_host)
            framework_host.deliver_events(events, died)
        for agent_host, messages in to_agents.batches.items():
            receivers = to_agents.receivers[agent_host]
            agent_host.deliver(
                messages, functools.partial(self._agents_died, receivers, agent_host)
            )

    def _frameworks_died(self, framework_ids: set[str], host: FrameworkRef) -> None:
        # Only the actor currently serving a framework matters: one that was
        # failed over from may die without consequence.
        state = self.leadership.leading()
        if state is None:
            return
        effects: list[Effect] = []
        for framework_id in framework_ids:
            if self.frameworks.get(framework_id) != host:
                continue
            del self.frameworks[framework_id]
            record = state.frameworks.get(framework_id)
            if record is not None and record.connected:
                effects += state.disconnect(framework_id, time.monotonic())
        self._send(effects)
        self._soon()

    def _agents_died(self, agent_ids: set[str], host: AgentRef) -> None:
        state = self.leadership.leading()
        if state is None:
            return
        effects: list[Effect] = []
        for agent_id in agent_ids:
            if self.agents.get(agent_id) == host:
                del self.agents[agent_id]
                effects += state.agent_lost(agent_id, time.monotonic())
        self._send(effects)
