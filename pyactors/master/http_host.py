"""The master actor's side of its HTTP API: what `pyactors.api.http` asks of
the actor that serves it (`Host`), and what only the API shows: the
Prometheus metrics and the frameworks' share history.

Every master serves the HTTP API on `http_host:http_port` from its own
event loop, bound before it joins the election (port 0: a free one) and
published with its leader info. The leader answers; a standby redirects
(307) to the leader's address, as Mesos's standbys do. `url()` gives the
leader's address.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from pyactors.agent.sandbox_files import FileChunk
from pyactors.api import state_json
from pyactors.api.http import Change, HttpServer
from pyactors.api.metrics import MasterMetrics, Reading
from pyactors.core.protocol import Effect, ErrorEvent
from pyactors.errors import (
    AgentUnreachableError,
    PyactorsError,
    SandboxGoneError,
    UnknownFrameworkError,
    UnknownTaskError,
)
from pyactors.master import task_usage
from pyactors.master.leadership import Leadership
from pyactors.master.share_history import ShareHistory
from pyactors.master.state import MasterState
from pyactors.runtime import ray_calls
from pyactors.runtime.handles import AgentRef

# How long the HTTP API waits for an agent to read a sandbox file.
READ_FILE_SECONDS = 10.0


class MasterHttp:
    """`apply` sends an operator change's effects (and runs an allocation
    cycle soon); `teardown` removes a framework from the leading state;
    `agents` are the actors hosting this term's agents."""

    def __init__(
        self,
        leadership: Leadership,
        agents: Mapping[str, AgentRef],
        apply: Callable[[list[Effect]], None],
        teardown: Callable[[MasterState, str], list[Effect]],
        host: str,
        port: int | None,
    ) -> None:
        self.leadership = leadership
        self.agents = agents
        self.apply = apply
        self.teardown = teardown
        # None: no HTTP API at all.
        self.server = (
            None
            if port is None
            else HttpServer(self, host, port, credentials=leadership.config.credentials)
        )
        self.metrics = MasterMetrics(self._metrics_reading)
        # The frameworks' dominant shares over the last minutes (the web UI's chart).
        self.share_history = ShareHistory()
        # Wall clock minus monotonic clock, taken once: the state's times
        # (monotonic inside) are shown as wall-clock times that stay the
        # same from one request to the next.
        self._clock_offset = time.time() - time.monotonic()
        self._serving: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Serve, and publish the address with this master's leader info."""
        if self.server is not None:
            await self.server.start()
            if self.server.address is not None:
                self.leadership.info["url"] = self._url(self.server.address)

    def elected(self) -> None:
        """A new term: the history restarts, and a server whose port was
        taken while this master stood by (masters sharing a host and a fixed
        port) tries again, the old leader's port may be free now."""
        self.share_history.clear()
        if self.server is not None and self.server.address is None:
            self._serving = asyncio.get_running_loop().create_task(self.server.start())

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()

    async def url(self) -> str:
        """The HTTP API's base address, while this master leads."""
        self.leadership.require()
        if self.server is None:
            raise PyactorsError(f"master {self.leadership.name} serves no HTTP API")
        return self._url(await self.server.wait_bound())

    # -------------------------------------------------------- api.http.Host

    def leading_state(self) -> MasterState | None:
        return self.leadership.leading()

    def leader_url(self) -> str | None:
        """Where the leader serves its HTTP API, if known."""
        if self.leadership.leading() is not None:
            bound = None if self.server is None else self.server.address
            return None if bound is None else self._url(bound)
        info = self.leadership.leader_info
        if info is None or info.get("id") == self.leadership.info["id"]:
            return None
        return info.get("url")

    def about(self) -> state_json.About:
        bound = None if self.server is None else self.server.address
        state = self.leadership.leading()
        info = self.leadership.info
        return state_json.About(
            id=str(info["id"]),
            version=str(info["version"]),
            hostname="" if bound is None else _public_host(bound[0]),
            start_time=float(info["start"]),
            elected_time=self.leadership.elected_time,
            clock_offset=self._clock_offset,
            leader=str(info["actor"]),
            allocation_run_seconds=0.0 if state is None else state.allocator.last_cycle_seconds,
            now=time.time(),
        )

    def operate(self, change: Change) -> None:
        """An operator's change to the leading state (checked whole by the
        state before it changes anything); its effects are sent."""
        with self.leadership.writing() as state:
            effects = change(state, time.monotonic())
        self.apply(effects)

    def teardown_framework(self, framework_id: str) -> None:
        """The operator's teardown: the framework's scheduler is told, then
        the framework removed."""
        state = self.leadership.require()
        if framework_id not in state.frameworks:
            raise UnknownFrameworkError(f"unknown framework '{framework_id}'")
        self.apply([ErrorEvent(framework_id, "framework removed by the operator")])
        self.operate(lambda state, now: self.teardown(state, framework_id))

    async def read_task_file(
        self, task_id: str, name: str, offset: int, length: int | None
    ) -> FileChunk:
        """A chunk of a file in the sandbox of a live or completed task,
        read by its agent (one call, awaited: this loop goes on meanwhile)."""
        state = self.leadership.require()
        record = state.tasks.get(task_id) or state.completed.get(task_id)
        if record is None:
            raise UnknownTaskError(f"unknown task '{task_id}'")
        agent = self.agents.get(record.agent_id)
        if agent is None:
            raise AgentUnreachableError(
                f"agent '{record.agent_id}' of task '{task_id}' is not registered with this master"
            )
        try:
            return await asyncio.wait_for(
                agent.read_file(task_id, name, offset, length), READ_FILE_SECONDS
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

    def _metrics_reading(self) -> Reading | None:
        state = self.leadership.leading()
        if state is None:
            return None
        return Reading(
            state_json.metrics(state, self.about()),
            state_json.shares(state.allocator.snapshot()),
            task_usage.framework_totals(state),
        )

    def _url(self, bound: tuple[str, int]) -> str:
        return f"http://{_public_host(bound[0])}:{bound[1]}"


def _public_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return ray_calls.current_node_ip()
    return f"[{host}]" if ":" in host else host
