"""The web UI: one page the leading master serves at `/`, drawn in the
browser by `app.js` from the HTTP API (`master/state-summary`,
`master/tasks`, `metrics/snapshot`, `master/shares`), polled every two
seconds. The page's files sit beside this module and ship in the package;
nothing is fetched from elsewhere.

Static files are served from a table read once per server start: a request
names a key of that table, never a path, so nothing outside this folder
(and nothing but the page's own files) can be served. Replies carry an
ETag and `Cache-Control: no-cache` (browsers revalidate, a 304 costs no
body), and on the page a Content-Security-Policy that allows
only this origin's scripts and styles, so text from the state can never run
even if it reached the markup (app.js only ever sets it as text).

The page and its files hold no state and are served without credentials
(`pyactors.api.auth`); on a master with credentials the page asks for them
and reads the API with a bearer token (see app.js).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

FOLDER = Path(__file__).parent
INDEX = "index.html"
# The suffixes served, with their content types; other files are not served.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets(folder: Path = FOLDER) -> dict[str, Asset]:
    """The files of `folder` the UI serves, by name."""
    assets = {}
    for path in sorted(folder.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is not None and path.is_file():
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            assets[path.name] = Asset(body, content_type, etag)
    return assets


def _reply(request: web.Request, asset: Asset) -> web.Response:
    headers = {
        "Content-Type": asset.content_type,
        "Cache-Control": "no-cache",
        "ETag": asset.etag,
    }
    if asset.content_type.startswith("text/html"):
        headers["Content-Security-Policy"] = PAGE_POLICY
        headers["Referrer-Policy"] = "no-referrer"
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, headers=headers)


def routes(leading: Callable[[], object]) -> list[web.RouteDef]:
    """`GET /` (the page) and `GET /webui/{name}` (its scripts and styles).
    The page is the leader's only: on a standby `leading` raises
    NotLeaderError, which the API answers with a redirect to the leader
    (the page's requests must go to the origin that serves it)."""
    table = load_assets()

    async def page(request: web.Request) -> web.Response:
        leading()
        return _reply(request, table[INDEX])

    async def asset(request: web.Request) -> web.Response:
        found = table.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return _reply(request, found)

    return [web.get("/", page), web.get("/webui/{name}", asset)]
