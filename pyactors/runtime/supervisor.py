"""One agent per Ray node for a long-running cluster (`pyactors up`), as
nodes join and leave.

The supervisor is a detached actor beside the master. Every `poll_interval`
it reads Ray's node table (one call for all nodes) and compares it with the
nodes it has agents on (`NodeWatch`, plain state, no Ray): a node that
joined gets an agent pinned to it, detached and named after its agent id so
that `down` and `Cluster.sandbox` find it by name; the agents of the nodes
that left are reported to the leading master in one message
(`agents_lost`), which makes them unreachable at once, as when the master
finds an agent's actor dead (their tasks TASK_UNREACHABLE), rather than
after `agent_timeout`. An agent's actor whose process is killed is
restarted by Ray on its node (`max_restarts=-1`) and recovers its tasks
from its checkpoint (`pyactors.agent.actor`). One that died for good while
its node stays (stopped, out of restarts: its name is no longer listed, one
more call for all agents) is reported disconnected (`agents_disconnected`:
its tasks stay live, their resources held, for the master's
`agent_recovery_timeout`) and started again under the same id and work
dir: it recovers the old one's tasks and re-registers with them.

Every actor of such a cluster is named with `PREFIX` in pyactors' Ray
namespace; that is how `down` finds what to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ray.actor import ActorHandle

from pyactors.agent.actor import AgentActor
from pyactors.core.protocol import Description
from pyactors.errors import ClusterUpError
from pyactors.ha.leader import LeaderFollower, MasterLocation
from pyactors.runtime import ray_calls
from pyactors.runtime.handles import AgentRef, MasterRef, shut_down

log = logging.getLogger(__name__)

PREFIX = "pyactors-up-"
SUPERVISOR = PREFIX + "supervisor"
# Ray's node table is read this often: a joined node waits at most this
# long for its agent (plus the agent's start).
POLL_INTERVAL = 1.0


def master_name(index: int) -> str:
    return f"{PREFIX}master-{index}"


def agent_id_of(node_id: str) -> str:
    """The id of the agent pinned to a Ray node (as `Cluster(agents="per-node")` names it)."""
    return f"agent-{node_id[:12]}"


def agent_actor_name(agent_id: str) -> str:
    return PREFIX + agent_id


def spawn_agent(
    agent_id: str,
    node_id: str,
    location: MasterLocation,
    resources: str | None,
    work_dir: str,
    name: str | None = None,
    detached: bool = False,
    **options: Any,
) -> Any:
    """An agent actor pinned to `node_id`, its sandboxes under
    `work_dir/agent_id`; not started yet (its `start` registers it)."""
    return ray_calls.spawn(
        AgentActor,
        agent_id,
        location,
        resources,
        f"{work_dir}/{agent_id}",
        name=name,
        node_id=node_id,
        detached=detached,
        # A killed agent's process is started again on its node, where it
        # recovers its tasks (`pyactors.agent.actor`); pinned to the node,
        # it dies for good with it.
        max_restarts=-1,
        **options,
    )


@dataclass(frozen=True)
class NodeChanges:
    joined: list[str]
    left: list[str]


class NodeWatch:
    """The Ray nodes that have an agent, and what a new reading of the node
    table changes."""

    def __init__(self) -> None:
        self.nodes: set[str] = set()

    def update(self, alive: Iterable[str]) -> NodeChanges:
        now_alive = set(alive)
        changes = NodeChanges(sorted(now_alive - self.nodes), sorted(self.nodes - now_alive))
        self.nodes = now_alive
        return changes

    def without_agent(self, agent_nodes: Iterable[str]) -> list[str]:
        """The watched nodes not among those whose agent is running."""
        return sorted(self.nodes - set(agent_nodes))

    def forget(self, node_id: str) -> None:
        """Its agent could not start: the next reading that still lists the
        node tries again."""
        self.nodes.discard(node_id)


class SupervisorActor:
    def __init__(
        self,
        description: Description,
        location: MasterLocation,
        agent_resources: str | None,
        agent_options: dict[str, Any],
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.description = description
        self.location = location
        self.agent_resources = agent_resources
        self.agent_options = agent_options
        self.poll_interval = poll_interval
        self.watch = NodeWatch()
        # agent id -> the node it is pinned to, for the agents running.
        self.agents: dict[str, str] = {}
        self.master: MasterRef | None = None
        self.follower = LeaderFollower(location, self._follow)
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> list[str]:
        """Start an agent on every node (waiting until they registered),
        then watch the node table. Returns the agents' ids."""
        await self.follower.start()
        await self._poll()
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._run())
        return sorted(self.agents)

    async def _follow(self, master: ActorHandle[Any]) -> None:
        self.master = MasterRef(master)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self._poll()
            except Exception:
                # One failed reading (the GCS briefly unreachable) must not
                # end the watch.
                log.exception("supervisor: reading the Ray node table failed")

    async def _poll(self) -> None:
        nodes = await asyncio.to_thread(ray_calls.alive_nodes)
        names = set(await asyncio.to_thread(ray_calls.named_actors, agent_actor_name("")))
        running = [n for n in self.watch.nodes if agent_actor_name(agent_id_of(n)) in names]
        died = self.watch.without_agent(running)
        changes = self.watch.update(node.node_id for node in nodes)
        crashed = [node_id for node_id in died if node_id in self.watch.nodes]
        lost = [agent_id_of(node_id) for node_id in changes.left]
        disconnected = [agent_id_of(node_id) for node_id in crashed]
        for agent_id in lost + disconnected:
            self.agents.pop(agent_id, None)
        if lost:
            log.warning("supervisor: agents lost (their node left): %s", lost)
        if disconnected:
            log.warning("supervisor: agents died on a live node, restarting: %s", disconnected)
        # Answered before a restarted agent registers again: it comes back
        # to a master that holds its tasks for it.
        with contextlib.suppress(ray_calls.RayActorError):
            if self.master is not None:  # `start` follows the leader first
                if lost:
                    await self.master.agents_lost(lost)
                if disconnected:
                    await self.master.agents_disconnected(disconnected)
        starting = changes.joined + crashed
        if starting:
            await asyncio.gather(*(self._start_agent(node_id) for node_id in starting))

    async def _start_agent(self, node_id: str) -> None:
        agent_id = agent_id_of(node_id)
        try:
            handle = spawn_agent(
                agent_id,
                node_id,
                self.location,
                self.agent_resources,
                self.description.work_dir,
                name=agent_actor_name(agent_id),
                detached=True,
                **self.agent_options,
            )
        except ValueError:
            # Its name is taken: the agent of this node is already running
            # (a supervisor started before this one on the same cluster).
            self.agents[agent_id] = node_id
            return
        try:
            # Bounded: an agent pinned to a node that is leaving may never
            # start, and the watch must go on; generously, since a slow
            # start on a busy node is not a failure.
            await asyncio.wait_for(AgentRef(handle).start(), ray_calls.START_BUDGET)
        except Exception as error:
            # The node left meanwhile, or the agent could not register.
            log.warning("supervisor: agent %s did not start: %s", agent_id, error)
            with contextlib.suppress(ray_calls.RayActorError):
                ray_calls.stop(handle)
            self.watch.forget(node_id)
            return
        self.agents[agent_id] = node_id

    async def agent_nodes(self) -> dict[str, str]:
        """The agents running, each with the Ray node it is pinned to."""
        return dict(self.agents)

    async def describe(self) -> Description:
        return self.description

    async def shutdown(self) -> None:
        """Stop watching (`down` stops the agents, masters and this actor)."""
        if self._loop is not None:
            self._loop.cancel()
        self.follower.stop()


def down(address: str | None = None) -> list[str]:
    """Stop the long-running cluster on the Ray cluster at `address`
    (default: the running one): the supervisor first, so that it starts no
    agent meanwhile, then the agents (which kill their tasks), then the
    masters. Returns the names of the actors stopped; ClusterUpError if
    none is up there."""
    ray_calls.connect(address)
    names = ray_calls.named_actors(PREFIX)
    if not names:
        raise ClusterUpError("no pyactors cluster is up on this Ray cluster")
    agents = [n for n in names if n.startswith(agent_actor_name(""))]
    ordered = [SUPERVISOR, *agents, *(n for n in names if n not in agents and n != SUPERVISOR)]
    for name in ordered:
        try:
            handle = ray_calls.named(name)
        except ray_calls.NoSuchActorError:
            continue  # gone meanwhile (its node left)
        # One that cannot answer any more (or be restarted: its node left)
        # still has to be stopped.
        with contextlib.suppress(ray_calls.RayActorError, ray_calls.ActorUnschedulableError):
            shut_down(handle)
        ray_calls.stop(handle)
    return ordered
