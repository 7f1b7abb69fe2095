"""An app's health and readiness checks, as Marathon runs them: a plain
state machine over an instance's results (time as an argument), and the
probes, coroutines the scheduler shell runs on its event loop.

Health: every check of an app runs. The agent runs one of them, as Mesos
runs a task's one health check (the app's COMMAND check if it has one,
Marathon allows one, else its first), and reports it in status updates;
the framework runs every other one (HTTP or TCP, on the task's host and
port), as Marathon runs its HTTP and TCP checks itself. Each check keeps
Marathon's `Health`: alive, consecutive failures, first and last success,
last failure and its cause. The first probe is `delaySeconds` after the
task runs, the next `intervalSeconds` after the previous one ends; until a
check first succeeds, its failures within `gracePeriodSeconds` of the start
are ignored; `maxConsecutiveFailures` failures in a row (unless 0) kill the
task. An instance is healthy when all its checks are alive, unhealthy when
one is not, unknown until each has a result.

Readiness: while a deployment is under way, an instance of the version it
deploys that runs (and is healthy, if the app has health checks) is probed
every `intervalSeconds` until a GET of the readiness check's path answers
one of `httpStatusCodesForReady`; until then it does not count among the
deployment's healthy instances, so no old instance is killed for it and
the deployment does not end. Neither kind of result is stored: a new
instance of the framework checks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass
from typing import Any

import aiohttp

from pyactors.core.tasks import TaskState
from pyactors.frameworks.services.app_definition import AppDefinition, ReadinessCheck
from pyactors.frameworks.services.model import CheckHealth, Instance, Readiness

# How much of a readiness answer's body is kept (preserveLastResponse).
_BODY_KEPT = 1024


@dataclass(frozen=True)
class Probe:
    """A check to run now: `kind` "health" (check `index` of the app's
    healthChecks) or "readiness" (`index` of its readinessChecks)."""

    task_id: str
    kind: str
    index: int
    protocol: str
    host: str
    port: int
    path: str
    timeout: float


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    # An HTTP answer: its status, content type and (the start of) its body.
    status: int | None = None
    content_type: str = ""
    body: str = ""


def agent_check(app: AppDefinition) -> int | None:
    """Which of the app's health checks its tasks' agents run (None: none)."""
    if not app.healthChecks:
        return None
    commands = [i for i, c in enumerate(app.healthChecks) if c.protocol == "COMMAND"]
    return commands[0] if commands else 0


def watch(app: AppDefinition, instance: Instance, now: float) -> None:
    """Count the instance's checks not counted yet from `now` on (all of
    them when it starts running). An instance that ran before (restored
    from the store) is taken to be as healthy as it was until each check
    has a result again: its agent reports its own only when it changes."""
    if len(instance.health) == len(app.healthChecks):
        return
    started = now if instance.started_at is None else min(instance.started_at, now)
    # Grace periods count from when it started running.
    assumed = instance.healthy if started < now else None
    for index, check in enumerate(app.healthChecks):
        if index not in instance.health:
            instance.health[index] = CheckHealth(started, now + check.delaySeconds, alive=assumed)


def stop(instance: Instance) -> None:
    """It is being killed: no more checks (their last results stay)."""
    for check in instance.health.values():
        check.next_at = math.inf
    instance.readiness = {}


def healthy(app: AppDefinition, instance: Instance) -> bool | None:
    """All checks alive: True; one not: False; else unknown (None). An
    instance restored from the store keeps its stored health until its
    checks have run again."""
    if not app.healthChecks:
        return None
    if not instance.health:
        return instance.healthy
    alive = [instance.health[i].alive if i in instance.health else None for i in _indices(app)]
    if False in alive:
        return False
    return None if None in alive else True


def ready(app: AppDefinition, instance: Instance) -> bool:
    checks = app.readinessChecks
    return all(c.name in instance.readiness and instance.readiness[c.name].ready for c in checks)


def due(app: AppDefinition, instance: Instance, deploying: bool, now: float) -> list[Probe]:
    """The probes of this instance to run now, marked in flight:
    framework-run health checks, and (while `deploying` its version)
    readiness checks."""
    if instance.state is not TaskState.TASK_RUNNING or instance.kill_requested:
        return []
    watch(app, instance, now)
    probes = []
    own = agent_check(app)
    for index, check in enumerate(app.healthChecks):
        result = instance.health.get(index)
        if index == own or result is None or result.in_flight or result.next_at > now:
            continue
        port = instance.ports[check.portIndex] if check.portIndex is not None else check.port
        result.in_flight = True
        probes.append(
            Probe(
                instance.task_id,
                "health",
                index,
                check.protocol,
                instance.host,
                int(port or 0),
                check.http_path,
                check.timeoutSeconds,
            )
        )
    checked = not app.healthChecks or healthy(app, instance) is True
    if deploying and checked and not ready(app, instance):
        for index, readiness in enumerate(app.readinessChecks):
            state = instance.readiness.setdefault(readiness.name, Readiness(now))
            if state.ready or state.in_flight or state.next_at > now:
                continue
            state.in_flight = True
            probes.append(
                Probe(
                    instance.task_id,
                    "readiness",
                    index,
                    readiness.protocol,
                    instance.host,
                    _named_port(app, instance, readiness),
                    readiness.path,
                    readiness.timeoutSeconds,
                )
            )
    return probes


def record(
    app: AppDefinition, instance: Instance, probe: Probe, result: ProbeResult, now: float
) -> bool:
    """A probe's result; whether the task failed its check too often (to
    be killed). A result for a check no longer run is dropped."""
    if probe.kind == "readiness":
        _record_readiness(app.readinessChecks[probe.index], instance, result, now)
        return False
    check = instance.health.get(probe.index)
    if check is None or not check.in_flight:
        return False
    check.in_flight = False
    check.next_at = now + app.healthChecks[probe.index].intervalSeconds
    return _count(app, probe.index, check, result.ok, result.detail, now)


def record_agent(
    app: AppDefinition, instance: Instance, alive: bool, cause: str, now: float
) -> None:
    """The agent's check changed (its status update's `healthy`): the
    agent counts its failures and kills the task itself."""
    index = agent_check(app)
    if index is None:
        return
    watch(app, instance, now)
    check = instance.health[index]
    if alive:
        check.consecutive_failures = 0
        check.first_success = check.first_success or now
        check.last_success = now
    else:
        check.consecutive_failures = max(1, check.consecutive_failures)
        check.last_failure, check.last_failure_cause = now, cause
    check.alive = alive


def results(app: AppDefinition, instance: Instance) -> list[dict[str, Any]]:
    """Marathon's task `healthCheckResults`: one entry per check with a result."""
    return [
        instance.health[i].to_json(instance.task_id)
        for i in _indices(app)
        if i in instance.health and instance.health[i].alive is not None
    ]


