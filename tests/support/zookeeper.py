"""A real, standalone ZooKeeper server for tests, and ways to disturb it.

The server is `pyactors.tools.zookeeper`'s. Tests that need it skip when
the package is absent, and only then.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from kazoo.client import KazooClient, KazooState

from pyactors.tools import zookeeper as server
from pyactors.tools.zookeeper import JAR as JAR
from pyactors.tools.zookeeper import installed as installed
from support.runtime import PATIENCE


class ZooKeeperServer(server.ZooKeeperServer):
    """The server with the tests' patience for its start."""

    def start(self, timeout: float = PATIENCE) -> None:
        super().start(timeout)


def expire_session(client: KazooClient, hosts: str, timeout: float = PATIENCE) -> None:
    """Expire `client`'s session on the server, as a long partition would.

    A second client attaches to the same session (id and password) and closes
    it: the server ends the session and drops `client`'s connection, and
    `client` sees SUSPENDED, then LOST when it reconnects. Returns once
    `client` has seen LOST (it then goes on with a new session).
    """
    lost = threading.Event()

    def watch(state: KazooState) -> bool:
        if state == KazooState.LOST:
            lost.set()
            return True
        return False

    client.add_listener(watch)
    session_id, password = client.client_id
    intruder = KazooClient(hosts=hosts, client_id=(session_id, password))
    intruder.start(timeout=timeout)
    intruder.stop()
    intruder.close()
    if not lost.wait(timeout):
        raise TimeoutError(f"the session was not expired within {timeout} s")


@contextlib.contextmanager
def client(hosts: str, timeout: float = 30.0) -> Iterator[KazooClient]:
    """A started client, stopped afterwards. Its session outlives a busy
    machine's pauses (the server's longest, 30 s): the tests end sessions
    on purpose (`stop`, `expire_session`), never by waiting for them to
    time out."""
    # Retry connecting often: kazoo's default backoff grows past a test's patience.
    retry = {"max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 0.5}
    zk = KazooClient(hosts=hosts, timeout=timeout, connection_retry=retry)
    zk.start(timeout=PATIENCE)
    try:
        yield zk
    finally:
        with contextlib.suppress(Exception):
            zk.stop()
        zk.close()
