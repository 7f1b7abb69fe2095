"""Finding the leading master: from inside an actor (agents, frameworks)
or from the driver (`Cluster.leader()`).

With ZooKeeper, each follower has its own kazoo client and a
`LeaderDetector` on the masters' election; the leader's info names its Ray
actor, looked up by name. Without ZooKeeper there is one master and its
handle is given. The znode layout under the `zk://` URL's path is fixed
here: the election under `/leader`, the registry under `/registry`, the
jobs framework's jobs under `/jobs`. The election is laid out as Mesos's
(`json.info_` candidates only), so `zk://host:port/<path>/leader` is what a
Mesos client (pymesos) is given.

`zk_client` is the one way pyactors opens a ZooKeeper session: with
credentials in the URL it authenticates (digest) and makes every znode
created through it carry the URL's ACL (`pyactors.ha.election`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kazoo.client import KazooClient
from kazoo.protocol.serialization import Auth

from pyactors.errors import NotLeaderError
from pyactors.ha.election import REDACTED, LeaderDetector, parse_zk_url, redact_zk_url
from pyactors.runtime import ray_calls

log = logging.getLogger(__name__)


class _HideCredentials(logging.Filter):
    """kazoo logs each request it sends at DEBUG, its digest credentials too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg._replace(auth=REDACTED) if isinstance(arg, Auth) else arg for arg in record.args
            )
        return True


# The logger of every kazoo client pyactors opens (kazoo's own by default).
_KAZOO_LOG = logging.getLogger("pyactors.ha.kazoo")
_KAZOO_LOG.addFilter(_HideCredentials())

ELECTION = "/leader"
REGISTRY = "/registry"
JOBS = "/jobs"
# Between attempts to reach a leader that is still taking over (recovering
# the registry) or whose actor cannot be reached yet.
RETRY_INTERVAL = 0.05


@dataclass(frozen=True)
class MasterLocation:
    """How to find the leading master; passed to every actor that needs it."""

    # May hold credentials: shown only redacted (`__repr__`).
    zk: str | None = field(default=None, repr=False)
    # The one master's handle, without ZooKeeper.
    master: Any = None
    session_timeout: float = 10.0

    def __repr__(self) -> str:
        zk = None if self.zk is None else redact_zk_url(self.zk)
        return (
            f"MasterLocation(zk={zk!r}, master={self.master!r}, "
            f"session_timeout={self.session_timeout!r})"
        )


def zk_client(url: str, session_timeout: float) -> KazooClient:
    """A started kazoo client for a `zk://` URL, retrying its connection
    every fraction of a second (kazoo's default backoff grows to minutes);
    authenticated with the URL's credentials, if any, and then creating
    every znode with their ACL unless told otherwise."""
    retry = {"max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 1.0}
    parsed = parse_zk_url(url)
    client = KazooClient(
        hosts=parsed.connect_string,
        timeout=session_timeout,
        connection_retry=retry,
        auth_data=parsed.auth_data,
        default_acl=parsed.acl,
        logger=_KAZOO_LOG,
    )
    client.start(timeout=30)
    return client


def close_client(client: KazooClient) -> None:
    # Closing ends the session at once, so its ephemeral znodes go now
    # rather than after the session timeout.
    with contextlib.suppress(Exception):
        client.stop()
    client.close()


class LeaderFollower:
    """Runs `on_leader(handle)` on the actor's event loop for each leader the
    detector reports, one at a time; a newer leader supersedes an older one
    still being tried. A leader that is still taking over (NotLeaderError)
    or not reachable yet is tried again until it answers or is replaced.
    Other errors from the first leader fail `start()`; later ones are logged.
    """

    def __init__(
        self, location: MasterLocation, on_leader: Callable[[Any], Awaitable[None]]
    ) -> None:
        self.location = location
        self._on_leader = on_leader
        self._client: KazooClient | None = None
        self._detector: LeaderDetector | None = None
        self._latest: dict[str, Any] | None = None
        self._version = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Follow the leader; returns once the first one has been followed
        (however long an election takes: whoever waits on this start
        decides how long is too long)."""
        location = self.location
        if location.zk is None:
            await self._on_leader(location.master)
            return
        loop = asyncio.get_running_loop()
        first: asyncio.Future[None] = loop.create_future()
        self._task = loop.create_task(self._follow(first))

        def changed(info: dict[str, Any] | None) -> None:
            loop.call_soon_threadsafe(self._set, info)

        self._client = await asyncio.to_thread(zk_client, location.zk, location.session_timeout)
        path = parse_zk_url(location.zk).path + ELECTION
        self._detector = LeaderDetector(self._client, path, on_change=changed)
        await asyncio.to_thread(self._detector.start)
        await first

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._detector is not None:
            self._detector.stop()
        if self._client is not None:
            close_client(self._client)

    def _set(self, info: dict[str, Any] | None) -> None:
        self._latest = info
        self._version += 1
        self._changed.set()

    async def _follow(self, first: asyncio.Future[None]) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            version, info = self._version, self._latest
            while info is not None and version == self._version:
                try:
                    handle = ray_calls.named(str(info.get("actor")))
                    await self._on_leader(handle)
                    if not first.done():
                        first.set_result(None)
                    break
                except (NotLeaderError, ray_calls.RayActorError, ray_calls.NoSuchActorError):
                    await asyncio.sleep(RETRY_INTERVAL)
                except Exception as error:
                    if not first.done():
                        first.set_exception(error)
                        return
                    log.exception("following the leader %s failed", info)
                    break
