"""Typed handles of pyactors' actors: the only place a remote method is named.

Each handle wraps a Ray actor handle, and its methods are that actor's
remote methods with their types: one-way messages return None at once (a
dead receiver is noticed by heartbeats and timeouts, or by `on_dead` where
one is given), `async` methods await the answer inside an actor, and plain
methods wait for it from a driver (the cluster handle, the CLI). Handles
compare and hash as the actor they name, so messages can be grouped by
receiving actor, and they travel inside messages as they are.

What the methods carry is the protocol (`pyactors.core.protocol`). The hot
batches (deliveries to agents and frameworks, status updates, schedulers'
calls) go packed by `pyactors.runtime.wire`, their receivers unpack them;
a handle they name (a calls batch's host) goes beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray.actor import ActorHandle

from pyactors.agent.sandbox_files import FileChunk
from pyactors.core.protocol import (
    AgentMessage,
    CallBatch,
    Description,
    ExitedExecutor,
    FrameworkEvent,
    Registration,
    Usage,
)
from pyactors.core.tasks import TaskStatus
from pyactors.errors import PyactorsError
from pyactors.runtime import ray_calls, wire


@dataclass(frozen=True)
class MasterRef:
    """A master actor (`pyactors.master.actor.MasterActor`)."""

    handle: ActorHandle[Any]

    # Agents: what an actor hosting agents sends, one message per batch.

    async def register_agents(self, host: AgentRef, registrations: list[Registration]) -> None:
        """The agents `host` hosts register or come back."""
        await ray_calls.ask_async(self.handle, "register_agents", host, registrations)

    async def heartbeat(self, agent_id: str, usage: Usage) -> bool:
        """False: the agent must register again."""
        known: bool = await ray_calls.ask_async(self.handle, "heartbeat", agent_id, usage)
        return known

    async def heartbeats(self, agent_ids: list[str]) -> list[str]:
        """The agents among these that must register again."""
        unknown: list[str] = await ray_calls.ask_async(self.handle, "heartbeats", agent_ids)
        return unknown

    def status_update_batches(self, batches: list[tuple[str, list[TaskStatus]]]) -> None:
        packed = wire.pack("status_update_batches", batches)
        ray_calls.tell(self.handle, "status_update_batches", packed)

    def task_messages(self, agent_id: str, messages: list[tuple[str, bytes]]) -> None:
        ray_calls.tell(self.handle, "task_messages", agent_id, messages)

    def executors_exited(self, exits: list[ExitedExecutor]) -> None:
        ray_calls.tell(self.handle, "executors_exited", exits)

    async def agents_lost(self, agent_ids: list[str]) -> None:
        await ray_calls.ask_async(self.handle, "agents_lost", agent_ids)

    async def agents_disconnected(self, agent_ids: list[str]) -> None:
        await ray_calls.ask_async(self.handle, "agents_disconnected", agent_ids)

    # Frameworks.

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
        """Register a framework hosted by `host`, or fail one over to it;
        its framework id. A refusal (AuthenticationError, AuthorizationError,
        a torn-down id, ...) is raised as the master raised it, not wrapped
        by Ray."""
        try:
            subscribed: str = await ray_calls.ask_async(
                self.handle,
                "subscribe",
                host,
                name,
                roles,
                framework_id,
                capabilities,
                failover_timeout,
                principal,
                secret,
                user,
                webui_url,
            )
        except ray_calls.RayTaskError as error:
            refusal = ray_calls.cause(error)
            if isinstance(refusal, PyactorsError):
                raise refusal from None
            raise
        return subscribed

    def calls_batch(self, host: FrameworkRef, batches: list[CallBatch]) -> None:
        """Calls of frameworks `host` serves; those of a framework it no
        longer serves (failed over to another) are refused."""
        packed = wire.call_batches("calls_batch", batches)
        ray_calls.tell(self.handle, "calls_batch", host.handle, packed)

    # Masters.

    async def outlive(self, seconds: float) -> None:
        """Returns after `seconds`, or fails at once when the master dies."""
        await ray_calls.ask_async(self.handle, "outlive", seconds)

    # Operators and drivers (`Cluster`, benchmarks): these wait.

    def teardown(self, framework_id: str) -> None:
        ray_calls.ask(self.handle, "teardown", framework_id)

    def set_weight(self, role: str, weight: float, principal: str | None = None) -> None:
        ray_calls.ask(self.handle, "set_weight", role, weight, principal)

    def set_quota(
        self, role: str, guarantee: str, limit: str | None, principal: str | None = None
    ) -> None:
        ray_calls.ask(self.handle, "set_quota", role, guarantee, limit, principal)

    def url(self) -> str:
        """The HTTP API's base address (NotLeaderError from a standby)."""
        address: str = ray_calls.ask(self.handle, "url")
        return address

    def state_summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = ray_calls.ask(self.handle, "state_summary")
        return summary

    def process_usage(self) -> dict[str, float]:
        usage: dict[str, float] = ray_calls.ask(self.handle, "process_usage")
        return usage

    def status(self) -> dict[str, Any]:
        """Whether it leads, who it is, and why it refuses to lead."""
        status: dict[str, Any] = ray_calls.ask(self.handle, "status")
        return status


