"""The handlers of Marathon's REST API, answered from the service
framework's own state (what `cluster.services()` reports) and changing it
through the same scheduler methods the client calls.

Handlers run on the framework actor's event loop, as its callbacks do, so
they see the state between events, never in the middle of one; each does
only in-memory work and returns."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

import orjson
from aiohttp import web

from pyactors.errors import (
    AppDefinitionError,
    InvalidArgumentError,
    UnknownAppError,
    UnknownDeploymentError,
    UnknownTaskError,
)
from pyactors.frameworks.services.app_definition import normalize_app_id
from pyactors.frameworks.services.app_reader import parse_app
from pyactors.frameworks.services.marathon import shapes
from pyactors.frameworks.services.marathon.events import EventBus, Tracker
from pyactors.frameworks.services.model import AppRecord
from pyactors.frameworks.services.state import ServiceState


class Framework(Protocol):
    """What the API needs of the service framework's scheduler."""

    state: ServiceState
    framework_id: str | None

    def deploy(self, definition: Mapping[str, Any]) -> str: ...
    def update_app(self, definition: Mapping[str, Any]) -> str: ...
    def scale(self, app_id: str, instances: int) -> str: ...
    def restart(self, app_id: str) -> str: ...
    def remove(self, app_id: str) -> str: ...
    def kill_tasks(self, task_ids: list[str], scale: bool) -> str | None: ...
    def reset_delay(self, app_id: str) -> None: ...
    def cancel_deployment(self, deployment_id: str, rollback: bool) -> str | None: ...
    def metrics(self) -> dict[str, Any]: ...


class ApiError(Exception):
    """An answer other than success: its status and Marathon's error body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body["message"])
        self.status = status
        self.body = body


def json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter, as Marathon's (`true`) or as Python
    clients write it (`True`, `False`)."""
    value = request.query.get(name, "false").lower()
    if value not in ("true", "false"):
        raise ApiError(400, shapes.error(f"query parameter {name} must be true or false"))
    return value == "true"


