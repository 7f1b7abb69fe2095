"""The master actor: a thin async shell over `MasterState`.

It feeds what arrives into the state machine with the time and sends the
effects it returns; a background loop runs expiry and the allocation cycle
every `allocation_interval`, and sooner after resources are freed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from pyactors import ray_calls
from pyactors._core import Resources
from pyactors.master_state import (
    AcknowledgeToAgent,
    Effect,
    ErrorEvent,
    ForwardUpdates,
    KillTasks,
    LaunchTasks,
    MasterConfig,
    MasterState,
    Rescind,
    SendOffers,
)
from pyactors.operations import Operation
from pyactors.tasks import TaskStatus


class MasterActor:
    def __init__(self, config: MasterConfig, allocation_interval: float = 1.0) -> None:
        self.state = MasterState(config)
        self.allocation_interval = allocation_interval
        self.agent_handles: dict[str, Any] = {}
        self.framework_handles: dict[str, Any] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.allocation_interval)
            self._wake.clear()
            now = time.monotonic()
            self._send(self.state.expire(now))
            self._send(self.state.allocate(now))

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
        self.agent_handles[agent_id] = handle
        effects = self.state.register_agent(
            agent_id, hostname, Resources.parse(resources), attributes, time.monotonic(), running
        )
        self._send(effects)
        self._soon()

    async def heartbeat(self, agent_id: str) -> bool:
        """False tells the agent to register again."""
        try:
            self.state.heartbeat(agent_id, time.monotonic())
        except LookupError:
            return False
        return True

    async def status_updates(self, agent_id: str, statuses: list[TaskStatus]) -> None:
        self._send(self.state.status_updates(agent_id, statuses))
        if any(s.state.is_terminal for s in statuses):
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
        framework_id, effects = self.state.subscribe(
            name, roles, time.monotonic(), framework_id, capabilities, failover_timeout
        )
        self.framework_handles[framework_id] = handle
        self._send(effects)
        self._soon()
        return framework_id

    async def accept(
        self,
        framework_id: str,
        offer_ids: list[str],
        operations: list[Operation],
        refuse_seconds: float,
    ) -> None:
        self._send(
            self.state.accept(framework_id, offer_ids, operations, refuse_seconds, time.monotonic())
        )

    async def decline(self, framework_id: str, offer_ids: list[str], refuse_seconds: float) -> None:
        self._send(self.state.decline(framework_id, offer_ids, refuse_seconds, time.monotonic()))

    async def acknowledge(self, framework_id: str, task_id: str, uuid: str) -> None:
        self._send(self.state.acknowledge(framework_id, task_id, uuid))

    async def kill(self, framework_id: str, task_id: str) -> None:
        self._send(self.state.kill(framework_id, task_id, time.monotonic()))

    async def reconcile(self, framework_id: str, task_ids: list[str]) -> None:
        self._send(self.state.reconcile(framework_id, task_ids, time.monotonic()))

    async def revive(self, framework_id: str, roles: list[str] | None) -> None:
        self.state.allocator.revive(framework_id, roles)
        self._soon()

    async def suppress(self, framework_id: str, roles: list[str] | None) -> None:
        self.state.allocator.suppress(framework_id, roles)

    async def state_summary(self) -> dict[str, Any]:
        return self.state.state()

    # ----------------------------------------------------------------- effects

    def _send(self, effects: list[Effect]) -> None:
        for effect in effects:
            match effect:
                case SendOffers(framework_id, offers):
                    ray_calls.tell(self.framework_handles[framework_id], "offers", offers)
                case Rescind(framework_id, offer_ids):
                    ray_calls.tell(self.framework_handles[framework_id], "rescind", offer_ids)
                case ForwardUpdates(framework_id, statuses):
                    ray_calls.tell(self.framework_handles[framework_id], "updates", statuses)
                case ErrorEvent(framework_id, message):
                    ray_calls.tell(self.framework_handles[framework_id], "error", message)
                case LaunchTasks(agent_id, framework_id, tasks, groups):
                    ray_calls.tell(
                        self.agent_handles[agent_id], "launch", framework_id, tasks, groups
                    )
                case KillTasks(agent_id, _, task_ids):
                    ray_calls.tell(self.agent_handles[agent_id], "kill", task_ids)
                case AcknowledgeToAgent(agent_id, acknowledgements):
                    ray_calls.tell(self.agent_handles[agent_id], "acknowledge", acknowledgements)
