"""What every `pyactors` command shares: the HTTP client of the master's API,
the global options (`--master`, `--json`, the credentials and `--ca`)
accepted before or after any command, the exit-code exceptions, and the
table and JSON printers.

Credentials: `--principal` with `--secret` or `--secret-file` (else
$PYACTORS_PRINCIPAL and $PYACTORS_SECRET), sent as HTTP Basic. Given none,
the CLI uses this user's credentials that `pyactors up` generated
(`pyactors.security.local_credentials`), but only for a master on this
machine: they are never sent elsewhere. `--ca` names the certificate (or
bundle) that an https master's certificate must chain to."""

from __future__ import annotations

import base64
import ipaddress
import json
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table

ENV = "PYACTORS_MASTER"
PRINCIPAL_ENV = "PYACTORS_PRINCIPAL"
SECRET_ENV = "PYACTORS_SECRET"
CA_ENV = "PYACTORS_CA"
# A slow master (a busy machine, a large state) is not a failure.
TIMEOUT_SECONDS = 600.0
# What the tables show of an agent's or a framework's resources.
SHOWN = ("cpus", "mem", "disk", "gpus")


# -------------------------------------------------------------- the client


class NoMaster(click.ClickException):
    """No master given, or none answering at the URL (exit code 2)."""

    exit_code = 2


class Refused(click.ClickException):
    """The master answered with an error (exit code 1)."""

    exit_code = 1


class NotAllowed(click.ClickException):
    """The master wants other credentials (401) or its ACLs deny the call
    (403): exit code 3."""

    exit_code = 3


class Api:
    """JSON over HTTP(S) to one master with urllib, as `principal` with
    `secret` if given; 401/403 become `NotAllowed`, other 4xx/5xx
    `Refused`, connection failures `NoMaster`."""

    def __init__(
        self,
        url: str,
        timeout: float = TIMEOUT_SECONDS,
        credentials: tuple[str, str] | None = None,
        ca: str | None = None,
    ) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout
        self.principal = None if credentials is None else credentials[0]
        self._authorization = None
        if credentials is not None:
            pair = f"{credentials[0]}:{credentials[1]}".encode()
            self._authorization = "Basic " + base64.b64encode(pair).decode()
        self._context = None if ca is None else _ca_context(ca)

    def __repr__(self) -> str:
        return f"Api({self.url!r}, principal={self.principal!r})"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self._authorization is not None:
            headers["Authorization"] = self._authorization
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(
                request, timeout=self.timeout, context=self._context
            ) as response:
                payload: bytes = response.read()
        except urllib.error.HTTPError as error:
            if error.code == 401:
                raise NotAllowed(self._unauthenticated()) from None
            if error.code == 403:
                raise NotAllowed(_error_message(error.code, error.read())) from None
            raise Refused(_error_message(error.code, error.read())) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise NoMaster(f"cannot reach the master at {self.url}: {reason}") from None
        return json.loads(payload) if payload else None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, body)

    def _unauthenticated(self) -> str:
        if self.principal is None:
            return (
                f"the master at {self.url} requires credentials: give --principal with "
                f"--secret or --secret-file (or ${PRINCIPAL_ENV} and ${SECRET_ENV}) (HTTP 401)"
            )
        return f"the master at {self.url} refused principal {self.principal!r} (HTTP 401)"


