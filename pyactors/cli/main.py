"""The `pyactors` command: an operator's shell over the leading master's
HTTP API (`pyactors.api.http`), in kubectl's and the Mesos CLI's manner.

The master is `--master URL` or `$PYACTORS_MASTER` (else that of the
`pyactors up` cluster on the Ray cluster running here). Read commands print rich
tables, or the API's JSON with `--json`. Both options go before or after any
command's name (`pyactors tasks --json`, `pyactors quota list --master URL`);
the last given wins. Exit codes: 0 done, 1 the master refused (its message on
stderr), 2 a usage error, or no master given or none reachable there, 130
interrupted (Ctrl-C while `logs --follow` waits).
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from typing import Any

import click

from pyactors.agent.sandbox_files import MAX_READ
from pyactors.agent.task_process import STDERR, STDOUT
from pyactors.cli.common import (
    ENV,
    SHOWN,
    Api,
    Context,
    Group,
    Refused,
    address_option,
    amounts,
    pass_context,
    print_json,
    table,
    used_of,
)
from pyactors.core.tasks import TaskState


@click.group(cls=Group)
def main() -> None:
    """Operate a pyactors cluster through its leading master's HTTP API."""


@main.command()
@pass_context
def url(ctx: Context) -> None:
    """The master's URL, once it answers /health."""
    api = ctx.api
    api.get("/health")
    click.echo(api.url)


@main.command()
@pass_context
def token(ctx: Context) -> None:
    """A bearer token for the web UI's sign-in or a script's
    `Authorization: Bearer` header: good for 12 hours on this master."""
    issued = ctx.api.post("/auth/token", None)
    if ctx.as_json:
        print_json(issued)
        return
    click.echo(issued["token"])


@main.command()
@pass_context
def status(ctx: Context) -> None:
    """Cluster totals, agents, frameworks and tasks by state."""
    summary = ctx.api.get("/master/state-summary")
    if ctx.as_json:
        print_json(summary)
        return
    agents, frameworks = summary["slaves"], summary["frameworks"]
    total: dict[str, float] = dict.fromkeys(SHOWN, 0.0)
    used: dict[str, float] = dict.fromkeys(SHOWN, 0.0)
    states: Counter[str] = Counter()
    for agent in agents:
        for name in SHOWN:
            total[name] += float(agent["resources"].get(name) or 0)
            used[name] += float(agent["used_resources"].get(name) or 0)
        states.update({k: v for k, v in agent.items() if k.startswith("TASK_") and v})
    reachable = sum(1 for a in agents if a["reachable"])
    connected = sum(1 for f in frameworks if f["connected"])
    rows: list[tuple[str, Any]] = [
        ("agents", f"{len(agents)} ({reachable} reachable)"),
        ("frameworks", f"{len(frameworks)} ({connected} connected)"),
        ("resources used/total", used_of(used, total) or "none"),
    ]
    rows += [(state, count) for state, count in sorted(states.items())]
    table(f"pyactors at {ctx.master}", ("", "value"), rows)


@main.command()
@pass_context
def agents(ctx: Context) -> None:
    """The agents: reachability and used/total resources."""
    slaves = ctx.api.get("/master/slaves")
    if ctx.as_json:
        print_json(slaves)
        return
    table(
        "agents",
        ("id", "hostname", "reachable", "used/total"),
        (
            (a["id"], a["hostname"], a["reachable"], used_of(a["used_resources"], a["resources"]))
            for a in slaves["slaves"]
        ),
    )


@main.command()
@pass_context
def frameworks(ctx: Context) -> None:
    """The frameworks: roles, connection, used resources, live tasks."""
    listed = ctx.api.get("/master/frameworks")
    if ctx.as_json:
        print_json(listed)
        return
    table(
        "frameworks",
        ("id", "name", "roles", "connected", "used", "tasks"),
        (
            (
                f["id"],
                f["name"],
                f["roles"],
                f["connected"],
                amounts(f["used_resources"]),
                len(f["tasks"]),
            )
            for f in listed["frameworks"]
        ),
    )


