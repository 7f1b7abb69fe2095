"""What one caller of the HTTP API may see, by the master's ACLs.

The operator calls check their own ACL in the master's state (each takes
the caller's principal); the reads are filtered here: a caller sees the
frameworks `view_frameworks` allows (object: the framework's user, or one
of its roles) and the tasks `view_tasks` allows (the task's user or role)
of those frameworks. Reading a task's sandbox (its logs, its files) needs
`access_sandboxes` for the task's user or role.

`Viewer.state` gives the state as the caller may see it: the state itself
when the ACLs show everything to everyone (the usual case, and at 10,000
tasks the cheap one), else a view of it with the frameworks and tasks
filtered, read by the same `state_json` functions.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, cast

from pyactors.master.records import FrameworkRecord, TaskRecord
from pyactors.master.state import MasterState
from pyactors.security.acls import Acls

VIEWS = ("view_frameworks", "view_tasks")


def task_user(state: MasterState, record: TaskRecord) -> str | None:
    """The OS user a task runs as, as far as the master knows (its own, else
    its framework's)."""
    if record.task.user is not None:
        return record.task.user
    framework = state.frameworks.get(record.framework_id)
    return None if framework is None else framework.user


class _Seen:
    """A MasterState with fewer frameworks and tasks: everything else is the
    state's own."""

    def __init__(
        self,
        state: MasterState,
        frameworks: dict[str, FrameworkRecord],
        tasks: dict[str, TaskRecord],
        completed: OrderedDict[str, TaskRecord],
    ) -> None:
        self._state = state
        self.frameworks, self.tasks, self.completed = frameworks, tasks, completed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)


class Viewer:
    """`principal` (None: no credentials asked) reading with `acls`."""

    def __init__(self, acls: Acls, principal: str | None) -> None:
        self.acls, self.principal = acls, principal

    @property
    def sees_everything(self) -> bool:
        return self.acls.permissive and not any(self.acls.rules.get(a) for a in VIEWS)

    def sees_framework(self, record: FrameworkRecord) -> bool:
        roles: list[str | None] = [*record.roles] or [None]
        return any(
            self.acls.allows("view_frameworks", self.principal, {"users": record.user, "roles": r})
            for r in roles
        )

    def sees_task(self, state: MasterState, record: TaskRecord) -> bool:
        objects = {"users": task_user(state, record), "roles": record.role}
        return self.acls.allows("view_tasks", self.principal, objects)

    def sees_all_frameworks(self) -> bool:
        """Whether any framework may be seen, whoever runs it (the metrics
        name every framework)."""
        return self.acls.allows("view_frameworks", self.principal, None)

    def state(self, state: MasterState) -> MasterState:
        if self.sees_everything:
            return state
        frameworks = {k: f for k, f in state.frameworks.items() if self.sees_framework(f)}

        def seen(records: dict[str, TaskRecord]) -> list[tuple[str, TaskRecord]]:
            return [
                (k, r)
                for k, r in records.items()
                if r.framework_id in frameworks and self.sees_task(state, r)
            ]

        view = _Seen(state, frameworks, dict(seen(state.tasks)), OrderedDict(seen(state.completed)))
        # The state_json functions read only what a MasterState has.
        return cast(MasterState, view)

    def check_sandbox(self, state: MasterState, task_id: str) -> None:
        """AuthorizationError unless the caller may read this task's
        sandbox (an unknown task is left to the reader to refuse)."""
        record = state.tasks.get(task_id) or state.completed.get(task_id)
        if record is None:
            return
        objects = {"users": task_user(state, record), "roles": record.role}
        self.acls.check("access_sandboxes", self.principal, objects)
