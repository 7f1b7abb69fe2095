"""A real cluster serving its HTTP API over TLS (a self-signed certificate
made by openssl): the URL is https, the CLI verifies it with --ca (or
$PYACTORS_CA) and refuses it without, and an API reachable from other
machines is refused without authentication unless allowed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from support.runtime import small_cluster
from support.tls import self_signed_certificate

import pyactors
from pyactors.cli import main
from pyactors.errors import InvalidArgumentError
from pyactors.runtime.cluster import Cluster

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

SECRET = "tls-ops-secret"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, certificate: tuple[str, str]
) -> Iterator[Cluster]:
    cert, key = certificate
    yield from small_cluster(
        tmp_path_factory, credentials={"ops": SECRET}, tls_cert=cert, tls_key=key
    )


def run(*args: str, code: int = 0, **env: str | None) -> Result:
    environment = {"PYACTORS_PRINCIPAL": "ops", "PYACTORS_SECRET": SECRET, "PYACTORS_CA": None}
    result = CliRunner().invoke(main, list(args), env={**environment, **env})
    assert result.exit_code == code, (args, result.output, result.stderr, result.exception)
    return result


def test_the_api_is_https_and_the_cli_verifies_it(url: str, certificate: tuple[str, str]) -> None:
    cert, _ = certificate
    assert url.startswith("https://127.0.0.1:")
    assert "agent-0" in run("--master", url, "--ca", cert, "agents").stdout
    assert "agent-1" in run("--master", url, "agents", PYACTORS_CA=cert).stdout
    refused = run("--master", url, "agents", code=2)
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr
    plain = url.replace("https://", "http://")
    run("--master", plain, "--ca", cert, "agents", code=2)


def test_an_unauthenticated_api_beyond_this_machine_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="allow_unauthenticated=True"):
        pyactors.start(agents=0, http_host="0.0.0.0")
