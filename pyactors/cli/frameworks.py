"""`pyactors app ...` and `pyactors job ...`: the built-in service and jobs
frameworks from a shell.

Each belongs to the long-running cluster (`pyactors up`): the first command
starts it there as a detached actor, later ones (from any process) find it
by name, and `pyactors down` stops it. Definitions are Marathon app and
Chronos/Metronome job JSON files. The commands reach it through Ray (`--address`, as `up`), not
through the master's HTTP API. Exit codes as the other commands: 1 refused
(a bad definition, an unknown job), 2 no cluster up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pyactors.cli.common import (
    Context,
    Group,
    NoMaster,
    Refused,
    address_option,
    pass_context,
    print_json,
    table,
)

T = TypeVar("T")


def _using(address: str | None, action: Callable[[Any], T]) -> T:
    """`action(cluster)` on the cluster that is up there, errors mapped to
    the CLI's exit codes."""
    # Ray is imported only by the commands that need it.
    from pyactors.errors import ClusterUpError, PyactorsError
    from pyactors.runtime import cluster, ray_calls

    try:
        connected = cluster.connect(address)
    except ClusterUpError as error:
        raise NoMaster(str(error)) from None
    try:
        return action(connected)
    except PyactorsError as error:
        # The framework's own error, without Ray's remote traceback.
        raise Refused(str(ray_calls.cause(error))) from None
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


@click.group(cls=Group)
def job() -> None:
    """Scheduled jobs (Chronos, Metronome): add, run, list, history, remove."""


@job.command("add")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@address_option
def job_add(files: tuple[str, ...], address: str | None) -> None:
    """Add or replace jobs from JSON files ("-": stdin): Chronos jobs
    (`name`, `command`, `schedule` or `parents`, ...) or Metronome JobSpecs
    (`id`, `run.cmd`, `run.cpus`, `run.mem`, `run.disk`, `schedules[]` with
    `cron`, `timezone`, `concurrencyPolicy`, `startingDeadlineSeconds`).
    A refusal names each bad field by its path in the file (`run.cmd`)."""
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
@pass_context
def job_list(ctx: Context, address: str | None) -> None:
    """The jobs: schedule, next run, active runs."""
    listed = _using(address, lambda c: c.jobs().jobs())
    if ctx.as_json:
        print_json(listed)
        return
    table(
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
@pass_context
def job_history(ctx: Context, name: str, address: str | None) -> None:
    """NAME's runs, oldest first."""
    runs = _using(address, lambda c: c.jobs().history(name))
    if ctx.as_json:
        print_json(runs)
        return
    table(
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


@click.group(cls=Group)
def app() -> None:
    """Services (Marathon apps): deploy, list, show, scale, restart, update, remove."""


@app.command("deploy")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@address_option
def app_deploy(files: tuple[str, ...], address: str | None) -> None:
    """Deploy apps from Marathon app definition JSON files ("-": stdin)."""
    texts = _definitions(files)
    deployments = _using(address, lambda c: [c.services().deploy(text) for text in texts])
    for deployment in deployments:
        click.echo(f"deployment {deployment}")


@app.command("update")
@click.argument("file", metavar="FILE")
@address_option
def app_update(file: str, address: str | None) -> None:
    """A new definition for an app: a rolling update under its upgradeStrategy."""
    (text,) = _definitions((file,))
    click.echo(f"deployment {_using(address, lambda c: c.services().update(text))}")


@app.command("scale")
@click.argument("app_id")
@click.argument("instances", type=click.IntRange(min=0))
@address_option
def app_scale(app_id: str, instances: int, address: str | None) -> None:
    """Run INSTANCES instances of APP_ID."""
    click.echo(f"deployment {_using(address, lambda c: c.services().scale(app_id, instances))}")


@app.command("restart")
@click.argument("app_id")
@address_option
def app_restart(app_id: str, address: str | None) -> None:
    """Replace every instance of APP_ID, rolling."""
    click.echo(f"deployment {_using(address, lambda c: c.services().restart(app_id))}")


@app.command("remove")
@click.argument("app_id")
@address_option
def app_remove(app_id: str, address: str | None) -> None:
    """Kill APP_ID's instances, release its volumes and forget it."""
    _using(address, lambda c: c.services().remove(app_id))
    click.echo(f"removed {app_id}")


@app.command("list")
@address_option
@pass_context
def app_list(ctx: Context, address: str | None) -> None:
    """The apps: instances running and healthy, deployments."""
    listed = _using(address, lambda c: c.services().apps())
    if ctx.as_json:
        print_json(listed)
        return
    table(
        "apps",
        ("id", "instances", "running", "healthy", "deployments"),
        (
            (
                a["id"],
                a["instances"],
                a["tasksRunning"],
                a["tasksHealthy"],
                len(a.get("deployments") or ()),
            )
            for a in listed
        ),
    )


@app.command("show")
@click.argument("app_id")
@address_option
@pass_context
def app_show(ctx: Context, app_id: str, address: str | None) -> None:
    """APP_ID's tasks (where, ports, health) and its load-balanced endpoint."""

    def shown(cluster: Any) -> tuple[dict[str, Any], str | None]:
        services = cluster.services()
        status = services.app(app_id)
        return status, services.endpoint(app_id) if status.get("portDefinitions") else None

    status, endpoint = _using(address, shown)
    if ctx.as_json:
        print_json({**status, "endpoint": endpoint})
        return
    if endpoint:
        click.echo(f"{app_id} at {endpoint}")
    table(
        f"tasks of {app_id}",
        ("id", "agent", "host", "ports", "state", "healthy"),
        (
            (t["id"], t["agentId"], t["host"], t["ports"], t["state"], t.get("healthy"))
            for t in status["tasks"]
        ),
    )
