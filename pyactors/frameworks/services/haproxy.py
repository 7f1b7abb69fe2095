"""HAProxy in front of load-balanced apps (what marathon-lb does).

`render` turns the apps' live endpoints into an HAProxy configuration: one
frontend per app on its service port, one backend with the app's healthy
endpoints, round robin. It is a pure function of its arguments, so the same
endpoints give the same text and `LoadBalancer.update` reloads only when
something changed.

`LoadBalancer` runs Debian's haproxy in master-worker mode (`-W`, with a
master CLI socket). A new configuration is checked with `haproxy -c` first;
then the master is sent SIGUSR2: it re-executes itself, a new worker takes
over the listening sockets (handed over by the old worker, so no connection
attempt is refused meanwhile) and the old workers stop accepting but finish
the requests they are serving. The master CLI's `show proc` says whether the
reload loaded or failed (a failed reload leaves the old worker serving, and
the previous configuration is put back). An app without healthy endpoints
keeps its frontend: the service port stays bound and HTTP requests get 503.
Failed connections to a backend are retried on another one (`option
redispatch`), so an endpoint that died since the last update costs a
retry, not an error.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from pyactors.errors import HaproxyNotFoundError, LoadBalancerConfigError, LoadBalancerError

MODES = ("http", "tcp")
CONFIG = "haproxy.cfg"
LOG = "haproxy.log"
MASTER_SOCKET = "master.sock"
STATS_SOCKET = "stats.sock"

# Hostnames and IPv4 addresses: nothing that could end a configuration line
# or start a keyword.
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?$")
# Characters HAProxy allows in proxy names.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.:\-]+")
# A Unix socket path must fit sockaddr_un.sun_path (108 bytes with its NUL).
_SOCKET_PATH_MAX = 107
_MASTER_LINE = re.compile(r"^\d+\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]", re.MULTILINE)
_STOP_GRACE = 10.0
_WORKER_LINE = re.compile(r"^(\d+)\s+worker\s", re.MULTILINE)


@dataclass(frozen=True, order=True)
class Backend:
    """One healthy endpoint of an app: where its task listens."""

    host: str
    port: int


@dataclass(frozen=True)
class Frontend:
    """One load-balanced app: HAProxy listens on `service_port` and spreads
    connections over `backends`. `name` is the app id (e.g. "/shop/web");
    it is sanitised into HAProxy's proxy names."""

    name: str
    service_port: int
    backends: tuple[Backend, ...]
    mode: str = "http"


def proxy_name(frontend: Frontend) -> str:
    """The app's name in the configuration: the id with every character
    HAProxy refuses replaced, and the service port (unique per frontend)."""
    safe = _NAME_UNSAFE.sub("_", frontend.name.strip("/")) or "app"
    return f"{safe}_{frontend.service_port}"


def server_name(backend: Backend) -> str:
    return f"{backend.host}:{backend.port}"


