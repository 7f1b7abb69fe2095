"""The `pyactors` command against a real master that has credentials and
ACLs: credentials from the options, the environment, a secret file or this
user's generated file (only for a master on this machine); a refusal is one
clear line and exit code 3."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.runtime import small_cluster

from pyactors.cli import main
from pyactors.master.records import MasterConfig
from pyactors.runtime.cluster import Cluster
from pyactors.security.acls import Acls
from pyactors.security.local_credentials import ADMIN, FILE_NAME

SECRETS = {"ops": "ops-cli-secret", "viewer": "viewer-cli-secret", ADMIN: "admin-cli-secret"}
ACLS = {
    "permissive": False,
    "update_weights": [{"principals": {"values": ["ops", ADMIN]}, "roles": {"type": "ANY"}}],
    "view_frameworks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}],
    "view_tasks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}],
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from pyactors.security.credentials import Credentials

    config = MasterConfig(credentials=Credentials.load(SECRETS), acls=Acls.load(ACLS))
    yield from small_cluster(tmp_path_factory, config=config)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty config home: no generated credentials unless a test writes them."""
    return tmp_path / "config"


def run(home: Path, *args: str, code: int = 0, **env: str) -> Result:
    environment = {
        "XDG_CONFIG_HOME": str(home),
        "PYACTORS_PRINCIPAL": None,
        "PYACTORS_SECRET": None,
        **env,
    }
    result = CliRunner().invoke(main, list(args), env=environment)
    assert result.exit_code == code, (args, result.output, result.stderr, result.exception)
    return result


def _one_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_without_credentials_one_line_and_exit_code_3(url: str, home: Path) -> None:
    result = run(home, "--master", url, "agents", code=3)
    line = _one_line(result)
    assert "requires credentials" in line and "--principal" in line and "HTTP 401" in line


def test_wrong_credentials_one_line_and_exit_code_3(url: str, home: Path) -> None:
    result = run(home, "--master", url, "--principal", "ops", "--secret", "wrong", "agents", code=3)
    line = _one_line(result)
    assert "refused principal 'ops'" in line and "wrong" not in line


def test_credentials_from_options_environment_or_a_file(
    url: str, home: Path, tmp_path: Path
) -> None:
    given = run(home, "--master", url, "--principal", "ops", "--secret", SECRETS["ops"], "agents")
    assert "agent-0" in given.stdout
    from_env = run(
        home,
        "agents",
        "--json",
        PYACTORS_MASTER=url,
        PYACTORS_PRINCIPAL="viewer",
        PYACTORS_SECRET=SECRETS["viewer"],
    )
    assert {a["id"] for a in json.loads(from_env.stdout)["slaves"]} == {"agent-0", "agent-1"}
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRETS["ops"] + "\n")
    from_file = run(
        home, "--master", url, "--principal", "ops", "--secret-file", str(secret_file), "agents"
    )
    assert "agent-0" in from_file.stdout
    half = run(home, "--master", url, "--principal", "ops", "agents", code=2)
    assert "together" in half.stderr


def test_a_denied_call_is_one_line_naming_the_acl(url: str, home: Path) -> None:
    viewer = ("--principal", "viewer", "--secret", SECRETS["viewer"])
    result = run(home, "--master", url, *viewer, "weights", "set", "web=3", code=3)
    line = _one_line(result)
    assert "(ACL update_weights)" in line and "HTTP 403" in line
    ops = ("--principal", "ops", "--secret", SECRETS["ops"])
    run(home, "--master", url, *ops, "weights", "set", "web=3")
    listed = run(home, "--master", url, *ops, "weights", "list", "--json")
    assert {"role": "web", "weight": 3.0} in json.loads(listed.stdout)


def _write_generated(home: Path) -> None:
    folder = home / "pyactors"
    folder.mkdir(parents=True, mode=0o700)
    path = folder / FILE_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    document = {"credentials": [{"principal": ADMIN, "secret": SECRETS[ADMIN]}]}
    with os.fdopen(fd, "w") as file:
        json.dump(document, file)


def test_the_generated_credentials_are_used_for_a_master_on_this_machine(
    url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_generated(home)
    run(home, "--master", url, "weights", "set", "generated=2")
    listed = run(home, "--master", url, "weights", "list", "--json")
    assert {"role": "generated", "weight": 2.0} in json.loads(listed.stdout)
    # Never sent to a master elsewhere.
    from pyactors.cli.common import Context

    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    context = Context()
    assert context.credentials(url) == (ADMIN, SECRETS[ADMIN])
    assert context.credentials("http://pyactors.example.org:5050") is None
    assert context.credentials("http://192.0.2.7:5050") is None


def test_a_token_for_the_web_ui_and_scripts(url: str, home: Path) -> None:
    import urllib.request

    ops = ("--principal", "ops", "--secret", SECRETS["ops"])
    token = run(home, "--master", url, *ops, "token").stdout.strip()
    assert token and SECRETS["ops"] not in token
    request = urllib.request.Request(
        url + "/master/state", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert "frameworks" in json.loads(response.read())
    issued = json.loads(run(home, "--master", url, *ops, "token", "--json").stdout)
    assert issued["principal"] == "ops" and issued["expires"] > 0
