"""Persistent volumes on an agent: linked into sandboxes, kept across
tasks, deleted on DESTROY; ids and mount points that would leave the work
dir or the sandbox are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.runtime import wait_for

from pyactors import Resources
from pyactors.agent.state import AgentState
from pyactors.agent.volumes import LABEL, mount, persistence_ids, volume_path
from pyactors.core.operations import TaskInfo
from pyactors.core.tasks import TaskState


def task(task_id: str, volume: str = "db1", mounted_at: str | None = None) -> TaskInfo:
    labels = {} if mounted_at is None else {LABEL + volume: mounted_at}
    return TaskInfo(
        task_id,
        task_id,
        Resources.parse(f"cpus:0.1;mem:32;disk(svc)[{volume}]:8"),
        command="echo $MESOS_TASK_ID >> data/log",
        labels=labels,
    )


def test_a_volume_outlives_its_tasks_and_goes_with_destroy(tmp_path: Path) -> None:
    agent = AgentState("a1", tmp_path)

    seen: list[tuple[str, TaskState]] = []

    def finished(task_id: str) -> bool:
        for status in agent.poll(0.0):
            seen.append((status.task_id, status.state))
            agent.acknowledge([(status.task_id, str(status.uuid))], 0.0)
        return (task_id, TaskState.TASK_FINISHED) in seen

    for task_id in ("t1", "t2"):
        agent.launch("fw", [task(task_id, mounted_at="data")], 0.0)
        wait_for(lambda task_id=task_id: finished(task_id), what=f"{task_id} finished")
    volume = volume_path(tmp_path, "db1")
    assert (volume / "log").read_text().split() == ["t1", "t2"]
    sandbox = tmp_path / "frameworks" / "fw" / "tasks" / "t2"
    assert (sandbox / "data").resolve() == volume
    agent.destroy_volumes(["db1"])
    assert not volume.exists()


def test_ids_and_mount_points_stay_inside(tmp_path: Path) -> None:
    assert persistence_ids(Resources.parse("cpus:1;disk(svc)[v1]:8;disk:4")) == ["v1"]
    with pytest.raises(ValueError, match="cannot name a directory"):
        volume_path(tmp_path, "../escape")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    for bad in ("../up", "a/b", ".."):
        with pytest.raises(ValueError, match="give one directory name"):
            mount(task("t", mounted_at=bad), tmp_path, sandbox)
    mount(task("t"), tmp_path, sandbox)
    assert (sandbox / "db1").resolve() == volume_path(tmp_path, "db1")
