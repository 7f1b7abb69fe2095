"""Authentication of a real master's HTTP API, the master having
credentials: every endpoint of the OpenAPI document but the public ones
answers 401 without credentials or with wrong ones (and changes nothing),
Basic and bearer tokens let a principal in, and no secret or token ever
shows in the state, the metrics or an answer."""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from support.runtime import small_cluster

from pyactors.api import openapi
from pyactors.api.auth import Authenticator
from pyactors.master.records import MasterConfig
from pyactors.runtime.cluster import Cluster
from pyactors.security.credentials import Credentials

SECRETS = {"ops": "ops-secret-7f3a", "viewer": "viewer-secret-91c2"}
# What each path parameter is replaced with.
PATH_VALUES = {"task_id": "no-such-task", "name": "stdout", "role": "web"}
WEBUI_VALUES = {"name": "app.js"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    config = MasterConfig(credentials=Credentials.load(SECRETS))
    yield from small_cluster(tmp_path_factory, config=config)


def basic(principal: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{principal}:{secret}".encode()).decode()


OPS = basic("ops", SECRETS["ops"])


def send(
    url: str,
    method: str,
    path: str,
    authorization: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, Any]:
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    sent = dict(headers or {})
    if authorization is not None:
        sent["Authorization"] = authorization
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        sent["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, path, data, sent)
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    decoded: Any = payload.decode(errors="replace")
    if response.getheader("Content-Type", "").startswith("application/json"):
        decoded = json.loads(payload)
    return response.status, response.headers, decoded


def operations() -> list[tuple[str, str]]:
    """(method, path with its parameters filled in) of every operation the
    OpenAPI document describes."""
    found = []
    for path, methods in openapi.document()["paths"].items():
        values = WEBUI_VALUES if path.startswith("/webui/") else PATH_VALUES
        filled = path.format(**values)
        if path == "/files/read":
            filled += "?path=no-such-task/stdout"
        found.extend((method.upper(), filled) for method in methods)
    return sorted(found)


WRONG = [
    None,
    basic("ops", "not-the-secret"),
    basic("ops", SECRETS["viewer"]),  # another principal's secret
    basic("nobody", SECRETS["ops"]),
    basic("ops", ""),
    "Basic !!!not-base64",
    "Basic " + base64.b64encode(b"no-colon").decode(),
    "Bearer not-a-token",
    "Bearer pa1.b3Bz.99999999999.AAAA",
    "Digest username=ops",
]


# What moves on its own (heartbeats, the allocator's offers), not what a
# request could change.
MOVING = frozenset(
    {
        "last_seen_time",
        "offered_resources",
        "offered_resources_full",
        "outstanding_offers",
    }
)


def _without_moving(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_moving(v) for k, v in value.items() if k not in MOVING}
    if isinstance(value, list):
        return [_without_moving(item) for item in value]
    return value


def _state(url: str) -> Any:
    status, _, state = send(url, "GET", "/master/state", OPS)
    assert status == 200
    return _without_moving(state)


def test_every_endpoint_needs_credentials(url: str) -> None:
    before = _state(url)
    walked = operations()
    assert len(walked) > 40
    for method, path in walked:
        public = Authenticator.is_public(urllib.parse.urlsplit(path).path)
        body = {} if method in ("POST", "PUT") else None
        for authorization in WRONG:
            status, headers, answer = send(url, method, path, authorization, body)
            if public:
                assert status != 401, (method, path, authorization)
                continue
            assert status == 401, (method, path, authorization, answer)
            assert headers["WWW-Authenticate"] in (
                'Basic realm="pyactors"',
                'Bearer realm="pyactors"',
            )
            if authorization is None or authorization.startswith("Basic"):
                assert headers["WWW-Authenticate"] == 'Basic realm="pyactors"'
            assert answer["code"] == 401 and answer["error"] == "unauthorized"
            for secret in SECRETS.values():
                assert secret not in json.dumps(answer)
    assert _state(url) == before


def test_public_endpoints_answer_without_credentials(url: str) -> None:
    for path in ("/health", "/master/health", "/version", "/", "/webui/app.js"):
        status, _, _ = send(url, "GET", path)
        assert status == 200, path


def test_basic_credentials_let_each_principal_in(url: str) -> None:
    for principal, secret in SECRETS.items():
        status, _, state = send(url, "GET", "/master/state", basic(principal, secret))
        assert status == 200, principal
        assert "frameworks" in state


def test_a_token_is_had_for_a_secret_and_lets_its_principal_in(url: str) -> None:
    status, _, answer = send(url, "POST", "/auth/token", OPS)
    assert status == 200, answer
    assert answer["principal"] == "ops"
    token = answer["token"]
    assert SECRETS["ops"] not in token
    status, _, state = send(url, "GET", "/master/state", f"Bearer {token}")
    assert status == 200 and "frameworks" in state
    # A token buys no other token: only the secret does.
    status, headers, _ = send(url, "POST", "/auth/token", f"Bearer {token}")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="pyactors"'
    # A token altered anywhere is refused.
    for position in (4, len(token) // 2, len(token) - 2):
        altered = (
            token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
        )
        status, _, _ = send(url, "GET", "/master/state", f"Bearer {altered}")
        assert status == 401, position
    # Scripts (the web UI) are challenged so that no browser dialog opens.
    status, headers, _ = send(
        url, "GET", "/master/state", headers={"X-Requested-With": "XMLHttpRequest"}
    )
    assert (status, headers["WWW-Authenticate"]) == (401, 'Bearer realm="pyactors"')


def test_no_secret_or_token_in_the_state_or_the_metrics(url: str) -> None:
    _, _, answer = send(url, "POST", "/auth/token", OPS)
    token = answer["token"]
    for path in (
        "/master/state",
        "/metrics",
        "/metrics/snapshot",
        "/master/roles",
        "/openapi.json",
    ):
        status, _, body = send(url, "GET", path, OPS)
        assert status == 200, path
        text = body if isinstance(body, str) else json.dumps(body)
        for hidden in (*SECRETS.values(), token):
            assert hidden not in text, path
