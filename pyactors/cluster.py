"""Start a cluster as a Ray application: one master, several agents, and
frameworks running the user's schedulers."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from typing import Any

from pyactors import ray_calls
from pyactors.agent import AgentActor
from pyactors.errors import InvalidArgumentError
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
    """A master and its agents on the Ray cluster this process is connected
    to (a local one is started if none is).

    `agents` is a number of agents sharing the local Ray node (each gets an
    even slice of it), or "per-node": one agent pinned to each Ray node.
    `agent_resources` overrides the detected resources it names (Mesos's
    --resources); `agent_attributes` are added to the detected ones.
    """

    def __init__(
        self,
        agents: int | str = 3,
        agent_resources: str | None = None,
        work_dir: str | None = None,
        allocation_interval: float = 1.0,
        config: MasterConfig | None = None,
        status_retry_interval: float = 10.0,
        framework_heartbeat_interval: float = 5.0,
        agent_attributes: dict[str, str] | None = None,
    ) -> None:
        if agents != "per-node" and not (isinstance(agents, int) and agents >= 0):
            raise InvalidArgumentError(f"agents must be a count or 'per-node', got {agents!r}")
        ray_calls.ensure_started()
        self._tmp = None if work_dir else tempfile.TemporaryDirectory(prefix="pyactors-")
        self.work_dir = work_dir or (self._tmp.name if self._tmp else "")
        # The master and the frameworks live on this process's node: losing
        # a worker node must cost its agent, not the control plane.
        self._home = ray_calls.current_node_id()
        self.master = ray_calls.spawn(
            MasterActor,
            config or MasterConfig(),
            allocation_interval,
            framework_heartbeat_interval,
            node_id=self._home,
        )
        ray_calls.ask(self.master, "start")
        self.agents: dict[str, Any] = {}
        self._agent_options: dict[str, Any] = {
            "attributes": agent_attributes,
            "retry_interval": status_retry_interval,
        }
        if agents == "per-node":
            for node in ray_calls.alive_nodes():
                self.add_agent(f"agent-{node.node_id[:12]}", node.node_id, agent_resources)
        else:
            for i in range(int(agents)):
                self.add_agent(f"agent-{i}", self._home, agent_resources, i, int(agents))
        self.frameworks: list[Framework] = []

    def add_agent(
        self,
        agent_id: str,
        node_id: str,
        resources: str | None = None,
        slice_index: int = 0,
        slices: int = 1,
    ) -> Any:
        """Start an agent pinned to a Ray node and wait until it registered."""
        handle = ray_calls.spawn(
            AgentActor,
            agent_id,
            self.master,
            resources,
            f"{self.work_dir}/{agent_id}",
            slice_index=slice_index,
            slices=slices,
            node_id=node_id,
            **self._agent_options,
        )
        ray_calls.ask(handle, "start", handle)
        self.agents[agent_id] = handle
        return handle

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
            node_id=self._home,
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


def start(agents: int | str = 3, agent_resources: str | None = None, **options: Any) -> Cluster:
    """Start a cluster (starting a local Ray instance if none is running);
    see `Cluster` for the options."""
    return Cluster(agents, agent_resources, **options)
