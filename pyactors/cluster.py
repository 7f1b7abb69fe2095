"""Start a cluster as a Ray application: one master (or several contending
through ZooKeeper), several agents, and frameworks running the user's
schedulers."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from typing import Any

from kazoo.client import KazooClient

from pyactors import ray_calls
from pyactors.agent import AgentActor
from pyactors.election import LeaderDetector, parse_zk_url
from pyactors.errors import HaproxyNotFoundError, InvalidArgumentError, NotLeaderError
from pyactors.frameworks.services.client import Services
from pyactors.leader import ELECTION, MasterLocation, close_client, zk_client
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
    """Masters and agents on the Ray cluster this process is connected to (a
    local one is started if none is).

    Without `zk`, one master leads at once and keeps its registry in memory.
    With `zk` ("zk://host:port,.../path"), `masters` master actors contend in
    a ZooKeeper election under that path and the leader keeps its registry
    there; agents and frameworks follow the leader. `zk_session_timeout` is
    each ZooKeeper session's: how long a dead leader's candidacy outlives it.

    `agents` is a number of agents sharing the local Ray node (each gets an
    even slice of it), or "per-node": one agent pinned to each Ray node.
    `agent_resources` overrides the detected resources it names (Mesos's
    --resources); `agent_attributes` are added to the detected ones.

    The leading master serves the HTTP API on `http_host:http_port` (port 0:
    a free one; None: no HTTP API); `url` is its base address.
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
        masters: int = 1,
        zk: str | None = None,
        zk_session_timeout: float = 10.0,
        agent_heartbeat_interval: float = 1.0,
        http_host: str = "127.0.0.1",
        http_port: int | None = 0,
    ) -> None:
        if agents != "per-node" and not (isinstance(agents, int) and agents >= 0):
            raise InvalidArgumentError(f"agents must be a count or 'per-node', got {agents!r}")
        if masters < 1 or (masters > 1 and zk is None):
            raise InvalidArgumentError(f"masters must be 1, or more with zk; got {masters}")
        if zk is not None:
            parse_zk_url(zk)
        ray_calls.ensure_started()
        self._tmp = None if work_dir else tempfile.TemporaryDirectory(prefix="pyactors-")
        self.work_dir = work_dir or (self._tmp.name if self._tmp else "")
        # The frameworks (and a lone master) live on this process's node:
        # losing a worker node must cost its agent, not the control plane.
        # Several masters spread over the nodes from here, so that losing
        # one node costs at most one master.
        self._home = ray_calls.current_node_id()
        nodes = [self._home] + [
            n.node_id for n in ray_calls.alive_nodes() if n.node_id != self._home
        ]
        # Named actors, unique per cluster: the leader's info carries the name.
        token = uuid.uuid4().hex[:8]
        self.masters = [
            ray_calls.spawn(
                MasterActor,
                config or MasterConfig(),
                allocation_interval,
                framework_heartbeat_interval,
                zk,
                f"pyactors-{token}-master-{n}",
                zk_session_timeout,
                http_host=http_host,
                http_port=http_port,
                name=f"pyactors-{token}-master-{n}",
                node_id=nodes[n % len(nodes)],
            )
            for n in range(masters)
        ]
        for master in self.masters:
            ray_calls.ask(master, "start")
        self._client: KazooClient | None = None
        self._detector: LeaderDetector | None = None
        if zk is None:
            self.location = MasterLocation(master=self.masters[0])
        else:
            self.location = MasterLocation(zk=zk, session_timeout=zk_session_timeout)
            self._client = zk_client(zk, zk_session_timeout)
            self._detector = LeaderDetector(self._client, parse_zk_url(zk).path + ELECTION)
            self._detector.start()
        self.agents: dict[str, Any] = {}
        self._agent_options: dict[str, Any] = {
            "attributes": agent_attributes,
            "retry_interval": status_retry_interval,
            "heartbeat_interval": agent_heartbeat_interval,
        }
        if agents == "per-node":
            for node in ray_calls.alive_nodes():
                self.add_agent(f"agent-{node.node_id[:12]}", node.node_id, agent_resources)
        else:
            for i in range(int(agents)):
                self.add_agent(f"agent-{i}", self._home, agent_resources, i, int(agents))
        self.frameworks: list[Framework] = []
        self._services: Services | None = None

    def add_agent(
        self,
        agent_id: str,
        node_id: str,
        resources: str | None = None,
        slice_index: int = 0,
        slices: int = 1,
        attributes: dict[str, str] | None = None,
    ) -> Any:
        """Start an agent pinned to a Ray node and wait until it registered;
        `attributes` are added to the cluster's `agent_attributes`."""
        options = dict(self._agent_options)
        if attributes:
            options["attributes"] = {**(options["attributes"] or {}), **attributes}
        handle = ray_calls.spawn(
            AgentActor,
            agent_id,
            self.location,
            resources,
            f"{self.work_dir}/{agent_id}",
            slice_index=slice_index,
            slices=slices,
            node_id=node_id,
            **options,
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
            self.location,
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
            self._stop_framework(handle)
            raise
        self.frameworks.append(framework)
        return framework

    def services(
        self,
        haproxy: str = "haproxy",
        bind_host: str = "127.0.0.1",
        failover_timeout: float = 3600.0,
        role: str = "services",
    ) -> Services:
        """The built-in service framework (Marathon's job, with HAProxy in
        front; `haproxy` is the binary, `bind_host` where service ports
        listen). Started on the first call; later calls return the same
        client, restarting the framework (which adopts its tasks) if its
        actor died. Its state is kept in ZooKeeper with `zk`, else in the
        work dir."""
        from pyactors.frameworks.services.scheduler import ServiceScheduler
        from pyactors.frameworks.services.store import open_store

        if shutil.which(haproxy) is None:
            raise HaproxyNotFoundError(
                f"haproxy binary {haproxy!r} not found: install it (apt-get install haproxy) "
                "or pass services(haproxy=<its path>)"
            )

        if self._services is not None:
            try:
                ray_calls.ask(self._services.framework.handle, "heartbeat")
                return self._services
            except ray_calls.RayActorError:
                self.frameworks.remove(self._services.framework)
                self._stop_framework(self._services.framework.handle)
        store = open_store(self.location.zk, self.work_dir)
        saved = store.load()
        store.close()
        framework = self.run_framework(
            ServiceScheduler,
            self.work_dir,
            self.location.zk,
            role,
            haproxy,
            bind_host,
            name="services",
            roles=[role],
            failover_timeout=failover_timeout,
            framework_id=None if saved is None else saved["frameworkId"],
        )
        self._services = Services(framework, bind_host)
        return self._services

    def teardown(self, framework: Framework) -> None:
        """End a framework: its tasks are killed, its resources freed, its
        actor stopped."""
        self.ask_leader("teardown", framework.id)
        self._stop_framework(framework.handle)
        self.frameworks.remove(framework)

    def leader(self, timeout: float = 30.0) -> Any:
        """The leading master's handle; waits up to `timeout` for one to be
        elected (TimeoutError)."""
        if self._detector is None:
            return self.masters[0]
        deadline = time.monotonic() + timeout
        while True:
            info = self._detector.current()
            if info is not None:
                with contextlib.suppress(ray_calls.NoSuchActorError):
                    return ray_calls.named(str(info.get("actor")))
            if time.monotonic() > deadline:
                raise TimeoutError(f"no leading master within {timeout} s")
            time.sleep(0.02)

    def ask_leader(self, method: str, *args: Any, timeout: float = 30.0) -> Any:
        """Ask the leader, waiting through an election (a leader still
        recovering answers NotLeaderError, a dead one cannot answer)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return ray_calls.ask(self.leader(timeout), method, *args, timeout=timeout)
            except (NotLeaderError, ray_calls.RayActorError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def set_weight(self, role: str, weight: float) -> None:
        """A role's weight (stored in the registry, so it outlives the leader)."""
        self.ask_leader("set_weight", role, weight)

    def set_quota(self, role: str, guarantee: str, limit: str | None = None) -> None:
        """A role's quota as resource text (stored in the registry); an empty
        guarantee without a limit removes it."""
        self.ask_leader("set_quota", role, guarantee, limit)

    @property
    def url(self) -> str:
        """The base address of the leading master's HTTP API, e.g.
        "http://127.0.0.1:41235" (`/master/state`, `/metrics`, ...)."""
        return str(self.ask_leader("url"))

    def state(self) -> dict[str, Any]:
        summary: dict[str, Any] = self.ask_leader("state_summary")
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
        if self._services is not None:
            # HAProxy is the service framework's process: stop it first.
            with contextlib.suppress(ray_calls.RayActorError):
                self._services.framework.call("stop_balancer")
        for framework in self.frameworks:
            self._stop_framework(framework.handle)
        for master in self.masters:
            # A master already stopped (a test killing the leader) is gone.
            with contextlib.suppress(ray_calls.RayActorError):
                ray_calls.ask(master, "shutdown")
            ray_calls.stop(master)
        if self._detector is not None:
            self._detector.stop()
        if self._client is not None:
            close_client(self._client)
        if self._tmp is not None:
            self._tmp.cleanup()

    @staticmethod
    def _stop_framework(handle: Any) -> None:
        with contextlib.suppress(ray_calls.RayActorError):
            ray_calls.ask(handle, "shutdown")
        ray_calls.stop(handle)


def start(agents: int | str = 3, agent_resources: str | None = None, **options: Any) -> Cluster:
    """Start a cluster (starting a local Ray instance if none is running);
    see `Cluster` for the options."""
    return Cluster(agents, agent_resources, **options)
