"""Every health check of an app, and readiness checks during deployments,
in the service framework's state machine (no Ray): which probes fall due,
what their results mean, and how Marathon's API shows them."""

from __future__ import annotations

import collections
import collections.abc
from typing import Any

import pytest

from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.errors import AppDefinitionError
from pyactors.frameworks.services import health
from pyactors.frameworks.services.app_reader import parse_app
from pyactors.frameworks.services.health import Probe, ProbeResult
from pyactors.frameworks.services.launch import task_info
from pyactors.frameworks.services.marathon import shapes
from pyactors.frameworks.services.state import ServiceState

# marathon-python 0.13.0 still uses collections.Iterable (gone in 3.10).
collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]
from marathon.models import MarathonDeployment, MarathonTask  # noqa: E402

OK = ProbeResult(True, "connected")
REFUSED = ProbeResult(False, "ConnectionRefusedError: refused")


def offer(name: str = "o1") -> OfferInfo:
    resources = Resources.parse("cpus:4;mem:4096;ports:[31000-31100]")
    return OfferInfo(name, "fw", "a1", "services", resources, "h1")


def check(protocol: str, **fields: Any) -> dict[str, Any]:
    return {
        "protocol": protocol,
        "gracePeriodSeconds": 10,
        "intervalSeconds": 1,
        "timeoutSeconds": 1,
        "maxConsecutiveFailures": 2,
        "delaySeconds": 0,
    } | fields


def two_checks(**fields: Any) -> dict[str, Any]:
    return {
        "id": "/web",
        "cmd": "serve",
        "cpus": 0.1,
        "mem": 32,
        "instances": 1,
        "portDefinitions": [{"port": 0, "name": "http"}, {"port": 0, "name": "admin"}],
        "healthChecks": [check("HTTP", path="/ok", portIndex=0), check("TCP", portIndex=1)],
        "backoffSeconds": 5,
    } | fields


def running(state: ServiceState, task_id: str, now: float, healthy: bool | None = None) -> None:
    update = TaskStatus(
        task_id, TaskState.TASK_RUNNING, Source.SOURCE_AGENT, now, agent_id="a1", healthy=healthy
    )
    state.status(update, now)


def launched(state: ServiceState, now: float, name: str = "o1") -> list[str]:
    return [plan.task_id for answer in state.offers([offer(name)], now) for plan in answer.launches]


def test_the_agent_runs_one_check_and_the_framework_every_other() -> None:
    state = ServiceState()
    state.deploy(two_checks(), 0.0)
    (answer,) = state.offers([offer()], 0.0)
    (plan,) = answer.launches
    # The agent's check is the first (no COMMAND check), on the task's first port.
    agent_check = task_info(plan).health_check
    assert agent_check is not None and agent_check.protocol == "HTTP"
    assert agent_check.port == plan.ports[0] and agent_check.path == "/ok"
    assert state.due_probes(1.0) == []  # not running yet
    running(state, plan.task_id, 1.0)
    (probe,) = state.due_probes(1.0)
    assert probe == Probe(plan.task_id, "health", 1, "TCP", "h1", plan.ports[1], "/", 1)
    assert state.due_probes(1.0) == []  # in flight
    # The agent's check passes: healthy only once the framework's does too.
    running(state, plan.task_id, 1.5, healthy=True)
    instance = state.instance(plan.task_id)
    assert instance is not None and instance.healthy is None
    assert state.probe_result(probe, OK, 2.0)  # the instance turned healthy
    assert instance.healthy is True
    (again,) = state.due_probes(3.0)
    assert not state.probe_result(again, OK, 3.0)  # nothing for the shell to act on
    assert state.app_status("/web")["tasksHealthy"] == 1
    (task,) = state.app_status("/web")["tasks"]
    shown = shapes.task(task, [0, 0])["healthCheckResults"]
    assert [(r["alive"], r["consecutiveFailures"]) for r in shown] == [(True, 0), (True, 0)]
    assert shown[1]["firstSuccess"] == "1970-01-01T00:00:02.000Z"
    assert shown[1]["lastSuccess"] == "1970-01-01T00:00:03.000Z" and shown[1]["lastFailure"] is None
    # Marathon's own client reads each entry (it fails on a key it does not know).
    parsed = MarathonTask.from_json(shapes.task(task, [0, 0])).health_check_results
    assert [r.alive for r in parsed] == [True, True]
    assert set(shown[0]) == {
        "alive",
        "consecutiveFailures",
        "firstSuccess",
        "lastFailure",
        "lastSuccess",
        "lastFailureCause",
        "taskId",
        "instanceId",
    }