@main.command()
@click.option("--framework", "framework_id", metavar="ID", help="Only this framework's tasks.")
@click.option("--state", metavar="STATE", help="Only tasks in this state (TASK_RUNNING, running).")
@click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True)
@pass_context
def tasks(ctx: Context, framework_id: str | None, state: str | None, limit: int) -> None:
    """Tasks, newest first."""
    query = {"order": "des"}
    if framework_id:
        query["framework_id"] = framework_id
    wanted = None
    if state:
        wanted = state.upper() if state.upper().startswith("TASK_") else f"TASK_{state.upper()}"
        if wanted not in {s.value for s in TaskState}:
            raise click.BadParameter(f"no task state {state!r}", param_hint="--state")
    query["limit"] = str(limit)
    if wanted is not None:
        query["state"] = wanted
    listed = ctx.api.get("/master/tasks?" + urllib.parse.urlencode(query))
    if ctx.as_json:
        print_json(listed)
        return
    table(
        "tasks",
        ("id", "framework", "agent", "state", "role", "resources"),
        (
            (
                t["id"],
                t["framework_id"],
                t["slave_id"],
                t["state"],
                t["role"],
                amounts(t["resources"]),
            )
            for t in listed["tasks"]
        ),
    )


@main.command()
@click.argument("task_id")
@click.option("--framework", "framework_id", metavar="ID", help="The task's framework.")
@pass_context
def kill(ctx: Context, task_id: str, framework_id: str | None) -> None:
    """Ask the task's agent to kill it (the framework is told as usual)."""
    body = {"task_id": task_id}
    if framework_id:
        body["framework_id"] = framework_id
    ctx.api.post("/master/kill", body)
    click.echo(f"killing {task_id}")


@main.command()
@click.argument("framework_id")
@pass_context
def teardown(ctx: Context, framework_id: str) -> None:
    """Remove a framework: its tasks are killed, its offers rescinded."""
    ctx.api.post("/master/teardown", {"framework_id": framework_id})
    click.echo(f"tore down {framework_id}")


# How much one read of a log asks for; `--tail` looks back at most MAX_READ.
LOG_CHUNK = 64 * 1024


@main.command()
@click.argument("task_id")
@click.option("--stderr", "use_stderr", is_flag=True, help="The task's stderr (else stdout).")
@click.option("--follow", "-f", is_flag=True, help="Print new output until the task ends.")
@click.option("--tail", type=click.IntRange(min=0), metavar="N", help="Only the last N lines.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=0.5,
    show_default=True,
    help="Seconds between reads while following.",
)
@pass_context
def logs(
    ctx: Context, task_id: str, use_stderr: bool, follow: bool, tail: int | None, interval: float
) -> None:
    """Print a task's output, read from its sandbox on its agent wherever it
    runs (exit 0; with --follow once the task has ended)."""
    api = ctx.api
    path = f"/tasks/{urllib.parse.quote(task_id, safe='')}/logs/{STDERR if use_stderr else STDOUT}"
    offset = 0
    if tail is not None:
        text, offset = _tail(api, path, tail)
        click.echo(text, nl=False)
        if not follow:
            return
    ended = False
    try:
        while True:
            chunk = api.get(f"{path}?offset={offset}&length={LOG_CHUNK}")
            offset = chunk["next_offset"]
            if chunk["data"]:
                click.echo(chunk["data"], nl=False)
                continue
            # Caught up: done, unless following a task that had not ended
            # at the last look (its last words are read once more after).
            if not follow or ended:
                return
            ended = _task_ended(api, task_id)
            if not ended:
                time.sleep(interval)
    except KeyboardInterrupt:
        raise click.exceptions.Exit(130) from None


def _tail(api: Api, path: str, lines: int) -> tuple[str, int]:
    """The last `lines` lines of a log (within its last MAX_READ bytes) and
    the offset after them."""
    end = int(api.get(f"{path}?offset=-1")["offset"])
    span = LOG_CHUNK
    while True:
        start = max(0, end - span)
        chunk = api.get(f"{path}?offset={start}&length={end - start}")
        # Nothing before the chunk: the file's start, or rotated away.
        whole = start == 0 or chunk["offset"] > start
        kept = chunk["data"].splitlines(keepends=True)
        if not whole:
            kept = kept[1:]  # may begin mid-line
        if len(kept) >= lines or whole or span >= MAX_READ:
            return "".join(kept[len(kept) - lines :] if lines else []), int(chunk["next_offset"])
        span *= 4


