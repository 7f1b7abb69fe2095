"""A task that ends while no master leads reaches its scheduler's terminal
state once, on real actors: the new leader learns the end from the agent's
registration and answers the framework's reconciliation with it, and the
agent resends its unacknowledged update too. Whichever of the two reaches
the framework actor first, the scheduler hears TASK_FINISHED once and the
agent's update is acknowledged (the task completes in the new leader's
records). Found by the chaos harness under load, where a TASK_FINISHED was
delivered twice; unit-tested in test_terminal_updates for each order."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from support.runtime import Launcher, leading, wait_for

import pyactors
from pyactors.master.state import MasterConfig
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster, Framework

pytestmark = pytest.mark.timeout(600)

SMALL = "cpus:0.5;mem:32"
# Each round fails a leader over once: the answer and the update race anew.
ROUNDS = 3


def test_a_task_ended_during_a_leader_failover_is_finished_once_for_its_scheduler(
    zookeeper: Any, tmp_path: Path
) -> None:
    cluster = pyactors.start(
        agents=1,
        agent_resources="cpus:2;mem:512",
        work_dir=str(tmp_path / "work"),
        allocation_interval=0.2,
        config=MasterConfig(agent_timeout=120.0, agent_reregister_timeout=60.0),
        status_retry_interval=1.0,
        framework_heartbeat_interval=0.3,
        agent_heartbeat_interval=0.3,
        # One killed per round, one left to lead after the last.
        masters=ROUNDS + 1,
        zk=f"zk://{zookeeper.hosts}/pyactors-{uuid.uuid4().hex[:8]}",
        # A killed leader is replaced on Ray's word, never by a session's end.
        zk_session_timeout=30.0,
    )
    try:
        tasks = [
            (f"end-{n}", f"while [ ! -e {tmp_path / f'go-{n}'} ]; do sleep 0.05; done", SMALL)
            for n in range(ROUNDS)
        ]
        framework = cluster.run_framework(
            Launcher, tasks, name="ends", roles=["ends"], failover_timeout=120
        )
        for n, (task_id, _, _) in enumerate(tasks):
            _end_during_a_failover(cluster, framework, task_id, tmp_path / f"go-{n}")
        for task_id, _, _ in tasks:
            assert framework.call("states", task_id) == ["TASK_RUNNING", "TASK_FINISHED"], task_id
        assert framework.call("seen")["errors"] == []
    finally:
        cluster.shutdown()


def _end_during_a_failover(cluster: Cluster, framework: Framework, task_id: str, go: Path) -> None:
    wait_for(lambda: "TASK_RUNNING" in framework.call("states", task_id), what=f"{task_id} running")
    (leader,) = wait_for(lambda: leading(cluster), what="one leader")
    ray_calls.stop(leader)
    # Ends while the leader is going: the agent holds the update for
    # whichever master leads next.
    go.touch()
    wait_for(
        lambda: [m for m in leading(cluster) if m._actor_id != leader._actor_id],
        what=f"a leader after the one killed with {task_id} running",
    )
    wait_for(
        lambda: _completed(cluster.state(), task_id),
        what=f"{task_id}'s end acknowledged to its agent",
    )


def _completed(state: dict[str, Any], task_id: str) -> bool:
    return any(
        task["id"] == task_id and task["state"] == "TASK_FINISHED"
        for framework in state["frameworks"]
        for task in framework["completed_tasks"]
    )