def test_a_framework_check_failing_too_often_kills_and_replaces_the_task() -> None:
    state = ServiceState()
    state.deploy(two_checks(), 0.0)
    (task_id,) = launched(state, 0.0)
    running(state, task_id, 1.0, healthy=True)
    (probe,) = state.due_probes(1.0)
    state.probe_result(probe, OK, 1.0)
    (probe,) = state.due_probes(2.0)
    state.probe_result(probe, REFUSED, 2.0)
    instance = state.instance(task_id)
    assert instance is not None and instance.healthy is False
    assert state.take_kills() == []  # one failure of the two allowed
    (task,) = state.app_status("/web")["tasks"]
    failing = task["healthCheckResults"][1]
    assert (failing["alive"], failing["consecutiveFailures"]) == (False, 1)
    assert failing["lastFailureCause"] == "ConnectionRefusedError: refused"
    (probe,) = state.due_probes(3.0)
    state.probe_result(probe, REFUSED, 3.0)
    assert state.take_kills() == [task_id]
    assert state.due_probes(10.0) == []  # checked no more
    state.status(TaskStatus(task_id, TaskState.TASK_KILLED, Source.SOURCE_AGENT, 4.0), 4.0)
    # Replaced, as a failure: after the launch backoff.
    record = state.record("/web")
    assert record.failures == 1 and record.delay_until == 9.0
    assert launched(state, 5.0, "o2") == []
    assert len(launched(state, 9.0, "o3")) == 1


def test_a_restored_instance_keeps_its_health_and_is_checked_again() -> None:
    state = ServiceState()
    state.deploy(two_checks(), 0.0)
    (task_id,) = launched(state, 0.0)
    running(state, task_id, 1.0, healthy=True)
    (probe,) = state.due_probes(1.0)
    state.probe_result(probe, OK, 1.0)
    again = ServiceState()
    again.restore(state.to_json())
    instance = again.instance(task_id)
    assert instance is not None and instance.healthy is True and instance.health == {}
    # The master's answer to the new instance's reconciliation comes first.
    running(again, task_id, 20.0, healthy=True)
    assert instance.healthy is True
    (probe,) = again.due_probes(20.0)
    assert probe.index == 1
    # Its grace period ended long ago (it started at 1): failures count.
    again.probe_result(probe, REFUSED, 20.0)
    assert instance.healthy is False
    (probe,) = again.due_probes(21.0)
    again.probe_result(probe, REFUSED, 21.0)
    assert again.take_kills() == [task_id]


def test_failures_in_the_grace_period_before_a_first_success_are_ignored() -> None:
    state = ServiceState()
    state.deploy(two_checks(), 0.0)
    (task_id,) = launched(state, 0.0)
    running(state, task_id, 0.0)
    for now in (0.0, 1.0, 2.0, 3.0):
        (probe,) = state.due_probes(now)
        state.probe_result(probe, REFUSED, now)
    assert state.take_kills() == []
    instance = state.instance(task_id)
    assert instance is not None and instance.healthy is None
    (probe,) = state.due_probes(11.0)
    state.probe_result(probe, REFUSED, 11.0)
    (probe,) = state.due_probes(12.0)
    state.probe_result(probe, REFUSED, 12.0)
    assert state.take_kills() == [task_id]


def test_the_agent_runs_the_command_check_and_one_is_allowed() -> None:
    command = check("COMMAND", command={"value": "test -e ok"})
    app = parse_app(two_checks(healthChecks=[check("TCP", portIndex=1), command]))
    assert health.agent_check(app) == 1
    with pytest.raises(AppDefinitionError, match="at most one COMMAND health check"):
        parse_app(two_checks(healthChecks=[command, command]))