class MarathonApi:
    def __init__(self, framework: Framework, bus: EventBus, leader: str) -> None:
        self.framework = framework
        self.bus = bus
        self.tracker = Tracker()
        self.leader = leader

    @property
    def state(self) -> ServiceState:
        return self.framework.state

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/ping", self.ping),
            web.get("/metrics", self.metrics),
            web.get("/v2/info", self.info),
            web.get("/v2/leader", self.get_leader),
            web.route("*", "/v2/apps{path:.*}", self.apps),
            web.get("/v2/tasks", self.tasks),
            web.post("/v2/tasks/delete", self.delete_tasks),
            web.get("/v2/deployments", self.deployments),
            web.delete("/v2/deployments/{id}", self.delete_deployment),
            web.get("/v2/groups{path:.*}", self.groups),
            web.get("/v2/queue", self.queue),
            web.delete("/v2/queue/{path:.+}/delay", self.reset_delay),
        ]

    # Changes made through the API: Marathon's events for them.

    def publish_changes(self) -> None:
        for event in self.tracker.changes(self.state, time.time()):
            self.bus.publish(event)

    # Server.

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="pong")

    async def metrics(self, request: web.Request) -> web.Response:
        counters = self.framework.metrics()
        gauges = {
            "marathon.apps.active.gauge": {"value": len(self.state.apps)},
            "marathon.deployments.active.gauge": {"value": len(self.state.deployments())},
            "marathon.tasks.running.gauge": {"value": len(self.state.live_tasks())},
        }
        return json(
            {
                "version": "4.0.0",
                "counters": {
                    f"marathon.mesos.{k}.counter": {"count": int(v)} for k, v in counters.items()
                },
                "gauges": gauges,
                "histograms": {},
                "meters": {},
                "timers": {},
            }
        )

    async def info(self, request: web.Request) -> web.Response:
        state = self.state
        return json(
            shapes.info(self.framework.framework_id, self.leader, state.role, state.decline_seconds)
        )

    async def get_leader(self, request: web.Request) -> web.Response:
        return json({"leader": self.leader})

    # Apps.

    async def apps(self, request: web.Request) -> web.Response:
        path = request.match_info["path"].strip("/")
        parts = path.split("/") if path else []
        method = request.method
        if not parts:
            if method == "GET":
                return self.list_apps(request)
            if method == "POST":
                return await self.create_app(request)
        elif parts[-1] == "restart" and method == "POST":
            return self.changed(self.framework.restart(self.unlocked(request, parts[:-1]).app.id))
        elif parts[-1] == "tasks":
            return await self.app_tasks(request, self.record(parts[:-1]), None)
        elif len(parts) > 1 and parts[-2] == "tasks":
            return await self.app_tasks(request, self.record(parts[:-2]), parts[-1])
        elif parts[-1] == "versions" and method == "GET":
            return json({"versions": list(reversed(self.record(parts[:-1]).history))})
        elif len(parts) > 1 and parts[-2] == "versions" and method == "GET":
            return self.version(self.record(parts[:-2]), parts[-1])
        elif method == "GET":
            return json({"app": self.app(self.record(parts))})
        elif method == "PUT":
            return await self.put_app(request, parts)
        elif method == "DELETE":
            return self.changed(self.framework.remove(self.unlocked(request, parts).app.id))
        raise ApiError(405, shapes.error(f"{method} is not allowed on {request.path}"))

    def list_apps(self, request: web.Request) -> web.Response:
        wanted_id = request.query.get("id", "")
        wanted_cmd = request.query.get("cmd", "")
        found = [
            shapes.app(status)
            for status in self.state.apps_status()
            if wanted_id in status["id"] and wanted_cmd in (status.get("cmd") or "")
        ]
        return json({"apps": found})

    async def create_app(self, request: web.Request) -> web.Response:
        body = await self.body(request)
        if isinstance(body.get("id"), str) and not body["id"].startswith("/"):
            # Relative to the root group, as Marathon reads it.
            body["id"] = "/" + body["id"]
        app = parse_app(body)
        if app.id in self.state.apps:
            raise ApiError(409, shapes.error(f"An app with id [{app.id}] already exists."))
        # Accepted: told before the deployment it starts, as Marathon does.
        self.bus.publish(api_post(request, body))
        self.framework.deploy(body)
        return json(shapes.app(self.state.app_status(normalized(body["id"]))), status=201)

    async def put_app(self, request: web.Request, parts: list[str]) -> web.Response:
        """Marathon's partial update: the fields given replace the app's;
        `instances` alone scales it, `version` alone rolls it back to that
        version's definition."""
        body = await self.body(request)
        app_id = "/" + "/".join(parts)
        if "id" in body and normalized(str(body["id"])) != normalized(app_id):
            raise ApiError(
                422, shapes.error("Object is not valid", [("id", "the id differs from the path")])
            )
        if normalized(app_id) not in self.state.apps:
            definition = {**body, "id": app_id}
            parse_app(definition)
            self.bus.publish(api_post(request, definition))
            return self.changed(self.framework.deploy(definition), status=201)
        record = self.unlocked(request, parts)
        posted = api_post(request, {**body, "id": record.app.id})
        fields = set(body) - {"id"}
        if fields == {"instances"}:
            self.bus.publish(posted)
            return self.changed(self.framework.scale(record.app.id, body["instances"]))
        if fields == {"version"}:
            version = str(body["version"])
            if version not in record.history:
                raise ApiError(
                    404, shapes.error(f"App '{record.app.id}' does not exist in version {version}")
                )
            definition = record.history[version].to_json()
        else:
            definition = {**record.app.to_json(), **body, "id": record.app.id}
        definition.pop("version", None)
        parse_app(definition)
        self.bus.publish(posted)
        return self.changed(self.framework.update_app(definition))

    def version(self, record: AppRecord, version: str) -> web.Response:
        definition = record.history.get(version)
        if definition is None:
            raise ApiError(
                404, shapes.error(f"App '{record.app.id}' does not exist in version {version}")
            )
        return json({**definition.to_json(), "version": version})

    async def app_tasks(
        self, request: web.Request, record: AppRecord, task_id: str | None
    ) -> web.Response:
        status = self.app(record)
        if request.method == "GET" and task_id is None:
            return json({"tasks": status["tasks"]})
        if request.method != "DELETE":
            raise ApiError(405, shapes.error(f"{request.method} is not allowed on {request.path}"))
        host = request.query.get("host")
        tasks = [
            t
            for t in status["tasks"]
            if (task_id is None or t["id"] == task_id) and host in (None, "*", t["host"])
        ]
        if task_id is not None and not tasks:
            raise ApiError(404, shapes.error(f"Task '{task_id}' does not exist"))
        deployment = self.kill(request, tasks)
        if deployment is not None:
            return self.changed(deployment)
        if task_id is not None:
            return json({"task": tasks[0]})
        return json({"tasks": tasks})

    # Tasks.

    async def tasks(self, request: web.Request) -> web.Response:
        states = {s.lower() for s in request.query.getall("status", [])}
        found = [
            t
            for status in self.state.apps_status()
            for t in shapes.app(status)["tasks"]
            if not states or t["state"].removeprefix("TASK_").lower() in states
        ]
        return json({"tasks": found})

    async def delete_tasks(self, request: web.Request) -> web.Response:
        body = await self.body(request)
        ids = body.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ApiError(
                422, shapes.error("Object is not valid", [("ids", "expected a list of task ids")])
            )
        live = {t["id"]: t for s in self.state.apps_status() for t in shapes.app(s)["tasks"]}
        unknown = [i for i in ids if i not in live]
        if unknown:
            raise ApiError(404, shapes.error(f"Task '{unknown[0]}' does not exist"))
        tasks = [live[i] for i in dict.fromkeys(ids)]
        deployment = self.kill(request, tasks)
        if deployment is not None:
            return self.changed(deployment)
        return json({"tasks": tasks})

    def kill(self, request: web.Request, tasks: list[dict[str, Any]]) -> str | None:
        """Kill `tasks` (Marathon's task JSON) as the query says: replaced,
        or with `scale` their apps' counts lowered (a deployment, refused
        on an app a deployment holds unless `force`). `wipe`, for an app
        without persistent volumes, is a kill like any (Marathon forgets the
        instance and launches another); one with volumes releases them only
        when it is removed, so wipe is refused there. Returns the scale
        deployment's id."""
        scale, wipe = flag(request, "scale"), flag(request, "wipe")
        if scale and wipe:
            raise ApiError(400, shapes.error("You cannot use scale and wipe at the same time."))
        for app_id in sorted({t["appId"] for t in tasks}):
            record = self.unlocked(request, [app_id]) if scale else self.record([app_id])
            if wipe and record.app.is_resident:
                raise ApiError(
                    400,
                    shapes.error(
                        f"wipe=true is not supported for {app_id}: its persistent volumes "
                        "are destroyed only when the app is removed"
                    ),
                )
        return self.framework.kill_tasks([t["id"] for t in tasks], scale)

    # Deployments.

    async def deployments(self, request: web.Request) -> web.Response:
        return json([shapes.deployment(r, d) for r, d in self.state.deployments()])

    async def delete_deployment(self, request: web.Request) -> web.Response:
        """Cancel the deployment: with `force=true` only that (202; the app
        keeps the definition it was given, unlocked), else a rollback: a new
        deployment restores the app as it was before (or removes the app it
        created), answered as any deployment."""
        deployment_id = request.match_info["id"]
        force = flag(request, "force")
        # Told as failed by the change's own events (an unknown id: 404).
        self.tracker.cancelled.add(deployment_id)
        rollback = self.framework.cancel_deployment(deployment_id, not force)
        if rollback is None:
            return web.Response(status=202)
        return self.changed(rollback)

    # Groups and the queue.

    async def groups(self, request: web.Request) -> web.Response:
        group_id = "/" + request.match_info["path"].strip("/")
        apps = [shapes.app(s) for s in self.state.apps_status()]
        prefix = group_id.rstrip("/") + "/"
        if group_id != "/" and not any(a["id"].startswith(prefix) for a in apps):
            raise ApiError(404, shapes.error(f"Group '{group_id}' does not exist"))
        latest = max((r.version for r in self.state.apps.values()), default=None)
        return json(shapes.group(group_id, apps, latest or shapes.iso_now()))

    async def queue(self, request: web.Request) -> web.Response:
        """The apps waiting to launch, and why (`embed=lastUnusedOffers`:
        with the last offer of each agent they could not use)."""
        now = time.time()
        embed = "lastUnusedOffers" in request.query.getall("embed", [])
        items = [
            shapes.queue_item(
                r, self.state.app_status(r.app.id), self.state.offer_stats.of(r.app.id), now, embed
            )
            for r in sorted(self.state.apps.values(), key=lambda r: r.app.id)
            if r.to_launch > 0 and not r.removing
        ]
        return json({"queue": items})

    async def reset_delay(self, request: web.Request) -> web.Response:
        self.framework.reset_delay(self.record([request.match_info["path"]]).app.id)
        return web.Response(status=204)

    # Helpers.

    def app(self, record: AppRecord) -> dict[str, Any]:
        return shapes.app(self.state.app_status(record.app.id))

    def record(self, parts: list[str]) -> AppRecord:
        app_id = "/" + "/".join(p for part in parts for p in part.split("/") if p)
        try:
            return self.state.record(app_id)
        except UnknownAppError:
            raise ApiError(404, shapes.error(f"App '{app_id}' does not exist")) from None

    def unlocked(self, request: web.Request, parts: list[str]) -> AppRecord:
        """The app, if no deployment holds it or `force=true` (409 else)."""
        record = self.record(parts)
        if record.deployment is not None and not flag(request, "force"):
            deployment_id = record.deployment.id
            body = shapes.error(
                "App is locked by one or more deployments. Override with the option "
                f"'?force=true'. View details at '/v2/deployments/{deployment_id}'."
            )
            raise ApiError(409, {**body, "deployments": [{"id": deployment_id}]})
        return record

    def changed(self, deployment_id: str, status: int = 200) -> web.Response:
        for record, deployment in self.state.deployments():
            if deployment.id == deployment_id:
                version = record.version
                break
        else:
            version = shapes.iso_now()
        return json({"deploymentId": deployment_id, "version": version}, status=status)

    async def body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as problem:
            raise ApiError(400, shapes.error("Invalid JSON", [("", str(problem))])) from None
        if not isinstance(body, dict):
            raise ApiError(
                422, shapes.error("Object is not valid", [("", "expected a JSON object")])
            )
        return body


def normalized(app_id: str) -> str:
    try:
        return normalize_app_id(app_id)
    except (ValueError, AttributeError):
        return app_id


def api_post(request: web.Request, definition: Mapping[str, Any]) -> dict[str, Any]:
    return shapes.event(
        "api_post_event",
        time.time(),
        clientIp=request.remote,
        uri=request.path,
        appDefinition=dict(definition),
    )


@web.middleware
async def marathon_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Errors as Marathon answers them: `{message, details}`."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as refused:
        return json(refused.body, refused.status)
    except AppDefinitionError as invalid:
        return json(shapes.error("Object is not valid", invalid.problems), 422)
    except (UnknownAppError, UnknownTaskError, UnknownDeploymentError) as missing:
        return json(shapes.error(str(missing)), 404)
    except InvalidArgumentError as invalid:
        return json(shapes.error(str(invalid)), 422)
