"""Start a cluster as a Ray application: one master (or several contending
through ZooKeeper), several agents, and frameworks running the user's
schedulers."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import ray
from kazoo.client import KazooClient

from pyactors._core import Resources
from pyactors.agent.sandboxes import check_options
from pyactors.core.operations import USER_RULE, valid_user
from pyactors.core.protocol import Description
from pyactors.errors import (
    AgentStartError,
    ClusterUpError,
    FrameworkStartError,
    InvalidArgumentError,
    MasterStartError,
    NoLeaderError,
    NotLeaderError,
    SupervisorStartError,
)
from pyactors.ha.election import LeaderDetector, parse_zk_url
from pyactors.ha.leader import ELECTION, MasterLocation, close_client, zk_client
from pyactors.master.actor import MasterActor
from pyactors.master.http_host import HttpOptions, check_exposure
from pyactors.master.state import MasterConfig
from pyactors.runtime import ray_calls
from pyactors.runtime.handles import AgentRef, FrameworkRef, MasterRef, SupervisorRef, shut_down
from pyactors.runtime.ray_calls import START_BUDGET
from pyactors.runtime.supervisor import (
    PREFIX,
    SUPERVISOR,
    SupervisorActor,
    agent_actor_name,
    down,
    master_name,
    spawn_agent,
)
from pyactors.scheduler.api import FrameworkActor, Scheduler
from pyactors.security.acls import Acls
from pyactors.security.credentials import Credentials
from pyactors.security.local_credentials import ensure_local_credentials, load_local_credentials

# Credentials or ACLs as `start` and `up` take them: a mapping, or a path
# to Mesos's JSON.
SecuritySource = Mapping[str, Any] | str | os.PathLike[str]

# Where a long-running cluster's agents keep their sandboxes by default
# (it outlives the process that started it, so no temporary directory).
STANDING_WORK_DIR = f"{tempfile.gettempdir()}/pyactors"

_Answer = TypeVar("_Answer")


class Framework:
    """A running framework: its id and its actor."""

    def __init__(self, framework_id: str, handle: Any) -> None:
        self.id = framework_id
        self.handle = handle

    def call(self, method: str, *args: Any) -> Any:
        """Call a method of the scheduler object inside its actor."""
        return FrameworkRef(self.handle).call(method, *args)


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
    a free one; None: no HTTP API); `url` is its base address. With
    `tls_cert` and `tls_key` (PEM files on the masters' nodes) it serves
    HTTPS; `http_hostnames` are names it answers to beside loopback ones
    and its address. Without credentials it refuses a non-loopback
    `http_host` unless `allow_unauthenticated`.

    Agents rotate a task's stdout and stderr past `max_log_bytes` (None:
    never), keeping `log_files` rotated copies, and remove a finished
    task's sandbox `sandbox_gc_seconds` after it ended.

    `credentials` (`{"principal": "secret"}` or a path to Mesos's
    credentials JSON) make the master authenticate frameworks and HTTP
    callers; `acls` (Mesos's ACL JSON, a mapping or a path) say what each
    principal may do. `principal` and `secret` are this handle's own: the
    frameworks it runs subscribe with them unless given others. Tasks that
    name no user run as their framework's user, else as `task_user`, else
    as the agent's own user.

    `detached`: a long-running cluster (`pyactors up`, see `up`) that
    outlives this process: detached masters named in pyactors' namespace
    and a supervisor starting one agent per Ray node, now and as nodes
    join. `shutdown()` then ends only this process's frameworks; `down()`
    stops the cluster.

    Starting waits as long as Ray makes progress: an actor that is slow to
    start is waited for (up to `start_budget` seconds each), one that cannot
    start raises a StartError saying which and why (MasterStartError,
    AgentStartError, FrameworkStartError, SupervisorStartError), and
    nothing is left running. `progress` hears what is being waited for
    ("starting 4 agents", ...) as it changes; `start_seconds` keeps the
    slowest start of each kind of actor ("master", "agent", "framework",
    "supervisor").
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
        sandbox_gc_seconds: float = 7 * 24 * 3600.0,
        max_log_bytes: int | None = 10 * 1024 * 1024,
        log_files: int = 5,
        detached: bool = False,
        start_budget: float = ray_calls.START_BUDGET,
        progress: Callable[[str], None] | None = None,
        credentials: SecuritySource | None = None,
        acls: SecuritySource | None = None,
        task_user: str | None = None,
        principal: str | None = None,
        secret: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        http_hostnames: Sequence[str] = (),
        allow_unauthenticated: bool = False,
    ) -> None:
        # Read before anything starts: a bad file or entry starts nothing.
        config = config or MasterConfig()
        if credentials is not None:
            config = dataclasses.replace(config, credentials=Credentials.load(credentials))
        if acls is not None:
            config = dataclasses.replace(config, acls=Acls.load(acls))
        if task_user is not None and not valid_user(task_user):
            raise InvalidArgumentError(f"invalid task_user {task_user!r}: {USER_RULE}")
        if isinstance(http_hostnames, str):
            raise InvalidArgumentError("http_hostnames is a list of names, not one string")
        http_options = HttpOptions(tls_cert, tls_key, tuple(http_hostnames), allow_unauthenticated)
        if http_port is not None:
            check_exposure(http_host, config.credentials, allow_unauthenticated)
        self._identity = None if principal is None else (principal, secret)
        # The built-in frameworks' own HTTP APIs authenticate as the master's.
        self.credentials = config.credentials
        if detached and agents != "per-node":
            raise InvalidArgumentError("a detached cluster has one agent per node: 'per-node'")
        if agents != "per-node" and not (isinstance(agents, int) and agents >= 0):
            raise InvalidArgumentError(f"agents must be a count or 'per-node', got {agents!r}")
        if masters < 1 or (masters > 1 and zk is None):
            raise InvalidArgumentError(f"masters must be 1, or more with zk; got {masters}")
        if zk is not None:
            parse_zk_url(zk)
        # Checked before any actor starts, rather than in each agent.
        check_options(sandbox_gc_seconds, max_log_bytes, log_files)
        self._progress = progress
        self._start_budget = start_budget
        self.start_seconds: dict[str, float] = {}
        if not ray.is_initialized():
            self._say("starting Ray")
        ray_calls.ensure_started()
        if detached:
            work_dir = work_dir or STANDING_WORK_DIR
            if ray_calls.named_actors(PREFIX):
                raise ClusterUpError(_ALREADY_UP)
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
        names = [
            master_name(n) if detached else f"pyactors-{token}-master-{n}" for n in range(masters)
        ]
        self.masters: list[Any] = []
        self.agents: dict[str, Any] = {}
        self.frameworks: list[Framework] = []
        # The built-in frameworks' clients, once started from this handle.
        self._jobs: Any = None
        self._services: Any = None
        # The supervisor of a long-running cluster; this handle then owns
        # only its frameworks.
        self._supervisor: Any = None
        self._client: KazooClient | None = None
        self._detector: LeaderDetector | None = None
        self._agent_options: dict[str, Any] = {
            "attributes": agent_attributes,
            "retry_interval": status_retry_interval,
            "heartbeat_interval": agent_heartbeat_interval,
            "sandbox_gc_seconds": sandbox_gc_seconds,
            "max_log_bytes": max_log_bytes,
            "log_files": log_files,
            "task_user": task_user,
        }
        try:
            self._say(f"starting {_count(masters, 'master')}")
            self.masters = [
                ray_calls.spawn(
                    MasterActor,
                    config,
                    allocation_interval,
                    framework_heartbeat_interval,
                    zk,
                    names[n],
                    zk_session_timeout,
                    http_host=http_host,
                    http_port=http_port,
                    http_options=http_options,
                    name=names[n],
                    node_id=nodes[n % len(nodes)],
                    detached=detached,
                )
                for n in range(masters)
            ]
            self._started(
                "master",
                [
                    ray_calls.begin_start(
                        master, what=f"master '{names[n]}'", error=MasterStartError
                    )
                    for n, master in enumerate(self.masters)
                ],
            )
            self._follow_masters(zk, zk_session_timeout)
            if detached:
                self._start_supervisor(
                    Description(names, zk, zk_session_timeout, self.work_dir), agent_resources
                )
            elif agents == "per-node":
                self._add_agents(
                    [
                        (f"agent-{node.node_id[:12]}", node.node_id, agent_resources, 0, 1, None)
                        for node in ray_calls.alive_nodes()
                    ]
                )
            else:
                count = int(agents)
                self._add_agents(
                    [
                        (f"agent-{i}", self._home, agent_resources, i, count, None)
                        for i in range(count)
                    ]
                )
        except BaseException:
            # A cluster that did not start leaves nothing running.
            self._abandon()
            raise

    def _say(self, phrase: str) -> None:
        if self._progress is not None:
            self._progress(phrase)

    def _started(self, kind: str, starts: list[ray_calls.Starting]) -> list[Any]:
        """Wait for the starts of actors of one kind; keeps the slowest."""
        answers = ray_calls.wait_started(starts, self._start_budget, self._progress)
        slowest = max((seconds for _, seconds in answers), default=0.0)
        self.start_seconds[kind] = max(self.start_seconds.get(kind, 0.0), slowest)
        return [answer for answer, _ in answers]

    def _start_supervisor(self, description: Description, agent_resources: str | None) -> None:
        self._say("starting the supervisor")
        self._supervisor = ray_calls.spawn(
            SupervisorActor,
            description,
            self.location,
            agent_resources,
            self._agent_options,
            name=SUPERVISOR,
            node_id=self._home,
            detached=True,
        )
        start = ray_calls.begin_start(
            self._supervisor, what="the supervisor", error=SupervisorStartError
        )
        self._started("supervisor", [start])
        self._find_agents()

    def _abandon(self) -> None:
        """Stop every actor this handle's constructor spawned, without asking
        them anything (they may not be able to answer)."""
        handles = [
            *(f.handle for f in self.frameworks),
            *self.agents.values(),
            *self.masters,
            *([self._supervisor] if self._supervisor is not None else []),
        ]
        for handle in handles:
            with contextlib.suppress(Exception):
                ray_calls.stop(handle)
        self.frameworks, self.agents, self.masters = [], {}, []
        self._stop_following()

    def _follow_masters(self, zk: str | None, zk_session_timeout: float) -> None:
        if zk is None:
            self.location = MasterLocation(master=self.masters[0])
        else:
            self.location = MasterLocation(zk=zk, session_timeout=zk_session_timeout)
            self._client = zk_client(zk, zk_session_timeout)
            self._detector = LeaderDetector(self._client, parse_zk_url(zk).path + ELECTION)
            self._detector.start()

    @classmethod
    def connect(
        cls, address: str | None = None, principal: str | None = None, secret: str | None = None
    ) -> Cluster:
        """A handle on the long-running cluster (`pyactors up`) on the Ray
        cluster at `address` (default: the running one), found by name:
        frameworks run from it, `url`, `state`, ... as on any cluster;
        `shutdown()` ends only the frameworks it started. Its frameworks
        subscribe as `principal` with `secret`, by default with the
        credentials `pyactors up` wrote for this user
        (`pyactors.security.local_credentials`). ClusterUpError if none is
        up there."""
        identity = (principal, secret) if principal is not None else load_local_credentials()
        ray_calls.connect(address)
        try:
            supervisor = ray_calls.named(SUPERVISOR)
        except ray_calls.NoSuchActorError:
            raise ClusterUpError(_NOT_UP) from None
        description = SupervisorRef(supervisor).describe()
        cluster = cls.__new__(cls)
        cluster._identity = identity
        # The master's own credentials stay with it: the HTTP APIs this
        # handle's built-in frameworks serve let in the identity it acts as.
        cluster.credentials = (
            None
            if identity is None or identity[1] is None
            else Credentials.load({identity[0]: identity[1]})
        )
        cluster._tmp = None
        cluster.work_dir = description.work_dir
        cluster._home = ray_calls.current_node_id()
        cluster._progress, cluster._start_budget, cluster.start_seconds = None, START_BUDGET, {}
        cluster._client, cluster._detector = None, None
        try:
            cluster.masters = [ray_calls.named(name) for name in description.masters]
        except ray_calls.NoSuchActorError as error:
            raise ClusterUpError(f"the cluster is incomplete ({error}): pyactors down") from None
        cluster._follow_masters(description.zk, description.zk_session_timeout)
        cluster.agents, cluster._agent_options, cluster.frameworks = {}, {}, []
        cluster._jobs = None
        cluster._services = None
        cluster._supervisor = supervisor
        cluster._find_agents()
        return cluster

    def _find_agents(self) -> None:
        """The supervisor's agents, by name (those of nodes that joined
        since are looked up when asked for)."""
        for agent_id in SupervisorRef(self._supervisor).agent_nodes():
            with contextlib.suppress(ray_calls.NoSuchActorError):
                self.agents[agent_id] = ray_calls.named(agent_actor_name(agent_id))

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
        `attributes` are added to the cluster's `agent_attributes` (a rack,
        a zone: what placement constraints and locality preferences read)."""
        self._add_agents([(agent_id, node_id, resources, slice_index, slices, attributes)])
        return self.agents[agent_id]

    def _add_agents(self, wanted: list[_AgentPlan]) -> None:
        """Start agents at once and wait until every one registered (an
        agent that cannot start is stopped with the rest: AgentStartError)."""
        self._say(f"starting {_count(len(wanted), 'agent')}")
        spawned: dict[str, Any] = {}
        try:
            for agent_id, node_id, resources, slice_index, slices, attributes in wanted:
                options = dict(self._agent_options)
                options["attributes"] = {**(options["attributes"] or {}), **(attributes or {})}
                spawned[agent_id] = spawn_agent(
                    agent_id,
                    node_id,
                    self.location,
                    resources,
                    self.work_dir,
                    slice_index=slice_index,
                    slices=slices,
                    **options,
                )
            self._started(
                "agent",
                [
                    ray_calls.begin_start(
                        handle, handle, what=f"agent '{agent_id}'", error=AgentStartError
                    )
                    for agent_id, handle in spawned.items()
                ],
            )
        except BaseException:
            for handle in spawned.values():
                with contextlib.suppress(Exception):
                    ray_calls.stop(handle)
            raise
        self.agents.update(spawned)

    def run_framework(
        self,
        scheduler_cls: type[Scheduler],
        *args: Any,
        name: str,
        roles: Sequence[str] = ("*",),
        failover_timeout: float = 0.0,
        capabilities: Sequence[str] = (),
        framework_id: str | None = None,
        actor_name: str | None = None,
        principal: str | None = None,
        secret: str | None = None,
        user: str | None = None,
    ) -> Framework:
        """Run `scheduler_cls(*args)` as a framework actor. With the id of a
        framework whose scheduler died (or still runs), the new actor takes
        it over: same tasks, and the updates the old one did not
        acknowledge. On a long-running cluster (`pyactors up`), a framework
        given an `actor_name` belongs to the cluster: a detached actor other
        processes find by that name (`builtin_framework`), stopped by `down`
        rather than by this handle's `shutdown`.

        It subscribes as `principal` with `secret` (by default this
        handle's own, see `Cluster`): a master with
        credentials refuses it otherwise (AuthenticationError), and one
        whose ACLs deny the principal a role refuses it too
        (AuthorizationError); either way no actor is left running. `user`
        is the OS user its tasks run as when they name none."""
        if principal is None and self._identity is not None:
            principal, secret = self._identity
        ray_calls.ship_by_value(scheduler_cls)
        owned = self._supervisor is None or actor_name is None
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
            principal=principal,
            secret=secret,
            user=user,
            node_id=self._home,
            name=None if owned else PREFIX + str(actor_name),
            detached=not owned,
        )
        self._say(f"starting framework '{name}'")
        start = ray_calls.begin_start(
            handle, handle, what=f"framework '{name}'", error=FrameworkStartError
        )
        try:
            [framework_id] = self._started("framework", [start])
        except BaseException:
            # Refused (say, a torn-down id): the actor must not linger.
            self._stop_framework(handle)
            raise
        framework = Framework(framework_id, handle)
        if owned:
            self.frameworks.append(framework)
        return framework

    def builtin_framework(self, actor_name: str) -> Framework | None:
        """On a long-running cluster, the framework started there under
        `actor_name` (by this process or another), if it runs."""
        if self._supervisor is None:
            return None
        try:
            handle = ray_calls.named(PREFIX + actor_name)
            return Framework(FrameworkRef(handle).subscribed_as(), handle)
        except (ray_calls.NoSuchActorError, ray_calls.RayActorError):
            return None

    def disconnect(self, framework: Framework) -> None:
        """Stop a framework's actor without tearing the framework down, as if
        its scheduler had crashed: the master keeps its tasks for its
        failover timeout, and `run_framework` with its id takes it over.
        This handle no longer owns it."""
        if framework in self.frameworks:
            self.frameworks.remove(framework)
        self._stop_framework(framework.handle)

    def still_running(self, framework: Framework) -> bool:
        """Whether a framework this handle started still runs; one torn down
        or whose actor died is let go (`disconnect`) for a new actor to take
        over."""
        if framework in self.frameworks:
            try:
                FrameworkRef(framework.handle).alive()
                return True
            except ray_calls.RayActorError:
                pass
        self.disconnect(framework)
        return False

    def jobs(
        self,
        history_limit: int = 100,
        chronos_host: str = "127.0.0.1",
        chronos_port: int = 0,
    ) -> Any:
        """The built-in jobs framework (Chronos's and Metronome's jobs), started
        on the first call; later calls return the same client, restarting
        the framework (which adopts its running runs) if its actor died. Its
        jobs, their runs (the last `history_limit` of each) and its framework
        id are kept in ZooKeeper with `zk`, else in the work dir. It answers
        Chronos's and Metronome's REST APIs at `chronos_host`:`chronos_port`
        (0: a free port; its `chronos_url` tells)."""
        self._jobs = _builtin("jobs.client").Jobs.start(
            self,
            history_limit=history_limit,
            previous=self._jobs,
            chronos_host=chronos_host,
            chronos_port=chronos_port,
            credentials=self.credentials,
        )
        return self._jobs

    def services(
        self,
        haproxy: str = "haproxy",
        bind_host: str = "127.0.0.1",
        failover_timeout: float = 3600.0,
        role: str = "services",
        marathon_host: str = "127.0.0.1",
        marathon_port: int = 0,
    ) -> Any:
        """The built-in service framework (Marathon's job, with HAProxy in
        front; `haproxy` is the binary, `bind_host` where service ports
        listen). It answers Marathon's REST API at `marathon_host`:
        `marathon_port` (0: a free port; its `marathon_url` tells).
        Started on the first call; later calls return the same client,
        restarting the framework (which adopts its tasks) if its actor
        died. Its state is kept in ZooKeeper with `zk`, else in the
        work dir. On a long-running cluster (`pyactors up`) it belongs to
        the cluster: every process gets the same one (`pyactors app`)."""
        self._services = _builtin("services.client").Services.start(
            self,
            haproxy=haproxy,
            bind_host=bind_host,
            failover_timeout=failover_timeout,
            role=role,
            previous=self._services,
            marathon_host=marathon_host,
            marathon_port=marathon_port,
            credentials=self.credentials,
        )
        return self._services

    def teardown(self, framework: Framework) -> None:
        """End a framework: its tasks are killed, its resources freed, its
        actor stopped."""
        self.on_leader(lambda master: master.teardown(framework.id))
        self._stop_framework(framework.handle)
        self.frameworks.remove(framework)

    def leader(self, timeout: float = ray_calls.ANSWER_BUDGET) -> Any:
        """The leading master's handle; waits up to `timeout` for one to be
        elected (NoLeaderError)."""
        if self._detector is None:
            return self.masters[0]
        deadline = time.monotonic() + timeout
        while True:
            info = self._detector.current()
            if info is not None:
                with contextlib.suppress(ray_calls.NoSuchActorError):
                    return ray_calls.named(str(info.get("actor")))
            if time.monotonic() > deadline:
                raise NoLeaderError(f"no master was elected leader within {timeout:.0f} s")
            time.sleep(0.02)

    def on_leader(
        self, call: Callable[[MasterRef], _Answer], timeout: float = ray_calls.ANSWER_BUDGET
    ) -> _Answer:
        """Make a call on the leader, waiting through an election (a leader
        still recovering answers NotLeaderError, a dead one cannot answer)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return call(MasterRef(self.leader(timeout)))
            except (NotLeaderError, ray_calls.RayActorError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def set_weight(self, role: str, weight: float) -> None:
        """A role's weight (stored in the registry, so it outlives the leader),
        as this handle's principal (the ACL update_weights)."""
        principal = self._principal()
        self.on_leader(lambda master: master.set_weight(role, weight, principal))

    def set_quota(self, role: str, guarantee: str, limit: str | None = None) -> None:
        """A role's quota as resource text (stored in the registry); an empty
        guarantee without a limit removes it. As this handle's principal
        (the ACL update_quotas)."""
        principal = self._principal()
        self.on_leader(lambda master: master.set_quota(role, guarantee, limit, principal))

    def _principal(self) -> str | None:
        return None if self._identity is None else self._identity[0]

    @property
    def url(self) -> str:
        """The base address of the leading master's HTTP API, e.g.
        "http://127.0.0.1:41235" (`/master/state`, `/metrics`, ...)."""
        return self.on_leader(MasterRef.url)

    def state(self) -> dict[str, Any]:
        return self.on_leader(MasterRef.state_summary)

    def sandbox(self, task_id: str) -> str | None:
        for framework in self.state()["frameworks"]:
            for task in framework["tasks"] + framework["completed_tasks"]:
                if task["id"] == task_id:
                    agent = AgentRef(self._agent(task["agent_id"]))
                    return agent.sandbox(framework["id"], task_id)
        return None

    def _agent(self, agent_id: str) -> Any:
        if agent_id not in self.agents and self._supervisor is not None:
            # An agent the supervisor started after this handle looked.
            self.agents[agent_id] = ray_calls.named(agent_actor_name(agent_id))
        return self.agents[agent_id]

    def shutdown(self) -> None:
        """Stop what this handle started: everything, or on a long-running
        cluster (`detached`, `connect`) only its frameworks."""
        owned = self._supervisor is None
        for handle in self.agents.values() if owned else ():
            # An agent whose actor died has nothing left to shut down, nor
            # one Ray would restart on a node that left.
            with contextlib.suppress(ray_calls.ActorDiedError, ray_calls.ActorUnschedulableError):
                shut_down(handle)
            ray_calls.stop(handle)
        for framework in self.frameworks:
            self._stop_framework(framework.handle)
        for master in self.masters if owned else ():
            # A master already stopped (a test killing the leader) is gone.
            with contextlib.suppress(ray_calls.RayActorError):
                shut_down(master)
            ray_calls.stop(master)
        self._stop_following()

    def _stop_following(self) -> None:
        if self._detector is not None:
            self._detector.stop()
            self._detector = None
        if self._client is not None:
            close_client(self._client)
            self._client = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @staticmethod
    def _stop_framework(handle: Any) -> None:
        with contextlib.suppress(ray_calls.RayActorError):
            shut_down(handle)
        ray_calls.stop(handle)


