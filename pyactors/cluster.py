"""Start a cluster as a Ray application: one master, several agents, and
frameworks running the user's schedulers."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from typing import Any

from pyactors import ray_calls
from pyactors.agent import AgentActor
from pyactors.master import MasterActor
from pyactors.master_state import MasterConfig
from pyactors.scheduler import FrameworkActor, Scheduler


class Framework:
    """A running framework: its id and its actor."""

    def __init__(self, framework_id: str, handle: Any) -> None:
        self.id = framework_id
        self.handle = handle

    def call(self, method: str, *args: Any) -> Any:
        """Call a method of the scheduler object inside its actor."""
        return ray_calls.ask(self.handle, "call", method, *args)


class Cluster:
    def __init__(
        self,
        agents: int,
        agent_resources: str,
        work_dir: str | None = None,
        allocation_interval: float = 1.0,
        config: MasterConfig | None = None,
        status_retry_interval: float = 10.0,
        framework_heartbeat_interval: float = 5.0,
    ) -> None:
        ray_calls.ensure_started()
        self._tmp = None if work_dir else tempfile.TemporaryDirectory(prefix="pyactors-")
        self.work_dir = work_dir or (self._tmp.name if self._tmp else "")
        self.master = ray_calls.spawn(
            MasterActor, config or MasterConfig(), allocation_interval, framework_heartbeat_interval
        )
        ray_calls.ask(self.master, "start")
        self.agents: dict[str, Any] = {}
        for i in range(agents):
            agent_id = f"agent-{i}"
            handle = ray_calls.spawn(
                AgentActor,
                agent_id,
                self.master,
                agent_resources,
                f"{self.work_dir}/{agent_id}",
                retry_interval=status_retry_interval,
            )
            ray_calls.ask(handle, "start", handle)
            self.agents[agent_id] = handle
        self.frameworks: list[Framework] = []

    def run_framework(
        self,
        scheduler_cls: type[Scheduler],
        *args: Any,
        name: str,
        roles: Sequence[str] = ("*",),
        failover_timeout: float = 0.0,
        capabilities: Sequence[str] = (),
        framework_id: str | None = None,
    ) -> Framework:
        """Run `scheduler_cls(*args)` as a framework actor. With the id of a
        framework whose scheduler died (or still runs), the new actor takes
        it over: same tasks, and the updates the old one did not
        acknowledge."""
        ray_calls.ship_by_value(scheduler_cls)
        handle = ray_calls.spawn(
            FrameworkActor,
            scheduler_cls,
            args,
            self.master,
            name,
            list(roles),
            failover_timeout,
            list(capabilities),
            framework_id,
        )
        try:
            framework = Framework(ray_calls.ask(handle, "start", handle), handle)
        except Exception:
            # Refused (say, a torn-down id): the actor must not linger.
            ray_calls.stop(handle)
            raise
        self.frameworks.append(framework)
        return framework

    def teardown(self, framework: Framework) -> None:
        """End a framework: its tasks are killed, its resources freed, its
        actor stopped."""
        ray_calls.ask(self.master, "teardown", framework.id)
        ray_calls.stop(framework.handle)
        self.frameworks.remove(framework)

    def state(self) -> dict[str, Any]:
        summary: dict[str, Any] = ray_calls.ask(self.master, "state_summary")
        return summary

    def sandbox(self, task_id: str) -> str | None:
        for framework in self.state()["frameworks"]:
            for task in framework["tasks"] + framework["completed_tasks"]:
                if task["id"] == task_id:
                    return ray_calls.ask(  # type: ignore[no-any-return]
                        self.agents[task["agent_id"]], "sandbox", framework["id"], task_id
                    )
        return None

    def shutdown(self) -> None:
        for handle in self.agents.values():
            # An agent whose actor died has nothing left to shut down.
            with contextlib.suppress(ray_calls.ActorDiedError):
                ray_calls.ask(handle, "shutdown")
            ray_calls.stop(handle)
        for framework in self.frameworks:
            ray_calls.stop(framework.handle)
        ray_calls.stop(self.master)
        if self._tmp is not None:
            self._tmp.cleanup()


def start(agents: int = 3, agent_resources: str = "cpus:2;mem:2048", **options: Any) -> Cluster:
    """Start a local cluster (starting Ray if none is running)."""
    return Cluster(agents, agent_resources, **options)
