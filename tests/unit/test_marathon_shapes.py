"""Marathon's JSON for the service framework's state, read by Marathon's
own Python client (marathon-python 0.13.0, which fails on a key it does
not know) and checked against Marathon's formats."""

from __future__ import annotations

import collections
import collections.abc
import re

import pytest

from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.errors import UnknownTaskError
from pyactors.frameworks.services.marathon import shapes
from pyactors.frameworks.services.marathon.events import Tracker, status_events
from pyactors.frameworks.services.model import Instance
from pyactors.frameworks.services.state import ServiceState

# marathon-python 0.13.0 still uses collections.Iterable (gone in 3.10).
collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

from marathon.models import (  # noqa: E402
    MarathonApp,
    MarathonDeployment,
    MarathonGroup,
    MarathonInfo,
    MarathonQueueItem,
    MarathonTask,
)
from marathon.models.events import EventFactory  # noqa: E402

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NOW = 1_795_000_000.0

DEFINITION = {
    "id": "/shop/web",
    "cmd": "python3 -m http.server $PORT0",
    "instances": 2,
    "cpus": 0.1,
    "mem": 32,
    "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0}],
    "labels": {"team": "shop"},
    "unreachableStrategy": {"inactiveAfterSeconds": 10, "expungeAfterSeconds": 20},
}


def update(
    task_id: str, state: TaskState, message: str = "", healthy: bool | None = None
) -> TaskStatus:
    return TaskStatus(
        task_id, state, Source.SOURCE_AGENT, NOW, "a1", message=message, healthy=healthy
    )


def running_state() -> tuple[ServiceState, Instance]:
    state = ServiceState()
    state.deploy(DEFINITION, NOW)
    record = state.apps["/shop/web"]
    instance = Instance("shop_web.1", "/shop/web", record.version, "a1", "h1", {}, (31000,), NOW)
    record.instances[instance.task_id] = instance
    state.status(update("shop_web.1", TaskState.TASK_RUNNING, healthy=True), NOW + 1)
    state.status(update("shop_web.1", TaskState.TASK_FAILED, message="boom"), NOW + 2)
    return state, instance


def test_an_app_with_tasks_and_a_failure_reads_back_in_marathon_python() -> None:
    state, _ = running_state()
    record = state.apps["/shop/web"]
    instance = Instance("shop_web.2", "/shop/web", record.version, "a1", "h1", {}, (31001,), NOW)
    record.instances[instance.task_id] = instance
    state.status(update("shop_web.2", TaskState.TASK_RUNNING, healthy=True), NOW + 3)
    shown = shapes.app(state.app_status("/shop/web"))
    app = MarathonApp.from_json(shown)
    assert app.id == "/shop/web" and app.instances == 2 and app.tasks_healthy == 1
    assert [t.id for t in app.tasks] == ["shop_web.2"]
    assert app.tasks[0].health_check_results[0].alive is True
    assert app.last_task_failure.message == "boom" and app.last_task_failure.slave_id == "a1"
    assert app.deployments[0].id == record.deployment.id
    assert "backoff" not in shown
    assert TIMESTAMP.match(shown["version"]) and TIMESTAMP.match(shown["tasks"][0]["stagedAt"])


def test_tasks_deployments_queue_and_groups_read_back() -> None:
    state, _ = running_state()
    record = state.apps["/shop/web"]
    status = state.app_status("/shop/web")
    task = MarathonTask.from_json(shapes.app(status)["tasks"][0]) if status["tasks"] else None
    assert task is None  # the only instance failed
    [(found, deployment)] = state.deployments()
    shown = MarathonDeployment.from_json(shapes.deployment(found, deployment))
    assert shown.affected_apps == ["/shop/web"]
    assert shown.current_actions[0].action == "StartApplication"
    item = shapes.queue_item(
        record, status, state.offer_stats.of("/shop/web"), NOW + 2, embed_offers=True
    )
    queued = MarathonQueueItem.from_json(item)
    assert queued.count == record.to_launch == 2
    # Waiting again since its instance failed: no offer evaluated yet.
    assert queued.processed_offers_summary["processedOffersCount"] == 0
    assert queued.processed_offers_summary["rejectSummaryLaunchAttempt"][0]["declined"] == 0
    assert queued.last_unused_offers == []
    assert queued.delay.time_left_seconds == round(record.delay_until - NOW - 2) > 0
    assert queued.delay.overdue is False
    root = shapes.group("/", [shapes.app(status)], record.version)
    group = MarathonGroup.from_json(root)
    assert group.id == "/" and group.apps == []
    assert group.groups[0].id == "/shop" and group.groups[0].apps[0].id == "/shop/web"


