"""What `cluster.services().app(id)` reports of an app: its definition,
its live tasks (with each health check's result) and its deployment, in
Marathon's field names (`marathon/shapes.py` keeps only Marathon's)."""

from __future__ import annotations

from typing import Any

from pyactors.core.tasks import TaskState
from pyactors.frameworks.services import health
from pyactors.frameworks.services.model import AppRecord, iso


def app_status(record: AppRecord) -> dict[str, Any]:
    """The app as Marathon's /v2/apps/<id> shows it (with this framework's `backoff`)."""
    app = record.app
    live = sorted(
        (i for i in record.instances.values() if not i.terminal),
        key=lambda i: (i.launched_at, i.task_id),
    )
    running = [i for i in live if i.state is TaskState.TASK_RUNNING]
    checked = bool(app.healthChecks)
    data = app.to_json()
    data["version"] = record.version
    data |= {
        "tasksStaged": sum(1 for i in live if i.state is not TaskState.TASK_RUNNING),
        "tasksRunning": len(running),
        "tasksHealthy": sum(1 for i in running if checked and i.healthy is True),
        "tasksUnhealthy": sum(1 for i in running if checked and i.healthy is False),
        "tasks": [
            {
                "id": i.task_id,
                "appId": app.id,
                "agentId": i.agent_id,
                "host": i.host,
                "ports": list(i.ports),
                "state": i.state.value,
                "healthy": i.healthy if checked else None,
                "healthCheckResults": health.results(record.history.get(i.version, app), i),
                "stagedAt": iso(i.launched_at),
                "startedAt": iso(i.started_at),
                "version": i.version,
            }
            for i in live
        ],
        "deployments": (
            []
            if record.deployment is None
            else [
                {
                    "id": record.deployment.id,
                    "kind": record.deployment.kind,
                    "version": record.deployment.version,
                    "startedAt": iso(record.deployment.started_at),
                }
            ]
        ),
        "lastTaskFailure": record.last_failure,
        "backoff": {"failures": record.failures, "delayUntil": iso(record.delay_until or None)},
    }
    return data
