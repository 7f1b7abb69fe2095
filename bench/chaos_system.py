"""What the chaos harness runs its workload on, and stops whatever happens:
a ZooKeeper server (Debian's package, run directly), a Ray cluster of
several nodes on this machine (`ray.cluster_utils.Cluster`), a long-running
pyactors cluster on it (`pyactors.up`: three masters on that ZooKeeper and a
supervisor starting an agent per Ray node), and the lookups the faults need
(actors' pids, the leader, the agents)."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from types import FrameType
from typing import Any

import psutil
import ray
import ray._private.state as ray_state
from ray.cluster_utils import Cluster as RayCluster

import pyactors
from pyactors.master.actor import MasterActor
from pyactors.master.http_host import HttpOptions
from pyactors.master.state import MasterConfig
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster
from pyactors.runtime.supervisor import PREFIX, agent_actor_name, down, master_name
from pyactors.tools.zookeeper import ZooKeeperServer

MASTERS = 3
# Each session's timeout: how long a stopped leader keeps its leadership.
SESSION_TIMEOUT = 8.0
ALLOCATION_INTERVAL = 0.2
FRAMEWORK_HEARTBEAT = 0.5
NODE_CPUS = 2


def master_config() -> MasterConfig:
    # A removed node's agent is found by the supervisor at once; silence
    # alone must not take a live agent on a busy machine.
    return MasterConfig(agent_timeout=30.0, agent_reregister_timeout=30.0)


class System:
    """Everything the harness started, stopped by `close` in reverse order
    whatever state it is in."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.work_dir = run_dir / "work"
        self.zookeeper: ZooKeeperServer | None = None
        self.ray: RayCluster | None = None
        self.cluster: Cluster | None = None
        self.zk_url = ""
        self.stopped: set[int] = set()

    def start(self, worker_nodes: int = 2) -> Cluster:
        self.zookeeper = ZooKeeperServer(self.run_dir / "zookeeper")
        self.zookeeper.start()
        self.zk_url = f"zk://{self.zookeeper.hosts}/pyactors-chaos"
        self.ray = RayCluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": NODE_CPUS,
                "include_dashboard": False,
                "_system_config": ray_calls.SYSTEM_CONFIG,
            },
        )
        for _ in range(worker_nodes):
            self.ray.add_node(wait=False, num_cpus=NODE_CPUS)
        self.ray.wait_for_nodes(timeout=300)
        ray_calls.ensure_started(address=self.ray.address)
        # Ray's driver replaces any earlier SIGTERM handler with one that
        # aborts: ours, set after it, lets a terminated run clean up.
        signal.signal(signal.SIGTERM, _terminated)
        self.cluster = pyactors.up(
            address=self.ray.address,
            authenticate=False,
            masters=MASTERS,
            zk=self.zk_url,
            zk_session_timeout=SESSION_TIMEOUT,
            work_dir=str(self.work_dir),
            allocation_interval=ALLOCATION_INTERVAL,
            config=master_config(),
            status_retry_interval=1.0,
            framework_heartbeat_interval=FRAMEWORK_HEARTBEAT,
            agent_heartbeat_interval=0.5,
        )
        return self.cluster

    # ----------------------------------------------------------- lookups

    def worker_nodes(self) -> list[Any]:
        return list(self.ray.worker_nodes) if self.ray is not None else []

    def add_node(self) -> Any:
        assert self.ray is not None
        node = self.ray.add_node(wait=False, num_cpus=NODE_CPUS)
        self.ray.wait_for_nodes(timeout=300)
        return node

    def remove_node(self, node: Any) -> None:
        assert self.ray is not None
        self.ray.remove_node(node)

    def restart_dead_masters(self) -> list[str]:
        """Start again, on the head node, each master whose actor died (as
        an operator's process supervisor would): three masters must stay
        three. Returns the names started."""
        started = []
        for index in range(MASTERS):
            name = master_name(index)
            try:
                handle = ray_calls.named(name)
            except ray_calls.NoSuchActorError:
                handle = None
            if handle is not None and actor_state(handle) != "DEAD":
                continue
            handle = ray_calls.spawn(
                MasterActor,
                master_config(),
                ALLOCATION_INTERVAL,
                FRAMEWORK_HEARTBEAT,
                self.zk_url,
                name,
                SESSION_TIMEOUT,
                http_host="127.0.0.1",
                http_port=0,
                http_options=HttpOptions(None, None, (), False),
                name=name,
                node_id=ray_calls.current_node_id(),
                detached=True,
            )
            ray_calls.ask(handle, "start", timeout=120)
            started.append(name)
        return started

    def masters(self) -> list[Any]:
        found = []
        for index in range(MASTERS):
            with contextlib.suppress(ray_calls.NoSuchActorError):
                found.append(ray_calls.named(master_name(index)))
        return found

    def leaders(self) -> list[Any]:
        """The live masters that say they lead."""
        found = []
        for master in self.masters():
            if actor_pid(master) in self.stopped:
                continue  # cannot answer; asking would only wait
            with contextlib.suppress(Exception):
                if ray_calls.ask(master, "status", timeout=5)["leading"]:
                    found.append(master)
        return found

    def agents(self) -> dict[str, Any]:
        """The agents' actors alive now, by agent id."""
        prefix = agent_actor_name("agent-")
        found = {}
        for name in ray_calls.named_actors(prefix):
            with contextlib.suppress(ray_calls.NoSuchActorError):
                found[name[len(PREFIX) :]] = ray_calls.named(name)
        return found

    # ----------------------------------------------------------- stopping

    def close(self) -> None:
        """Stop everything: the pyactors cluster (its tasks and HAProxy with
        it), then whatever of theirs outlived it, Ray, ZooKeeper. Each step
        runs even when an earlier one failed."""
        for pid in list(self.stopped):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.shutdown()
        if self.ray is not None:
            with contextlib.suppress(Exception):
                down(self.ray.address)
        kill_processes_under(self.run_dir)
        with contextlib.suppress(Exception):
            ray.shutdown()
        if self.ray is not None:
            with contextlib.suppress(Exception):
                self.ray.shutdown()
        if self.zookeeper is not None:
            self.zookeeper.stop()
        kill_processes_under(self.run_dir)


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def actor_state(handle: Any) -> str:
    """Ray's state of the actor: ALIVE, DEAD, PENDING_CREATION, ..."""
    info = ray_state.actors(actor_id=handle._actor_id.hex())
    return str(info.get("State", "DEAD")) if info else "DEAD"


def actor_pid(handle: Any) -> int | None:
    """The pid of an actor's worker process while the actor is alive."""
    info = ray_state.actors(actor_id=handle._actor_id.hex())
    if not info or info.get("State") != "ALIVE" or not info.get("Pid"):
        return None
    return int(info["Pid"])


def kill_processes_under(root: Path) -> None:
    """SIGKILL every process working in a directory under `root`: task
    processes a removed node's agent could not reap, and HAProxy."""
    prefix = str(root) + os.sep
    for process in psutil.process_iter(["cwd"]):
        with contextlib.suppress(psutil.Error):
            if (process.info["cwd"] or "").startswith(prefix) and process.pid != os.getpid():
                process.kill()
