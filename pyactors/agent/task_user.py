"""Which OS user a task runs as (Mesos's `--switch_user`).

The user asked for is the task's own `user`, else the agent's `task_user`
option, else the agent's own user. An agent running as root switches the
task's process to it: uid, gid and supplementary groups, `HOME`, `USER`
and `LOGNAME` from the user's passwd entry, and a sandbox owned by it. A
user the agent's machine does not know fails the task before it starts.

An agent not running as root cannot switch: it runs every task as itself
and, when another user was asked for, says so in the task's TASK_RUNNING
message and in its log, as a Mesos agent started without `--switch_user`
does.

The user's name is only ever looked up in the passwd database, never
joined to a path, so no user reaches outside the agent's work dir.

The process enters its sandbox before it switches users, so a command
reaches its files relative to where it starts whatever the directories
above; reaching them by absolute path (`$MESOS_SANDBOX`, the runner of a
Python task, which also needs the interpreter) needs the work dir and every
directory above it searchable by the user, as Mesos's work dir does.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pyactors.errors import PyactorsError


class TaskUserError(PyactorsError, ValueError):
    """The user a task asks for cannot run it on this agent."""


@dataclass(frozen=True)
class TaskUser:
    """An OS user as the task's process takes it on."""

    name: str
    uid: int
    gid: int
    home: str
    # Supplementary groups (the primary one included), as `initgroups` sets them.
    groups: tuple[int, ...]

    def environment(self) -> dict[str, str]:
        """The variables a login as this user would set."""
        return {"HOME": self.home, "USER": self.name, "LOGNAME": self.name}

    def own(self, path: Path) -> None:
        """Give `path` (not a symlink's target) to this user."""
        os.chown(path, self.uid, self.gid, follow_symlinks=False)


@dataclass(frozen=True)
class RunAs:
    """How a task is run: as `user` (None: as the agent itself); `note` says
    why the user asked for is not the one it runs as ("" when it is)."""

    user: TaskUser | None = None
    note: str = ""


# A task run as the agent's own user, as asked.
AS_AGENT = RunAs()


@dataclass(frozen=True)
class AgentIdentity:
    """The agent process's own user, and whether it may switch users (root)."""

    name: str
    can_switch: bool

    @classmethod
    def current(cls) -> AgentIdentity:
        uid = os.geteuid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            # A uid without a passwd entry (containers): its number names it.
            name = str(uid)
        return cls(name, uid == 0)


def effective_user(requested: str | None, default: str | None, agent: str) -> str:
    """The user a task runs as: its own, else the agent's `task_user`, else the agent's."""
    if requested is not None:
        return requested
    if default is not None:
        return default
    return agent


def lookup(name: str, agent_id: str) -> TaskUser:
    """The passwd entry of `name` with its groups; TaskUserError if there is none."""
    try:
        entry = pwd.getpwnam(name)
        groups = os.getgrouplist(name, entry.pw_gid)
    except (KeyError, ValueError, OSError):
        # ValueError: a name with a NUL byte, which no user has.
        raise TaskUserError(f"user {name!r} does not exist on agent '{agent_id}'") from None
    return TaskUser(name, entry.pw_uid, entry.pw_gid, entry.pw_dir, tuple(groups))


def run_as(
    requested: str | None, default: str | None, agent: AgentIdentity, agent_id: str
) -> RunAs:
    """How to run a task that asks for `requested` on an agent whose
    `task_user` is `default`; TaskUserError for a user a switching agent
    does not know."""
    name = effective_user(requested, default, agent.name)
    if name == agent.name:
        return RunAs()
    if not agent.can_switch:
        return RunAs(
            None,
            f"running as '{agent.name}', not '{name}': agent '{agent_id}' does not run "
            "as root, so it cannot switch users",
        )
    return RunAs(lookup(name, agent_id))


def task_environment(
    base: Mapping[str, str], user: TaskUser | None, task_env: Mapping[str, str]
) -> dict[str, str]:
    """The environment before the MESOS_* variables: the agent's, then the
    user's login variables, then the task's own (which win)."""
    return {**base, **(user.environment() if user is not None else {}), **task_env}
