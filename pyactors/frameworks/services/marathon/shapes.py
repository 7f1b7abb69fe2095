"""Marathon's JSON for what the service framework knows: apps, tasks,
deployments, queue items, groups, errors and events, with Marathon's keys
and no others (clients such as marathon-python turn every key into a
constructor argument and fail on one they do not know) and its timestamps
(`2026-11-24T10:00:00.000Z`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pyactors.core.offer import OfferInfo
from pyactors.frameworks.services import health
from pyactors.frameworks.services.model import HISTORY_LIMIT, AppRecord, Deployment, iso
from pyactors.frameworks.services.offer_stats import REASONS, LaunchAttempt

# The Marathon release whose API this is.
MARATHON_VERSION = "1.11.0"

# The keys of `ServiceState.app_status` that are this framework's, not Marathon's.
_OWN_STATUS_KEYS = frozenset({"backoff"})

# Which Marathon deployment action each kind of deployment carries out.
_ACTIONS = {
    "deploy": "StartApplication",
    "scale": "ScaleApplication",
    "restart": "RestartApplication",
    "update": "RestartApplication",
    "remove": "StopApplication",
}


def app(status: Mapping[str, Any]) -> dict[str, Any]:
    """An app as Marathon's /v2/apps/{id} shows it, from the status
    `cluster.services().app(id)` reports."""
    data = {k: v for k, v in status.items() if k not in _OWN_STATUS_KEYS}
    service_ports = [p["port"] for p in status["portDefinitions"]]
    data["tasks"] = [task(t, service_ports) for t in status["tasks"]]
    data["deployments"] = [{"id": d["id"]} for d in status["deployments"]]
    failure = data.pop("lastTaskFailure")
    if failure is not None:
        data["lastTaskFailure"] = task_failure(failure)
    return data


def task(status: Mapping[str, Any], service_ports: Sequence[int]) -> dict[str, Any]:
    """A task as Marathon's /v2/tasks shows it, from one of the app status's tasks."""
    data: dict[str, Any] = {
        "id": status["id"],
        "appId": status["appId"],
        "host": status["host"],
        "ipAddresses": [],
        "ports": list(status["ports"]),
        "servicePorts": list(service_ports),
        "slaveId": status["agentId"],
        "stagedAt": status["stagedAt"],
        "startedAt": status["startedAt"],
        "state": status["state"],
        "version": status["version"],
    }
    if status["healthCheckResults"]:
        data["healthCheckResults"] = list(status["healthCheckResults"])
    return data


def task_failure(failure: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "appId": failure["appId"],
        "host": failure["host"],
        "message": failure["message"],
        "state": failure["state"],
        "taskId": failure["taskId"],
        "timestamp": failure["timestamp"],
        "version": failure["version"],
        "slaveId": failure["agentId"],
    }


def deployment(record: AppRecord, under_way: Deployment) -> dict[str, Any]:
    """A deployment as Marathon's /v2/deployments lists it: one step, the
    action its kind carries out on its app."""
    action = {"action": _ACTIONS[under_way.kind], "app": record.app.id}
    return {
        "id": under_way.id,
        "version": under_way.version,
        "affectedApps": [record.app.id],
        "affectedPods": [],
        "steps": [{"actions": [action]}],
        "currentActions": [{**action, "readinessCheckResults": readiness(record, under_way)}],
        "currentStep": 1,
        "totalSteps": 1,
    }


def readiness(record: AppRecord, under_way: Deployment) -> list[dict[str, Any]]:
    """The readiness checks' results of the instances the deployment started."""
    definition = record.history.get(under_way.version, record.app)
    return [
        result
        for instance in sorted(record.instances.values(), key=lambda i: i.task_id)
        if instance.version == under_way.version and not instance.terminal
        for result in health.readiness_results(definition, instance)
    ]


def queue_item(
    record: AppRecord,
    status: Mapping[str, Any],
    attempt: LaunchAttempt,
    now: float,
    embed_offers: bool = False,
) -> dict[str, Any]:
    """An app waiting to launch instances, as Marathon's /v2/queue shows it:
    how many, the launch delay (the backoff after failures) still to wait
    (`overdue`: no delay left, it waits for offers that fit), what became
    of the offers evaluated for it and (`embed_offers`) the last one of each
    agent it could not use, and why."""
    left = max(0.0, record.delay_until - now)
    item = {
        "count": record.to_launch,
        "delay": {"timeLeftSeconds": round(left), "overdue": left == 0},
        "overdue": left == 0,
        "since": iso(record.deployment.started_at if record.deployment else now),
        "processedOffersSummary": offers_summary(attempt),
        "app": app(status),
    }
    if embed_offers:
        item["lastUnusedOffers"] = [
            {"offer": offer(u.offer), "timestamp": iso(u.at), "reason": list(u.reasons)}
            for u in attempt.last_offers.values()
        ]
    return item


