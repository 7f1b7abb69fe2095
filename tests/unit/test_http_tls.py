"""How a master serves its HTTP API (`pyactors.master.http_host`): HTTPS
with a certificate and key (a real self-signed pair made by openssl, a
real server on a loopback port, a client verifying it), and no
unauthenticated API where other machines reach it unless allowed."""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support.tls import self_signed_certificate

from pyactors.errors import InvalidArgumentError
from pyactors.master.http_host import HttpOptions, MasterHttp, check_exposure, is_loopback
from pyactors.master.leadership import Leadership
from pyactors.master.records import MasterConfig
from pyactors.security.credentials import Credentials

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _master_http(
    host: str, options: HttpOptions, credentials: Credentials | None = None
) -> MasterHttp:
    config = MasterConfig(credentials=credentials)
    info: dict[str, Any] = {"id": "m", "actor": "m", "version": "0", "start": 0.0}
    leadership = Leadership(info, config, None, 10.0, lambda effects: None, lambda: None)
    return MasterHttp(leadership, {}, lambda effects: None, lambda s, f, p: [], host, 0, options)


def _fetch(url: str, context: ssl.SSLContext | None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_api_serves_https_with_the_certificate(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    http = _master_http("127.0.0.1", HttpOptions(tls_cert=cert, tls_key=key))
    trusting = ssl.create_default_context(cafile=cert)

    async def run() -> None:
        await http.start()
        try:
            assert http.server is not None
            _, port = await http.server.wait_bound()
            url = f"https://127.0.0.1:{port}"
            assert http.leadership.info["url"] == url
            status, body = await asyncio.to_thread(_fetch, url + "/openapi.json", trusting)
            assert status == 200 and b'"openapi"' in body
            # A client that does not trust the certificate is refused.
            with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
                await asyncio.to_thread(_fetch, url + "/openapi.json", ssl.create_default_context())
            # Plain HTTP to the TLS port gets no answer from the API.
            with pytest.raises((urllib.error.URLError, ConnectionError)):
                await asyncio.to_thread(_fetch, f"http://127.0.0.1:{port}/openapi.json", None)
        finally:
            await http.stop()

    asyncio.run(run())


def test_tls_options_are_checked_before_anything_serves(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    with pytest.raises(InvalidArgumentError, match="both tls_cert and tls_key"):
        HttpOptions(tls_cert=cert).ssl_context()
    with pytest.raises(InvalidArgumentError, match="cannot serve TLS"):
        HttpOptions(tls_cert=key, tls_key=cert).ssl_context()
    with pytest.raises(InvalidArgumentError, match="cannot serve TLS"):
        HttpOptions(tls_cert=str(tmp_path / "none.pem"), tls_key=key).ssl_context()
    assert HttpOptions().ssl_context() is None


def test_no_unauthenticated_api_where_other_machines_reach_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for host in ("0.0.0.0", "::", "10.1.2.3", "pyactors.example.org"):
        with pytest.raises(InvalidArgumentError, match="without authentication"):
            check_exposure(host, None, allow_unauthenticated=False)
        with pytest.raises(InvalidArgumentError, match="allow_unauthenticated=True"):
            _master_http(host, HttpOptions())
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback(host)
        check_exposure(host, None, allow_unauthenticated=False)
    check_exposure("0.0.0.0", Credentials.load({"ops": "s"}), allow_unauthenticated=False)
    with caplog.at_level(logging.WARNING, logger="pyactors.master.http_host"):
        check_exposure("0.0.0.0", None, allow_unauthenticated=True)
    assert "WITHOUT authentication" in caplog.text


def test_the_cli_verifies_an_https_master_with_its_ca(tmp_path: Path) -> None:
    from pyactors.cli.common import Api, NoMaster

    cert, key = self_signed_certificate(tmp_path)
    http = _master_http("127.0.0.1", HttpOptions(tls_cert=cert, tls_key=key))

    async def run() -> None:
        await http.start()
        try:
            assert http.server is not None
            _, port = await http.server.wait_bound()
            url = f"https://127.0.0.1:{port}"
            document = await asyncio.to_thread(Api(url, ca=cert).get, "/openapi.json")
            assert document["openapi"].startswith("3.")
            with pytest.raises(NoMaster, match="CERTIFICATE_VERIFY_FAILED"):
                await asyncio.to_thread(Api(url).get, "/openapi.json")
        finally:
            await http.stop()

    asyncio.run(run())
