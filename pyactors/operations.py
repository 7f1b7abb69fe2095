"""What a framework asks for when it accepts offers: tasks and operations.

Mesos's v1 scheduler API names: an accept carries offer ids and a list of
operations (LAUNCH, LAUNCH_GROUP, RESERVE, UNRESERVE, CREATE, DESTROY)
applied in order to the offered resources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pyactors._core import Resources
from pyactors.errors import InvalidArgumentError

# Task ids name sandbox directories and appear in URLs: no separators, no
# "..", nothing a shell or a path would reinterpret.
_TASK_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")


def check_task_id(task_id: str) -> str:
    if not isinstance(task_id, str) or not _TASK_ID.match(task_id) or ".." in task_id:
        raise InvalidArgumentError(
            f"invalid task id {task_id!r}: use 1-200 characters of [A-Za-z0-9_.-], "
            "not starting with '.' or '-', without '..'"
        )
    return task_id


@dataclass(frozen=True)
class TaskInfo:
    """A task: a shell command (or, with `function`, a Python callable run in
    the agent's allocation) with the resources it may use."""

    task_id: str
    name: str
    resources: Resources
    command: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    uris: tuple[str, ...] = ()
    function: Any = None
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.resources, str):
            object.__setattr__(self, "resources", Resources.parse(self.resources))

    def problems(self) -> list[str]:
        """What makes the task impossible to launch, whatever the offer."""
        found = []
        try:
            check_task_id(self.task_id)
        except InvalidArgumentError as error:
            found.append(str(error))
        if (self.command is None) == (self.function is None):
            found.append("a task needs exactly one of command or function")
        if not self.resources:
            found.append("a task needs resources (at least some cpus or mem)")
        for key, value in self.env.items():
            if not isinstance(key, str) or not isinstance(value, str) or "=" in key or not key:
                found.append(f"invalid environment variable {key!r}={value!r}")
        return found


@dataclass(frozen=True)
class Launch:
    """LAUNCH: start each task independently."""

    tasks: list[TaskInfo]


@dataclass(frozen=True)
class LaunchGroup:
    """LAUNCH_GROUP: start all the tasks on one agent, or none of them."""

    tasks: list[TaskInfo]


Operation = Launch | LaunchGroup
