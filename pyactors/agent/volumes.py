"""Persistent volumes on an agent: a directory per persistence id under the
agent's work dir, kept across the tasks that use it and deleted when the
volume is destroyed (DESTROY).

A task whose resources hold a persistent volume (disk with a persistence
id) sees it as `<sandbox>/<container path>`, a symlink to the volume's
directory. The container path comes from the task's label
`pyactors.volume.<persistence id>` (one directory name), else it is the
persistence id. Ids and paths are checked, so none reaches outside the
agent's work dir or the sandbox.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from pyactors._core import Resources
from pyactors.agent.task_user import TaskUser
from pyactors.core.operations import TaskInfo, check_task_id

VOLUMES = "volumes"
LABEL = "pyactors.volume."


def persistence_ids(resources: Resources) -> list[str]:
    """The persistence ids of the volumes among these resources."""
    found = []
    for item in resources.to_json():
        volume = item.get("disk", {}).get("persistence", {}).get("id")
        if volume is not None:
            found.append(str(volume))
    return found


def volume_path(work_dir: Path, persistence_id: str) -> Path:
    """Where a volume's data lives on the agent."""
    try:
        check_task_id(persistence_id)
    except ValueError:
        raise ValueError(f"persistence id {persistence_id!r} cannot name a directory") from None
    return Path(os.path.abspath(work_dir), VOLUMES, persistence_id)


def mount(task: TaskInfo, work_dir: Path, sandbox: Path, owner: TaskUser | None = None) -> None:
    """Link the task's volumes into its (new) sandbox, creating the
    directories of volumes used for the first time, owned by `owner` when
    the task runs as another user (as Mesos gives a new volume to the user
    of the first task that uses it)."""
    for persistence_id in persistence_ids(task.resources):
        target = volume_path(work_dir, persistence_id)
        name = task.labels.get(LABEL + persistence_id, persistence_id)
        if not name or "/" in name or name in (".", "..") or "\0" in name:
            raise ValueError(
                f"volume {persistence_id!r} of task '{task.task_id}' mounts at {name!r}: "
                "give one directory name"
            )
        if not target.is_dir():
            target.mkdir(parents=True)
            if owner is not None:
                owner.own(target)
        (sandbox / name).symlink_to(target, target_is_directory=True)


def destroy(work_dir: Path, persistence_ids: Iterable[str]) -> None:
    """Delete destroyed volumes' data."""
    for persistence_id in persistence_ids:
        shutil.rmtree(volume_path(work_dir, persistence_id), ignore_errors=True)
