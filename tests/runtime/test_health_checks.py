"""Health checks: the state machine (time as an argument), the probes against
real servers and processes, the agent's state machine with real tasks, and
whole clusters where the updates reach a framework."""

from __future__ import annotations

import asyncio
import http.server
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from support.runtime import small_cluster, wait_for

from pyactors import Resources
from pyactors.agent.health_checks import HealthChange, HealthChecks, probe
from pyactors.agent.state import AgentState
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import HealthCheck, Launch, TaskInfo
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.runtime.cluster import Cluster, Framework
from pyactors.scheduler.api import Driver, Scheduler

HEALTH = Reason.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return int(probe_socket.getsockname()[1])


def http_task(task_id: str, check: HealthCheck, port: int, before: str = "true") -> TaskInfo:
    """A task serving its sandbox over HTTP on `port` (PORT in its
    environment), after running `before` there."""
    return TaskInfo(
        task_id,
        task_id,
        Resources.parse("cpus:0.1;mem:128"),
        command=f"{before} && exec {sys.executable} -m http.server $PORT --bind 127.0.0.1",
        env={"PORT": str(port)},
        health_check=check,
    )


# ------------------------------------------------------------ the state machine


def test_a_check_is_valid_or_says_which_field_is_wrong() -> None:
    assert HealthCheck("HTTP", port=80).problems() == []
    assert HealthCheck("COMMAND", command="true").problems() == []
    assert "not one of HTTP, TCP, COMMAND" in HealthCheck("UDP", port=1).problems()[0]
    assert "needs a port" in HealthCheck("TCP").problems()[0]
    assert "not in 1-65535" in HealthCheck("HTTP", port=70000).problems()[0]
    assert "needs a command" in HealthCheck("COMMAND").problems()[0]
    assert "path" in HealthCheck("HTTP", port=80, path="x y").problems()[0]
    assert "interval_seconds" in HealthCheck("TCP", port=1, interval_seconds=0).problems()[0]
    assert (
        "max_consecutive_failures"
        in (HealthCheck("TCP", port=1, max_consecutive_failures=-1).problems()[0])
    )
    bad = TaskInfo(
        "t", "t", Resources.parse("cpus:1"), command="true", health_check=HealthCheck("TCP")
    )
    assert any("needs a port" in problem for problem in bad.problems())


def test_healthy_travels_in_the_json_form_of_a_status() -> None:
    status = TaskStatus(
        "t", TaskState.TASK_RUNNING, Source.SOURCE_EXECUTOR, 1.0, reason=HEALTH, healthy=False
    )
    assert TaskStatus.from_dict(status.to_dict()) == status


def test_checks_start_after_the_delay_one_at_a_time() -> None:
    checks = HealthChecks()
    check = HealthCheck("TCP", port=1, delay_seconds=2.0, interval_seconds=5.0)
    checks.watch("t", check, now=10.0)
    assert checks.due(11.9) == []
    assert checks.due(12.0) == [("t", check)]
    assert checks.due(100.0) == []  # still in flight
    checks.record("t", True, "ok", now=13.0)
    assert checks.due(17.9) == []
    assert checks.due(18.0) == [("t", check)]


def test_health_is_reported_when_it_changes_and_the_task_killed_after_n_failures() -> None:
    checks = HealthChecks()
    checks.watch("t", HealthCheck("TCP", port=1, grace_period_seconds=0.0), now=0.0)
    results = []
    for now, healthy in enumerate([True, True, False, False, True, False, False, False], 1):
        assert checks.due(float(now * 100))
        change = checks.record("t", healthy, "seen", float(now * 100))
        results.append(None if change is None else (change.healthy, change.changed, change.kill))
    assert results == [
        (True, True, False),  # the first result
        None,
        (False, True, False),  # healthy -> unhealthy
        None,
        (True, True, False),  # unhealthy -> healthy: the failures start again
        (False, True, False),
        None,
        (False, False, True),  # the third failure in a row
    ]
    assert not checks.watching("t")
    assert checks.due(10_000.0) == []