def _task_ended(api: Api, task_id: str) -> bool:
    """Whether the task is in a terminal state (or no longer listed)."""
    found = api.get("/master/tasks?" + urllib.parse.urlencode({"task_id": task_id}))["tasks"]
    return not found or TaskState(found[0]["state"]).is_terminal


@main.group()
def quota() -> None:
    """Roles' quota: guarantees and limits."""


@quota.command("set")
@click.argument("role")
@click.option("--guarantee", required=True, metavar="RESOURCES", help='e.g. "cpus:2;mem:1024"')
@click.option("--limit", metavar="RESOURCES", help="At most this much (default: none).")
@pass_context
def quota_set(ctx: Context, role: str, guarantee: str, limit: str | None) -> None:
    """Set ROLE's quota."""
    ctx.api.post("/master/quota", {"role": role, "guarantee": guarantee, "limit": limit})
    click.echo(f"quota of {role}: guarantee {guarantee or '-'}, limit {limit or '-'}")


@quota.command("remove")
@click.argument("role")
@pass_context
def quota_remove(ctx: Context, role: str) -> None:
    """Remove ROLE's quota."""
    ctx.api.call("DELETE", "/master/quota/" + urllib.parse.quote(role, safe=""))
    click.echo(f"removed the quota of {role}")


@quota.command("list")
@pass_context
def quota_list(ctx: Context) -> None:
    """The quotas set."""
    listed = ctx.api.get("/master/quota")
    if ctx.as_json:
        print_json(listed)
        return
    table(
        "quota",
        ("role", "guarantee", "limit"),
        ((q["role"], q["guarantee"], q["limit"] or "-") for q in listed["infos"]),
    )


@main.group()
def weights() -> None:
    """Roles' weights (fair shares)."""


@weights.command("set")
@click.argument("assignments", nargs=-1, required=True, metavar="ROLE=WEIGHT...")
@pass_context
def weights_set(ctx: Context, assignments: tuple[str, ...]) -> None:
    """Set the weights of roles, all or none."""
    body = []
    for text in assignments:
        role, sep, weight = text.rpartition("=")
        try:
            if not (sep and role):
                raise ValueError
            body.append({"role": role, "weight": float(weight)})
        except ValueError:
            raise click.BadParameter(f"{text!r} is not ROLE=WEIGHT") from None
    ctx.api.call("PUT", "/master/weights", body)
    click.echo(", ".join(f"{w['role']}={w['weight']:g}" for w in body))


@weights.command("list")
@pass_context
def weights_list(ctx: Context) -> None:
    """The weights set (roles not listed weigh 1)."""
    listed = ctx.api.get("/master/weights")
    if ctx.as_json:
        print_json(listed)
        return
    table("weights", ("role", "weight"), ((w["role"], w["weight"]) for w in listed))


# ------------------------------------------------ a long-running cluster


