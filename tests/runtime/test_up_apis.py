"""`pyactors up` with the built-in frameworks' API options: the services
framework's Marathon API and the jobs framework's Chronos API start with
the cluster, on the ports given (loopback by default), authenticated with
the cluster's credentials, and `pyactors down` stops them. A non-loopback
host without authentication is refused before anything starts."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray.cluster_utils import Cluster
from support.cli import cli
from support.runtime import PATIENCE, wait_for

import pyactors
from pyactors.errors import ClusterUpError
from pyactors.runtime import ray_calls
from pyactors.runtime.supervisor import PREFIX
from pyactors.security.local_credentials import load_local_credentials

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(autouse=True)
def private_config(tmp_path: Path) -> Iterator[None]:
    """`up` writes the admin credentials it generates under
    $XDG_CONFIG_HOME: a directory of this test's, not the user's own."""
    before = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    yield
    if before is None:
        del os.environ["XDG_CONFIG_HOME"]
    else:
        os.environ["XDG_CONFIG_HOME"] = before


def pyactors_command(*args: str) -> subprocess.CompletedProcess[str]:
    """`python3 -m pyactors ARGS` in a subprocess that imports this copy."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pyactors", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=PATIENCE,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str, authorization: str | None) -> tuple[int, bytes]:
    headers = {} if authorization is None else {"Authorization": authorization}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=PATIENCE) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


def test_up_starts_marathons_and_chronoss_apis_where_asked(
    ray_cluster: Cluster, tmp_path: Path
) -> None:
    assert not ray_calls.named_actors(PREFIX), "a cluster of another test is still up"
    marathon_port = free_port()
    try:
        done = pyactors_command(
            "up",
            "--address",
            ray_cluster.address,
            "--http-port",
            "0",
            "--work-dir",
            str(tmp_path / "work"),
            "--marathon-port",
            str(marathon_port),
            "--chronos-port",
            "0",
        )
        assert done.returncode == 0, done.stderr
        exported = dict(
            line.removeprefix("export ").split("=", 1)
            for line in done.stdout.splitlines()
            if line.startswith("export ")
        )
        assert exported["MARATHON_URL"] == f"http://127.0.0.1:{marathon_port}"
        assert exported["CHRONOS_URL"].startswith("http://127.0.0.1:")
        principal, secret = load_local_credentials()
        basic = "Basic " + base64.b64encode(f"{principal}:{secret}".encode()).decode()
        assert get(exported["MARATHON_URL"] + "/v2/apps", None)[0] == 401
        status, apps = get(exported["MARATHON_URL"] + "/v2/apps", basic)
        assert status == 200 and json.loads(apps) == {"apps": []}
        status, jobs = get(exported["CHRONOS_URL"] + "/scheduler/jobs", basic)
        assert status == 200 and json.loads(jobs) == []
        assert {f"{PREFIX}services", f"{PREFIX}jobs"} <= set(ray_calls.named_actors(PREFIX))
        # The master shows each API as its framework's web UI.
        status, state = get(exported["PYACTORS_MASTER"] + "/master/state", basic)
        webui = {f["name"]: f["webui_url"] for f in json.loads(state)["frameworks"]}
        assert webui["services"] == exported["MARATHON_URL"]
        assert webui["jobs"] == exported["CHRONOS_URL"]

        stopped = pyactors_command("down", "--address", ray_cluster.address)
        assert stopped.returncode == 0, stopped.stderr
        wait_for(lambda: not ray_calls.named_actors(PREFIX), what="nothing left of it")
        with pytest.raises(OSError):
            urllib.request.urlopen(exported["MARATHON_URL"] + "/ping", timeout=30)
    finally:
        with contextlib.suppress(ClusterUpError):
            pyactors.down(ray_cluster.address)


def test_an_unauthenticated_api_on_another_host_is_refused_before_anything_starts(
    ray_cluster: Cluster,
) -> None:
    for option in ("--marathon-host", "--chronos-host"):
        refused = cli(
            "up",
            "--address",
            ray_cluster.address,
            "--no-authentication",
            option,
            "0.0.0.0",
            "--marathon-port",
            "0",
            code=2,
        )
        assert option in refused.output and "without authentication" in refused.output
    assert not ray_calls.named_actors(PREFIX)
