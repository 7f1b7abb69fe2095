"""What `Cluster.services()` returns: the service framework's client, and
how the framework is started, kept and restarted on a cluster
(`Services.start`).

Each operation is one call to the framework's actor (`Framework.call`);
definitions are validated here first, so a bad one raises
`AppDefinitionError` before anything is sent."""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pyactors.errors import HaproxyNotFoundError, UnknownFrameworkError
from pyactors.frameworks.services.app_reader import parse_app
from pyactors.frameworks.services.scheduler import ServiceScheduler
from pyactors.frameworks.services.store import open_store
from pyactors.security.credentials import Credentials

if TYPE_CHECKING:
    from pyactors.runtime.cluster import Cluster, Framework


class Services:
    def __init__(self, framework: Framework, bind_host: str) -> None:
        self.framework = framework
        self.bind_host = bind_host

    @classmethod
    def start(
        cls,
        cluster: Cluster,
        haproxy: str = "haproxy",
        bind_host: str = "127.0.0.1",
        failover_timeout: float = 3600.0,
        role: str = "services",
        previous: Services | None = None,
        marathon_host: str = "127.0.0.1",
        marathon_port: int = 0,
        credentials: Credentials | None = None,
    ) -> Services:
        """The service framework of `cluster` (see `Cluster.services()`).
        `previous`, the client an earlier start returned, is returned again
        while its framework's actor answers; if the actor died, a new one
        takes the framework over (adopting its tasks)."""
        if shutil.which(haproxy) is None:
            raise HaproxyNotFoundError(
                f"haproxy binary {haproxy!r} not found: install it (apt-get install haproxy) "
                "or pass services(haproxy=<its path>)"
            )

        running = cluster.builtin_framework("services")
        if running is not None:
            # The long-running cluster's, started by this process or another.
            return cls(running, bind_host)
        if previous is not None and cluster.still_running(previous.framework):
            return previous
        store = open_store(cluster.location.zk, cluster.work_dir)
        saved = store.load()
        store.close()
        seed = 0
        arguments = (
            cluster.work_dir,
            cluster.location.zk,
            role,
            haproxy,
            bind_host,
            seed,
            marathon_host,
            marathon_port,
            credentials,
        )
        options: dict[str, Any] = {
            "name": "services",
            "roles": [role],
            "failover_timeout": failover_timeout,
            "actor_name": "services",
        }
        try:
            framework = cluster.run_framework(
                ServiceScheduler,
                *arguments,
                **options,
                framework_id=None if saved is None else saved["frameworkId"],
            )
        except UnknownFrameworkError:
            # Torn down meanwhile (its failover timeout passed): register
            # anew; its apps come back and their tasks, gone, are replaced.
            framework = cluster.run_framework(ServiceScheduler, *arguments, **options)
        return cls(framework, bind_host)

    @property
    def framework_id(self) -> str:
        return self.framework.id

    @property
    def marathon_url(self) -> str:
        """Where the framework answers Marathon's REST API (`/v2/apps`, ...)."""
        return str(self.framework.call("marathon_url"))

    def deploy(self, app: Mapping[str, Any] | str) -> str:
        """Start an app (a Marathon app definition, a dict or JSON text);
        returns the deployment id."""
        return str(self.framework.call("deploy", parse_app(app).to_json()))

    def update(self, app: Mapping[str, Any] | str) -> str:
        """A new definition for an app: a rolling update under its
        upgradeStrategy (or a deploy, if the app is new)."""
        return str(self.framework.call("update_app", parse_app(app).to_json()))

    def scale(self, app_id: str, instances: int) -> str:
        return str(self.framework.call("scale", app_id, instances))

    def restart(self, app_id: str) -> str:
        """Replace every instance, rolling, under the app's upgradeStrategy."""
        return str(self.framework.call("restart", app_id))

    def remove(self, app_id: str) -> str:
        """Kill the app's instances (and release its volumes) and forget it."""
        return str(self.framework.call("remove", app_id))

    def app(self, app_id: str) -> dict[str, Any]:
        """The app as Marathon shows it: definition, task counts, tasks,
        deployments, lastTaskFailure."""
        status: dict[str, Any] = self.framework.call("app", app_id)
        return status

    def apps(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.framework.call("apps")
        return found

    def metrics(self) -> dict[str, Any]:
        """The framework's counters: offers_received, offers_declined,
        tasks_launched, and whether it has suppressed offers (nothing to
        launch)."""
        found: dict[str, Any] = self.framework.call("metrics")
        return found

    def endpoint(self, app_id: str) -> str:
        """The load-balanced address of the app's first service port."""
        return f"http://{self.bind_host}:{self.framework.call('service_port', app_id)}"

    def wait(
        self, app_id: str, healthy: int | None = None, timeout: float = 600.0
    ) -> dict[str, Any]:
        """Block until `healthy` instances (default: the app's count) are
        healthy (running, for an app without health checks) and, when
        `healthy` is not given, no deployment is under way; returns the
        app's status. TimeoutError saying what was seen otherwise (the
        default bound is generous: deploying on a busy machine is slow, not
        failed; a deployment that cannot progress shows in `_seen`)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.app(app_id)
            count = _healthy(status)
            wanted = status["instances"] if healthy is None else healthy
            if count >= wanted and (healthy is not None or not status["deployments"]):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{app_id}: {count} of {wanted} healthy after {timeout} s; " + _seen(status)
                )
            time.sleep(0.2)


def _healthy(status: Mapping[str, Any]) -> int:
    if status["healthChecks"]:
        return int(status["tasksHealthy"])
    return int(status["tasksRunning"])


def _seen(status: Mapping[str, Any]) -> str:
    tasks = (
        ", ".join(f"{t['id']} {t['state']} healthy={t['healthy']}" for t in status["tasks"])
        or "no tasks"
    )
    failure = status["lastTaskFailure"]
    last = (
        f"; last failure: {failure['taskId']} {failure['state']} {failure['message']!r}"
        if failure
        else ""
    )
    deployments = [d["kind"] for d in status["deployments"]]
    return f"tasks: {tasks}; deployments: {deployments or 'none'}{last}"