def test_failures_in_the_grace_period_count_only_after_the_first_success() -> None:
    checks = HealthChecks()
    check = HealthCheck(
        "TCP", port=1, grace_period_seconds=10.0, interval_seconds=1.0, max_consecutive_failures=1
    )
    checks.watch("t", check, now=0.0)
    for now in (1.0, 5.0, 10.0):
        assert checks.due(now)
        assert checks.record("t", False, "refused", now) is None
    checks.due(11.0)
    change = checks.record("t", False, "refused", 11.0)
    assert change is not None and change.kill and "refused" in change.message

    checks.watch("u", check, now=0.0)
    checks.due(1.0)
    assert checks.record("u", True, "ok", 1.0) is not None
    checks.due(2.0)
    change = checks.record("u", False, "refused", 2.0)
    assert change is not None and change.kill  # within the grace period, after a success


def test_zero_consecutive_failures_never_kills() -> None:
    checks = HealthChecks()
    check = HealthCheck("TCP", port=1, grace_period_seconds=0.0, max_consecutive_failures=0)
    checks.watch("t", check, now=0.0)
    changes = []
    for now in range(1, 100):
        checks.due(now * 100.0)
        changes.append(checks.record("t", False, "refused", now * 100.0))
    assert [c for c in changes if c is not None] == [
        HealthChange("t", False, True, False, "health check failed 1 time(s) in a row: refused")
    ]


def test_a_result_for_a_forgotten_task_is_dropped() -> None:
    checks = HealthChecks()
    checks.watch("t", HealthCheck("TCP", port=1), now=0.0)
    checks.due(0.0)
    checks.forget("t")
    assert checks.record("t", True, "ok", 1.0) is None
    assert not checks.watching("t")


