"""One request to a master's HTTP API, decoded."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def request(
    url: str,
    path: str,
    body: Any = None,
    method: str | None = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """(status, decoded JSON body or text) of one request."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    content = {"Content-Type": "application/json"} if data is not None else {}
    req = urllib.request.Request(
        url + path,
        data=data,
        method=method or ("GET" if data is None else "POST"),
        headers={**content, **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            status, payload, kind = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, payload, kind = error.code, error.read(), error.headers
    if kind.get_content_type() == "application/json":
        return status, json.loads(payload)
    return status, payload.decode()


def get(url: str, path: str, headers: dict[str, str] | None = None) -> Any:
    status, body = request(url, path, headers=headers)
    assert status == 200, (path, body)
    return body