def offers_summary(attempt: LaunchAttempt) -> dict[str, Any]:
    """Marathon's `processedOffersSummary`: the counts, and per reason in
    its funnel's order how many offers it declined of those still
    `processed` there (those no earlier reason declined)."""
    summary: dict[str, Any] = {
        "processedOffersCount": attempt.processed,
        "unusedOffersCount": attempt.unused,
    }
    if attempt.last_unused_at is not None:
        summary["lastUnusedOfferAt"] = iso(attempt.last_unused_at)
    if attempt.last_used_at is not None:
        summary["lastUsedOfferAt"] = iso(attempt.last_used_at)
    summary["rejectSummaryLastOffers"] = _funnel(
        len(attempt.last_offers), attempt.last_offers_rejected()
    )
    summary["rejectSummaryLaunchAttempt"] = _funnel(attempt.processed, attempt.rejected)
    return summary


def _funnel(processed: int, declined: Mapping[str, int]) -> list[dict[str, Any]]:
    steps = []
    for reason in REASONS:
        steps.append(
            {"reason": reason, "declined": declined.get(reason, 0), "processed": processed}
        )
        processed -= declined.get(reason, 0)
    return steps


def offer(info: OfferInfo) -> dict[str, Any]:
    """An offer as Marathon shows it (`offer.raml`): its resources with
    their role, and the agent's attributes (text)."""
    resources = []
    for item in info.resources.to_json():
        shown: dict[str, Any] = {"name": item["name"], "role": item.get("role", "*")}
        if "scalar" in item:
            shown["scalar"] = item["scalar"]["value"]
        if "ranges" in item:
            shown["ranges"] = [
                {"begin": r["begin"], "end": r["end"]} for r in item["ranges"]["range"]
            ]
        if "set" in item:
            shown["set"] = list(item["set"]["item"])
        resources.append(shown)
    return {
        "id": info.id,
        "hostname": info.hostname,
        "agentId": info.agent_id,
        "resources": resources,
        "attributes": [{"name": k, "text": v} for k, v in sorted(info.attributes.items())],
    }


def group(group_id: str, apps: Iterable[Mapping[str, Any]], version: str) -> dict[str, Any]:
    """Group `group_id` (`/`: the root) with the apps under it, each nested
    in the group of its parent path, as Marathon's /v2/groups shows it."""
    prefix = group_id.rstrip("/") + "/"
    mine = [a for a in apps if a["id"].startswith(prefix)]
    direct = [a for a in mine if "/" not in a["id"][len(prefix) :]]
    children = sorted(
        {prefix + a["id"][len(prefix) :].split("/")[0] for a in mine} - {a["id"] for a in direct}
    )
    return {
        "id": group_id if group_id == "/" else group_id.rstrip("/"),
        "apps": direct,
        "groups": [group(child, mine, version) for child in children],
        "pods": [],
        "dependencies": [],
        "version": version,
    }


def info(
    framework_id: str | None, leader: str, role: str, decline_seconds: float
) -> dict[str, Any]:
    """Marathon's /v2/info: this server (`leader`, host:port) and the
    framework's configuration, under Marathon's option names."""
    host, port = leader.rsplit(":", 1)
    return {
        "name": "marathon",
        "version": MARATHON_VERSION,
        "buildref": "pyactors",
        "elected": True,
        "leader": leader,
        "frameworkId": framework_id,
        "marathon_config": {
            "framework_name": "services",
            "mesos_role": role,
            "webui_url": f"http://{leader}",
            "hostname": host,
            "decline_offer_duration": int(decline_seconds * 1000),
        },
        "http_config": {"http_port": int(port)},
        "zookeeper_config": {"zk_max_versions": HISTORY_LIMIT},
    }


def error(message: str, problems: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """Marathon's error body: the message, and per field path its errors."""
    by_path: dict[str, list[str]] = {}
    for path, problem in problems:
        by_path.setdefault(json_path(path), []).append(problem)
    body: dict[str, Any] = {"message": message}
    if by_path:
        body["details"] = [{"path": p, "errors": e} for p, e in by_path.items()]
    return body


def json_path(field: str) -> str:
    """A field as `AppDefinitionError` names it (`healthChecks[0].path`)
    as Marathon names it (`/healthChecks(0)/path`)."""
    return "/" + field.replace("[", "(").replace("]", ")").replace(".", "/").lstrip("/")


def event(event_type: str, now: float, **fields: Any) -> dict[str, Any]:
    """A /v2/events event: its fields, `eventType` and `timestamp`."""
    return {"eventType": event_type, "timestamp": iso(now), **fields}


def iso_now() -> str:
    return str(iso(time.time()))
