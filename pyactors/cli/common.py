"""What every `pyactors` command shares: the HTTP client of the master's API,
the global options (`--master`, `--json`) accepted before or after any
command, the exit-code exceptions, and the table and JSON printers."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table

ENV = "PYACTORS_MASTER"
# What the tables show of an agent's or a framework's resources.
SHOWN = ("cpus", "mem", "disk", "gpus")


# -------------------------------------------------------------- the client


class NoMaster(click.ClickException):
    """No master given, or none answering at the URL (exit code 2)."""

    exit_code = 2


class Refused(click.ClickException):
    """The master answered with an error (exit code 1)."""

    exit_code = 1


class Api:
    """JSON over HTTP to one master with urllib; 4xx/5xx become `Refused`,
    connection failures `NoMaster`."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload: bytes = response.read()
        except urllib.error.HTTPError as error:
            raise Refused(_error_message(error.code, error.read())) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise NoMaster(f"cannot reach the master at {self.url}: {reason}") from None
        return json.loads(payload) if payload else None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, body)


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

    @property
    def api(self) -> Api:
        if not self.master:
            self.master = _standing_master()
        if not self.master:
            raise NoMaster(
                f"no master: pass --master URL or set {ENV} (no `pyactors up` cluster found)"
            )
        return Api(self.master)

    def take(self, ctx: click.Context) -> None:
        """Takes one level's global options out of its parameters. Levels
        are parsed left to right, so the last --master given wins."""
        master = ctx.params.pop("master", None)
        self.as_json |= ctx.params.pop("as_json", False)
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