def _ca_context(ca: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as error:
        raise click.BadParameter(f"cannot read {ca}: {error}", param_hint="'--ca'") from None


def _error_message(status: int, payload: bytes) -> str:
    try:
        body = json.loads(payload)
        return f"{body['message']} ({body['error']}, HTTP {status})"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {status}: {payload.decode(errors='replace').strip()[:200]}"


# ---------------------------------------------------------------- output


def _console() -> Console:
    # Wide when piped (tests, scripts) so ids are never cut.
    return Console(width=None if sys.stdout.isatty() else 160)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    _console().print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def amounts(resources: Mapping[str, Any]) -> str:
    return " ".join(f"{n}:{resources[n]:g}" for n in SHOWN if resources.get(n))


def used_of(used: Mapping[str, Any], total: Mapping[str, Any]) -> str:
    return " ".join(
        f"{n} {float(used.get(n) or 0):g}/{float(total[n]):g}" for n in SHOWN if total.get(n)
    )


# --------------------------------------------------------------- commands


class Context:
    """What the global options say, whichever level of the command line
    they were given at."""

    def __init__(self) -> None:
        self.master: str | None = None
        self.as_json = False
        self.principal: str | None = None
        self.secret: str | None = None
        self.ca: str | None = None

    @property
    def api(self) -> Api:
        if not self.master:
            self.master = _standing_master()
        if not self.master:
            raise NoMaster(
                f"no master: pass --master URL or set {ENV} (no `pyactors up` cluster found)"
            )
        return Api(self.master, credentials=self.credentials(self.master), ca=self.ca)

    def credentials(self, master: str) -> tuple[str, str] | None:
        """The (principal, secret) to send: as given, else this user's
        generated ones for a master on this machine, else none."""
        if self.principal is not None or self.secret is not None:
            if self.principal is None or self.secret is None:
                raise click.UsageError(
                    "give --principal and its secret (--secret or --secret-file) together"
                )
            return self.principal, self.secret
        if not _on_this_machine(master):
            return None
        from pyactors.errors import InvalidArgumentError
        from pyactors.security.local_credentials import load_local_credentials

        try:
            return load_local_credentials()
        except InvalidArgumentError as error:
            raise NotAllowed(str(error)) from None

    def take(self, ctx: click.Context) -> None:
        """Takes one level's global options out of its parameters. Levels
        are parsed left to right, so the last --master given wins."""
        master = ctx.params.pop("master", None)
        self.as_json |= ctx.params.pop("as_json", False)
        self._take_credentials(ctx)
        if master is None:
            return
        if ctx.get_parameter_source("master") is not ParameterSource.COMMANDLINE:
            # Every level reads $PYACTORS_MASTER again: it must not override
            # a --master typed before.
            self.master = self.master or master
            return
        parts = urllib.parse.urlsplit(master)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            # Most often the URL was left out and the next word taken for it.
            raise click.BadParameter(
                f"{master!r} is not a URL such as http://HOST:PORT", ctx, param_hint="'--master'"
            )
        self.master = master

    def _take_credentials(self, ctx: click.Context) -> None:
        principal = ctx.params.pop("principal", None)
        secret = ctx.params.pop("secret", None)
        secret_file = ctx.params.pop("secret_file", None)
        ca = ctx.params.pop("ca", None)
        self.principal = principal or self.principal
        self.ca = ca or self.ca
        if secret_file is not None:
            try:
                secret = Path(secret_file).read_text().rstrip("\r\n")
            except OSError as error:
                raise click.BadParameter(
                    f"cannot read {secret_file}: {error.strerror}", param_hint="'--secret-file'"
                ) from None
        self.secret = secret or self.secret


def _on_this_machine(url: str) -> bool:
    """Whether `url` names a master on this machine (a loopback address, or
    one of this machine's names and addresses)."""
    host = urllib.parse.urlsplit(url).hostname
    if host is None:
        return False
    try:
        if ipaddress.ip_address(host).is_loopback:
            return True
    except ValueError:
        pass
    from pyactors.api.guards import LOOPBACK_NAMES, machine_names

    return host.lower() in LOOPBACK_NAMES | machine_names()


pass_context = click.make_pass_decorator(Context, ensure=True)


def _global_options() -> list[click.Parameter]:
    """The options every command and group takes, before or after its name
    (as kubectl's and the Mesos CLI's)."""
    return [
        click.Option(
            ["--master"], envvar=ENV, metavar="URL", help=f"The master's URL (else ${ENV})."
        ),
        click.Option(
            ["--json", "as_json"], is_flag=True, help="Print the API's JSON (read commands)."
        ),
        click.Option(
            ["--principal"],
            envvar=PRINCIPAL_ENV,
            metavar="NAME",
            help=f"Authenticate as this principal (else ${PRINCIPAL_ENV}; else, for a master "
            "on this machine, the credentials `pyactors up` generated).",
        ),
        click.Option(
            ["--secret"],
            envvar=SECRET_ENV,
            metavar="SECRET",
            help=f"The principal's secret (else ${SECRET_ENV}; --secret-file keeps it out of "
            "the process list).",
        ),
        click.Option(
            ["--secret-file"],
            metavar="FILE",
            help="A file holding the principal's secret.",
        ),
        click.Option(
            ["--ca"],
            envvar=CA_ENV,
            metavar="FILE",
            help=f"Verify an https master's certificate against this CA certificate (PEM; "
            f"else ${CA_ENV}, else the system's).",
        ),
    ]


class Command(click.Command):
    """A command that takes the global options too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params += _global_options()

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            rest = super().parse_args(ctx, args)
        except click.UsageError as error:
            # click's parser leaves out the context of a missing value,
            # and with it the usage line and the --help hint.
            error.ctx = error.ctx or ctx
            raise
        ctx.ensure_object(Context).take(ctx)
        return rest


class Group(Command, click.Group):
    """A group that takes the global options, as do its commands and groups."""

    command_class = Command
    group_class = type  # its groups are of this class too


address_option = click.option(
    "--address",
    metavar="ADDR",
    help="The Ray cluster (host:port of its GCS; default: $RAY_ADDRESS, else the running one).",
)


def _standing_master() -> str | None:
    """The master's URL of the long-running cluster (`pyactors up`) on the
    Ray cluster running here, if one is up."""
    from pyactors.errors import PyactorsError
    from pyactors.runtime.cluster import Cluster

    try:
        cluster = Cluster.connect()
    except (PyactorsError, ConnectionError):
        return None
    try:
        return cluster.url
    except (PyactorsError, TimeoutError):
        return None
    finally:
        cluster.shutdown()