# ------------------------------------------------------------------ the probes


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = int(self.path.strip("/") or "200")
        self.send_response(code)
        if 300 <= code < 400:
            self.send_header("Location", "/404")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def status_server() -> Iterator[int]:
    """An HTTP server answering GET /<code> with that status; its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def run_probe(check: HealthCheck, sandbox: Path, env: dict[str, str] | None = None) -> Any:
    return asyncio.run(probe(check, sandbox, env or {"PATH": "/usr/bin:/bin"}))


def test_http_probe_counts_200_to_399_as_healthy(status_server: int, tmp_path: Path) -> None:
    def check(path: str) -> tuple[bool, str]:
        result: tuple[bool, str] = run_probe(
            HealthCheck("HTTP", port=status_server, path=path), tmp_path
        )
        return result

    assert check("/200")[0] and check("/302")[0]  # the redirect is not followed
    ok, detail = check("/404")
    assert not ok and "HTTP 404" in detail
    assert not check("/500")[0]
    ok, detail = run_probe(HealthCheck("HTTP", port=free_port()), tmp_path)
    assert not ok and "Error" in detail


def test_a_probe_that_gets_no_answer_fails_at_its_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        # Returning at all is the point: without its timeout it would wait forever.
        ok, detail = run_probe(HealthCheck("HTTP", port=port, timeout_seconds=0.3), tmp_path)
        assert not ok and "no answer within 0.3 s" in detail
        assert run_probe(HealthCheck("TCP", port=port), tmp_path)[0]
    assert not run_probe(HealthCheck("TCP", port=port), tmp_path)[0]


def test_command_probe_runs_in_the_sandbox_with_the_task_environment(tmp_path: Path) -> None:
    (tmp_path / "ready").write_text("")
    env = {"PATH": "/usr/bin:/bin", "WANTED": "yes"}
    assert run_probe(
        HealthCheck("COMMAND", command='test -e ready && [ "$WANTED" = yes ]'), tmp_path, env
    )[0]
    ok, detail = run_probe(HealthCheck("COMMAND", command="echo broken; exit 3"), tmp_path)
    assert not ok and detail == "command exited with status 3: broken"


def test_a_command_probe_that_times_out_is_killed(tmp_path: Path) -> None:
    # A child of the shell, so only killing the group ends it.
    marker = f"30.{time.monotonic_ns() % 10**9}"
    check = HealthCheck("COMMAND", command=f"sleep {marker}; true", timeout_seconds=0.5)
    ok, detail = run_probe(check, tmp_path)
    assert not ok and "no answer within 0.5 s" in detail
    assert not [p for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])]


# ------------------------------------------------- the agent's state machine


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentState]:
    state = AgentState("agent-1", tmp_path, kill_grace=1.0)
    try:
        yield state
    finally:
        state.shutdown()


def drive(agent: AgentState, done: Any) -> list[TaskStatus]:
    """Poll the agent, run its due checks (synchronously), acknowledge every
    update, until `done(seen)`."""
    seen: list[TaskStatus] = []

    def driven() -> bool:
        for task_id, check, sandbox, env, user in agent.due_health_checks(time.monotonic()):
            healthy, detail = asyncio.run(probe(check, sandbox, env, user))
            agent.health_result(task_id, healthy, detail, time.monotonic())
        batch = agent.poll(time.monotonic())
        agent.acknowledge([(s.task_id, s.uuid or "") for s in batch], time.monotonic())
        seen.extend(batch)
        return bool(done(seen))

    wait_for(
        driven,
        what="the health updates awaited",
        seen=lambda: [(s.state, s.healthy, s.message) for s in seen],
        every=0.05,
    )
    return seen


def test_the_agent_reports_a_serving_task_healthy(agent: AgentState) -> None:
    port = free_port()
    check = HealthCheck("HTTP", port=port, interval_seconds=0.2, timeout_seconds=2.0)
    agent.launch("fw", [http_task("web", check, port)], now=time.monotonic())
    seen = drive(agent, lambda seen: any(s.healthy for s in seen))
    running, healthy = seen[0], seen[-1]
    assert running.state is TaskState.TASK_RUNNING and running.healthy is None
    assert healthy.state is TaskState.TASK_RUNNING and healthy.reason is HEALTH
    assert "HTTP 200" in healthy.message
    assert agent.report()[0].status.healthy is True


def test_the_agent_kills_a_task_failing_its_check(agent: AgentState) -> None:
    check = HealthCheck(
        "COMMAND",
        command="false",
        grace_period_seconds=0.0,
        interval_seconds=0.2,
        max_consecutive_failures=2,
    )
    task = TaskInfo(
        "sick", "sick", Resources.parse("cpus:0.1"), command="sleep 600", health_check=check
    )
    agent.launch("fw", [task], now=time.monotonic())
    seen = drive(agent, lambda seen: bool(seen) and seen[-1].state.is_terminal)
    assert [(s.state, s.healthy) for s in seen] == [
        (TaskState.TASK_RUNNING, None),
        (TaskState.TASK_RUNNING, False),
        (TaskState.TASK_KILLED, False),
    ]
    assert seen[-1].reason is HEALTH
    assert "2 time(s) in a row" in seen[-1].message


# ------------------------------------------------------- on a real cluster


class HealthLauncher(Scheduler):
    """Launches the given tasks on the first offers that fit; records
    (task, state, reason, healthy, message) of every update."""

    def __init__(self, tasks: list[TaskInfo]) -> None:
        self.pending = list(tasks)
        self.updates: list[tuple[str, str, str | None, bool | None, str]] = []

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        for offer in offers:
            fits = [t for t in self.pending if t.resources <= offer.resources]
            if fits:
                self.pending = [t for t in self.pending if t is not fits[0]]
                driver.accept([offer.id], [Launch([fits[0]])], refuse_seconds=1)
            else:
                driver.decline([offer.id], refuse_seconds=1)

    def update(self, driver: Driver, status: TaskStatus) -> None:
        reason = None if status.reason is None else status.reason.value
        self.updates.append(
            (status.task_id, status.state.value, reason, status.healthy, status.message)
        )

    def seen(self) -> list[tuple[str, str, str | None, bool | None, str]]:
        return self.updates


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from small_cluster(tmp_path_factory)


def updates_of(framework: Framework, task_id: str) -> list[tuple[Any, ...]]:
    return [u[1:] for u in framework.call("seen") if u[0] == task_id]


def checks_answered(cluster: Cluster, task_id: str) -> int:
    """How many requests the task's HTTP server has logged (to its stderr)."""
    sandbox = cluster.sandbox(task_id)
    assert sandbox is not None
    return (Path(sandbox) / "stderr").read_text().count('"GET ')


