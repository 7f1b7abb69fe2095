"""What Mesos's tools ask a master for beside the v1 APIs: `GET /version`
(read before anything else: pymesos subscribes with GPU_RESOURCES from
1.0.0 on, so the version is a plain X.Y.Z) and the `.json` names of the
state endpoints (`/master/state.json`, `/state.json`, `/master/tasks.json`,
`/tasks.json`) that Mesos kept from 0.25 on beside the new names and tools
written then still use."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from pyactors.core.version import VERSION

# The Mesos version pyactors speaks for.
MESOS_VERSION = "1.11.0"
JSON_ALIASED = ("/master/state", "/state", "/master/tasks", "/tasks")


def add_routes(app: web.Application) -> None:
    """`/version`, and a `.json` alias of each state endpoint already routed."""
    app.router.add_get("/version", _version)
    for route in list(app.router.routes()):
        path = route.resource.canonical if route.resource is not None else None
        if route.method == "GET" and path in JSON_ALIASED:
            app.router.add_get(f"{path}.json", route.handler)


async def _version(request: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(version_json()), content_type="application/json")


@functools.cache
def version_json() -> dict[str, Any]:
    """Mesos's `/version` (src/version/version.hpp) for the version pyactors
    speaks; the build is this installation of pyactors."""
    package = Path(__file__).resolve().parents[2]
    built = (package / "__init__.py").stat().st_mtime
    return {
        "version": MESOS_VERSION,
        "build_date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(built)),
        "build_time": float(int(built)),
        "build_user": "pyactors",
        "git_sha": _git_sha(package.parent),
        "pyactors_version": VERSION,
    }


def _git_sha(root: Path) -> str:
    """The commit of a source checkout, read from .git without running git
    ("" for an installed package)."""
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head.removeprefix("ref: ")
        if (git / ref).exists():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    except OSError:
        pass
    return ""
