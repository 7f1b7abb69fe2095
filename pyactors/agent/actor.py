"""The agent actor: a thin async shell over `AgentState`.

It registers with the master, then on a short timer polls its tasks and
sends each batch of status updates in one message, and heartbeats; a master
that no longer knows it makes it register again with its tasks.

With ZooKeeper it follows the leader (`pyactors.ha.leader`): on every change it
registers with the new leader, reporting every task it holds, then resends
all unacknowledged updates at once. Until then its updates wait here.

Health checks run as tasks of the actor's event loop beside the timer loop
(`pyactors.agent.health_checks`), so a slow probe delays nothing; their results
become updates at the next poll.

Recovery (Mesos's `--recover=reconnect`): the agent's tasks run under
launchers that outlive its process, and it checkpoints them in its work dir
(`pyactors.agent.checkpoint`). An agent actor started again on the same node
with the same id and work dir (Ray restarting a killed actor, which then
starts itself; or the supervisor of `pyactors up` starting a new one)
recovers before it answers anything: it takes back the tasks still running,
reports those that ended meanwhile with their exit status, and registers as
recovered with all of them, then resends every unacknowledged update.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any, assert_never

from ray.actor import ActorHandle

from pyactors.agent import checkpoint, health_checks, sandboxes
from pyactors.agent import resources as agent_resources
from pyactors.agent.executor_http import ExecutorApi
from pyactors.agent.sandbox_files import FileChunk
from pyactors.agent.state import AgentState
from pyactors.agent.task_process import sandbox_path
from pyactors.agent.task_user import TaskUser
from pyactors.api.v1 import executor_json
from pyactors.core.operations import HealthCheck
from pyactors.core.protocol import (
    AcknowledgeToAgent,
    AgentMessage,
    DestroyVolumes,
    KillTasks,
    LaunchTasks,
    MessageToTask,
    Registration,
    ResendUpdates,
    ShutdownFramework,
)
from pyactors.core.tasks import TaskStatus
from pyactors.errors import NotLeaderError, PyactorsError
from pyactors.ha.leader import LeaderFollower, MasterLocation
from pyactors.runtime import ray_calls
from pyactors.runtime.handles import AgentRef, MasterRef
from pyactors.runtime.wire import Wire, unpack

logger = logging.getLogger(__name__)


class AgentActor:
    def __init__(
        self,
        agent_id: str,
        location: MasterLocation,
        resources: str | None,
        work_dir: str,
        attributes: dict[str, str] | None = None,
        poll_interval: float = 0.05,
        heartbeat_interval: float = 1.0,
        retry_interval: float = 10.0,
        message_interval: float = 0.25,
        slice_index: int = 0,
        slices: int = 1,
        hostname: str | None = None,
        sandbox_gc_seconds: float = 7 * 24 * 3600.0,
        max_log_bytes: int | None = 10 * 1024 * 1024,
        log_files: int = 5,
        task_user: str | None = None,
    ) -> None:
        """`resources` and `attributes` given here override what is
        detected from this actor's Ray node; with `slices` agents on one
        node, each detects its even share. Tasks that name no user run as
        `task_user` (None: as this actor's own user)."""
        self.agent_id = agent_id
        # The master registered with, None until the first registration.
        self.master: MasterRef | None = None
        # This actor, as the master sends to it (set by `start`).
        self.ref: AgentRef | None = None
        self.follower = LeaderFollower(location, self._follow)
        (node,) = [n for n in ray_calls.alive_nodes() if n.node_id == ray_calls.current_node_id()]
        detected = agent_resources.detect(node, Path(work_dir), slice_index, slices)
        self.resources = str(agent_resources.resolve(resources, detected))
        self.attributes = agent_resources.attributes(node, attributes)
        self.hostname = hostname or node.hostname
        self.state = AgentState(
            agent_id,
            Path(work_dir),
            retry_min=retry_interval,
            retry_max=60 * retry_interval,
            sandbox_gc_seconds=sandbox_gc_seconds,
            max_log_bytes=max_log_bytes,
            log_files=log_files,
            task_user=task_user,
        )
        # Sandboxes are looked at for removal this often (at most a minute
        # late, and a short age is honoured within half of it).
        self.gc_interval = min(60.0, max(poll_interval, sandbox_gc_seconds / 2))
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.message_interval = message_interval
        self._loop: asyncio.Task[None] | None = None
        self._probes: set[asyncio.Task[None]] = set()
        # Mesos's v1 executor API for the custom executors of its tasks.
        self.executor_api = ExecutorApi(
            self.state,
            lambda port: executor_json.agent_info(
                agent_id, self.hostname, port, self.resources, self.attributes
            ),
        )
        # Before any message is taken: launches must not race the recovery.
        self.recovered = self.state.recover(time.monotonic())
        if ray_calls.restarted():
            # Ray started this actor again after its process died: nobody
            # else will call `start`. Ray refuses a call while it has not
            # marked the actor alive, which it may not have yet: a plain
            # tell was lost about once in fifteen restarts, and the agent
            # then never registered.
            own = ray_calls.current_actor()
            ray_calls.tell_until_delivered(own, "start", own)

    async def start(self, handle: ActorHandle[Any]) -> None:
        """Register (the actor passes its own handle) and start the timers.
        Only the first call does: Ray may deliver a restart's own call
        again (an attempt that died with an earlier incarnation)."""
        if self.ref is not None:
            return
        self.ref = AgentRef(handle)
        # Launches, kills and updates wait for their checkpoint's sync
        # without the loop waiting (`AgentState.write_checkpoints_on_thread`).
        loop = asyncio.get_running_loop()
        self.state.write_checkpoints_on_thread(
            lambda done, error: loop.call_soon_threadsafe(self._checkpoint_written, done, error)
        )
        # Before any launch can name an executor.
        await self.executor_api.start()
        await self.follower.start()
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._run())

    async def _follow(self, handle: ActorHandle[Any]) -> None:
        """A (new) leader: register with it, then send it everything unacknowledged."""
        master = MasterRef(handle)
        await self._register(master)
        self.master = master
        self.state.resend(None, time.monotonic())

    async def _register(self, master: MasterRef) -> None:
        if self.ref is None:
            raise RuntimeError(f"agent {self.agent_id} registers before it started")
        registration = Registration(
            self.agent_id,
            self.hostname,
            self.resources,
            self.attributes,
            self.state.report(),
            self.recovered,
            self.state.executors.book.report(),
        )
        await master.register_agents(self.ref, [registration])
        self.recovered = False

    async def _run(self) -> None:
        last_heartbeat = last_messages = last_gc = time.monotonic()
        while True:
            await asyncio.sleep(self.poll_interval)
            now = time.monotonic()
            master = self._registered_with()
            for check in self.state.due_health_checks(now):
                self._start_probe(*check)
            self._send(master, self.state.poll(now))
            self.executor_api.flush()
            running_too = now - last_messages >= self.message_interval
            if running_too:
                last_messages = now
            messages = self.state.take_messages(running_too)
            if messages:
                master.task_messages(self.agent_id, messages)
            if now - last_gc >= self.gc_interval:
                last_gc = now
                expired = self.state.collect_garbage(now)
                if expired:
                    await asyncio.to_thread(sandboxes.remove, expired)
            if now - last_heartbeat >= self.heartbeat_interval:
                last_heartbeat = now
                # The running tasks' usage rides on the heartbeat.
                usage = self.state.statistics(time.time())
                try:
                    if not await master.heartbeat(self.agent_id, usage):
                        await self._register(master)
                except (NotLeaderError, ray_calls.RayActorError) as error:
                    # The leader changed or died: the follower registers
                    # with the next one.
                    logger.info("agent %s: heartbeat: %s", self.agent_id, error)

    def _checkpoint_written(self, done: checkpoint.Done, error: OSError | None) -> None:
        done(error)
        if self.master is not None:  # else taken at the first poll
            self._send(self.master, self.state.take_updates())

    def _send(self, master: MasterRef, batch: list[TaskStatus]) -> None:
        """Durable updates in one batch, then the executors' exits (their
        tasks' last updates go first). A batch lost with a dead leader is
        resent to the next one."""
        if batch:
            master.status_update_batches([(self.agent_id, batch)])
        exits = self.state.take_exits()
        if exits:
            master.executors_exited(exits)

    def _registered_with(self) -> MasterRef:
        if self.master is None:
            # `start` registers before the timers begin.
            raise RuntimeError(f"agent {self.agent_id} has not registered yet")
        return self.master

    def _start_probe(
        self,
        task_id: str,
        check: HealthCheck,
        sandbox: Path,
        env: dict[str, str],
        user: TaskUser | None,
    ) -> None:
        async def run() -> None:
            healthy, detail = await health_checks.probe(check, sandbox, env, user)
            self.state.health_result(task_id, healthy, detail, time.monotonic())

        probe = asyncio.get_running_loop().create_task(run())
        self._probes.add(probe)
        probe.add_done_callback(self._probes.discard)

    async def deliver(self, messages: Wire[list[AgentMessage]]) -> None:
        """What the master sends this agent, in order."""
        for message in unpack(messages):
            try:
                self._receive(message)
            except PyactorsError as error:
                # One bad message (a task gone meanwhile) must not stop the rest.
                logger.warning("agent %s: %s: %s", self.agent_id, type(message).__name__, error)
        self.executor_api.flush()

    def _receive(self, message: AgentMessage) -> None:
        match message:
            case LaunchTasks(_, framework_id, tasks, groups, role):
                if self.recovered:
                    # Sent before the master heard this agent restarted: the
                    # registration does not report them and the master
                    # answers TASK_GONE, so they must not start (Mesos's
                    # agent, too, drops launches until it is registered).
                    ids = [t.task_id for t in (*tasks, *(t for g in groups for t in g))]
                    logger.warning(
                        "agent %s: launch before re-registration dropped: %s", self.agent_id, ids
                    )
                    return
                self.state.launch(framework_id, tasks, time.monotonic(), groups, role)
            case KillTasks(_, _, task_ids, grace, reason):
                # SIGTERM, then SIGKILL after `grace` seconds (None: the agent's default).
                self.state.kill(task_ids, time.monotonic(), grace, reason)
            case AcknowledgeToAgent(_, acknowledgements):
                self.state.acknowledge(acknowledgements, time.monotonic())
            case ResendUpdates(_, task_ids):
                self.state.resend(task_ids, time.monotonic())
            case MessageToTask(_, task_id, data):
                self.state.deliver_message(task_id, data)
            case DestroyVolumes(_, persistence_ids):
                self.state.destroy_volumes(persistence_ids)
            case ShutdownFramework(_, framework_id):
                self.state.executors.book.shut_down_framework(framework_id, time.monotonic())
            case _:
                assert_never(message)

    async def shutdown(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
        for probe in list(self._probes):
            probe.cancel()
        self.follower.stop()
        await self.executor_api.stop()
        self.state.shutdown()

    async def read_file(
        self, task_id: str, name: str, offset: int, length: int | None
    ) -> FileChunk:
        """A chunk of a file in a task's sandbox, for the master to forward
        (`AgentState.read_file`); typed errors for a refused name, a file
        or sandbox that is not there."""
        return self.state.read_file(task_id, name, offset, length)

    async def pid(self) -> int:
        """This actor's process id (the process to SIGKILL to kill the agent)."""
        return os.getpid()

    async def sandbox(self, framework_id: str, task_id: str) -> str | None:
        path = sandbox_path(self.state.work_dir, framework_id, task_id)
        return str(path) if path.exists() else None
