"""Principals and their secrets, in Mesos's credentials format.

A credentials file is Mesos's JSON, `{"credentials": [{"principal": "ops",
"secret": "..."}]}`; from Python a plain `{"principal": "secret"}` mapping
does too. Secrets are compared in constant time and never shown: `repr` and
`str` name the principals only. The object pickles whole (with its secrets)
because the master actor needs them to verify callers.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyactors.errors import InvalidArgumentError

# Compared against when a principal is unknown, so that an unknown principal
# takes as long to refuse as a wrong secret.
_NO_SECRET = b"\x00" * 32


class Credentials:
    """Each principal's secret. Build with `Credentials.load`."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Mapping[str, str]) -> None:
        checked: dict[str, bytes] = {}
        for principal, secret in secrets.items():
            _check_principal(principal, f"credentials: principal {principal!r}")
            if not isinstance(secret, str) or not secret:
                raise InvalidArgumentError(
                    f"credentials: the secret of principal {principal!r} must be a non-empty string"
                )
            checked[principal] = secret.encode()
        if not checked:
            raise InvalidArgumentError(
                "credentials: no principal given (pass None to turn authentication off)"
            )
        self._secrets = checked

    @classmethod
    def load(cls, source: Mapping[str, Any] | str | os.PathLike[str] | None) -> Credentials | None:
        """Credentials from a `{"principal": "secret"}` mapping, a mapping in
        Mesos's shape, or the path of a Mesos credentials JSON file. None
        gives None: authentication off."""
        if source is None:
            return None
        if isinstance(source, Credentials):
            return source
        if isinstance(source, str | os.PathLike):
            return cls(_mesos_shape(_read_json(Path(source)), f"credentials file {source}"))
        if not isinstance(source, Mapping):
            raise InvalidArgumentError(
                "credentials must be a mapping of principal to secret or a path to "
                f"Mesos's credentials JSON, not {type(source).__name__}"
            )
        if "credentials" in source and not isinstance(source["credentials"], str):
            return cls(_mesos_shape(source, "credentials"))
        return cls(source)

    def verify(self, principal: str | None, secret: str | None) -> bool:
        """Whether `secret` is `principal`'s, in time independent of how much
        of it matches (and of whether the principal exists)."""
        if not isinstance(principal, str) or not isinstance(secret, str):
            return False
        known = self._secrets.get(principal)
        matches = hmac.compare_digest(known if known is not None else _NO_SECRET, secret.encode())
        return matches and known is not None

    def principals(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def __repr__(self) -> str:
        return f"Credentials(principals={sorted(self._secrets)!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Credentials) and self._secrets == other._secrets

    def __hash__(self) -> int:
        return hash(frozenset(self._secrets))

    def __getstate__(self) -> dict[str, bytes]:
        return self._secrets

    def __setstate__(self, state: dict[str, bytes]) -> None:
        self._secrets = state


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(principal, secret) from an HTTP `Authorization: Basic ...` header;
    None when absent or not well-formed Basic credentials."""
    if not isinstance(authorization, str):
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    principal, colon, secret = decoded.partition(":")
    if not colon or not principal:
        return None
    return principal, secret


def _check_principal(principal: object, where: str) -> None:
    # Basic authentication splits "principal:secret" at the first colon.
    if not isinstance(principal, str) or not principal or ":" in principal:
        raise InvalidArgumentError(f"{where} must be a non-empty string without ':'")


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as error:
        raise InvalidArgumentError(f"cannot read {path}: {error.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidArgumentError(f"{path} is not JSON: {error}") from None


def _mesos_shape(document: Any, where: str) -> dict[str, str]:
    """{principal: secret} from Mesos's `{"credentials": [...]}`."""
    entries = document.get("credentials") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise InvalidArgumentError(
            f'{where}: expected {{"credentials": [{{"principal": ..., "secret": ...}}]}}'
        )
    if set(document) != {"credentials"}:
        extra = sorted(set(document) - {"credentials"})
        raise InvalidArgumentError(f"{where}: unknown field(s) {extra}")
    secrets: dict[str, str] = {}
    for index, entry in enumerate(entries):
        place = f"{where}: credentials[{index}]"
        if not isinstance(entry, Mapping) or set(entry) != {"principal", "secret"}:
            raise InvalidArgumentError(
                f'{place} must be {{"principal": ..., "secret": ...}} and nothing else'
            )
        principal, secret = entry["principal"], entry["secret"]
        _check_principal(principal, f"{place}.principal")
        if not isinstance(secret, str) or not secret:
            raise InvalidArgumentError(f"{place}.secret must be a non-empty string")
        if principal in secrets:
            raise InvalidArgumentError(f"{place}: principal {principal!r} given twice")
        secrets[principal] = secret
    return secrets
