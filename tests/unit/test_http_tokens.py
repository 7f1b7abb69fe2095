"""Bearer tokens of the HTTP API (`pyactors.api.auth.Tokens`): a token
names its principal until it expires, only on the master (key) that issued
it, and anything altered or malformed names no one."""

from __future__ import annotations

from pyactors.api.auth import TOKEN_SECONDS, Tokens, bearer_token

NOW = 1_800_000_000.0


def test_a_token_names_its_principal_until_it_expires() -> None:
    tokens = Tokens()
    token, expires = tokens.issue("ops", NOW)
    assert expires == int(NOW + TOKEN_SECONDS)
    assert tokens.principal(token, NOW) == "ops"
    assert tokens.principal(token, expires - 1) == "ops"
    assert tokens.principal(token, expires) is None
    unicode_token, _ = tokens.issue("öps", NOW)
    assert tokens.principal(unicode_token, NOW) == "öps"


def test_only_the_issuing_master_reads_it() -> None:
    token, _ = Tokens().issue("ops", NOW)
    assert Tokens().principal(token, NOW) is None


def test_altered_or_malformed_tokens_name_no_one() -> None:
    tokens = Tokens()
    token, expires = tokens.issue("ops", NOW)
    version, name, _, mac = token.split(".")
    other_name, _ = tokens.issue("admin", NOW)
    forged = [
        f"{version}.{other_name.split('.')[1]}.{expires}.{mac}",  # another principal
        f"{version}.{name}.{expires + 3600}.{mac}",  # a later expiry
        f"pa0.{name}.{expires}.{mac}",
        f"{version}.{name}.²{expires}.{mac}",
        f"{version}.{name}.{expires}.{mac}x",
        f"{version}.é.{expires}.{mac}",
        f"{version}.{name}.{expires}",
        "",
        "....",
        token + ".",
    ]
    for bad in forged:
        assert tokens.principal(bad, NOW) is None, bad
    assert repr(tokens) == "Tokens(<key hidden>)"


def test_bearer_headers_are_read() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None
