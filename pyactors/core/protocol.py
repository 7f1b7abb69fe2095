"""The messages between pyactors' actors, each defined once.

Three conversations, each a closed set of frozen dataclasses that its
receiver takes apart in one `match`:

- master to agents (`AgentMessage`): one `deliver` call per actor hosting
  agents (a real agent, or a pool of emulated ones), with everything for
  the agents it hosts, in order;
- master to frameworks (`FrameworkEvent`): one `deliver_events` call per
  actor hosting frameworks (a framework actor, or a pool of them);
- schedulers to the master (`Call`): every call a scheduler made during one
  callback, in one `calls_batch` message per actor hosting frameworks.

What the master's state machine returns (`Effect`) is what it sends agents
and frameworks. Adding a message means adding its class here, to its union,
and one case where it is received: each receiver ends its `match` with
`assert_never`, so mypy names a receiver that would miss it.

The supervisor of a long-running cluster describes it to drivers that
attach (`Description`).

Agents talk to the master through its actor's methods (`Registration`s,
batches of status updates, heartbeats; `pyactors.runtime.handles.MasterRef`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from pyactors.core.offer import InverseOfferInfo, OfferInfo
from pyactors.core.operations import ExecutorInfo, Operation, TaskInfo
from pyactors.core.tasks import Reason, TaskStatus

# ---------------------------------------------------------- agents -> master


@dataclass(frozen=True)
class TaskReport:
    """A task an agent holds, as it (re-)registers: who launched it, in
    which role, what it runs and its state, so that a master that has never
    seen it (a new leader) rebuilds its record and its allocation."""

    framework_id: str
    role: str
    task: TaskInfo
    # The oldest update the framework has not acknowledged, else the last:
    # the master records it, and the resent updates follow from there.
    status: TaskStatus


@dataclass(frozen=True)
class ExecutorReport:
    """A custom executor an agent runs, as it (re-)registers (Mesos's
    ReregisterSlaveMessage lists its executors): its resources stay used
    until it exits; the master forgets the executors it does not list."""

    framework_id: str
    role: str
    executor: ExecutorInfo


@dataclass(frozen=True)
class Registration:
    """An agent registering or coming back: its resources as text, its
    attributes, the tasks and custom executors it holds."""

    agent_id: str
    hostname: str
    resources: str
    attributes: dict[str, str]
    tasks: list[TaskReport]
    # A restarted agent's first registration: `tasks` is all it holds after
    # recovering its checkpoint, so the master's other tasks there are gone.
    recovered: bool = False
    executors: list[ExecutorReport] = field(default_factory=list)


@dataclass(frozen=True)
class ExitedExecutor:
    """Mesos's ExitedExecutorMessage: a custom executor's process ended
    (`status` says how); the master gives its resources back. Sent once: a
    lost one is made good by the agent's next registration, which no
    longer lists the executor."""

    agent_id: str
    framework_id: str
    executor_id: str
    status: str


# Running tasks' usage as an agent reports it on its heartbeat: (task id,
# Mesos's ResourceStatistics: cpus_user_time_secs, cpus_system_time_secs,
# mem_rss_bytes, cpus_limit, mem_limit_bytes, timestamp).
Usage: TypeAlias = Sequence[tuple[str, dict[str, float]]]

# ---------------------------------------------------------- master -> agents


@dataclass(frozen=True)
class LaunchTasks:
    agent_id: str
    framework_id: str
    tasks: list[TaskInfo]
    groups: list[list[TaskInfo]]
    # The role the resources were allocated to: the agent reports it back
    # when it re-registers, so a new leader can rebuild the allocation.
    role: str


@dataclass(frozen=True)
class KillTasks:
    agent_id: str
    framework_id: str
    task_ids: list[str]
    # Seconds between SIGTERM and SIGKILL; None: the agent's own default.
    grace: float | None = None
    # What the tasks' TASK_KILLED says (REASON_AGENT_DRAINING for a drain);
    # None: a kill the framework asked for.
    reason: Reason | None = None


@dataclass(frozen=True)
class DestroyVolumes:
    """Tell an agent to delete the data of destroyed persistent volumes."""

    agent_id: str
    persistence_ids: list[str]


@dataclass(frozen=True)
class AcknowledgeToAgent:
    agent_id: str
    acknowledgements: list[tuple[str, str]]  # (task_id, uuid)


@dataclass(frozen=True)
class ResendUpdates:
    """Ask an agent to send the pending updates of these tasks now (their
    framework has just reconnected) instead of at its next retry."""

    agent_id: str
    task_ids: list[str]


@dataclass(frozen=True)
class MessageToTask:
    agent_id: str
    task_id: str
    data: bytes


@dataclass(frozen=True)
class ShutdownFramework:
    """Mesos's ShutdownFrameworkMessage: the framework was removed; the
    agent tells each of its executors there to SHUTDOWN, idle ones too, and
    kills them after the grace period."""

    agent_id: str
    framework_id: str


AgentMessage: TypeAlias = (
    LaunchTasks
    | KillTasks
    | DestroyVolumes
    | AcknowledgeToAgent
    | ResendUpdates
    | MessageToTask
    | ShutdownFramework
)

# ------------------------------------------------------ master -> frameworks


@dataclass(frozen=True)
class SendOffers:
    framework_id: str
    offers: list[OfferInfo]


@dataclass(frozen=True)
class Rescind:
    framework_id: str
    offer_ids: list[str]


@dataclass(frozen=True)
class SendInverseOffers:
    """Mesos's INVERSE_OFFERS: agents the framework holds resources on are
    scheduled for maintenance."""

    framework_id: str
    inverse_offers: list[InverseOfferInfo]


@dataclass(frozen=True)
class RescindInverseOffers:
    """Mesos's RESCIND_INVERSE_OFFER, one per id: the maintenance they asked
    about changed or ended, or they went unanswered too long."""

    framework_id: str
    inverse_offer_ids: list[str]


@dataclass(frozen=True)
class ForwardUpdates:
    framework_id: str
    statuses: list[TaskStatus]


@dataclass(frozen=True)
class FrameworkMessages:
    """Messages tasks sent to their scheduler: (agent id, task id, data)."""

    framework_id: str
    messages: list[tuple[str, str, bytes]]


@dataclass(frozen=True)
class AgentLost:
    """Tell a framework an agent is gone (Mesos's FAILURE event)."""

    framework_id: str
    agent_id: str


@dataclass(frozen=True)
class ErrorEvent:
    framework_id: str
    message: str


@dataclass(frozen=True)
class Heartbeat:
    """Sent to idle frameworks: a dead framework actor is noticed when this
    cannot be delivered."""

    framework_id: str


FrameworkEvent: TypeAlias = (
    SendOffers
    | Rescind
    | SendInverseOffers
    | RescindInverseOffers
    | ForwardUpdates
    | FrameworkMessages
    | AgentLost
    | ErrorEvent
    | Heartbeat
)

Effect: TypeAlias = AgentMessage | FrameworkEvent

# ------------------------------------------------------ schedulers -> master


@dataclass(frozen=True)
class Accept:
    """Use offers (all from one agent) for the operations, in order; what
    they leave unused is declined with `refuse_seconds`."""

    offer_ids: list[str]
    operations: list[Operation]
    refuse_seconds: float


@dataclass(frozen=True)
class Decline:
    offer_ids: list[str]
    refuse_seconds: float


@dataclass(frozen=True)
class AnswerInverseOffers:
    """Mesos's ACCEPT_INVERSE_OFFERS (`accept`) or DECLINE_INVERSE_OFFERS:
    the framework's answer, recorded for the operator; it gets no inverse
    offer for those agents for `refuse_seconds` (None: Mesos's 5 s)."""

    inverse_offer_ids: list[str]
    accept: bool
    refuse_seconds: float | None = None


@dataclass(frozen=True)
class Acknowledge:
    acknowledgements: list[tuple[str, str]]  # (task_id, uuid)


@dataclass(frozen=True)
class Kill:
    task_id: str
    # Seconds between SIGTERM and SIGKILL (Mesos's KillPolicy); None: the
    # task's own kill policy, else the agent's default.
    grace_period: float | None = None


@dataclass(frozen=True)
class Reconcile:
    task_ids: list[str]
    # Where the framework last saw each task: task id -> agent id.
    agent_ids: dict[str, str]


@dataclass(frozen=True)
class Revive:
    roles: list[str] | None  # None: all the framework's roles


@dataclass(frozen=True)
class Suppress:
    roles: list[str] | None


@dataclass(frozen=True)
class Request:
    """Taken as a hint, as Mesos's allocator does: it revives."""

    roles: list[str] | None


@dataclass(frozen=True)
class Teardown:
    pass


@dataclass(frozen=True)
class UpdateFramework:
    """The framework's info to change; None: unchanged."""

    roles: list[str] | None = None
    capabilities: list[str] | None = None
    failover_timeout: float | None = None
    name: str | None = None


@dataclass(frozen=True)
class Message:
    """A scheduler's message for a task (its executor id is its task id)."""

    agent_id: str
    executor_id: str
    data: bytes


@dataclass(frozen=True)
class Shutdown:
    agent_id: str
    executor_id: str


Call: TypeAlias = (
    Accept
    | Decline
    | AnswerInverseOffers
    | Acknowledge
    | Kill
    | Reconcile
    | Revive
    | Suppress
    | Request
    | Teardown
    | UpdateFramework
    | Message
    | Shutdown
)

# One framework's calls of one callback, as they travel: (framework id, calls).
CallBatch: TypeAlias = tuple[str, list[Call]]


# ------------------------------------------------------ supervisor -> drivers


@dataclass(frozen=True)
class Description:
    """What `Cluster.connect` needs to attach to a long-running cluster."""

    masters: list[str]
    # May carry ZooKeeper credentials (zk://user:password@...): never shown.
    zk: str | None = field(repr=False)
    zk_session_timeout: float
    work_dir: str


def call_name(call: Call) -> str:
    """The call's name in Mesos's vocabulary ("update_framework"), for the
    error event a refused call is answered with."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(call).__name__).lower()
