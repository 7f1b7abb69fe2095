"""`pyactors job ...`: the built-in jobs framework from a shell.

It belongs to the long-running cluster (`pyactors up`): the first command
starts it there as a detached actor, later ones (from any process) find it
by name, and `pyactors down` stops it. Definitions are Chronos/Metronome
JSON files. The commands reach it through Ray (`--address`, as `up`), not
through the master's HTTP API. Exit codes as the other commands: 1 refused
(a bad definition, an unknown job), 2 no cluster up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pyactors.cli import (
    Context,
    NoMaster,
    Refused,
    _print_json,
    _table,
    _wants_json,
    address_option,
    json_option,
    main,
    pass_context,
)

T = TypeVar("T")


def _using(address: str | None, action: Callable[[Any], T]) -> T:
    """`action(cluster)` on the cluster that is up there, errors mapped to
    the CLI's exit codes."""
    # Ray is imported only by the commands that need it.
    from pyactors import cluster
    from pyactors.errors import ClusterUpError, PyactorsError

    try:
        connected = cluster.connect(address)
    except ClusterUpError as error:
        raise NoMaster(str(error)) from None
    try:
        return action(connected)
    except PyactorsError as error:
        raise Refused(str(error)) from None
    finally:
        connected.shutdown()


def _definitions(files: tuple[str, ...]) -> list[str]:
    """The text of each file ("-": standard input)."""
    texts = []
    for name in files:
        if name == "-":
            texts.append(click.get_text_stream("stdin").read())
            continue
        try:
            texts.append(Path(name).read_text())
        except OSError as error:
            raise click.BadParameter(f"cannot read {name}: {error.strerror}") from None
    return texts


@main.group()
def job() -> None:
    """Scheduled jobs (Chronos, Metronome): add, run, list, history, remove."""


@job.command("add")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@address_option
def job_add(files: tuple[str, ...], address: str | None) -> None:
    """Add or replace jobs from Chronos/Metronome JSON files ("-": stdin)."""
    texts = _definitions(files)
    names = _using(address, lambda c: [c.jobs().add(text) for text in texts])
    for name in names:
        click.echo(f"added {name}")


@job.command("run")
@click.argument("name")
@address_option
def job_run(name: str, address: str | None) -> None:
    """Run NAME now (whatever its schedule)."""
    run_id = _using(address, lambda c: c.jobs().run(name))
    click.echo(f"started {run_id}")


@job.command("remove")
@click.argument("name")
@address_option
def job_remove(name: str, address: str | None) -> None:
    """Remove NAME (its running task is killed)."""
    _using(address, lambda c: c.jobs().remove(name))
    click.echo(f"removed {name}")


@job.command("list")
@address_option
@json_option
@pass_context
def job_list(ctx: Context, address: str | None, as_json: bool) -> None:
    """The jobs: schedule, next run, active runs."""
    listed = _using(address, lambda c: c.jobs().jobs())
    if _wants_json(ctx, as_json):
        _print_json(listed)
        return
    _table(
        "jobs",
        ("name", "schedule", "parents", "next run", "active"),
        (
            (
                j["name"],
                j.get("schedule") or j.get("cron") or "",
                j.get("parents") or "",
                _when(j.get("nextRun")),
                len(j.get("activeRuns") or ()),
            )
            for j in listed
        ),
    )


@job.command("history")
@click.argument("name")
@address_option
@json_option
@pass_context
def job_history(ctx: Context, name: str, address: str | None, as_json: bool) -> None:
    """NAME's runs, oldest first."""
    runs = _using(address, lambda c: c.jobs().history(name))
    if _wants_json(ctx, as_json):
        _print_json(runs)
        return
    _table(
        f"runs of {name}",
        ("id", "state", "scheduled", "started", "finished", "attempts", "task"),
        (
            (
                r["id"],
                r["state"],
                _when(r.get("scheduled")),
                _when(r.get("started")),
                _when(r.get("finished")),
                r.get("attempts"),
                r.get("task_id"),
            )
            for r in runs
        ),
    )


def _when(epoch: float | None) -> str:
    import datetime

    if epoch is None:
        return ""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
