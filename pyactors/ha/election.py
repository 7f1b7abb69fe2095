"""Leader election and detection over ZooKeeper, for master high availability.

Masters contend by each creating an ephemeral, sequential candidate znode
under one election path, holding their info (id, actor name, version, start
time: any JSON object) as orjson JSON. The leader is the candidate with the
lowest sequence number; detectors read its znode to tell everyone who leads.
A leader's znode vanishes with its ZooKeeper session, which elects the next.

The layout is Mesos's, so that Mesos's clients given the election path
(`zk://host:port/<path>/leader`) find the leader: candidates are named
`json.info_<ten digits>` and are the path's only children, and a master's
info carries MasterInfo's JSON fields (`id`, `ip`, `port`, `pid`,
`hostname`, `version`, `address`: see `pyactors.master.http_host`). A
contender finds its own candidates by the `contender` token in their JSON.

Fencing: a contender stops leading the moment its session is SUSPENDED
(connection lost) or LOST (expired), before the server could have elected
another, since its session outlives the connection. It does not lead again by
assumption: once reconnected, it drops its old candidate and joins again at
the back as a standby. The registry's epoch (`pyactors.master.registry`) catches
what slips through a partition anyway.

The classes here run on kazoo's threads and two worker threads of their own;
callbacks are called one at a time, in order, and must return quickly.

Credentials: `zk://user:password@host:port/path` authenticates every kazoo
client pyactors opens with ZooKeeper's digest scheme, and every znode it
creates carries an ACL: ALL for that digest user, nothing for anyone else
(`ZooKeeperUrl.acl`), so other ZooKeeper clients can neither rewrite nor
read the registry, the jobs or the services' state. The election's znodes
(the election node and each candidate, holding a master's id, actor name,
version and start time: no secret) are READ for everyone too, as Mesos's
masters leave theirs (EVERYONE_READ_CREATOR_ALL), so a detector without
credentials can still find the leader; only the digest user can create,
change or delete them. Znodes made before credentials were used are given
that ACL when a master with credentials joins the election or loads the
registry (`adopt`); the jobs' and services' stores do not adopt theirs.
The password never appears in a log, a repr or an error message:
`redact_zk_url` is how a URL is shown.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.security import ACL, READ_ACL_UNSAFE, make_digest_acl

from pyactors.errors import ZooKeeperUrlError

log = logging.getLogger(__name__)

# Mesos's name for its masters' candidates (src/master/detector, "json.info_").
CANDIDATE_PREFIX = "json.info_"
DEFAULT_PORT = 2181

# ------------------------------------------------------------------ zk:// URLs

_HOST = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?::(?P<port>\d{1,5}))?"
)
_PATH_SEGMENT = re.compile(r"[^\x00-\x20\x7f/?#]+")


# What stands for the password wherever a URL is shown.
REDACTED = "******"
# Up to the last "@": a password holding an unescaped "/" or "@" is hidden whole too.
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>.*)@", re.DOTALL)
_SHOWN_USER = re.compile(r"[A-Za-z0-9._-]+")


def redact_zk_url(url: object) -> str:
    """The URL as it may be shown: `zk://user:******@host/path` (anything
    that is no string: its repr, with the same treatment)."""
    text = url if isinstance(url, str) else repr(url)

    def hide(match: re.Match[str]) -> str:
        user, colon, _ = match["userinfo"].partition(":")
        shown = f"{user}:" if colon and _SHOWN_USER.fullmatch(user) else ""
        return f"{match['scheme']}{shown}{REDACTED}@"

    return _USERINFO.sub(hide, text, count=1)


@dataclass(frozen=True)
class ZooKeeperUrl:
    """`zk://[user:password@]h1:p1,h2:p2/path` taken apart: every host with
    its port, the path, and the digest credentials if any (the password
    is left out of the repr)."""

    hosts: tuple[str, ...]
    path: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def connect_string(self) -> str:
        """The hosts as `KazooClient(hosts=...)` takes them."""
        return ",".join(self.hosts)

    @property
    def auth_data(self) -> list[tuple[str, str]]:
        """`KazooClient(auth_data=...)`: the digest credentials, if any."""
        if self.user is None or self.password is None:
            return []
        return [("digest", f"{self.user}:{self.password}")]

    @property
    def acl(self) -> list[ACL] | None:
        """The ACL of the znodes pyactors creates: ALL for the digest user
        alone (None without credentials: ZooKeeper's open default)."""
        if self.user is None or self.password is None:
            return None
        return [make_digest_acl(self.user, self.password, all=True)]


def parse_zk_url(url: str) -> ZooKeeperUrl:
    """Parse `zk://[user:password@]host1:port1,host2:port2/path` (a port
    defaults to 2181; `%`-escape a `:`, `@` or `/` in the credentials).

    Raises ZooKeeperUrlError naming what is wrong, the password redacted.
    """
    if not isinstance(url, str) or not url.startswith("zk://"):
        raise ZooKeeperUrlError(f"a ZooKeeper URL starts with zk://, got {redact_zk_url(url)!r}")
    shown = redact_zk_url(url)
    authority, slash, path = url.removeprefix("zk://").partition("/")
    userinfo, at, authority = authority.rpartition("@")
    user = password = None
    if at:
        user, colon, password = (unquote(part) for part in userinfo.partition(":"))
        if not user or not colon or not password or ":" in user:
            raise ZooKeeperUrlError(
                f"bad credentials in {shown!r}: expected zk://user:password@host:port/path "
                "with a user (no ':') and a password"
            )
    hosts = []
    for host in authority.split(","):
        match = _HOST.fullmatch(host)
        if match is None:
            # With an "@" about, the "host" may be part of a password (holding a "/").
            named = "" if "@" in url else f" {host!r}"
            raise ZooKeeperUrlError(f"bad host{named} in {shown!r}: expected host:port")
        port = int(match["port"] or DEFAULT_PORT)
        if not 0 < port < 65536:
            raise ZooKeeperUrlError(f"bad port {port} in {shown!r}")
        hosts.append(f"{match['host']}:{port}")
    segments = path.split("/")
    if not slash or not all(_PATH_SEGMENT.fullmatch(s) and s not in (".", "..") for s in segments):
        raise ZooKeeperUrlError(
            f"bad path in {shown!r}: expected /name[/name...], e.g. zk://host:2181/pyactors"
        )
    return ZooKeeperUrl(tuple(hosts), "/" + path, user, password)


def election_acl(client: KazooClient) -> list[ACL] | None:
    """The ACL of the election's znodes: the client's own (see the module
    doc), and READ for everyone, when the client has credentials."""
    own: list[ACL] | None = client.default_acl
    return [*own, *READ_ACL_UNSAFE] if own else None


def ensure_election_path(client: KazooClient, path: str, adopting: bool) -> None:
    """The election node, with the election's ACL; its parents as any
    other pyactors znode; `adopting` (contenders, not every detector's
    refresh): existing ones too (`adopt`)."""
    parent = path.rsplit("/", 1)[0]
    if parent:
        client.ensure_path(parent)
    client.ensure_path(path, acl=election_acl(client))
    if adopting:
        if parent:
            adopt(client, [parent])
        adopt(client, [path], election_acl(client))


def adopt(client: KazooClient, paths: Iterable[str], acl: list[ACL] | None = None) -> list[str]:
    """Give the znodes at `paths` that were made before credentials were
    used (or with another ACL) the ACL pyactors makes them with now: `acl`,
    by default the client's own. Nothing without credentials. Returns the
    paths changed (a znode gone meanwhile is skipped); NoAuthError for a
    znode the credentials may not read, someone else's."""
    wanted = acl if acl is not None else client.default_acl
    if not wanted:
        return []
    pending = [(path, client.get_acls_async(path)) for path in paths]
    changed = []
    for path, result in pending:
        try:
            current, stat = result.get()
        except NoNodeError:
            continue
        if sorted(current) != sorted(wanted):
            with contextlib.suppress(NoNodeError):
                client.set_acls(path, wanted, version=stat.aversion)
                changed.append(path)
    if changed:
        log.warning(
            "%d znode(s) made without pyactors' ACL now carry it, e.g. %s", len(changed), changed[0]
        )
    return changed


# ------------------------------------------------------------------ election


def _leader(children: Iterable[str]) -> str | None:
    """The leading candidate's znode name: the lowest sequence number."""
    candidates = [c for c in children if c.startswith(CANDIDATE_PREFIX)]
    # ZooKeeper appends the sequence number as ten digits.
    return min(candidates, key=lambda name: int(name[-10:]), default=None)


def _serial_executor(name: str) -> ThreadPoolExecutor:
    # One worker: tasks (and so callbacks) run one at a time, in submission order.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)


def _submit(executor: Executor, fn: Callable[[], None]) -> None:
    def run() -> None:
        try:
            fn()
        except Exception:
            log.exception("%s failed", getattr(fn, "__qualname__", fn))

    # Once stopped, late watch events have nowhere to go, and need none.
    with contextlib.suppress(RuntimeError):
        executor.submit(run)


class LeaderContender:
    """One master's place in the election under `path`.

    Contract:
    - `start()` joins as a candidate; `on_elected()` is called when this
      contender becomes leader, `on_deposed()` when it stops being leader
      (connection suspended, session lost, candidate znode deleted, `stop()`).
    - `is_leader` turns False at once on SUSPENDED or LOST, before
      `on_deposed` runs: the master checks it before every offer it sends.
    - After a disruption it rejoins with a new candidate znode, as a standby.
    - `stop()` withdraws for good.
    """

    def __init__(
        self,
        client: KazooClient,
        path: str,
        info: Mapping[str, Any],
        *,
        on_elected: Callable[[], None] | None = None,
        on_deposed: Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self._path = path
        # Our own candidates carry this token, so after a create whose
        # outcome was lost with the connection we can still find (and drop)
        # them: their names are Mesos's, the same for everyone.
        self._token = uuid.uuid4().hex
        self._data = orjson.dumps({**info, "contender": self._token})
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._lock = threading.Lock()
        self._running = False
        self._connected = False
        self._leader = False
        self._disruptions = 0
        self._node: str | None = None
        # `_disruptions` as it was when `_node` was created.
        self._joined = -1
        self._work = _serial_executor("pyactors-contender")
        self._callbacks = _serial_executor("pyactors-contender-callbacks")

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def candidate(self) -> str | None:
        """This contender's current candidate znode name, if it has one."""
        return self._node

    def start(self, timeout: float = 30.0) -> None:
        """Join the election; returns once the candidate znode exists (raises
        TimeoutError after `timeout`, while it keeps trying in the background)."""
        with self._lock:
            if self._running:
                raise RuntimeError("this contender has already started")
            self._running = True
            self._connected = self._client.state == KazooState.CONNECTED
        self._client.add_listener(self._on_state)
        self._work.submit(self._join).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Withdraw from the election (deposed first if leading)."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._disruptions += 1  # so that a `_check` under way elects no one
            self._depose()
        self._client.remove_listener(self._on_state)
        withdrawn = self._work.submit(self._withdraw)
        self._work.shutdown(wait=False)
        self._callbacks.shutdown(wait=False)
        # A withdrawal stuck on a dead connection ends with the session anyway.
        with contextlib.suppress(TimeoutError, KazooException):
            withdrawn.result(timeout)

    # ZooKeeper calls run on the work thread only; `_on_state` runs on kazoo's
    # connection thread, `_on_children` on its callback thread. What they
    # share is guarded by `_lock`.

    def _join(self) -> None:
        with self._lock:
            if not self._running:
                return
            seen = self._disruptions
        zk = self._client
        ensure_election_path(zk, self._path, adopting=True)
        self._withdraw()
        self._node = zk.create(
            f"{self._path}/{CANDIDATE_PREFIX}",
            self._data,
            acl=election_acl(zk),
            ephemeral=True,
            sequence=True,
        ).rsplit("/", 1)[1]
        self._joined = seen
        self._check()

    def _withdraw(self) -> None:
        with self._lock:
            self._depose()
        self._node = None
        _remove_candidates(self._client, self._path, "contender", self._token)

    def _check(self) -> None:
        with self._lock:
            if not self._running or self._node is None:
                return
            seen = self._disruptions
        children = self._client.get_children(self._path, watch=self._on_children)
        with self._lock:
            if seen != self._disruptions:
                return  # the rejoin queued by the reconnection decides
            if self._node not in children:
                # Deleted under us (by an operator, or an expiry not heard of yet).
                self._depose()
                _submit(self._work, self._join)
            # Only a candidate created since the last disruption may lead.
            elif _leader(children) == self._node and self._connected and self._joined == seen:
                if not self._leader:
                    self._leader = True
                    _submit(self._callbacks, self._elected)
            else:
                self._depose()

    def _on_children(self, _event: object) -> None:
        if self._running:
            _submit(self._work, self._check)

    def _on_state(self, state: str) -> bool:
        with self._lock:
            if not self._running:
                return True
            if state != KazooState.CONNECTED:
                self._connected = False
                self._disruptions += 1
                self._depose()
                return False
            if self._connected:
                return False
            self._connected = True
        _submit(self._work, self._join)
        return False

    def _depose(self) -> None:
        # Called with the lock held, so it orders with `_check`'s election.
        if self._leader:
            self._leader = False
            _submit(self._callbacks, self._deposed)

    def _elected(self) -> None:
        if self._on_elected is not None:
            self._on_elected()

    def _deposed(self) -> None:
        if self._on_deposed is not None:
            self._on_deposed()


def remove_candidate(client: KazooClient, path: str, contender_id: str) -> bool:
    """Delete the candidate znodes under `path` whose info has this `id`.

    For a contender known to be dead (its process is gone) whose session has
    not expired yet: the next candidate is elected now rather than after the
    session timeout. Returns whether one was deleted."""
    return _remove_candidates(client, path, "id", contender_id)


def _remove_candidates(client: KazooClient, path: str, key: str, value: str) -> bool:
    """Delete the candidates under `path` whose info has `key` = `value`."""
    removed = False
    for name in client.get_children(path):
        if not name.startswith(CANDIDATE_PREFIX):
            continue
        with contextlib.suppress(NoNodeError):
            data, _ = client.get(f"{path}/{name}")
            with contextlib.suppress(orjson.JSONDecodeError):
                info = orjson.loads(data)
                if isinstance(info, dict) and info.get(key) == value:
                    client.delete(f"{path}/{name}")
                    removed = True
    return removed


class LeaderDetector:
    """Watches the election under `path` and reports the leader's info.

    Contract: `on_change(info)` is called with the new leader's info (or None
    when there is no leader) each time the leading candidate changes, from one
    thread, in order; `current()` returns the last info reported. A change
    that comes and goes while this detector's connection is down can be
    missed: it reports where the election stands once reconnected.
    """

    def __init__(
        self,
        client: KazooClient,
        path: str,
        on_change: Callable[[dict[str, Any] | None], None] | None = None,
    ) -> None:
        self._client = client
        self._path = path
        self._on_change = on_change
        self._running = False
        self._leader: str | None = None
        self._info: dict[str, Any] | None = None
        self._work = _serial_executor("pyactors-detector")

    def current(self) -> dict[str, Any] | None:
        return self._info

    def start(self, timeout: float = 30.0) -> None:
        """Start watching; returns once the current leader (if any) is known."""
        if self._running:
            raise RuntimeError("this detector has already started")
        self._running = True
        self._client.add_listener(self._on_state)
        self._work.submit(self._refresh).result(timeout)

    def stop(self) -> None:
        self._running = False
        self._client.remove_listener(self._on_state)
        self._work.shutdown(wait=False)

    def _refresh(self) -> None:
        if not self._running:
            return
        ensure_election_path(self._client, self._path, adopting=False)
        leader = _leader(self._client.get_children(self._path, watch=self._on_children))
        if leader == self._leader:
            return
        info = None
        if leader is not None:
            try:
                data, _ = self._client.get(f"{self._path}/{leader}")
            except NoNodeError:
                return  # gone already: the children watch brings the next one
            info = self._decode(leader, data)
        self._leader, self._info = leader, info
        if self._on_change is not None:
            self._on_change(info)

    def _decode(self, leader: str, data: bytes) -> dict[str, Any] | None:
        try:
            info = orjson.loads(data)
        except orjson.JSONDecodeError:
            info = None
        if not isinstance(info, dict):
            log.warning("leader candidate %s/%s holds no JSON object", self._path, leader)
            return None
        info.pop("contender", None)
        return info

    def _on_children(self, _event: object) -> None:
        if self._running:
            _submit(self._work, self._refresh)

    def _on_state(self, state: str) -> bool:
        if not self._running:
            return True
        # Watches do not outlive an expired session: look again on reconnecting.
        if state == KazooState.CONNECTED:
            _submit(self._work, self._refresh)
        return False
