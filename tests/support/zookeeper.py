"""A real, standalone ZooKeeper server for tests, and ways to disturb it.

The server is Debian's `zookeeper` package (its jar carries its classpath in
the manifest) run directly with our own zoo.cfg, so nothing under /etc is
used and no service is started. Tests that need it skip when the package is
absent, and only then.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from kazoo.client import KazooClient, KazooState

from support.runtime import PATIENCE

JAR = Path("/usr/share/java/zookeeper.jar")
MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
# Small heap and a quick JIT: the machine has two cores shared with others.
JVM_OPTIONS = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]


def installed() -> bool:
    return JAR.is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:
    # If pytest itself is killed (a hard timeout), the JVM goes with it
    # instead of holding the port for the next run.
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class ZooKeeperServer:
    """One standalone server on a free port with a throwaway data dir.

    `stop()` then `start()` is a restart on the same port and data: sessions
    survive it if their clients reconnect within the session timeout.
    """

    def __init__(self) -> None:
        self.port = _free_port()
        self.hosts = f"127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="pyactors-zk-"))
        self._process: subprocess.Popen[bytes] | None = None
        (self._dir / "data").mkdir()
        (self._dir / "zoo.cfg").write_text(
            f"tickTime=200\n"
            f"dataDir={self._dir / 'data'}\n"
            f"clientPort={self.port}\n"
            f"clientPortAddress=127.0.0.1\n"
            f"minSessionTimeout=1000\n"
            f"maxSessionTimeout=30000\n"
            f"admin.enableServer=false\n"
            f"4lw.commands.whitelist=ruok\n"
        )

    def start(self, timeout: float = PATIENCE) -> None:
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("the zookeeper package is installed but `java` is not on PATH")
        log = (self._dir / "server.log").open("ab")
        self._process = subprocess.Popen(
            [java, *JVM_OPTIONS, "-cp", str(JAR), MAIN, str(self._dir / "zoo.cfg")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self._answers_ruok():
            if self._process.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited at start:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ZooKeeper did not answer in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        path = self._dir / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _answers_ruok(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"ruok")
                return s.recv(4) == b"imok"
        except OSError:
            return False


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
