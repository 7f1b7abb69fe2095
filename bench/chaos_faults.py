"""The faults the chaos harness injects into a running system, and for each
what must hold again before it counts as recovered."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import psutil
from chaos_system import SESSION_TIMEOUT, System, actor_pid
from chaos_workload import BATCH, GANG, Workload

from pyactors.runtime import ray_calls
from pyactors.runtime.supervisor import agent_id_of
from pyactors.tools.chaos import schedule
from pyactors.tools.chaos.ledger import read_records, read_starts

_TERMINAL = {
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_GONE",
}
FRAMEWORK_TARGETS = ("batch", "services", "jobs")


class NoTarget(Exception):
    """Nothing the fault could hit right now (it is skipped, not counted)."""


@dataclass
class Injected:
    """A fault injected: when (epoch), what it hit, and how long after it the
    invariant it threatened held again (None: not within the bound)."""

    index: int
    kind: str
    at: float
    target: str
    recovered_after: float | None = None
    # When the check first held while the fault was still being injected
    # (a new leader serving while the old one is stopped).
    recovered_at: float | None = None
    unrecovered_because: str = ""


Check = Callable[[], bool]


class Faults:
    def __init__(self, system: System, workload: Workload, tend: Callable[[], None]) -> None:
        self.system = system
        self.workload = workload
        self.tend = tend
        self.killed_tasks: set[str] = set()
        self.removed_agents: set[str] = set()
        # agent id -> when its Ray node was removed (epoch).
        self.removed_at: dict[str, float] = {}
        # agent id -> when its actor's process was killed (epoch).
        self.agent_kills: dict[str, list[float]] = {}
        self._held_at: float | None = None
        self.why = ""

    def inject(self, fault: schedule.Fault) -> tuple[Injected, Check]:
        """Inject one fault; returns what was done and the check that says
        it is recovered. NoTarget when there is nothing to hit."""
        inject = {
            schedule.AGENT_KILL: self._agent_kill,
            schedule.LEADER_KILL: self._leader_kill,
            schedule.LEADER_STOP: self._leader_stop,
            schedule.ZK_RESTART: self._zk_restart,
            schedule.FRAMEWORK_KILL: self._framework_kill,
            schedule.TASK_KILL: self._task_kill,
            schedule.NODE_REPLACE: self._node_replace,
        }[fault.kind]
        self._held_at: float | None = None
        at = time.time()
        target, check = inject(fault.pick)
        return Injected(fault.index, fault.kind, at, target, recovered_at=self._held_at), check

    # -------------------------------------------------------------- faults

    def _agent_kill(self, pick: int) -> tuple[str, Check]:
        agents = sorted(self.system.agents().items())
        if not agents:
            raise NoTarget("no agent alive")
        agent, handle = agents[pick % len(agents)]
        pid = actor_pid(handle)
        if pid is None:
            raise NoTarget(f"{agent} is not alive")
        os.kill(pid, signal.SIGKILL)
        self.agent_kills.setdefault(agent, []).append(time.time())

        restarted_at: list[float] = []

        def back() -> bool:
            # Ray restarts the actor (the same actor, a new process), or the
            # supervisor starts a new one: either way another pid.
            current = self.system.agents().get(agent)
            if current is None or actor_pid(current) in (None, pid):
                return self.waiting(f"{agent} not running again")
            restarted_at[:1] = restarted_at[:1] or [time.time()]
            # Heard by the master since it runs again: it re-registered.
            seen = self.slaves().get(agent)
            if seen is None or not seen["reachable"]:
                return self.waiting(f"{agent} not registered")
            return float(seen["last_seen_time"]) > restarted_at[0] or self.waiting(
                f"{agent} not heard of since its restart"
            )

        return f"{agent} (pid {pid})", back

    def _leader(self) -> Any:
        leaders = self.system.leaders()
        if len(leaders) != 1:
            raise NoTarget(f"{len(leaders)} masters lead")
        return leaders[0]

    def _leader_kill(self, pick: int) -> tuple[str, Check]:
        leader = self._leader()
        pid = actor_pid(leader)
        if pid is None:
            raise NoTarget("the leader is not alive")
        os.kill(pid, signal.SIGKILL)
        return f"leader (pid {pid})", lambda: self.serving(lambda m: actor_pid(m) != pid)

    def _leader_stop(self, pick: int) -> tuple[str, Check]:
        leader = self._leader()
        pid = actor_pid(leader)
        if pid is None:
            raise NoTarget("the leader is not alive")
        os.kill(pid, signal.SIGSTOP)
        self.system.stopped.add(pid)
        try:
            resume = time.monotonic() + SESSION_TIMEOUT + 4.0
            while time.monotonic() < resume:
                self.tend()
                if self._held_at is None and self.serving(lambda m: actor_pid(m) != pid):
                    self._held_at = time.time()
                time.sleep(0.5)
        finally:
            os.kill(pid, signal.SIGCONT)
            self.system.stopped.discard(pid)
        return f"leader (pid {pid}), {SESSION_TIMEOUT + 4:.0f} s", lambda: self.serving()

    def _zk_restart(self, pick: int) -> tuple[str, Check]:
        assert self.system.zookeeper is not None
        self.system.zookeeper.restart()
        return "zookeeper", lambda: self.serving()

    def _framework_kill(self, pick: int) -> tuple[str, Check]:
        which = FRAMEWORK_TARGETS[pick % len(FRAMEWORK_TARGETS)]
        workload = self.workload
        framework = {
            "batch": workload.batch,
            "services": None if workload.services is None else workload.services.framework,
            "jobs": None if workload.jobs is None else workload.jobs.framework,
        }[which]
        if framework is None:
            raise NoTarget(f"no {which} framework")
        pid = actor_pid(framework.handle)
        if pid is None:
            raise NoTarget(f"the {which} framework's actor is not alive")
        old_id = framework.id
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while actor_pid(framework.handle) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        # As its operator would: the framework is started again with its id.
        if which == "batch":
            self.system.cluster.disconnect(framework)  # type: ignore[union-attr]
            workload.start_batch(old_id)
        elif which == "services":
            workload.restart_services()
        else:
            workload.restart_jobs()
        name = {"batch": BATCH, "services": "services", "jobs": "jobs"}[which]

        def subscribed() -> bool:
            state = self.state()
            return state is not None and (
                any(f["name"] == name and f["connected"] for f in state["frameworks"])
                or self.waiting(f"framework {name} not subscribed")
            )

        return f"{which} framework {old_id} (pid {pid})", subscribed

    def _task_kill(self, pick: int) -> tuple[str, Check]:
        running = self.running_batch_tasks()
        if not running:
            raise NoTarget("no batch task running")
        task, pid = running[pick % len(running)]
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            raise NoTarget(f"{task} ended before it was killed") from None
        self.killed_tasks.add(task)
        serial, attempt = task.split(".")
        retry = f"{serial}.{int(attempt) + 1}"

        def relaunched() -> bool:
            records = read_records(self.workload.run_dir / "batch.jsonl")
            ended = any(
                r.get("task") == task and r.get("state") in _TERMINAL
                for r in records
                if r.get("event") == "update"
            )
            if not ended:
                return self.waiting(f"no terminal update of {task}")
            return any(
                r.get("event") == "launch" and r.get("task") == retry for r in records
            ) or self.waiting(f"{retry} not launched")

        return f"{task} (pid {pid})", relaunched

    def _node_replace(self, pick: int) -> tuple[str, Check]:
        nodes = self.system.worker_nodes()
        if not nodes:
            raise NoTarget("no worker node")
        node = nodes[pick % len(nodes)]
        self.removed_agents.add(agent_id_of(node.node_id))
        self.system.remove_node(node)
        self.removed_at[agent_id_of(node.node_id)] = time.time()
        added = self.system.add_node()
        agent = agent_id_of(added.node_id)

        def registered() -> bool:
            state = self.state()
            if state is None:
                return False
            return _reachable(state, agent) or self.waiting(f"{agent} not registered")

        return f"node {node.node_id[:12]} -> {added.node_id[:12]}", registered

    # -------------------------------------------------------------- checks

    def state(self) -> dict[str, Any] | None:
        """The leader's state, if exactly one master leads and answers."""
        leaders = self.system.leaders()
        if len(leaders) != 1:
            self.waiting(f"{len(leaders)} masters lead")
            return None
        try:
            found: dict[str, Any] = ray_calls.ask(leaders[0], "state_summary", timeout=15)
            return found
        except Exception as error:
            self.waiting(f"the leader's state: {type(error).__name__}: {error}"[:300])
            return None

    def slaves(self) -> dict[str, dict[str, Any]]:
        """The leader's /master/slaves, by agent id (none if no one leads)."""
        leaders = self.system.leaders()
        if len(leaders) != 1:
            return {}
        url = ray_calls.ask(leaders[0], "url", timeout=15)
        with urllib.request.urlopen(f"{url}/master/slaves", timeout=15) as response:
            found = orjson.loads(response.read())["slaves"]
        return {str(agent["id"]): agent for agent in found}

    def serving(self, which: Callable[[Any], bool] = lambda master: True) -> bool:
        """One leader (`which` one), serving, with every live agent
        registered and every framework of the workload subscribed."""
        leaders = self.system.leaders()
        if len(leaders) != 1 or not which(leaders[0]):
            return self.waiting(f"{len(leaders)} masters lead (a new one wanted)")
        state = self.state()
        if state is None:
            return False
        away = sorted(a for a in self.system.agents() if not _reachable(state, a))
        if away:
            return self.waiting(f"agents not registered: {away}")
        connected = {f["name"] for f in state["frameworks"] if f["connected"]}
        missing = sorted({BATCH, GANG, "services", "jobs"} - connected)
        return not missing or self.waiting(f"frameworks not subscribed: {missing}")

    def waiting(self, reason: str) -> bool:
        """Note why a check does not hold yet (the harness shows the last
        reason of a fault that does not recover); False."""
        self.why = reason
        return False

    def running_batch_tasks(self) -> list[tuple[str, int]]:
        """Batch tasks running now with their process group's pid."""
        records = read_records(self.workload.run_dir / "batch.jsonl")
        states: dict[str, str] = {}
        for record in records:
            if record.get("event") != "update":
                continue
            task, state = str(record["task"]), str(record["state"])
            # A reconciliation answer may be all the framework hears of an
            # end (across a master failover); its other answers repeat.
            if record.get("reason") != "REASON_RECONCILIATION" or state in _TERMINAL:
                states[task] = state
        starts = {s.task_id: s for s in read_starts(self.workload.starts)}
        found = []
        for task, state in sorted(states.items()):
            start = starts.get(task)
            if (
                state == "TASK_RUNNING"
                and start is not None
                and task not in self.killed_tasks
                and _same_process(start.pid, start.at)
            ):
                found.append((task, start.pid))
        return found


def _same_process(pid: int, started_at: float) -> bool:
    """Whether `pid` is still the process that wrote its start line at
    `started_at` (epoch), not a later one given the same pid."""
    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        return False
    # The shell's start precedes its start line by its startup, at most.
    return created <= started_at + 1.0 and started_at - created < 60.0


def _reachable(state: dict[str, Any], agent: str) -> bool:
    return any(a["id"] == agent and a["reachable"] for a in state["agents"])