def readiness_app(**fields: Any) -> dict[str, Any]:
    ready = {
        "name": "warm",
        "path": "/ready",
        "portName": "http",
        "intervalSeconds": 2,
        "timeoutSeconds": 1,
        "httpStatusCodesForReady": [200, 204],
        "preserveLastResponse": True,
    }
    return two_checks(healthChecks=[], readinessChecks=[ready]) | fields


def test_a_deployment_waits_for_its_new_tasks_to_be_ready() -> None:
    state = ServiceState()
    state.deploy(readiness_app(), 0.0)
    (task_id,) = launched(state, 0.0)
    running(state, task_id, 1.0)
    (probe,) = state.due_probes(1.0)
    assert (probe.kind, probe.path, probe.protocol) == ("readiness", "/ready", "HTTP")
    plan_port = state.instance(task_id).ports[0]  # type: ignore[union-attr]
    assert probe.port == plan_port
    state.probe_result(probe, ProbeResult(False, "", 503, "text/plain", "warming up"), 1.5)
    (record, deployment) = state.deployments()[0]
    (action,) = shapes.deployment(record, deployment)["currentActions"]
    assert action["readinessCheckResults"] == [
        {
            "name": "warm",
            "taskId": task_id,
            "ready": False,
            "lastResponse": {"status": 503, "contentType": "text/plain", "body": "warming up"},
        }
    ]
    parsed = MarathonDeployment.from_json(shapes.deployment(record, deployment))
    assert parsed.current_actions[0].readiness_check_results[0]["ready"] is False
    assert state.due_probes(3.0) == []  # the next try is due at 3.5
    (probe,) = state.due_probes(3.5)
    state.probe_result(probe, ProbeResult(True, "", 204, "text/plain", ""), 3.5)
    assert state.deployments() == []
    assert state.due_probes(10.0) == []  # no deployment: no readiness checks


def test_a_restart_keeps_the_old_task_until_the_new_one_is_ready() -> None:
    state = ServiceState()
    state.deploy(readiness_app(), 0.0)
    (old,) = launched(state, 0.0)
    running(state, old, 1.0)
    (probe,) = state.due_probes(1.0)
    state.probe_result(probe, ProbeResult(True, "", 200), 1.0)
    assert state.deployments() == []
    state.restart("/web", 2.0)
    (new,) = launched(state, 2.0, "o2")
    running(state, new, 3.0)
    assert state.take_kills() == []
    (probe,) = state.due_probes(3.0)
    assert probe.task_id == new  # the old task's version is not deployed
    state.probe_result(probe, ProbeResult(False, "", 500), 3.0)
    assert state.take_kills() == [] and len(state.deployments()) == 1
    (probe,) = state.due_probes(5.0)
    state.probe_result(probe, ProbeResult(True, "", 200), 5.0)
    assert state.take_kills() == [old]


@pytest.mark.parametrize(
    ("readiness", "message"),
    [
        ({"portName": "nope"}, r"readinessChecks\[0\]\.portName.*names no port definition"),
        (
            {"portName": "http", "intervalSeconds": 2, "timeoutSeconds": 5},
            "must be less than intervalSeconds",
        ),
        ({"portName": "http", "httpStatusCodesForReady": [99]}, "HTTP status codes"),
        ({"portName": "http", "protocol": "TCP"}, r"readinessChecks\[0\]\.protocol"),
    ],
)
def test_a_bad_readiness_check_is_refused_by_field(readiness: dict[str, Any], message: str) -> None:
    with pytest.raises(AppDefinitionError, match=message):
        parse_app(two_checks(readinessChecks=[readiness]))
    parse_app(two_checks(readinessChecks=[{"portName": "http"}]))


def test_readiness_checks_read_back_from_the_canonical_definition() -> None:
    app = parse_app(readiness_app())
    assert parse_app(app.to_json()) == app
    (check,) = app.to_json()["readinessChecks"]
    assert check == {
        "name": "warm",
        "protocol": "HTTP",
        "path": "/ready",
        "portName": "http",
        "intervalSeconds": 2,
        "timeoutSeconds": 1,
        "httpStatusCodesForReady": [200, 204],
        "preserveLastResponse": True,
    }
    assert "readinessChecks" not in parse_app(two_checks()).to_json()