# An agent to start: its id, Ray node, resources, slice of the node, attributes.
_AgentPlan = tuple[str, str, str | None, int, int, dict[str, str] | None]


def _builtin(module: str) -> Any:
    # The built-in frameworks are plugins the runtime does not depend on: imported by name.
    return importlib.import_module(f"pyactors.frameworks.{module}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def start(agents: int | str = 3, agent_resources: str | None = None, **options: Any) -> Cluster:
    """Start a cluster (starting a local Ray instance if none is running);
    see `Cluster` for the options."""
    return Cluster(agents, agent_resources, **options)


_ALREADY_UP = "a pyactors cluster is already up on this Ray cluster: `pyactors down` stops it"
_NOT_UP = "no pyactors cluster is up on this Ray cluster: `pyactors up` starts one"


def up(address: str | None = None, authenticate: bool = True, **options: Any) -> Cluster:
    """Start a long-running cluster on the Ray cluster at `address`, or on
    the one running here ($RAY_ADDRESS, else the latest started on this
    machine), or else on a new local Ray head that outlives this process
    (as `ray start --head`; `ray stop` ends it). Masters and agents are
    detached actors: they run until `down()`, whatever becomes of this
    process. `options` are `Cluster`'s. ClusterUpError if one is up there.

    Without `credentials` it authenticates anyway: with this user's admin
    credentials (`pyactors.security.local_credentials`, generated and
    written to a file only this user can read the first time), which the
    CLI and `connect()` on this machine use. `authenticate=False` turns
    authentication off (anyone who can reach the HTTP API may use it)."""
    if not authenticate and options.get("credentials") is not None:
        raise InvalidArgumentError("credentials were given with authenticate=False")
    if authenticate and options.get("credentials") is None:
        principal, secret = ensure_local_credentials()
        options["credentials"] = {principal: secret}
        if options.get("principal") is None:
            options["principal"], options["secret"] = principal, secret
    if options.get("agent_resources"):
        # Bad text fails here, before anything starts.
        Resources.parse(options["agent_resources"])
    ray_calls.connect(address, start_head=address is None)
    try:
        cluster = Cluster(agents="per-node", detached=True, **options)
        if options.get("http_port", 0) is not None:
            # A port it cannot bind fails now, not at the first request.
            cluster.on_leader(MasterRef.url)
    except (ClusterUpError, ValueError):
        # Refused before starting anything, or another cluster's name was
        # taken first (a concurrent `up`): that cluster is left alone.
        raise
    except Exception:
        # Nothing may be left running of a cluster that is not usable.
        with contextlib.suppress(ClusterUpError):
            down(address)
        raise
    return cluster


def connect(
    address: str | None = None, principal: str | None = None, secret: str | None = None
) -> Cluster:
    """Attach to the long-running cluster on the Ray cluster at `address`
    (default: the running one); see `Cluster.connect`."""
    return Cluster.connect(address, principal, secret)
