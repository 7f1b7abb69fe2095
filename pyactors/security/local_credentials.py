"""The credentials `pyactors up` generates for this machine's user, and
their file.

`pyactors up` without credentials protects its cluster anyway: it makes an
admin principal ("admin") with a random secret and writes them, in Mesos's
credentials format (`{"credentials": [{"principal": ..., "secret": ...}]}`),
to `$XDG_CONFIG_HOME/pyactors/credentials.json` (default
`~/.config/pyactors/credentials.json`). The directory is 0700 and the file
0600: created with those modes, never readable by others even for a moment.
The CLI and `pyactors.connect()` on this machine read it when given no
credentials.

There is one file per user, not one per cluster: a later `up` finds the
file and uses the same admin credentials, so several clusters on one
machine (on different Ray clusters) do not lock each other's clients out.
A file that others could read is not trusted: `up` replaces it, and
reading it raises an error saying how to fix it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from pathlib import Path

from pyactors.errors import InvalidArgumentError
from pyactors.security.credentials import Credentials

ADMIN = "admin"
FILE_NAME = "credentials.json"


def credentials_path() -> Path:
    """Where this user's generated credentials live."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    # The XDG spec says to ignore a relative path.
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / "pyactors" / FILE_NAME


def load_local_credentials() -> tuple[str, str] | None:
    """(principal, secret) from this user's credentials file, None when
    there is none. InvalidArgumentError when it is not private to this user
    or not Mesos's credentials JSON."""
    path = credentials_path()
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    _check_private(path, status)
    credentials = Credentials.load(path)
    assert credentials is not None
    principal = ADMIN if ADMIN in credentials.principals() else min(credentials.principals())
    return principal, _secret_of(path, principal)


def ensure_local_credentials() -> tuple[str, str]:
    """This user's admin credentials: those in the file if it is there and
    private, else new ones written to it (0600, in a 0700 directory)."""
    path = credentials_path()
    with contextlib.suppress(FileNotFoundError, InvalidArgumentError):
        found = load_local_credentials()
        if found is not None:
            return found
    secret = secrets.token_urlsafe(32)
    _write_private(path, {"credentials": [{"principal": ADMIN, "secret": secret}]})
    return ADMIN, secret


def _secret_of(path: Path, principal: str) -> str:
    document = json.loads(path.read_text())
    for entry in document["credentials"]:
        if entry["principal"] == principal:
            secret: str = entry["secret"]
            return secret
    raise InvalidArgumentError(f"{path}: no secret for principal {principal!r}")


def _check_private(path: Path, status: os.stat_result) -> None:
    if status.st_uid != os.getuid() or status.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidArgumentError(
            f"{path} is readable by others or not yours: it holds a secret. "
            f"Make it yours and private (chmod 600 {path}), or remove it and run `pyactors up`"
        )


def _write_private(path: Path, document: object) -> None:
    """Write `document` as JSON, replacing the file whole; the new file is
    created 0600 (whatever the umask), the directory 0700."""
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    partial = directory / f".{path.name}.{secrets.token_hex(8)}"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            # The umask may have taken the owner's bits too.
            os.fchmod(file.fileno(), 0o600)
            json.dump(document, file)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
