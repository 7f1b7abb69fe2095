"""A real, standalone ZooKeeper server on this machine, for the test suite
and the chaos harness.

The server is Debian's `zookeeper` package (its jar carries its classpath in
the manifest) run directly with its own zoo.cfg, so nothing under /etc is
used and no service is started.
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

JAR = Path("/usr/share/java/zookeeper.jar")
MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
# Small heap and a quick JIT: the machine's few cores run everything else too.
JVM_OPTIONS = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]


def installed() -> bool:
    return JAR.is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:
    # If whoever started it is killed (a hard timeout, a SIGKILL), the JVM
    # goes with it instead of holding the port for the next run.
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class ZooKeeperServer:
    """One standalone server on a free loopback port, its data under `home`
    (a throwaway directory when None, removed by `close`).

    `restart()` keeps the port and the data: sessions survive it if their
    clients reconnect within the session timeout.
    """

    def __init__(self, home: Path | None = None) -> None:
        if not installed():
            raise RuntimeError(f"ZooKeeper is not installed ({JAR}): apt-get install zookeeper")
        self._owns_home = home is None
        self.home = Path(tempfile.mkdtemp(prefix="pyactors-zk-")) if home is None else home
        self.port = _free_port()
        self.hosts = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        (self.home / "zoo.cfg").write_text(
            f"tickTime=200\n"
            f"dataDir={self.home / 'data'}\n"
            f"clientPort={self.port}\n"
            f"clientPortAddress=127.0.0.1\n"
            f"minSessionTimeout=1000\n"
            f"maxSessionTimeout=30000\n"
            f"admin.enableServer=false\n"
            f"4lw.commands.whitelist=ruok\n"
        )

    def start(self, timeout: float = 240.0) -> None:
        """Start it and wait until it answers (a bound on a stuck server, not
        on a slow start: a busy machine starts a JVM slowly)."""
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("the zookeeper package is installed but `java` is not on PATH")
        with (self.home / "server.log").open("ab") as log:
            self._process = subprocess.Popen(
                [java, *JVM_OPTIONS, "-cp", str(JAR), MAIN, str(self.home / "zoo.cfg")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
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

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._owns_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        path = self.home / "server.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _answers_ruok(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"ruok")
                return s.recv(4) == b"imok"
        except OSError:
            return False
