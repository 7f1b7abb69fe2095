"""What the master keeps about each agent, framework and task, and its
configuration. Plain records: the master's collaborators change them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyactors._core import Resources
from pyactors.core.operations import TaskInfo
from pyactors.core.tasks import TaskState, TaskStatus
from pyactors.errors import UnknownAgentError, UnknownFrameworkError
from pyactors.master.registry_records import FrameworkEntry
from pyactors.security.acls import Acls
from pyactors.security.credentials import Credentials


@dataclass
class MasterConfig:
    offer_timeout: float = 60.0
    agent_timeout: float = 15.0
    sorter: str = "drf"
    seed: int = 0
    # Mesos's --max_completed_tasks_per_framework, for the whole master:
    # finished tasks kept for state and reconciliation after acknowledgement.
    max_completed_tasks: int = 10_000
    # Mesos's --max_completed_frameworks: torn-down frameworks whose ids are
    # refused, kept in the registry so that a new leader refuses them too.
    max_completed_frameworks: int = 50
    # How long a new leader waits for the agents in the registry to come
    # back before it marks the missing ones unreachable.
    agent_reregister_timeout: float = 10.0
    # How long an agent whose actor died on a live node is disconnected
    # (its tasks live, their resources held, nothing offered there) before
    # it is unreachable: Mesos's agent --recovery_timeout (15 min there,
    # for agents restarted by hand; here Ray or the supervisor restarts
    # one within seconds, and a node that left is reported at once).
    agent_recovery_timeout: float = 120.0
    # Who may subscribe frameworks and call the HTTP API (None: anyone), and
    # what each principal may do (default: everything).
    credentials: Credentials | None = None
    acls: Acls = field(default_factory=Acls)


@dataclass(slots=True)
class AgentRecord:
    agent_id: str
    hostname: str
    total: Resources
    attributes: dict[str, str]
    registered_at: float
    last_seen: float
    reachable: bool = True
    # When its actor was found dead while its node stays (None: connected).
    disconnected_at: float | None = None


@dataclass(slots=True)
class FrameworkRecord:
    framework_id: str
    name: str
    roles: list[str]
    capabilities: frozenset[str]
    failover_timeout: float
    registered_at: float
    connected: bool = True
    disconnected_at: float | None = None
    # A framework recovered by a new leader is kept at least this long after
    # the election, whatever its own failover timeout: a live scheduler needs
    # a moment to find the new leader.
    recovery_grace: float = 0.0
    # Who registered it (authenticated when the master has credentials): the
    # ACLs of what it does are checked for this principal.
    principal: str | None = None
    # The OS user its tasks run as when they name none (None: the agent's).
    user: str | None = None
    # Where its own web UI or API answers (Mesos's FrameworkInfo.webui_url);
    # not in the registry: the scheduler gives it with each subscription.
    webui_url: str | None = None

    def entry(self) -> FrameworkEntry:
        return FrameworkEntry(
            self.framework_id,
            self.name,
            self.roles,
            self.capabilities,
            self.failover_timeout,
            self.registered_at,
            self.principal,
            self.user,
        )


class Delivery(enum.Enum):
    """How far a task's recorded update (`TaskRecord.status`) got: an agent
    resending it (its acknowledgement was late) changes nothing, and costs
    the master a lookup, unless the framework must hear it again."""

    RECORDED = "recorded"
    # Sent to the framework's current scheduler (a failover resets it).
    FORWARDED = "forwarded"
    # The framework acknowledged it: the master repeats that to the agent.
    ACKNOWLEDGED = "acknowledged"


@dataclass(slots=True)
class TaskRecord:
    task: TaskInfo
    framework_id: str
    agent_id: str
    role: str
    status: TaskStatus
    # Resources still held in the allocator for this task (none once terminal).
    holds: bool = True
    # When this master first heard of it (launched, or reported by its agent).
    launched_at: float = 0.0
    # Its usage as its agent last reported it (`pyactors.master.task_usage`).
    statistics: dict[str, float] | None = None
    # Its JSON as the HTTP state last showed it, and what that was made of
    # (`pyactors.api.state_json.task_json`): at 10,000 tasks most are unchanged
    # from one /master/state to the next.
    rendered: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)
    # The first terminal state an agent's update gave, its own or its
    # `latest_state` (Mesos's StatusUpdate.latest_state: the task ended while
    # an earlier update of it awaited acknowledgement). None: `status`'s.
    latest_state: TaskState | None = None
    delivery: Delivery = Delivery.RECORDED

    @property
    def state(self) -> TaskState:
        """Its state as the master knows it: the agent's latest."""
        return self.latest_state or self.status.state


class Shared:
    """One object for equal values that many records hold: tens of
    thousands of agents registering with the same resources and attributes
    keep one of each, not a copy per agent. Bounded: past `limit` distinct
    values of a kind (agents each different), values are kept as given.
    What it hands out is shared, so nobody may change it in place (the
    master replaces an agent's total and never edits its attributes)."""

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        self._resources: dict[Resources, Resources] = {}
        self._attributes: dict[frozenset[tuple[str, str]], dict[str, str]] = {}
        self._texts: dict[str, str] = {}

    def resources(self, value: Resources) -> Resources:
        return _one(self._resources, value, value, self.limit)

    def attributes(self, value: dict[str, str]) -> dict[str, str]:
        return _one(self._attributes, frozenset(value.items()), value, self.limit)

    def text(self, value: str) -> str:
        return _one(self._texts, value, value, self.limit)


_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


def _one(kept: dict[_Key, _Value], key: _Key, value: _Value, limit: int) -> _Value:
    found = kept.get(key)
    if found is not None:
        return found
    if len(kept) < limit:
        kept[key] = value
    return value


def known_agent(agents: Mapping[str, AgentRecord], agent_id: str) -> AgentRecord:
    record = agents.get(agent_id)
    if record is None:
        raise UnknownAgentError(f"unknown agent '{agent_id}'")
    return record


def known_framework(
    frameworks: Mapping[str, FrameworkRecord], framework_id: str
) -> FrameworkRecord:
    record = frameworks.get(framework_id)
    if record is None:
        raise UnknownFrameworkError(f"unknown framework '{framework_id}'")
    return record
