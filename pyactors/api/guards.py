"""What protects the HTTP API from browsers and from the network, whether or
not credentials are configured (an aiohttp middleware, `Guards.middleware`):

- a foreign `Host` is refused (421): a page on a DNS-rebinding name such
  as evil.example (resolving to this machine) cannot read the state. The
  names allowed are the loopback names (localhost, 127.0.0.1, [::1]) and
  the bound address, with the bound port; bound to every address
  (0.0.0.0 or ::), the machine's own addresses and host names; and the
  host names the operator configured (any port: a proxy in front may
  listen elsewhere). A request with no Host at all (HTTP/1.0, as some load
  balancers' health checks send) is let through: browsers always send one;
- a request that may change something (POST, PUT, PATCH, DELETE) carrying
  an `Origin` other than this server's own is refused (403): a "simple"
  cross-site request needs no CORS preflight, so the browser would
  otherwise send it, with any credentials it holds;
- a body of any type but JSON (or, as Mesos's v0 endpoints take, a
  urlencoded form) is refused (415): `text/plain` is the type a cross-site
  page can post without a preflight. A request without a body is never
  refused for its type (clients send none for a PUT-to-run or a DELETE);
- every response says `X-Content-Type-Options: nosniff`.

Refusals are JSON `{code, error, message}` bodies, as every API error.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable

import orjson
import psutil
from aiohttp import web
from aiohttp.typedefs import Middleware

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})
# Methods that may change something: what a cross-site page must not send.
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The body types the API reads (JSON; Mesos's form posts such as `frameworkId=`).
BODY_TYPES = frozenset({"application/json", "application/x-www-form-urlencoded"})
DEFAULT_PORTS = {"http": 80, "https": 443}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def split_host(value: str) -> tuple[str, int | None] | None:
    """(name, port) of a `Host` header value (IPv6 without its brackets,
    lower case); None if it is not one."""
    try:
        parts = urllib.parse.urlsplit("//" + value.strip())
        port = parts.port
    except ValueError:  # an unclosed [, a port that is no number
        return None
    name = parts.hostname
    if not name or parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    return name.lower(), port


def machine_names() -> frozenset[str]:
    """This machine's host names and the addresses of its interfaces (IPv6
    without a zone)."""
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                names.add(address.address.split("%", 1)[0].lower())
    return frozenset(names)


def _normal(name: str) -> str:
    """An address in its one spelling (so ::0:1 is ::1), a name lower case."""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.lower()


def _refusal(status: int, kind: str, message: str) -> web.Response:
    body = {"code": status, "error": kind, "message": message}
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


class Guards:
    """The names a request may use for this server. `bind` tells the
    address the server listens on once it is bound; until then (a router
    built without a server) the loopback names are allowed on any port."""

    def __init__(self, hostnames: Iterable[str] = ()) -> None:
        self.hostnames = frozenset(_normal(h) for h in hostnames)
        self._names = frozenset(_normal(n) for n in LOOPBACK_NAMES)
        self._port: int | None = None

    def bind(self, hosts: Iterable[str], port: int) -> None:
        """Serving on `port` at `hosts` (the address asked for, and the one
        bound: a name resolves to an address)."""
        names = set(LOOPBACK_NAMES)
        for host in hosts:
            if host in WILDCARDS:
                names |= machine_names()
            else:
                names.add(host)
        self._names = frozenset(_normal(n) for n in names)
        self._port = port

    def host_allowed(self, host: str | None, scheme: str) -> bool:
        """Whether a `Host` header names this server (or is absent)."""
        if host is None:
            return True
        parsed = split_host(host)
        if parsed is None:
            return False
        name, port = _normal(parsed[0]), parsed[1]
        if name in self.hostnames:
            return True
        if port is None:
            port = DEFAULT_PORTS.get(scheme)
        return name in self._names and (self._port is None or port == self._port)

    @staticmethod
    def same_origin(origin: str, host: str | None, scheme: str) -> bool:
        """Whether `Origin` is this server's own: the scheme and the host
        (already allowed) the request was sent to."""
        own = None if host is None else split_host(host)
        try:
            parts = urllib.parse.urlsplit(origin.strip())
            port = parts.port or DEFAULT_PORTS.get(scheme)
        except ValueError:
            return False
        if own is None or parts.scheme != scheme or parts.hostname is None:
            return False
        own_port = own[1] or DEFAULT_PORTS.get(scheme)
        return _normal(parts.hostname) == _normal(own[0]) and port == own_port

    def refusal(self, request: web.Request) -> web.Response | None:
        """The answer refusing `request`, or None if it may go on."""
        host = request.headers.get("Host")
        if not self.host_allowed(host, request.scheme):
            return _refusal(
                421,
                "misdirected_request",
                f"this server does not answer for host {host!r}: use its address, "
                "a loopback name, or a host name it is configured with",
            )
        origin = request.headers.get("Origin")
        if (
            request.method in CHANGING
            and origin is not None
            and not self.same_origin(origin, host, request.scheme)
        ):
            return _refusal(
                403,
                "cross_origin",
                f"a {request.method} from origin {origin!r} is refused: "
                "only this server's own pages may change anything",
            )
        if request.body_exists and request.content_type not in BODY_TYPES:
            return _refusal(
                415,
                "unsupported_media_type",
                f"a body of type {request.content_type!r} is refused: send application/json",
            )
        return None

    def middleware(self) -> Middleware:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            refused = self.refusal(request)
            if refused is not None:
                return refused
            return await handler(request)

        return guard


async def nosniff(request: web.Request, response: web.StreamResponse) -> None:
    """On every response (an `on_response_prepare` signal): browsers take
    the content type as given, never guess a script out of text."""
    response.headers["X-Content-Type-Options"] = "nosniff"
