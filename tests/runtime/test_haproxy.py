"""The HAProxy load balancer: rendering, and the real haproxy in front of
real HTTP servers started by the tests."""

from __future__ import annotations

import collections
import http.client
import http.server
import itertools
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from support.runtime import PATIENCE, wait_for

from pyactors.errors import HaproxyNotFoundError, LoadBalancerConfigError, LoadBalancerError
from pyactors.frameworks.services.haproxy import Backend, Frontend, LoadBalancer, proxy_name, render

pytestmark = pytest.mark.skipif(
    shutil.which("haproxy") is None, reason="Debian's haproxy is not installed"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NamedServer:
    """An HTTP server on a free port answering its name; GET /slow sets
    `slow_started` when the request arrives and answers once `release` is."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.slow_started = threading.Event()
        self.release = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/slow":
                    owner.slow_started.set()
                    owner.release.wait(PATIENCE)
                body = owner.name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.backend = Backend("127.0.0.1", int(self.server.server_address[1]))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers() -> Iterator[list[NamedServer]]:
    started = [NamedServer(f"server-{i}") for i in range(3)]
    try:
        yield started
    finally:
        for server in started:
            server.close()


@pytest.fixture
def balancer(tmp_path: Path) -> Iterator[LoadBalancer]:
    lb = LoadBalancer(str(tmp_path / "lb"))
    try:
        yield lb
    finally:
        lb.stop()


def get(port: int, path: str = "/", timeout: float = 30.0) -> tuple[int, str]:
    """One request on a new connection: (status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def haproxy_processes(balancer: LoadBalancer) -> list[psutil.Process]:
    """The haproxy processes (master and workers) running in its work dir."""
    found = []
    for process in psutil.process_iter(["exe", "cwd"]):
        if process.info["cwd"] == str(balancer.work_dir) and "haproxy" in (
            process.info["exe"] or ""
        ):
            found.append(process)
    return found


def app(port: int, servers: list[NamedServer], mode: str = "http") -> Frontend:
    return Frontend("/shop/web", port, tuple(s.backend for s in servers), mode)


# ------------------------------------------------------------------ rendering


def test_render_is_deterministic_and_sanitises_names() -> None:
    a, b = Backend("10.0.0.1", 31000), Backend("10.0.0.2", 31001)
    one = [Frontend("/shop/web", 10000, (a, b)), Frontend("/db", 10001, (b,), "tcp")]
    two = [Frontend("/db", 10001, (b,), "tcp"), Frontend("/shop/web", 10000, (b, a))]
    text = render(one, "127.0.0.1", "/run/lb/stats.sock")
    assert text == render(two, "127.0.0.1", "/run/lb/stats.sock")
    assert proxy_name(one[0]) == "shop_web_10000"
    assert proxy_name(Frontend("/a b;c/../d", 1, ())) == "a_b_c_.._d_1"
    assert "frontend shop_web_10000\n    bind 127.0.0.1:10000\n    mode http" in text
    assert "    server 10.0.0.1:31000 10.0.0.1:31000\n    server 10.0.0.2:31001" in text
    assert "backend db_10001\n    mode tcp" in text


def test_bad_frontends_are_refused_with_every_problem_named() -> None:
    good = Backend("127.0.0.1", 8080)
    with pytest.raises(LoadBalancerConfigError) as refused:
        render(
            [
                Frontend("/a", 0, (good,)),
                Frontend("/b", 9000, (Backend("evil host\n", 80),)),
                Frontend("/c", 9000, (Backend("127.0.0.1", 70000),), mode="udp"),
            ],
            "127.0.0.1",
            "/tmp/stats.sock",
        )
    message = str(refused.value)
    for expected in (
        "service port 0 is not in 1-65535",
        "backend host 'evil host\\n'",
        "service port 9000 is already '/b''s",
        "backend port 70000",
        "mode 'udp'",
    ):
        assert expected in message
    with pytest.raises(LoadBalancerConfigError, match="bind host"):
        render([], "0.0.0.0 ssl", "/tmp/stats.sock")


def test_a_missing_binary_names_the_option_to_set(tmp_path: Path) -> None:
    with pytest.raises(HaproxyNotFoundError, match="`haproxy` option"):
        LoadBalancer(str(tmp_path), haproxy=str(tmp_path / "no-haproxy"))


# ------------------------------------------------------------- real haproxy


def test_requests_are_balanced_over_the_backends(
    balancer: LoadBalancer, servers: list[NamedServer]
) -> None:
    port = free_port()
    assert balancer.update([app(port, servers)])
    assert balancer.running
    assert not balancer.update([app(port, list(reversed(servers)))])  # same config
    answers = collections.Counter(get(port)[1] for _ in range(30))
    assert set(answers) == {s.name for s in servers}
    assert min(answers.values()) >= 5, answers
    assert balancer.endpoint(port) == f"http://127.0.0.1:{port}"
    assert balancer.served() == {"shop_web_" + str(port): tuple(sorted(s.backend for s in servers))}


def test_a_removed_backend_gets_no_more_traffic(
    balancer: LoadBalancer, servers: list[NamedServer]
) -> None:
    port = free_port()
    balancer.update([app(port, servers)])
    assert balancer.update([app(port, servers[:2])])
    answers = {get(port)[1] for _ in range(20)}
    assert answers == {"server-0", "server-1"}


def test_an_app_without_backends_keeps_its_port_and_answers_503(
    balancer: LoadBalancer, servers: list[NamedServer]
) -> None:
    port = free_port()
    balancer.update([app(port, servers[:1])])
    balancer.update([app(port, [])])
    assert get(port)[0] == 503
    balancer.update([app(port, servers[1:2])])
    assert get(port) == (200, "server-1")


def test_tcp_mode_forwards_connections(balancer: LoadBalancer, servers: list[NamedServer]) -> None:
    port = free_port()
    balancer.update([app(port, servers[:1], mode="tcp")])
    assert get(port) == (200, "server-0")


def test_a_reload_does_not_drop_a_request_in_flight(
    balancer: LoadBalancer, servers: list[NamedServer]
) -> None:
    port = free_port()
    balancer.update([app(port, servers[:1])])
    result: list[tuple[int, str]] = []
    slow = threading.Thread(target=lambda: result.append(get(port, "/slow", timeout=PATIENCE)))
    slow.start()
    try:
        assert servers[0].slow_started.wait(PATIENCE)
        # The slow request's backend leaves the configuration meanwhile; its
        # answer comes only once the new configuration serves.
        assert balancer.update([app(port, servers[1:])])
        assert get(port)[1] in {"server-1", "server-2"}
    finally:
        servers[0].release.set()
        slow.join(PATIENCE)
    assert result == [(200, "server-0")]


def test_clients_see_no_error_while_haproxy_reloads(
    balancer: LoadBalancer, servers: list[NamedServer]
) -> None:
    port = free_port()
    balancer.update([app(port, servers)])
    stop = threading.Event()
    outcomes: list[str] = []

    def client() -> None:
        while not stop.is_set():
            try:
                status, _ = get(port, timeout=PATIENCE)
                outcomes.append(str(status))
            except OSError as error:
                outcomes.append(repr(error))

    # Every configuration keeps at least one backend up.
    configurations = itertools.cycle([servers[:1], servers[1:], servers[::2], servers, servers[2:]])
    reloads = 0

    def reloaded() -> bool:
        """One more reload; enough once ten came with more than ten requests
        across them (a busy machine's client may be slow to make them)."""
        nonlocal reloads
        assert balancer.update([app(port, next(configurations))])
        reloads += 1
        return reloads >= 10 and len(outcomes) > 10

    thread = threading.Thread(target=client)
    thread.start()
    try:
        wait_for(
            reloaded,
            what="ten reloads and more than ten requests across them",
            seen=lambda: {"reloads": reloads, "requests": len(outcomes)},
        )
    finally:
        stop.set()
        thread.join(PATIENCE)
    assert set(outcomes) == {"200"}, collections.Counter(outcomes)


def test_an_invalid_update_raises_and_the_old_config_keeps_serving(
    balancer: LoadBalancer, servers: list[NamedServer]
) -> None:
    port = free_port()
    balancer.update([app(port, servers[:1])])
    served = balancer.frontends
    # haproxy -c refuses a server address that does not resolve.
    unresolvable = Frontend("/shop/web", port, (Backend("no-such-host.invalid", 80),))
    with pytest.raises(LoadBalancerConfigError, match=r"no-such-host\.invalid"):
        balancer.update([unresolvable])
    assert balancer.frontends == served
    assert get(port) == (200, "server-0")
    # A configuration that passes the check but cannot bind fails the reload.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with pytest.raises(LoadBalancerError, match="previous one keeps serving"):
            balancer.update([app(port, servers[:1]), Frontend("/other", busy, ())])
    assert get(port) == (200, "server-0")
    assert balancer.update([app(port, servers[1:2])])
    assert get(port) == (200, "server-1")


def test_stop_leaves_no_haproxy_process(balancer: LoadBalancer, servers: list[NamedServer]) -> None:
    port = free_port()
    balancer.update([app(port, servers)])
    balancer.update([app(port, servers[:2])])
    haproxies = haproxy_processes(balancer)
    assert len(haproxies) >= 2  # the master and its worker
    balancer.stop()
    assert not balancer.running
    _, alive = psutil.wait_procs(haproxies, timeout=PATIENCE)
    assert alive == []
    with pytest.raises(ConnectionRefusedError):
        get(port)


def test_a_dead_haproxy_is_started_again_by_the_next_update(
    balancer: LoadBalancer, servers: list[NamedServer]
) -> None:
    port = free_port()
    balancer.update([app(port, servers[:1])])
    haproxies = haproxy_processes(balancer)
    for process in haproxies:
        process.kill()
    wait_for(lambda: not balancer.running, what="haproxy gone")
    psutil.wait_procs(haproxies, timeout=PATIENCE)
    assert balancer.update([app(port, servers[:1])])
    assert get(port) == (200, "server-0")
