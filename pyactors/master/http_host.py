"""The master actor's side of its HTTP API: what `pyactors.api.http` asks of
the actor that serves it (`Host`), and what only the API shows: the
Prometheus metrics and the frameworks' share history.

Every master serves the HTTP API on `http_host:http_port` from its own
event loop, bound before it joins the election (port 0: a free one) and
published with its leader info. The leader answers; a standby redirects
(307) to the leader's address, as Mesos's standbys do. `url()` gives the
leader's address.

`HttpOptions` says how: over TLS (`tls_cert`, `tls_key`: PEM files; the
URL is then https), the host names clients may use beside its addresses,
and whether it may serve without authentication on an address other
machines reach. A master without credentials refuses to bind such an
address unless `allow_unauthenticated` says so, and then warns in its log:
anyone who reaches the port could tear the cluster down.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pyactors.agent.sandbox_files import FileChunk
from pyactors.api import state_json, state_view
from pyactors.api.http import Change, HttpServer
from pyactors.api.metrics import MasterMetrics, Reading
from pyactors.api.v1 import mesos_json
from pyactors.api.v1.operator_events import OperatorEvents
from pyactors.core.protocol import Effect, ErrorEvent
from pyactors.errors import (
    AgentUnreachableError,
    InvalidArgumentError,
    PyactorsError,
    SandboxGoneError,
    UnknownFrameworkError,
    UnknownTaskError,
)
from pyactors.master import task_usage
from pyactors.master.http_frameworks import FrameworkCalls, HttpFrameworks
from pyactors.master.leadership import Leadership
from pyactors.master.share_history import ShareHistory
from pyactors.master.state import MasterState
from pyactors.runtime import ray_calls
from pyactors.runtime.handles import AgentRef
from pyactors.security.credentials import Credentials

log = logging.getLogger(__name__)

# How long the HTTP API waits for an agent to read a sandbox file.
READ_FILE_SECONDS = 10.0


@dataclass(frozen=True)
class HttpOptions:
    """How a master serves its HTTP API beyond host and port (see the
    module's doc). Picklable: the driver sends it to the master actor."""

    tls_cert: str | None = None
    tls_key: str | None = None
    hostnames: tuple[str, ...] = ()
    allow_unauthenticated: bool = False

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server's TLS context; InvalidArgumentError for a missing
        half of the pair or files that are not a certificate and its key."""
        if self.tls_cert is None and self.tls_key is None:
            return None
        if self.tls_cert is None or self.tls_key is None:
            raise InvalidArgumentError("TLS needs both tls_cert and tls_key (PEM files)")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        except (OSError, ssl.SSLError) as error:
            raise InvalidArgumentError(
                f"cannot serve TLS with certificate {self.tls_cert} and key {self.tls_key}: {error}"
            ) from None
        return context


def is_loopback(host: str) -> bool:
    """Whether only this machine reaches `host`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, credentials: Credentials | None, allow_unauthenticated: bool) -> None:
    """Refuses (InvalidArgumentError) to serve without authentication where
    other machines reach the API, unless explicitly allowed (then warns)."""
    if credentials is not None or is_loopback(host):
        return
    if not allow_unauthenticated:
        raise InvalidArgumentError(
            f"refusing to serve the HTTP API on {host} without authentication: anyone who "
            "reaches it could change the cluster. Configure credentials, bind a loopback "
            "address, or allow it explicitly (allow_unauthenticated=True)"
        )
    log.warning(
        "serving the HTTP API on %s WITHOUT authentication, as allowed: anyone who reaches "
        "it can change the cluster",
        host,
    )


class MasterHttp:
    """`apply` sends an operator change's effects (and runs an allocation
    cycle soon); `teardown` removes a framework from the leading state;
    `agents` are the actors hosting this term's agents; `frameworks`: the
    master actor, which the frameworks on Mesos's v1 scheduler API are
    subscribed with and heard through (`pyactors.master.http_frameworks`)."""

    def __init__(
        self,
        leadership: Leadership,
        agents: Mapping[str, AgentRef],
        apply: Callable[[list[Effect]], None],
        teardown: Callable[[MasterState, str, str | None], list[Effect]],
        host: str,
        port: int | None,
        options: HttpOptions | None = None,
        frameworks: FrameworkCalls | None = None,
    ) -> None:
        self.leadership = leadership
        self.http_frameworks = None if frameworks is None else HttpFrameworks(frameworks)
        self.agents = agents
        self.apply = apply
        self.teardown = teardown
        options = options or HttpOptions()
        credentials = leadership.config.credentials
        self.scheme = "http"
        # None: no HTTP API at all.
        self.server: HttpServer | None = None
        if port is not None:
            check_exposure(host, credentials, options.allow_unauthenticated)
            context = options.ssl_context()
            self.scheme = "http" if context is None else "https"
            self.server = HttpServer(self, host, port, options.hostnames, credentials, context)
        self.metrics = MasterMetrics(self._metrics_reading)
        # The frameworks' dominant shares over the last minutes (the web UI's chart).
        self.share_history = ShareHistory()
        # The v1 operator API's SUBSCRIBE streams: the actor tells it of
        # every change it makes (`observe`).
        self.operator_events = OperatorEvents(self.about)
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
                self.leadership.info.update(self.master_info())

    def master_info(self) -> dict[str, Any]:
        """Mesos's MasterInfo of this master (SUBSCRIBED's `master_info`, and
        the fields of the election znode Mesos's clients read); empty while
        it serves no HTTP API or on an address that is not IPv4."""
        bound = None if self.server is None else self.server.address
        if bound is None:
            return {}
        info = self.leadership.info
        try:
            return mesos_json.master_info(
                str(info["id"]), _public_host(bound[0]), bound[1], str(info["version"])
            )
        except (OSError, ValueError):
            return {}

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

    def teardown_framework(self, framework_id: str, principal: str | None) -> None:
        """The operator's teardown, by `principal` as the ACL
        teardown_frameworks allows: the framework's scheduler is told, then
        the framework removed (a denied teardown tells it nothing)."""
        state = self.leadership.require()
        record = state.frameworks.get(framework_id)
        if record is None:
            raise UnknownFrameworkError(f"unknown framework '{framework_id}'")
        state.config.acls.check("teardown_frameworks", principal, record.principal)
        self.apply([ErrorEvent(framework_id, "framework removed by the operator")])
        self.operate(lambda state, now: self.teardown(state, framework_id, principal))

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

    async def _metrics_reading(self) -> Reading | None:
        """The state's figures for a Prometheus scrape, counted off the loop
        (the shares, whose cost does not grow with the agents, on it: the
        allocator is changed only there)."""
        state = self.leadership.leading()
        if state is None:
            return None
        about, shares = self.about(), state.allocator.shares()
        snapshot, usage = await state_view.computed(
            state,
            lambda seen: (state_json.metrics(seen, about), task_usage.framework_totals(seen)),
        )
        return Reading(snapshot, shares, usage)

    def _url(self, bound: tuple[str, int]) -> str:
        return f"{self.scheme}://{_public_host(bound[0])}:{bound[1]}"


def _public_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return ray_calls.current_node_ip()
    return f"[{host}]" if ":" in host else host