def readiness_results(app: AppDefinition, instance: Instance) -> list[dict[str, Any]]:
    """Marathon's `readinessCheckResults` entries of this instance."""
    out = []
    for check in app.readinessChecks:
        state = instance.readiness.get(check.name)
        if state is None:
            continue
        entry: dict[str, Any] = {"name": check.name, "taskId": instance.task_id}
        entry["ready"] = state.ready
        if state.last_response is not None:
            entry["lastResponse"] = state.last_response
        out.append(entry)
    return out


async def run(probe: Probe) -> ProbeResult:
    """Run one probe; never raises for a failing task (a probe that outlives
    its timeout failed)."""
    try:
        async with asyncio.timeout(probe.timeout):
            if probe.protocol == "TCP":
                return await _tcp(probe.host, probe.port)
            return await _http(probe)
    except TimeoutError:
        return ProbeResult(False, f"no answer within {probe.timeout} s")
    except Exception as error:
        # Refused, reset, unresolvable...: the check failed; a probe that
        # raised would leave its task unchecked for good.
        return ProbeResult(False, f"{type(error).__name__}: {error}")


def _indices(app: AppDefinition) -> range:
    return range(len(app.healthChecks))


def _count(
    app: AppDefinition, index: int, check: CheckHealth, ok: bool, detail: str, now: float
) -> bool:
    definition = app.healthChecks[index]
    if ok:
        check.consecutive_failures = 0
        check.first_success = check.first_success or now
        check.last_success = now
        check.alive = True
        return False
    if check.first_success is None and now - check.started_at <= definition.gracePeriodSeconds:
        return False
    check.consecutive_failures += 1
    check.last_failure, check.last_failure_cause = now, detail
    check.alive = False
    allowed = definition.maxConsecutiveFailures
    return allowed > 0 and check.consecutive_failures >= allowed


def _record_readiness(
    check: ReadinessCheck, instance: Instance, result: ProbeResult, now: float
) -> None:
    state = instance.readiness.get(check.name)
    if state is None or not state.in_flight:
        return
    state.in_flight = False
    state.next_at = now + check.intervalSeconds
    state.ready = result.status in check.httpStatusCodesForReady
    if check.preserveLastResponse and result.status is not None:
        state.last_response = {
            "status": result.status,
            "contentType": result.content_type,
            "body": result.body,
        }


def _named_port(app: AppDefinition, instance: Instance, check: ReadinessCheck) -> int:
    names = [d.name for d in app.portDefinitions]
    return instance.ports[names.index(check.portName)]


async def _http(probe: Probe) -> ProbeResult:
    scheme = "https" if probe.protocol == "HTTPS" else "http"
    url = f"{scheme}://{probe.host}:{probe.port}{probe.path}"
    # Marathon neither follows redirects nor checks a task's certificate.
    connector = aiohttp.TCPConnector(force_close=True, ssl=False)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        body = (await response.content.read(_BODY_KEPT)).decode(errors="replace")
        return ProbeResult(
            200 <= response.status < 400,
            f"GET {url}: HTTP {response.status}",
            response.status,
            response.headers.get("Content-Type", ""),
            body,
        )


async def _tcp(host: str, port: int) -> ProbeResult:
    _, writer = await asyncio.open_connection(host, port)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeResult(True, f"connected to {host}:{port}")