def _attributes(assignments: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for text in assignments:
        key, sep, value = text.partition("=")
        if not (sep and key):
            raise click.BadParameter(f"{text!r} is not KEY=VALUE", param_hint="--attribute")
        found[key] = value
    return found


@main.command()
@address_option
@click.option("--http-host", default="127.0.0.1", show_default=True, help="Where the API listens.")
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    default=5050,
    show_default=True,
    help="The API's port (0: a free one).",
)
@click.option(
    "--agent-resources",
    metavar="RESOURCES",
    help='Replace the detected resources they name, e.g. "cpus:4;mem:8192".',
)
@click.option(
    "--attribute", "attributes", multiple=True, metavar="KEY=VALUE", help="Of every agent."
)
@click.option("--work-dir", metavar="DIR", help="Where agents keep sandboxes [/tmp/pyactors].")
@click.option("--zk", metavar="URL", help="zk://host:port/path: masters elect a leader there.")
@click.option(
    "--masters",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="More than one contend through --zk.",
)
@click.option(
    "--credentials",
    metavar="FILE",
    help='Mesos\'s credentials JSON ({"credentials": [{"principal", "secret"}]}); '
    "default: this user's generated admin credentials.",
)
@click.option("--acls", metavar="FILE", help="Mesos's ACL JSON: what each principal may do.")
@click.option(
    "--task-user",
    metavar="USER",
    help="Run tasks that name no user (nor their framework) as this OS user "
    "(agents running as root switch to it).",
)
@click.option(
    "--no-authentication",
    is_flag=True,
    help="Let anyone who reaches the API or the masters in (no credentials).",
)
@click.option("--tls-cert", metavar="FILE", help="Serve the API over HTTPS with this certificate.")
@click.option("--tls-key", metavar="FILE", help="The certificate's private key (PEM).")
@click.option(
    "--hostname",
    "hostnames",
    multiple=True,
    metavar="NAME",
    help="A name clients reach the API by, beside its addresses (a DNS name, a proxy's).",
)
@click.option(
    "--allow-unauthenticated",
    is_flag=True,
    help="With --no-authentication, serve the API on a non-loopback --http-host anyway.",
)
@click.option(
    "--marathon-host",
    default="127.0.0.1",
    show_default=True,
    help="Where the services framework's Marathon API listens.",
)
@click.option(
    "--marathon-port",
    type=click.IntRange(0, 65535),
    help="Start the services framework now, its Marathon API on this port (0: a free one; "
    "else it starts at the first `pyactors app`, on a free loopback port).",
)
@click.option(
    "--chronos-host",
    default="127.0.0.1",
    show_default=True,
    help="Where the jobs framework's Chronos and Metronome APIs listen.",
)
@click.option(
    "--chronos-port",
    type=click.IntRange(0, 65535),
    help="Start the jobs framework now, its Chronos and Metronome APIs on this port "
    "(0: a free one; else it starts at the first `pyactors job`, on a free loopback port).",
)
def up(
    address: str | None,
    http_host: str,
    http_port: int,
    agent_resources: str | None,
    attributes: tuple[str, ...],
    work_dir: str | None,
    zk: str | None,
    masters: int,
    credentials: str | None,
    acls: str | None,
    task_user: str | None,
    no_authentication: bool,
    tls_cert: str | None,
    tls_key: str | None,
    hostnames: tuple[str, ...],
    allow_unauthenticated: bool,
    marathon_host: str,
    marathon_port: int | None,
    chronos_host: str,
    chronos_port: int | None,
) -> None:
    """Start a long-running cluster on a Ray cluster: a master and one agent
    per Ray node (and per node that joins later), running until `down`.
    Without --address and with no Ray cluster running, a local Ray head is
    started first (as `ray start --head`; `ray stop` ends it).

    Without --credentials it authenticates with this user's admin
    credentials, generated the first time into a file only this user can
    read (~/.config/pyactors/credentials.json), which the other commands
    use on this machine."""
    # Ray is imported only by the commands that need it: the others stay quick.
    from pyactors._core import Resources
    from pyactors.errors import PyactorsError
    from pyactors.master.http_host import check_exposure
    from pyactors.runtime import cluster

    if no_authentication:
        # The frameworks' APIs change the cluster too: the same refusal as --http-host's.
        for option, host in (("--marathon-host", marathon_host), ("--chronos-host", chronos_host)):
            try:
                check_exposure(host, None, allow_unauthenticated)
            except PyactorsError as error:
                raise click.BadParameter(str(error), param_hint=option) from None
    if agent_resources:
        try:
            Resources.parse(agent_resources)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--agent-resources") from None
    try:
        started = cluster.up(
            address,
            http_host=http_host,
            http_port=http_port,
            agent_resources=agent_resources,
            agent_attributes=_attributes(attributes),
            work_dir=work_dir,
            zk=zk,
            masters=masters,
            credentials=credentials,
            acls=acls,
            task_user=task_user,
            authenticate=not no_authentication,
            **_http_options(tls_cert, tls_key, hostnames, allow_unauthenticated),
        )
    except (PyactorsError, ValueError) as error:
        raise Refused(str(error)) from None
    url = started.url
    try:
        apis = _start_builtin_apis(
            started, marathon_host, marathon_port, chronos_host, chronos_port
        )
    except (PyactorsError, ValueError) as error:
        raise Refused(f"pyactors is up (the master at {url}), but {error}") from None
    finally:
        started.shutdown()  # this handle's ZooKeeper session; the cluster runs on
    click.echo(f"pyactors is up: {len(started.agents)} agents, the master at {url}")
    click.echo(f"export {ENV}={url}")
    for name, api_url in apis:
        click.echo(f"export {name}={api_url}")


