"""The HTTP API's browser and network guards (`pyactors.api.guards`), on a
real aiohttp server on a loopback port (no Ray: the master behind it is a
stand-in that records the teardowns that reach it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from pyactors.api.guards import Guards, split_host
from pyactors.api.http import HttpServer
from pyactors.api.v1.operator_events import OperatorEvents


class _Master:
    """Enough of a master: it leads nothing, and records teardowns."""

    metrics: Any = None
    share_history: Any = None

    def __init__(self) -> None:
        self.torn_down: list[str] = []
        self.operator_events = OperatorEvents(self.about)

    def about(self) -> Any:
        raise AssertionError("a master that leads nothing is never described")

    def leading_state(self) -> None:
        return None

    def leader_url(self) -> None:
        return None

    def teardown_framework(self, framework_id: str, principal: str | None) -> None:
        self.torn_down.append(framework_id)


Reply = tuple[int, dict[str, str], Any]


def _served(
    requests: Callable[[Callable[..., Awaitable[Reply]], int], Awaitable[None]],
    host: str = "127.0.0.1",
    hostnames: tuple[str, ...] = (),
) -> _Master:
    """Runs `requests(send, port)` against a served API; the stand-in master."""
    master = _Master()

    async def run() -> None:
        server = HttpServer(master, host, 0, hostnames)  # type: ignore[arg-type]
        await server.start()
        _, port = await server.wait_bound()
        try:
            async with aiohttp.ClientSession() as session:

                async def send(
                    method: str, path: str, headers: dict[str, str], data: bytes | None = None
                ) -> Reply:
                    async with session.request(
                        method,
                        f"http://127.0.0.1:{port}{path}",
                        headers=headers,
                        data=data,
                        allow_redirects=False,
                    ) as response:
                        body: Any = await response.read()
                        if response.content_type == "application/json":
                            body = await response.json()
                        return response.status, dict(response.headers), body

                await requests(send, port)
        finally:
            await server.stop()

    asyncio.run(run())
    return master


TEARDOWN = b'{"framework_id": "framework-1"}'


def test_the_cross_origin_text_plain_teardown_is_refused_and_changes_nothing() -> None:
    async def requests(send: Callable[..., Awaitable[Reply]], port: int) -> None:
        status, headers, body = await send(
            "POST",
            "/master/teardown",
            {"Content-Type": "text/plain", "Origin": "http://evil.example"},
            TEARDOWN,
        )
        assert status == 403
        assert body["error"] == "cross_origin"
        assert "http://evil.example" in body["message"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        # The same, from no page at all: still no JSON, refused for its type.
        status, _, body = await send(
            "POST", "/master/teardown", {"Content-Type": "text/plain"}, TEARDOWN
        )
        assert (status, body["error"]) == (415, "unsupported_media_type")

    assert _served(requests).torn_down == []


def test_a_same_origin_json_teardown_goes_through() -> None:
    async def requests(send: Callable[..., Awaitable[Reply]], port: int) -> None:
        for origin in (f"http://127.0.0.1:{port}", None):
            headers = {"Content-Type": "application/json"}
            if origin is not None:
                headers["Origin"] = origin
            status, _, body = await send("POST", "/master/teardown", headers, TEARDOWN)
            assert (status, body) == (200, {"framework_id": "framework-1"})
        # Mesos's form post, as curl -d sends it.
        status, _, _ = await send(
            "POST",
            "/master/teardown",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"frameworkId=framework-2",
        )
        assert status == 200

    assert _served(requests).torn_down == ["framework-1", "framework-1", "framework-2"]


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "null",
        "https://127.0.0.1:{port}",  # another scheme
        "http://127.0.0.1:1",  # another port
        "http://localhost:{port}",  # another host name: another origin
    ],
)
def test_changes_from_other_origins_are_refused(origin: str) -> None:
    async def requests(send: Callable[..., Awaitable[Reply]], port: int) -> None:
        for method, path in (
            ("POST", "/master/teardown"),
            ("PUT", "/master/weights"),
            ("DELETE", "/master/quota/web"),
        ):
            headers = {"Origin": origin.format(port=port), "Content-Type": "application/json"}
            status, _, body = await send(method, path, headers, TEARDOWN)
            assert (status, body["error"]) == (403, "cross_origin"), (method, path)

    assert _served(requests).torn_down == []


def test_reads_from_other_origins_are_left_to_the_browser() -> None:
    """A cross-origin GET cannot change anything, and the browser keeps its
    answer from the page (no CORS header is ever sent)."""

    async def requests(send: Callable[..., Awaitable[Reply]], port: int) -> None:
        status, headers, _ = await send("GET", "/openapi.json", {"Origin": "http://evil.example"})
        assert status == 200
        assert "Access-Control-Allow-Origin" not in headers

    _served(requests)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:{port}",
        "evil.example",
        "127.0.0.1.evil.example:{port}",
        "127.0.0.1:1",  # a loopback name, on another port
        "user@127.0.0.1:{port}",
        "",
    ],
)
def test_a_foreign_host_is_refused(host: str) -> None:
    async def requests(send: Callable[..., Awaitable[Reply]], port: int) -> None:
        for path in ("/master/state", "/openapi.json", "/"):
            status, headers, body = await send("GET", path, {"Host": host.format(port=port)})
            assert (status, body["error"]) == (421, "misdirected_request"), path
            assert headers["X-Content-Type-Options"] == "nosniff"
        status, _, _ = await send(
            "POST",
            "/master/teardown",
            {"Host": host.format(port=port), "Content-Type": "application/json"},
            TEARDOWN,
        )
        assert status == 421

    assert _served(requests).torn_down == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"]
)
def test_loopback_names_with_the_port_are_answered(host: str) -> None:
    async def requests(send: Callable[..., Awaitable[Reply]], port: int) -> None:
        status, _, _ = await send("GET", "/openapi.json", {"Host": host.format(port=port)})
        assert status == 200

    _served(requests)


def test_configured_host_names_are_answered_on_any_port() -> None:
    async def requests(send: Callable[..., Awaitable[Reply]], port: int) -> None:
        for host in ("pyactors.example.org", "pyactors.example.org:443", "Pyactors.Example.Org"):
            status, _, _ = await send("GET", "/openapi.json", {"Host": host})
            assert status == 200, host
        status, _, _ = await send("GET", "/openapi.json", {"Host": "other.example.org"})
        assert status == 421

    _served(requests, hostnames=("pyactors.example.org",))


def test_bound_to_every_address_the_machine_names_are_answered() -> None:
    import socket

    async def requests(send: Callable[..., Awaitable[Reply]], port: int) -> None:
        for name in (socket.gethostname(), "127.0.0.1"):
            status, _, _ = await send("GET", "/openapi.json", {"Host": f"{name}:{port}"})
            assert status == 200, name
        status, _, _ = await send("GET", "/openapi.json", {"Host": f"evil.example:{port}"})
        assert status == 421

    _served(requests, host="0.0.0.0")


def test_a_json_body_of_another_type_is_refused_and_no_body_never_is() -> None:
    async def requests(send: Callable[..., Awaitable[Reply]], port: int) -> None:
        for kind in ("text/plain", "multipart/form-data; boundary=x", "application/xml"):
            status, headers, body = await send(
                "POST", "/master/teardown", {"Content-Type": kind}, TEARDOWN
            )
            assert (status, body["error"]) == (415, "unsupported_media_type"), kind
            assert headers["X-Content-Type-Options"] == "nosniff"
        # No type at all: refused too (aiohttp sends its octet-stream).
        status, _, _ = await send("POST", "/master/teardown", {}, TEARDOWN)
        assert status == 415
        # No body, whatever its type says: the handler answers (a 400 for
        # the missing framework id, never a 415).
        status, _, body = await send("POST", "/master/teardown", {"Content-Type": "text/plain"})
        assert status == 400, body
        status, _, _ = await send("DELETE", "/master/quota/web", {})
        assert status != 415

    assert _served(requests).torn_down == []


def test_every_answer_says_nosniff() -> None:
    async def requests(send: Callable[..., Awaitable[Reply]], port: int) -> None:
        for path in ("/openapi.json", "/master/state", "/no/such/path", "/webui/app.js"):
            _, headers, _ = await send("GET", path, {})
            assert headers["X-Content-Type-Options"] == "nosniff", path

    _served(requests)


def test_host_headers_are_read_strictly() -> None:
    assert split_host("127.0.0.1:80") == ("127.0.0.1", 80)
    assert split_host("[::1]:5050") == ("::1", 5050)
    assert split_host("Example.org") == ("example.org", None)
    for bad in ("", "a:b", "a/b", "a?b", "u@a", "[::1", "a:99999"):
        assert split_host(bad) is None, bad
    guards = Guards()
    guards.bind(["127.0.0.1"], 5050)
    assert guards.host_allowed("127.0.0.1:5050", "http")
    assert guards.host_allowed("[0:0::1]:5050", "http")
    assert not guards.host_allowed("127.0.0.1", "http")  # port 80 is not 5050
    assert guards.host_allowed(None, "http")  # HTTP/1.0: no browser sends none
    assert not guards.host_allowed("", "http")
    assert not Guards.same_origin("http://127.0.0.1:5050", None, "http")
    assert Guards.same_origin("http://127.0.0.1:5050", "127.0.0.1:5050", "http")
    assert Guards.same_origin("https://example.org", "example.org:443", "https")
    assert not Guards.same_origin("http://127.0.0.1:5050", "127.0.0.1:5050", "https")
    assert not Guards.same_origin("http://127.0.0.1:x", "127.0.0.1:5050", "http")


def test_a_request_without_host_is_answered_but_not_with_an_origin() -> None:
    """HTTP/1.0 clients (load balancers' checks) send no Host; browsers
    always do, so a request without one is no DNS-rebinding page's."""

    async def requests(send: Callable[..., Awaitable[Reply]], port: int) -> None:
        async def raw(lines: list[str], body: bytes = b"") -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await writer.drain()
            answer = await reader.read()
            writer.close()
            await writer.wait_closed()
            return answer

        answer = await raw(["GET /openapi.json HTTP/1.0"])
        assert answer.startswith(b"HTTP/1.0 200"), answer[:80]
        answer = await raw(
            [
                "POST /master/teardown HTTP/1.0",
                "Origin: http://evil.example",
                "Content-Type: application/json",
                f"Content-Length: {len(TEARDOWN)}",
            ],
            TEARDOWN,
        )
        assert answer.startswith(b"HTTP/1.0 403"), answer[:80]

    assert _served(requests).torn_down == []
