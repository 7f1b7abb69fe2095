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
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from typing import Any

import psutil

from pyactors import ray_calls
from pyactors._core import Resources
from pyactors.errors import PyactorsError
from pyactors.master_state import (
    AcknowledgeToAgent,
    AgentLost,
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
from pyactors.operations import Operation
from pyactors.tasks import TaskStatus

# A framework call as the driver sends it: (call name, arguments).
Call = tuple[str, tuple[Any, ...]]
# An agent's registration: (agent id, hostname, resources, attributes,
# ids of its running tasks).
Registration = tuple[str, str, str, dict[str, str], list[str]]
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
    ) -> None:
        self.state = MasterState(config)
        self.allocation_interval = allocation_interval
        self.framework_heartbeat_interval = framework_heartbeat_interval
        self.agent_handles: dict[str, Any] = {}
        self.framework_handles: dict[str, Any] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
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
        }

    async def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        last_heartbeat = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.allocation_interval)
            self._wake.clear()
            now = time.monotonic()
            self._send(self.state.expire(now) + self.state.allocate(now))
            if now - last_heartbeat >= self.framework_heartbeat_interval:
                last_heartbeat = now
                heartbeats: Outbox = {}
                for framework_id, record in self.state.frameworks.items():
                    if record.connected:
                        self._post(heartbeats, self.framework_handles, framework_id, "heartbeat")
                self._flush(heartbeats, "deliver_events", self._frameworks_died)

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
        running: list[str],
    ) -> None:
        await self.register_agents(handle, [(agent_id, hostname, resources, attributes, running)])

    async def register_agents(self, handle: Any, registrations: list[Registration]) -> None:
        """Agents hosted by one actor (one real agent, or a pool of emulated
        ones) register or come back: (agent id, hostname, resources,
        attributes, ids of its running tasks) each."""
        now = time.monotonic()
        effects: list[Effect] = []
        for agent_id, hostname, resources, attributes, running in registrations:
            self.agent_handles[agent_id] = handle
            effects += self.state.register_agent(
                agent_id, hostname, Resources.parse(resources), attributes, now, running
            )
        self._send(effects)
        self._soon()

    async def heartbeat(self, agent_id: str) -> bool:
        """False tells the agent to register again."""
        return not await self.heartbeats([agent_id])

    async def heartbeats(self, agent_ids: list[str]) -> list[str]:
        """The agents among these that must register again."""
        now, unknown = time.monotonic(), []
        for agent_id in agent_ids:
            try:
                self.state.heartbeat(agent_id, now)
            except LookupError:
                unknown.append(agent_id)
        return unknown

    async def status_updates(self, agent_id: str, statuses: list[TaskStatus]) -> None:
        await self.status_update_batches([(agent_id, statuses)])

    async def status_update_batches(self, batches: list[tuple[str, list[TaskStatus]]]) -> None:
        """Updates from several agents hosted by one actor, one batch each."""
        effects: list[Effect] = []
        for agent_id, statuses in batches:
            effects += self.state.status_updates(agent_id, statuses)
        self._send(effects)
        if any(s.state.is_terminal for _, statuses in batches for s in statuses):
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
        framework_id, effects = self.state.subscribe(
            name, roles, time.monotonic(), framework_id, capabilities, failover_timeout
        )
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
        effects: list[Effect] = []
        now = time.monotonic()
        for framework_id, calls in batches:
            if framework_id in self.state.frameworks:
                effects += self._carry_out(framework_id, calls, now)
        self._send(effects)

    def _carry_out(self, framework_id: str, calls: list[Call], now: float) -> list[Effect]:
        effects: list[Effect] = []
        for name, args in calls:
            handler = self._calls.get(name)
            try:
                if handler is None:
                    raise PyactorsError(f"unknown call {name!r}")
                effects += handler(framework_id, now, *args)
            except (PyactorsError, TypeError) as error:
                effects.append(ErrorEvent(framework_id, f"{name}: {error}"))
        return effects

    def _accept(
        self,
        framework_id: str,
        now: float,
        offer_ids: list[str],
        operations: list[Operation],
        refuse_seconds: float,
    ) -> list[Effect]:
        return self.state.accept(framework_id, offer_ids, operations, refuse_seconds, now)

    def _decline(
        self, framework_id: str, now: float, offer_ids: list[str], refuse_seconds: float
    ) -> list[Effect]:
        return self.state.decline(framework_id, offer_ids, refuse_seconds, now)

    def _acknowledge(
        self, framework_id: str, now: float, acknowledgements: list[tuple[str, str]]
    ) -> list[Effect]:
        return self.state.acknowledge(framework_id, acknowledgements)

    def _kill(self, framework_id: str, now: float, task_id: str) -> list[Effect]:
        return self.state.kill(framework_id, task_id, now)

    def _reconcile(self, framework_id: str, now: float, task_ids: list[str]) -> list[Effect]:
        return self.state.reconcile(framework_id, task_ids, now)

    def _revive(self, framework_id: str, now: float, roles: list[str] | None) -> list[Effect]:
        self.state.allocator.revive(framework_id, roles)
        self._soon()
        return []

    def _suppress(self, framework_id: str, now: float, roles: list[str] | None) -> list[Effect]:
        self.state.allocator.suppress(framework_id, roles)
        return []

    def _teardown(self, framework_id: str, now: float) -> list[Effect]:
        effects = self.state.teardown(framework_id)
        self.framework_handles.pop(framework_id, None)
        self._soon()
        return effects

    def _update_framework(
        self, framework_id: str, now: float, changes: dict[str, Any]
    ) -> list[Effect]:
        self.state.update_framework(framework_id, **changes)
        return []

    def _message(
        self, framework_id: str, now: float, agent_id: str, task_id: str, data: bytes
    ) -> list[Effect]:
        return self.state.message_to_task(framework_id, agent_id, task_id, data)

    async def teardown(self, framework_id: str) -> None:
        """The operator ends a framework (Mesos's /teardown)."""
        self._send(self._teardown(framework_id, time.monotonic()))

    async def task_messages(self, agent_id: str, messages: list[tuple[str, bytes]]) -> None:
        self._send(self.state.messages_from_tasks(agent_id, messages))

    async def process_usage(self) -> dict[str, float]:
        """The master process's CPU seconds and resident memory, and the
        last allocation cycle's time in the core."""
        process = psutil.Process()
        times = process.cpu_times()
        return {
            "cpu_user_seconds": times.user,
            "cpu_system_seconds": times.system,
            "rss_bytes": float(process.memory_info().rss),
            "allocation_cycle_seconds": self.state.allocator.last_cycle_seconds,
        }

    async def state_summary(self) -> dict[str, Any]:
        return self.state.state()

    # ----------------------------------------------------------------- effects

    def _send(self, effects: list[Effect]) -> None:
        """Send effects: one message per actor, carrying everything for the
        agents (`deliver`) or frameworks (`deliver_events`) it hosts, in
        order; several of a framework's effects of one kind are merged."""
        agents: Outbox = {}
        frameworks: Outbox = {}
        to_framework = functools.partial(self._post, frameworks, self.framework_handles)
        to_agent = functools.partial(self._post, agents, self.agent_handles)
        for effect in coalesce(effects):
            match effect:
                case SendOffers(framework_id, offers):
                    to_framework(framework_id, "offers", offers)
                case Rescind(framework_id, offer_ids):
                    self._post(
                        frameworks, self.framework_handles, framework_id, "rescind", offer_ids
                    )
                case ForwardUpdates(framework_id, statuses):
                    self._post(
                        frameworks, self.framework_handles, framework_id, "updates", statuses
                    )
                case ErrorEvent(framework_id, message):
                    to_framework(framework_id, "error", message)
                case AgentLost(framework_id, agent_id):
                    self._post(
                        frameworks, self.framework_handles, framework_id, "agent_lost", agent_id
                    )
                case FrameworkMessages(framework_id, messages):
                    self._post(
                        frameworks, self.framework_handles, framework_id, "messages", messages
                    )
                case LaunchTasks(agent_id, framework_id, tasks, groups):
                    self._post(
                        agents, self.agent_handles, agent_id, "launch", framework_id, tasks, groups
                    )
                case KillTasks(agent_id, _, task_ids):
                    to_agent(agent_id, "kill", task_ids)
                case AcknowledgeToAgent(agent_id, acknowledgements):
                    self._post(
                        agents, self.agent_handles, agent_id, "acknowledge", acknowledgements
                    )
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
        effects: list[Effect] = []
        for framework_id in framework_ids:
            if self.framework_handles.get(framework_id) != handle:
                continue
            del self.framework_handles[framework_id]
            record = self.state.frameworks.get(framework_id)
            if record is not None and record.connected:
                effects += self.state.disconnect(framework_id, time.monotonic())
        self._send(effects)
        self._soon()

    def _agents_died(self, agent_ids: set[str], handle: Any) -> None:
        effects: list[Effect] = []
        for agent_id in agent_ids:
            if self.agent_handles.get(agent_id) == handle:
                del self.agent_handles[agent_id]
                effects += self.state.agent_lost(agent_id, time.monotonic())
        self._send(effects)
