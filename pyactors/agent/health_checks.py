"""Health checks of running tasks, run by their agent (Mesos's health checker).

`HealthChecks` is the plain state machine, with the time as an argument:
which checks are due, and what a result means for the task's health. The
probes are coroutines the agent actor runs beside its loop, so a slow check
never holds up status updates:

- HTTP: GET `http://127.0.0.1:{port}{path}` without following redirects;
  200-399 is healthy (Marathon's reading; Mesos's own is 200-399 too);
- TCP: a connection to `127.0.0.1:{port}` is accepted;
- COMMAND: `/bin/sh -c command` in the sandbox with the task's environment,
  as the task's user, exits 0; its process group is killed when it times out.

Semantics follow Mesos: the first check is `delay_seconds` after the task
runs, the next `interval_seconds` after the previous one ends. Until the
first success, failures within `grace_period_seconds` of the start are
ignored. The health is reported when it changes (the first result, and
every flip); `max_consecutive_failures` failures in a row (unless 0) ask
for the task to be killed, and the task is checked no more.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from pyactors.agent.task_user import TaskUser
from pyactors.core.operations import HealthCheck

# Where a task's ports are reached from its agent: tasks run on the agent's host.
CHECK_HOST = "127.0.0.1"
# How much of a failing COMMAND's output a failure message keeps.
_OUTPUT_KEPT = 200


@dataclass(frozen=True)
class HealthChange:
    """A task's health changed (`changed`), or it failed once too often
    (`kill`), or both."""

    task_id: str
    healthy: bool
    changed: bool
    kill: bool
    message: str


@dataclass
class _Watched:
    check: HealthCheck
    started_at: float
    next_at: float
    in_flight: bool = False
    healthy: bool | None = None
    succeeded: bool = False
    failures: int = 0


class HealthChecks:
    """The health checks of one agent's running tasks."""

    def __init__(self) -> None:
        self._watched: dict[str, _Watched] = {}

    def watch(self, task_id: str, check: HealthCheck, now: float) -> None:
        """Start checking a task that is running from `now` on."""
        self._watched[task_id] = _Watched(check, now, now + check.delay_seconds)

    def forget(self, task_id: str) -> None:
        """Stop checking a task (it ended or is being killed); a result still
        in flight is then ignored."""
        self._watched.pop(task_id, None)

    def watching(self, task_id: str) -> bool:
        return task_id in self._watched

    def due(self, now: float) -> list[tuple[str, HealthCheck]]:
        """The checks to start now, marked in flight (one at a time per task)."""
        out = []
        for task_id, watched in self._watched.items():
            if not watched.in_flight and watched.next_at <= now:
                watched.in_flight = True
                out.append((task_id, watched.check))
        return out

    def record(self, task_id: str, healthy: bool, detail: str, now: float) -> HealthChange | None:
        """The result of a task's check that was in flight; the change of
        health to report, if any."""
        watched = self._watched.get(task_id)
        if watched is None or not watched.in_flight:
            return None
        check = watched.check
        watched.in_flight = False
        watched.next_at = now + check.interval_seconds
        if healthy:
            watched.succeeded = True
            watched.failures = 0
            if watched.healthy is True:
                return None
            watched.healthy = True
            return HealthChange(task_id, True, True, False, f"health check passed: {detail}")
        if not watched.succeeded and now - watched.started_at <= check.grace_period_seconds:
            return None
        watched.failures += 1
        allowed = check.max_consecutive_failures
        kill = allowed > 0 and watched.failures >= allowed
        if kill:
            self.forget(task_id)
        changed = watched.healthy is not False
        if not changed and not kill:
            return None
        watched.healthy = False
        return HealthChange(
            task_id,
            False,
            changed,
            kill,
            f"health check failed {watched.failures} time(s) in a row"
            + (f" (of {allowed} allowed)" if allowed else "")
            + f": {detail}",
        )


async def probe(
    check: HealthCheck, sandbox: Path, env: dict[str, str], user: TaskUser | None = None
) -> tuple[bool, str]:
    """Run one check (a COMMAND as `user`, None: as the agent): (healthy,
    what was seen). Never raises for a failing task; a check that outlives
    its timeout failed."""
    try:
        if check.protocol == "COMMAND":
            return await _command(str(check.command), sandbox, env, check.timeout_seconds, user)
        async with asyncio.timeout(check.timeout_seconds):
            if check.protocol == "HTTP":
                return await _http(f"http://{CHECK_HOST}:{check.port}{check.path}")
            return await _tcp(CHECK_HOST, int(check.port or 0))
    except TimeoutError:
        return False, f"no answer within {check.timeout_seconds} s"
    except Exception as error:
        # Refused, reset, unresolvable...: the check failed. Anything else
        # is its failure too: a probe that raised would leave its task
        # unchecked for good.
        return False, f"{type(error).__name__}: {error}"


async def _http(url: str) -> tuple[bool, str]:
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        return 200 <= response.status < 400, f"GET {url}: HTTP {response.status}"


async def _tcp(host: str, port: int) -> tuple[bool, str]:
    _, writer = await asyncio.open_connection(host, port)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, f"connected to {host}:{port}"


async def _command(
    command: str, sandbox: Path, env: dict[str, str], timeout: float, user: TaskUser | None
) -> tuple[bool, str]:
    process = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        cwd=sandbox,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        user=None if user is None else user.uid,
        group=None if user is None else user.gid,
        extra_groups=None if user is None else list(user.groups),
    )
    try:
        async with asyncio.timeout(timeout):
            output, _ = await process.communicate()
    finally:
        # Timed out or cancelled (the agent stopping): nothing it started lingers.
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    code = process.returncode
    text = output.decode(errors="replace").strip()[-_OUTPUT_KEPT:]
    return code == 0, f"command exited with status {code}" + (f": {text}" if text else "")