def test_http_and_tcp_checks_reach_the_framework(cluster: Cluster) -> None:
    web_port, tcp_port = free_port(), free_port()
    fast = {"interval_seconds": 0.3, "timeout_seconds": 2.0}
    tasks = [
        http_task("web", HealthCheck("HTTP", port=web_port, **fast), web_port),  # type: ignore[arg-type]
        http_task("tcp", HealthCheck("TCP", port=tcp_port, **fast), tcp_port),  # type: ignore[arg-type]
    ]
    framework = cluster.run_framework(HealthLauncher, tasks, name="healthy", roles=["healthy"])
    try:
        for task_id in ("web", "tcp"):
            wait_for(
                lambda task_id=task_id: any(u[2] for u in updates_of(framework, task_id)),
                what=f"{task_id} healthy",
            )
            running = [u for u in updates_of(framework, task_id) if u[2] is not None]
            assert running[0][:3] == ("TASK_RUNNING", HEALTH.value, True)
        # Reported once per change: five more passing checks (the server logs
        # each) bring no stream of healthy updates.
        checked = checks_answered(cluster, "web")
        wait_for(
            lambda: checks_answered(cluster, "web") >= checked + 5,
            what="five more checks of web",
            seen=lambda: checks_answered(cluster, "web"),
        )
        assert [u[2] for u in updates_of(framework, "web")] == [None, True]
    finally:
        cluster.teardown(framework)


def test_a_failing_check_makes_the_task_unhealthy_then_killed(
    cluster: Cluster,
) -> None:
    port = free_port()
    check = HealthCheck(
        "HTTP",
        port=port,
        path="/page",
        # Refused connections while the server starts are not what this test
        # is about: they fall in the grace period, which the first success ends.
        grace_period_seconds=3600.0,
        interval_seconds=0.3,
        timeout_seconds=2.0,
        max_consecutive_failures=3,
    )
    task = http_task("failing", check, port, before="echo ok > page")
    framework = cluster.run_framework(HealthLauncher, [task], name="sick", roles=["sick"])
    try:
        wait_for(lambda: any(u[2] for u in updates_of(framework, "failing")), what="healthy")
        sandbox = cluster.sandbox("failing")
        assert sandbox is not None
        (Path(sandbox) / "page").unlink()
        wait_for(
            lambda: any(u[0] == "TASK_KILLED" for u in updates_of(framework, "failing")),
            what="the task killed",
            seen=lambda: updates_of(framework, "failing"),
        )
        updates = updates_of(framework, "failing")
        assert [(state, healthy) for state, _, healthy, _ in updates] == [
            ("TASK_RUNNING", None),
            ("TASK_RUNNING", True),
            ("TASK_RUNNING", False),
            ("TASK_KILLED", False),
        ]
        assert updates[1][1] == updates[2][1] == updates[3][1] == HEALTH.value
        assert "3 time(s) in a row" in updates[3][3] and "HTTP 404" in updates[3][3]
    finally:
        cluster.teardown(framework)


def test_failures_in_the_grace_period_do_not_kill(cluster: Cluster) -> None:
    # Unhealthy for its first second, with one failure allowed: only the
    # grace period keeps it alive (long, so that a slow start stays in it).
    check = HealthCheck(
        "COMMAND",
        command="test -e ready",
        grace_period_seconds=3600.0,
        interval_seconds=0.2,
        timeout_seconds=5.0,
        max_consecutive_failures=1,
    )
    task = TaskInfo(
        "slow",
        "slow",
        Resources.parse("cpus:0.1;mem:32"),
        command="sleep 1; touch ready; sleep 600",
        health_check=check,
    )
    framework = cluster.run_framework(HealthLauncher, [task], name="slow", roles=["slow"])
    try:
        wait_for(lambda: any(u[2] for u in updates_of(framework, "slow")), what="healthy")
        assert [(s, h) for s, _, h, _ in updates_of(framework, "slow")] == [
            ("TASK_RUNNING", None),
            ("TASK_RUNNING", True),
        ]
    finally:
        cluster.teardown(framework)
