"""Credentials: Mesos's JSON shapes, constant-time verification, secrets
never shown, Basic header parsing."""

from __future__ import annotations

import base64
import hmac
import json
import os
import pickle
import stat
from pathlib import Path
from typing import Any

import pytest

from pyactors import InvalidArgumentError
from pyactors.security import Credentials, basic_credentials, local_credentials

MESOS = {
    "credentials": [
        {"principal": "ops", "secret": "ops-secret"},
        {"principal": "web", "secret": "web-secret"},
    ]
}


def test_none_turns_authentication_off() -> None:
    assert Credentials.load(None) is None


def test_plain_mapping() -> None:
    credentials = Credentials.load({"ops": "ops-secret", "web": "web-secret"})
    assert credentials is not None
    assert credentials.principals() == frozenset({"ops", "web"})
    assert credentials.verify("ops", "ops-secret")
    assert not credentials.verify("ops", "web-secret")


def test_mesos_shape_as_mapping_and_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps(MESOS))
    from_file = Credentials.load(path)
    from_text_path = Credentials.load(str(path))
    from_mapping = Credentials.load(MESOS)
    assert from_file == from_text_path == from_mapping
    assert from_file is not None
    assert from_file.principals() == frozenset({"ops", "web"})
    assert from_file.verify("web", "web-secret")


@pytest.mark.parametrize(
    ("principal", "secret"),
    [
        ("ops", "wrong"),
        ("ops", ""),
        ("ops", "ops-secre"),
        ("ops", "ops-secret "),
        ("nobody", "ops-secret"),
        (None, "ops-secret"),
        ("ops", None),
        (None, None),
    ],
)
def test_verify_refuses(principal: str | None, secret: str | None) -> None:
    credentials = Credentials.load({"ops": "ops-secret"})
    assert credentials is not None
    assert not credentials.verify(principal, secret)


def test_verify_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    credentials = Credentials.load({"ops": "ops-secret"})
    assert credentials is not None
    assert credentials.verify("ops", "ops-secret")
    # An unknown principal is compared too, so refusing it takes as long.
    assert not credentials.verify("stranger", "ops-secret")
    assert len(compared) == 2


def test_repr_and_str_hide_secrets() -> None:
    credentials = Credentials.load({"ops": "ops-secret"})
    assert "ops-secret" not in repr(credentials)
    assert "ops-secret" not in str(credentials)
    assert "ops" in repr(credentials)


def test_pickle_round_trip() -> None:
    credentials = Credentials.load(MESOS)
    copy = pickle.loads(pickle.dumps(credentials))
    assert copy == credentials
    assert copy.verify("ops", "ops-secret")


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ({}, "no principal"),
        ({"ops": ""}, "secret of principal 'ops'"),
        ({"ops": 3}, "secret of principal 'ops'"),
        ({"": "x"}, "principal ''"),
        ({"a:b": "x"}, "without ':'"),
        ({"credentials": {"principal": "a"}}, '"credentials": ['),
        ({"credentials": [], "extra": 1}, "unknown field"),
        ({"credentials": [{"principal": "a"}]}, "credentials[0]"),
        ({"credentials": [{"principal": "a", "secret": ""}]}, "credentials[0].secret"),
        ({"credentials": [{"principal": 1, "secret": "s"}]}, "credentials[0].principal"),
        (
            {"credentials": [{"principal": "a", "secret": "s"}, {"principal": "a", "secret": "t"}]},
            "credentials[1]: principal 'a' given twice",
        ),
        ([("a", "b")], "not list"),
    ],
)
def test_bad_input_names_the_place(source: Any, says: str) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        Credentials.load(source)
    assert says in str(raised.value)


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(InvalidArgumentError, match=r"missing\.json"):
        Credentials.load(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(InvalidArgumentError, match=r"broken\.json is not JSON"):
        Credentials.load(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"credentials": [{"principal": "a", "secret": 1}]}')
    with pytest.raises(InvalidArgumentError, match=r"wrong.json: credentials\[0\].secret"):
        Credentials.load(wrong)


def test_a_refused_file_never_quotes_its_secrets(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"credentials": [{"principal": "a", "secret": "hunter2", "x": 1}]}')
    with pytest.raises(InvalidArgumentError) as raised:
        Credentials.load(path)
    assert "hunter2" not in str(raised.value)


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_basic_credentials() -> None:
    assert basic_credentials(_basic("ops:ops-secret")) == ("ops", "ops-secret")
    assert basic_credentials(_basic("ops:with:colons")) == ("ops", "with:colons")
    assert basic_credentials("basic " + _basic("ops:s")[6:]) == ("ops", "s")
    assert basic_credentials(_basic("ops:")) == ("ops", "")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic",
        "Basic ",
        "Bearer abc",
        "Basic !!!notbase64",
        _basic("no-colon"),
        _basic(":secret"),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
    ],
)
def test_basic_credentials_refuses(header: str | None) -> None:
    assert basic_credentials(header) is None


# ------------------------------------------------- generated local credentials


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


def test_generated_credentials_are_private_and_in_mesos_format(config_home: Path) -> None:
    assert local_credentials.load_local_credentials() is None
    old_umask = os.umask(0)
    try:
        principal, secret = local_credentials.ensure_local_credentials()
    finally:
        os.umask(old_umask)
    path = config_home / "pyactors" / "credentials.json"
    assert local_credentials.credentials_path() == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert principal == "admin"
    assert len(secret) >= 40
    assert json.loads(path.read_text()) == {
        "credentials": [{"principal": "admin", "secret": secret}]
    }
    credentials = Credentials.load(path)
    assert credentials is not None and credentials.verify("admin", secret)
    assert local_credentials.load_local_credentials() == ("admin", secret)
    # No partial file is left beside it.
    assert os.listdir(path.parent) == ["credentials.json"]


def test_a_second_up_reuses_the_credentials(config_home: Path) -> None:
    first = local_credentials.ensure_local_credentials()
    assert local_credentials.ensure_local_credentials() == first


def test_a_file_others_can_read_is_refused_and_replaced(config_home: Path) -> None:
    _, secret = local_credentials.ensure_local_credentials()
    path = local_credentials.credentials_path()
    path.chmod(0o644)
    with pytest.raises(InvalidArgumentError, match="chmod 600"):
        local_credentials.load_local_credentials()
    _, fresh = local_credentials.ensure_local_credentials()
    assert fresh != secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_strict_umask_still_leaves_the_file_readable_by_its_owner(config_home: Path) -> None:
    old_umask = os.umask(0o777)
    try:
        local_credentials.ensure_local_credentials()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(local_credentials.credentials_path().stat().st_mode) == 0o600
    assert local_credentials.load_local_credentials() is not None


def test_the_default_place_is_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".config" / "pyactors" / "credentials.json"
    assert local_credentials.credentials_path() == expected
    # A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative")
    assert local_credentials.credentials_path() == expected