def test_errors_name_fields_as_marathon_does() -> None:
    body = shapes.error("Object is not valid", [("healthChecks[0].path", "bad"), ("cpus", "x")])
    assert body == {
        "message": "Object is not valid",
        "details": [
            {"path": "/healthChecks(0)/path", "errors": ["bad"]},
            {"path": "/cpus", "errors": ["x"]},
        ],
    }
    assert shapes.error("gone") == {"message": "gone"}


def test_events_read_back_with_their_type_and_timestamp() -> None:
    state = ServiceState()
    tracker = Tracker()
    state.deploy({"id": "/w", "cmd": "sleep 100", "instances": 1}, NOW)
    events = list(tracker.changes(state, NOW))
    record = state.apps["/w"]
    instance = Instance("w.1", "/w", record.version, "a1", "h1", {}, (), NOW)
    record.instances[instance.task_id] = instance
    status = update("w.1", TaskState.TASK_RUNNING, healthy=True)
    events += list(status_events(status, instance, None, NOW))
    state.status(status, NOW)
    events += list(tracker.changes(state, NOW))
    state.remove("/w", NOW)
    events += list(tracker.changes(state, NOW))
    state.status(update("w.1", TaskState.TASK_KILLED), NOW)
    events += list(tracker.changes(state, NOW))
    kinds = [e["eventType"] for e in events]
    assert kinds == [
        "deployment_info",
        "status_update_event",
        "instance_changed_event",
        "health_status_changed_event",
        "deployment_success",
        "deployment_info",
        "deployment_success",
        "app_terminated_event",
    ]
    factory = EventFactory()
    for event in events:
        assert TIMESTAMP.match(event["timestamp"])
        assert factory.process(event).event_type == event["eventType"]


def test_a_superseded_deployment_failed() -> None:
    state = ServiceState()
    tracker = Tracker()
    first = state.deploy({"id": "/w", "cmd": "sleep 100", "instances": 1}, NOW)
    list(tracker.changes(state, NOW))
    state.scale("/w", 2, NOW)
    events = list(tracker.changes(state, NOW))
    assert {"eventType": "deployment_failed", "timestamp": shapes.iso(NOW), "id": first} in events


def test_killing_a_task_replaces_it_or_scales_down() -> None:
    state = ServiceState()
    state.deploy({"id": "/w", "cmd": "sleep 100", "instances": 2}, NOW)
    record = state.apps["/w"]
    for name in ("w.1", "w.2"):
        record.instances[name] = Instance(name, "/w", record.version, "a1", "h1", {}, (), NOW)
    assert state.kill_tasks(["w.1"], scale=False, now=NOW) is None
    assert state.take_kills() == ["w.1"] and record.to_launch == 1
    deployment = state.kill_tasks(["w.2"], scale=True, now=NOW)
    assert deployment is not None and record.app.instances == 1
    with pytest.raises(UnknownTaskError):
        state.kill_tasks(["w.2", "nope"], scale=True, now=NOW)
    assert record.app.instances == 1


def test_versions_are_marathon_timestamps_kept_in_order() -> None:
    state = ServiceState()
    state.deploy({"id": "/w", "cmd": "sleep 100"}, NOW)
    state.restart("/w", NOW)
    record = state.apps["/w"]
    versions = list(record.history)
    assert len(versions) == 2 and versions[0] < versions[1]
    assert all(TIMESTAMP.match(v) for v in versions) and versions[-1] == record.version


def test_info_reads_back() -> None:
    info = MarathonInfo.from_json(shapes.info("fw-1", "127.0.0.1:8080", "services", 120.0))
    assert info.framework_id == "fw-1" and info.leader == "127.0.0.1:8080"
    assert info.http_config.http_port == 8080 and info.marathon_config.mesos_role == "services"