@dataclass(frozen=True)
class AgentRef:
    """An actor hosting agents: an agent actor (`pyactors.agent.actor`), or
    a pool of emulated ones (`pyactors.agent.pool`)."""

    handle: ActorHandle[Any]

    def deliver(self, messages: list[AgentMessage], on_dead: Callable[[], None]) -> None:
        """Everything for the agents it hosts, in order; `on_dead` runs on
        the caller's event loop if the actor has died."""
        packed = wire.agent_messages("deliver", messages)
        ray_calls.tell_watched(self.handle, "deliver", (packed,), on_dead)

    async def start(self) -> None:
        """Start an agent actor just spawned: it registers."""
        await ray_calls.ask_async(self.handle, "start", self.handle)

    async def read_file(
        self, task_id: str, name: str, offset: int, length: int | None
    ) -> FileChunk:
        chunk: FileChunk = await ray_calls.ask_async(
            self.handle, "read_file", task_id, name, offset, length
        )
        return chunk

    def sandbox(self, framework_id: str, task_id: str) -> str | None:
        """Where the task's sandbox is on the agent's node, if it is there."""
        path: str | None = ray_calls.ask(self.handle, "sandbox", framework_id, task_id)
        return path

    def pid(self) -> int:
        """The process id of an agent actor's Ray worker now (what to
        SIGKILL to kill the agent; Ray restarts it in a new process)."""
        pid: int = ray_calls.ask(self.handle, "pid")
        return pid


@dataclass(frozen=True)
class FrameworkRef:
    """An actor hosting frameworks: a framework actor
    (`pyactors.scheduler.api.FrameworkActor`), or a pool of them."""

    handle: ActorHandle[Any]

    def deliver_events(
        self, events: list[FrameworkEvent], on_dead: Callable[[], None] | None = None
    ) -> None:
        """Everything for the frameworks it hosts, in order; `on_dead` (if
        given) runs on the caller's event loop if the actor has died."""
        packed = wire.pack("deliver_events", events)
        if on_dead is None:
            ray_calls.tell(self.handle, "deliver_events", packed)
        else:
            ray_calls.tell_watched(self.handle, "deliver_events", (packed,), on_dead)

    def subscribed_as(self) -> str:
        """The framework id it subscribed with."""
        framework_id: str = ray_calls.ask(self.handle, "subscribed_as")
        return framework_id

    def alive(self) -> None:
        """Returns if the actor still answers (RayActorError if it died)."""
        ray_calls.ask(self.handle, "heartbeat")

    def call(self, method: str, *args: Any) -> Any:
        """Run a method of the user's scheduler inside the actor."""
        return ray_calls.ask(self.handle, "call", method, *args)


@dataclass(frozen=True)
class SupervisorRef:
    """The supervisor of a long-running cluster
    (`pyactors.runtime.supervisor.SupervisorActor`)."""

    handle: ActorHandle[Any]

    def describe(self) -> Description:
        description: Description = ray_calls.ask(self.handle, "describe")
        return description

    def agent_nodes(self) -> dict[str, str]:
        """Its agents' ids and the Ray nodes they run on."""
        nodes: dict[str, str] = ray_calls.ask(self.handle, "agent_nodes")
        return nodes


def shut_down(handle: ActorHandle[Any]) -> None:
    """Let any pyactors actor (master, agent, pool, framework, supervisor)
    release what it holds (tasks, timers, sessions) before it is stopped;
    every one of them answers `shutdown`."""
    ray_calls.ask(handle, "shutdown")
