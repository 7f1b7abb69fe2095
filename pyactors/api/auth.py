"""Who calls the HTTP API (an aiohttp middleware, `Authenticator.middleware`).

With credentials configured (`MasterConfig.credentials`) every request but
the public ones needs either HTTP Basic, `principal:secret`, or a bearer
token; the caller's principal is then `request[PRINCIPAL]` for the ACLs.
Without credentials every caller is let in, with no principal.

Public: `/health` and `/master/health` (load balancers probe them),
`/version` (as in Mesos: Mesos clients read it before they authenticate,
and pymesos picks its capabilities by it), and the web UI's page and
static files (`/`, `/webui/...`): they hold no state, and the page must
load to ask for credentials at all.

Bearer tokens are for the web UI and scripts: `POST /auth/token` with
Basic answers one for the caller's principal. A token is the principal,
an expiry time and an HMAC-SHA256 of both under a key each master draws at
random when it starts, so nothing is stored; a token is good on the master
that issued it until it expires (`TOKEN_SECONDS`) or that master stops (a
new leader asks the UI to log in again), and only while its principal is
still among the credentials. Secrets and tokens are never logged, and no
answer repeats them.

A refusal is a 401 with `WWW-Authenticate: Basic realm="pyactors"` and
the usual JSON error body. A request that sent a bearer token, or that says
it comes from a script (`X-Requested-With`, as the web UI's do), is
challenged with `Bearer realm="pyactors"` instead, so that a browser never
pops up its own password dialog over the web UI's form.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from pyactors.security.credentials import Credentials, basic_credentials

REALM = "pyactors"
PRINCIPAL = "pyactors.principal"
# How long a token is good for: a working day, then the UI asks again.
TOKEN_SECONDS = 12 * 3600.0
PUBLIC_PATHS = frozenset({"/health", "/master/health", "/version", "/"})
PUBLIC_PREFIXES = ("/webui/",)
_TOKEN_VERSION = "pa1"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    """Issues and reads bearer tokens under a random key of its own."""

    __slots__ = ("_key",)

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def __repr__(self) -> str:
        return "Tokens(<key hidden>)"

    def _mac(self, principal: bytes, expires: int) -> bytes:
        message = principal + b"\x00" + str(expires).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def issue(self, principal: str, now: float) -> tuple[str, int]:
        """A token for `principal` and when it expires (epoch seconds)."""
        expires = int(now + TOKEN_SECONDS)
        name = principal.encode()
        token = ".".join((_TOKEN_VERSION, _b64(name), str(expires), _b64(self._mac(name, expires))))
        return token, expires

    def principal(self, token: str, now: float) -> str | None:
        """The principal `token` was issued for, if it is one of ours and
        has not expired."""
        parts = token.split(".")
        expiry = parts[2] if len(parts) == 4 else ""
        # isdigit alone takes "²", which int() does not.
        if parts[0] != _TOKEN_VERSION or not (expiry.isascii() and expiry.isdigit()):
            return None
        try:
            name, mac = _unb64(parts[1]), _unb64(parts[3])
            principal = name.decode()
        except (binascii.Error, ValueError):
            return None
        expires = int(expiry)
        if not hmac.compare_digest(mac, self._mac(name, expires)) or expires <= now:
            return None
        return principal


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header, or of
    `Authorization: token=...` (as DC/OS's clients send one)."""
    if authorization is None:
        return None
    if authorization.strip().startswith("token="):
        return authorization.strip().removeprefix("token=").strip() or None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def principal_of(request: web.Request) -> str | None:
    """The authenticated caller (None: authentication is off)."""
    principal: str | None = request.get(PRINCIPAL)
    return principal


class Unauthenticated(Exception):
    """No valid credentials on a request that needs them."""


class Authenticator:
    """Decides who calls, with `credentials` (None: authentication off)
    and `tokens`; `clock` gives epoch seconds."""

    def __init__(
        self,
        credentials: Credentials | None,
        tokens: Tokens | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self.tokens = tokens or Tokens()
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return self.credentials is not None

    def basic_principal(self, request: web.Request) -> str:
        """The principal of valid Basic credentials; Unauthenticated if none."""
        if self.credentials is None:
            raise Unauthenticated("authentication is off")
        given = basic_credentials(request.headers.get("Authorization"))
        if given is None or not self.credentials.verify(*given):
            raise Unauthenticated("a valid principal and secret are required (HTTP Basic)")
        return given[0]

    def principal(self, request: web.Request) -> str | None:
        """Who calls: None with authentication off; Unauthenticated unless
        the request carries valid Basic credentials or a valid token."""
        if self.credentials is None:
            return None
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            return self.basic_principal(request)
        principal = self.tokens.principal(token, self.clock())
        if principal is None or principal not in self.credentials.principals():
            raise Unauthenticated("the bearer token is not valid (expired, or from another master)")
        return principal

    @staticmethod
    def is_public(path: str) -> bool:
        return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)

    def middleware(self) -> Middleware:
        @web.middleware
        async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
            if self.enabled and not self.is_public(request.path):
                try:
                    request[PRINCIPAL] = self.principal(request)
                except Unauthenticated as error:
                    return unauthorized(request, str(error))
            return await handler(request)

        return authenticate


def unauthorized(request: web.Request, message: str) -> web.Response:
    """401, with the challenge a browser will not answer with its own dialog
    when the request came from a script."""
    scripted = "X-Requested-With" in request.headers or (
        bearer_token(request.headers.get("Authorization")) is not None
    )
    scheme = "Bearer" if scripted else "Basic"
    body = {"code": 401, "error": "unauthorized", "message": message}
    return web.Response(
        body=orjson.dumps(body),
        status=401,
        content_type="application/json",
        headers={"WWW-Authenticate": f'{scheme} realm="{REALM}"'},
    )