def _start_builtin_apis(
    started: Any,
    marathon_host: str,
    marathon_port: int | None,
    chronos_host: str,
    chronos_port: int | None,
) -> list[tuple[str, str]]:
    """Start the built-in frameworks whose API port was given; each API's
    variable and address."""
    apis = []
    if marathon_port is not None:
        services = started.services(marathon_host=marathon_host, marathon_port=marathon_port)
        apis.append(("MARATHON_URL", str(services.marathon_url)))
    if chronos_port is not None:
        jobs = started.jobs(chronos_host=chronos_host, chronos_port=chronos_port)
        apis.append(("CHRONOS_URL", str(jobs.chronos_url)))
    return apis


def _http_options(
    tls_cert: str | None,
    tls_key: str | None,
    hostnames: tuple[str, ...],
    allow_unauthenticated: bool,
) -> dict[str, object]:
    """The HTTP options given, as `up`'s keyword arguments."""
    given: dict[str, object] = {}
    if tls_cert or tls_key:
        given.update(tls_cert=tls_cert, tls_key=tls_key)
    if hostnames:
        given["http_hostnames"] = list(hostnames)
    if allow_unauthenticated:
        given["allow_unauthenticated"] = True
    return given


@main.command()
@address_option
def down(address: str | None) -> None:
    """Stop the long-running cluster: its tasks, agents and masters."""
    from pyactors.errors import PyactorsError
    from pyactors.runtime.supervisor import down as stop

    try:
        stopped = stop(address)
    except PyactorsError as error:
        raise Refused(str(error)) from None
    click.echo(f"pyactors is down ({len(stopped)} actors stopped)")


@main.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
def demo(options: tuple[str, ...]) -> None:
    """Run the main job: two frameworks side by side on a local cluster,
    with the options of `python3 -m pyactors.demo` (`pyactors demo --help`
    lists them; exit code 1 if it failed or stalled)."""
    from pyactors.tools import demo as job

    sys.exit(job.main(list(options)))


@main.group()
def maintenance() -> None:
    """Agents under maintenance: drain one, bring it back, list them."""


@maintenance.command("drain")
@click.argument("agent_id")
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Between SIGTERM and SIGKILL for its tasks (default: the agent's).",
)
@pass_context
def maintenance_drain(ctx: Context, agent_id: str, grace: float | None) -> None:
    """No more offers from AGENT_ID; its tasks are killed."""
    ctx.api.post("/master/maintenance/drain", {"agent_id": agent_id, "grace_period_seconds": grace})
    click.echo(f"draining {agent_id}")


@maintenance.command("up")
@click.argument("agent_id")
@pass_context
def maintenance_up(ctx: Context, agent_id: str) -> None:
    """End AGENT_ID's maintenance: it offers again."""
    ctx.api.post("/master/maintenance/reactivate", {"agent_id": agent_id})
    click.echo(f"{agent_id} is back")


@maintenance.command("list")
@pass_context
def maintenance_list(ctx: Context) -> None:
    """The agents under maintenance: DRAINING, or DRAINED once no task runs there."""
    listed = ctx.api.get("/master/maintenance")
    if ctx.as_json:
        print_json(listed)
        return
    table(
        "maintenance",
        ("agent", "state", "grace"),
        (
            (a["agent_id"], a["state"], a["config"]["max_grace_period"] or "-")
            for a in listed["agents"]
        ),
    )