def render(
    frontends: Sequence[Frontend],
    bind_host: str,
    stats_socket: str,
    *,
    connect_timeout: float = 5.0,
    client_timeout: float = 60.0,
    server_timeout: float = 60.0,
    retries: int = 3,
) -> str:
    """The configuration text serving `frontends` on `bind_host`, with an
    admin stats socket at `stats_socket`. Frontends come in service port
    order and backends sorted, so equal inputs give equal text. Raises
    LoadBalancerConfigError naming every problem; nothing is rendered then."""
    problems = _problems(frontends, bind_host, stats_socket)
    for name, value in (
        ("connect_timeout", connect_timeout),
        ("client_timeout", client_timeout),
        ("server_timeout", server_timeout),
    ):
        if not 0 < value < float("inf"):
            problems.append(f"{name} must be a positive number of seconds, got {value!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        problems.append(f"retries must be an integer >= 0, got {retries!r}")
    if problems:
        raise LoadBalancerConfigError("; ".join(problems))
    lines = [
        "# Written by pyactors.frameworks.services.haproxy: changes are overwritten.",
        "global",
        f"    stats socket {stats_socket} mode 600 level admin expose-fd listeners",
        "",
        "defaults",
        f"    timeout connect {_milliseconds(connect_timeout)}",
        f"    timeout client {_milliseconds(client_timeout)}",
        f"    timeout server {_milliseconds(server_timeout)}",
        f"    retries {retries}",
        # Every retry goes to another server: a dead endpoint costs a retry.
        "    option redispatch 1",
    ]
    for frontend in sorted(frontends, key=lambda f: f.service_port):
        name = proxy_name(frontend)
        lines += [
            "",
            f"# {frontend.name}",
            f"frontend {name}",
            f"    bind {bind_host}:{frontend.service_port}",
            f"    mode {frontend.mode}",
            *(["    option forwardfor"] if frontend.mode == "http" else []),
            f"    default_backend {name}",
            "",
            f"backend {name}",
            f"    mode {frontend.mode}",
            "    balance roundrobin",
            *(
                f"    server {server_name(b)} {b.host}:{b.port}"
                for b in sorted(set(frontend.backends))
            ),
        ]
    return "\n".join(lines) + "\n"


def _milliseconds(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def _problems(frontends: Sequence[Frontend], bind_host: str, stats_socket: str) -> list[str]:
    found = []
    if not isinstance(bind_host, str) or not _HOST.match(bind_host):
        found.append(f"bind host {bind_host!r} is not a hostname or IPv4 address")
    if not stats_socket.startswith("/") or any(c.isspace() for c in stats_socket):
        found.append(f"stats socket {stats_socket!r} must be an absolute path without spaces")
    ports: dict[int, str] = {}
    for frontend in frontends:
        if not isinstance(frontend, Frontend):
            found.append(f"{frontend!r} is not a Frontend")
            continue
        where = f"app {frontend.name!r}"
        if not isinstance(frontend.name, str) or not frontend.name.strip("/"):
            found.append(f"{where}: the name must be a non-empty app id")
        if not _is_port(frontend.service_port):
            found.append(f"{where}: service port {frontend.service_port!r} is not in 1-65535")
        elif frontend.service_port in ports:
            found.append(
                f"{where}: service port {frontend.service_port} is already "
                f"{ports[frontend.service_port]!r}'s"
            )
        else:
            ports[frontend.service_port] = frontend.name
        if frontend.mode not in MODES:
            found.append(f"{where}: mode {frontend.mode!r} is not one of {', '.join(MODES)}")
        if not isinstance(frontend.backends, tuple):
            found.append(f"{where}: backends must be a tuple of Backend")
            continue
        for backend in frontend.backends:
            if not isinstance(backend, Backend):
                found.append(f"{where}: {backend!r} is not a Backend")
                continue
            if not isinstance(backend.host, str) or not _HOST.match(backend.host):
                found.append(f"{where}: backend host {backend.host!r} is not a hostname or IPv4")
            if not _is_port(backend.port):
                found.append(f"{where}: backend port {backend.port!r} is not in 1-65535")
    return found


def _is_port(port: object) -> bool:
    return isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535


class LoadBalancer:
    """One haproxy (master and workers) serving the apps given to `update`.

    Files live in `work_dir`: the configuration, haproxy's log, the master
    CLI and stats sockets. `haproxy` is the binary's name or path. Calls are
    serialised by a lock; `update` blocks while haproxy starts or reloads
    (well under a second on an idle machine).
    """

    def __init__(
        self,
        work_dir: str,
        bind_host: str = "127.0.0.1",
        haproxy: str = "haproxy",
        ready_timeout: float = 300.0,
    ) -> None:
        binary = shutil.which(haproxy)
        if binary is None:
            raise HaproxyNotFoundError(
                f"haproxy binary {haproxy!r} not found: install it (apt-get install haproxy) "
                "or set the load balancer's `haproxy` option to its path"
            )
        self.haproxy = binary
        self.work_dir = Path(work_dir).absolute()
        self.bind_host = bind_host
        self.ready_timeout = ready_timeout
        self.config_path = self.work_dir / CONFIG
        self.log_path = self.work_dir / LOG
        self.master_socket = self.work_dir / MASTER_SOCKET
        self.stats_socket = self.work_dir / STATS_SOCKET
        if len(str(self.master_socket).encode()) > _SOCKET_PATH_MAX:
            raise LoadBalancerConfigError(
                f"work dir {str(self.work_dir)!r} is too long for a Unix socket path "
                f"({_SOCKET_PATH_MAX} bytes with {MASTER_SOCKET!r}): choose a shorter one"
            )
        # Fails early on a bad bind host, before anything runs.
        render((), bind_host, str(self.stats_socket))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._master: subprocess.Popen[bytes] | None = None
        self._config: str | None = None
        self.frontends: tuple[Frontend, ...] = ()
        # time.monotonic() when the configuration now served was loaded.
        self.loaded_at: float | None = None
        # Where haproxy's log was when the current start or reload began.
        self._log_offset = 0

    @property
    def running(self) -> bool:
        return self._master is not None and self._master.poll() is None

    def endpoint(self, service_port: int, scheme: str = "http") -> str:
        """The address clients use for the app on `service_port`."""
        return f"{scheme}://{self.bind_host}:{service_port}"

    def update(self, frontends: Sequence[Frontend]) -> bool:
        """Serve exactly `frontends`. Renders the configuration; when it
        differs from the one served (or haproxy is not running), checks it
        with `haproxy -c`, then starts haproxy or reloads it. Returns
        whether it started or reloaded. A configuration haproxy rejects
        raises LoadBalancerConfigError, a failed start or reload
        LoadBalancerError; the previous configuration keeps serving."""
        text = render(frontends, self.bind_host, str(self.stats_socket))
        with self._lock:
            if text == self._config and self.running:
                return False
            self._check(text)
            previous = self._config if self.running else None
            self._write(text)
            try:
                if previous is None:
                    self._start()
                else:
                    self._reload()
            except LoadBalancerError:
                if previous is not None:
                    self._write(previous)
                raise
            self._config = text
            self.frontends = tuple(frontends)
            self.loaded_at = time.monotonic()
            return True

    def served(self) -> dict[str, tuple[Backend, ...]]:
        """What the current worker serves, asked from haproxy itself: each
        backend's servers by proxy name (`proxy_name`)."""
        with self._lock:
            if not self.running:
                return {}
            answer = self._ask("@1 show servers state")
        served: dict[str, list[Backend]] = {}
        for line in answer.splitlines():
            fields = line.split()
            # be_id be_name srv_id srv_name srv_addr ... srv_port (19th)
            if len(fields) > 18 and not line.startswith("#") and fields[0].isdigit():
                served.setdefault(fields[1], []).append(Backend(fields[4], int(fields[18])))
        return {name: tuple(sorted(backends)) for name, backends in served.items()}

    def stop(self) -> None:
        """Stop haproxy: the master and every worker, old ones included."""
        with self._lock:
            master, self._master = self._master, None
            self._config = None
            self.frontends = ()
            if master is None:
                return
            _end(master)
            for path in (self.master_socket, self.stats_socket):
                path.unlink(missing_ok=True)

    def _check(self, text: str) -> None:
        candidate = self.work_dir / (CONFIG + ".new")
        candidate.write_text(text)
        try:
            result = subprocess.run(
                [self.haproxy, "-c", "-f", str(candidate)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=60,
                check=False,
            )
        finally:
            candidate.unlink(missing_ok=True)
        if result.returncode != 0:
            said = (result.stdout + result.stderr).decode(errors="replace").strip()
            raise LoadBalancerConfigError(f"haproxy rejected the configuration: {said}")

    def _write(self, text: str) -> None:
        # Renamed into place: the master never reads half a file.
        partial = self.work_dir / (CONFIG + ".tmp")
        partial.write_text(text)
        partial.replace(self.config_path)

    def _start(self) -> None:
        if self._master is not None:
            self._kill_leftovers()
        for path in (self.master_socket, self.stats_socket):
            path.unlink(missing_ok=True)
        self._log_offset = self._log_size()
        with open(self.log_path, "ab") as log:
            self._master = subprocess.Popen(
                [self.haproxy, "-W", "-S", str(self.master_socket), "-f", str(self.config_path)],
                cwd=self.work_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._master.poll() is not None:
                self._master = None
                raise LoadBalancerError(f"haproxy did not start: {self._log_tail()}")
            with contextlib.suppress(LoadBalancerError):
                if _WORKER_LINE.search(self._ask("show proc")):
                    return
            time.sleep(0.02)
        self._kill_leftovers()
        raise LoadBalancerError(
            f"haproxy did not start within {self.ready_timeout} s: {self._log_tail()}"
        )

    def _kill_leftovers(self) -> None:
        """End a master that died or hangs, and its workers (lock held)."""
        master, self._master = self._master, None
        if master is not None:
            _end(master)

    def _reload(self) -> None:
        assert self._master is not None
        reloads, failures = self._master_counts()
        self._log_offset = self._log_size()
        self._master.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._master.poll() is not None:
                self._master = None
                raise LoadBalancerError(f"haproxy's master died reloading: {self._log_tail()}")
            try:
                now_reloads, now_failures = self._master_counts()
            except LoadBalancerError:
                # Refused while the master re-executes itself.
                time.sleep(0.02)
                continue
            if now_failures > failures:
                raise LoadBalancerError(
                    "haproxy refused the new configuration, the previous one keeps serving: "
                    + self._log_tail()
                )
            if now_reloads > reloads:
                return
            time.sleep(0.02)
        raise LoadBalancerError(
            f"haproxy did not reload within {self.ready_timeout} s: {self._log_tail()}"
        )

    def _master_counts(self) -> tuple[int, int]:
        """(reloads, failed reloads) as the master counts them."""
        answer = self._ask("show proc")
        match = _MASTER_LINE.search(answer)
        if match is None:
            raise LoadBalancerError(f"unexpected answer from haproxy's master: {answer!r}")
        return int(match.group(1)), int(match.group(2))

    def _ask(self, command: str) -> str:
        """One command to the master CLI (prefix "@1 " for the worker)."""
        chunks = []
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as cli:
                cli.settimeout(5.0)
                cli.connect(str(self.master_socket))
                cli.sendall(command.encode() + b"\n")
                cli.shutdown(socket.SHUT_WR)
                while chunk := cli.recv(65536):
                    chunks.append(chunk)
        except OSError as error:
            raise LoadBalancerError(f"haproxy's master CLI did not answer: {error}") from error
        return b"".join(chunks).decode(errors="replace")

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _log_tail(self, lines: int = 8) -> str:
        """What haproxy logged since the current start or reload began."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(nothing logged)"


def _end(master: subprocess.Popen[bytes]) -> None:
    """Stop a master and every worker it started (old ones still finishing
    requests too): SIGTERM to the master, which stops its workers; SIGKILL
    to whatever is left after `_STOP_GRACE` seconds."""
    try:
        workers = psutil.Process(master.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        workers = []
    if master.poll() is None:
        master.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            master.wait(timeout=_STOP_GRACE)
    # psutil knows each process by pid and start time: no stranger is hit.
    if master.poll() is None:
        master.kill()
    for worker in workers:
        with contextlib.suppress(psutil.NoSuchProcess):
            worker.kill()
    master.wait()
    psutil.wait_procs(workers, timeout=_STOP_GRACE)
