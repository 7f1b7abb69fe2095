"""The master as a plain state machine.

The master actor is a thin shell around `MasterState`: it feeds in what
arrives (registrations, calls, status updates, timer ticks) with the time,
and sends the `Effect`s each call returns. Nothing here touches Ray or a
clock, so tests drive whole scenarios directly and replay them exactly.

Messages are batched as the runtime needs: one `SendOffers` per framework
per cycle, one `ForwardUpdates` per framework per call.

Durable state goes to the registry first, then into memory: admitted agents,
frameworks, weights and quotas are written (each write atomic and fenced)
before the master acts on them. A new leader starts from an empty state and
`recover()`s: frameworks come back disconnected, agents are awaited for
`agent_reregister_timeout` and rebuild their tasks from what they report. A
registry write that fails ends the leadership term: the actor discards this
state, so a change the allocator took before the failed write is dropped
with it.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyactors._core import Resources
from pyactors.agent import task_messages
from pyactors.agent import volumes as persistent_volumes
from pyactors.agent.state import TaskReport
from pyactors.core.allocator import Allocator
from pyactors.core.operations import (
    Create,
    Destroy,
    Operation,
    TaskInfo,
    Unreserve,
    check_task_id,
    unreserved_form,
)
from pyactors.core.quota import quota_quantities
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus, can_transition
from pyactors.errors import (
    InvalidArgumentError,
    InvalidRecordError,
    PyactorsError,
    ResourceError,
    UnknownAgentError,
    UnknownFrameworkError,
    UnknownTaskError,
)
from pyactors.master.offer_book import AcceptPlan, OfferBook, OfferInfo, Refusal
from pyactors.master.registry import MemoryRegistry, Registry
from pyactors.master.registry_records import (
    AgentEntry,
    FrameworkEntry,
    Key,
    Kind,
    MaintenanceEntry,
    QuotaEntry,
    ReservationEntry,
    WeightEntry,
)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------- effects


@dataclass(frozen=True)
class SendOffers:
    framework_id: str
    offers: list[OfferInfo]


@dataclass(frozen=True)
class Rescind:
    framework_id: str
    offer_ids: list[str]


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


@dataclass(frozen=True)
class DestroyVolumes:
    """Tell an agent to delete the data of destroyed persistent volumes."""

    agent_id: str
    persistence_ids: list[str]


@dataclass(frozen=True)
class ForwardUpdates:
    framework_id: str
    statuses: list[TaskStatus]


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


Effect = (
    SendOffers
    | Rescind
    | LaunchTasks
    | KillTasks
    | DestroyVolumes
    | ForwardUpdates
    | AcknowledgeToAgent
    | ResendUpdates
    | MessageToTask
    | FrameworkMessages
    | AgentLost
    | ErrorEvent
)


def coalesce(effects: Sequence[Effect]) -> list[Effect]:
    """Merge the effects of several calls handled together into one message
    per receiver and kind, keeping each receiver's order: acknowledgements
    per agent, updates per framework, kills per agent."""
    merged: list[Effect] = []
    acks: dict[str, AcknowledgeToAgent] = {}
    updates: dict[str, ForwardUpdates] = {}
    kills: dict[tuple[str, str, float | None], KillTasks] = {}
    for effect in effects:
        if isinstance(effect, AcknowledgeToAgent):
            if effect.agent_id in acks:
                acks[effect.agent_id].acknowledgements.extend(effect.acknowledgements)
                continue
            effect = acks[effect.agent_id] = AcknowledgeToAgent(
                effect.agent_id, list(effect.acknowledgements)
            )
        elif isinstance(effect, ForwardUpdates):
            if effect.framework_id in updates:
                updates[effect.framework_id].statuses.extend(effect.statuses)
                continue
            effect = updates[effect.framework_id] = ForwardUpdates(
                effect.framework_id, list(effect.statuses)
            )
        elif isinstance(effect, KillTasks):
            key = (effect.agent_id, effect.framework_id, effect.grace)
            if key in kills:
                kills[key].task_ids.extend(effect.task_ids)
                continue
            effect = kills[key] = KillTasks(
                effect.agent_id, effect.framework_id, list(effect.task_ids), effect.grace
            )
        merged.append(effect)
    return merged


# --------------------------------------------------------------------- records


@dataclass
class AgentRecord:
    agent_id: str
    hostname: str
    total: Resources
    attributes: dict[str, str]
    registered_at: float
    last_seen: float
    reachable: bool = True


@dataclass
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

    def entry(self) -> FrameworkEntry:
        return FrameworkEntry(
            self.framework_id,
            self.name,
            self.roles,
            self.capabilities,
            self.failover_timeout,
            self.registered_at,
        )


@dataclass
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

    @property
    def state(self) -> TaskState:
        return self.status.state


@dataclass
class MasterConfig:
    offer_timeout: float = 60.0
    agent_timeout: float = 15.0
    sorter: str = "drf"
    seed: int = 0
    # Mesos's --max_completed_tasks_per_framework, for the whole master:
    # finished tasks kept for state and reconciliation after acknowledgement.
    max_completed_tasks: int = 10_000
    # How long a new leader waits for the agents in the registry to come
    # back before it marks the missing ones unreachable.
    agent_reregister_timeout: float = 10.0


def _loaded_memory_registry() -> Registry:
    registry = MemoryRegistry()
    registry.load()
    return registry


@dataclass
class MasterState:
    config: MasterConfig = field(default_factory=MasterConfig)
    registry: Registry = field(default_factory=_loaded_memory_registry)
    # Unique per leadership term (the actor gives one), like Mesos's
    # `<master id>-O<n>`: offers of a previous leader are never mistaken.
    offer_prefix: str = "offer"

    def __post_init__(self) -> None:
        self.allocator = Allocator(sorter=self.config.sorter, seed=self.config.seed)
        self.offers = OfferBook(self.offer_prefix)
        self.agents: dict[str, AgentRecord] = {}
        self.frameworks: dict[str, FrameworkRecord] = {}
        self.tasks: dict[str, TaskRecord] = {}
        # Tasks whose terminal update was acknowledged, oldest first.
        self.completed: OrderedDict[str, TaskRecord] = OrderedDict()
        self.removed_frameworks: set[str] = set()
        # Totals since start (Mesos's master/* counters): offers made,
        # declined, rescinded, tasks launched, tasks that reached each
        # terminal state (`tasks_<state>`), status updates received,
        # allocation cycles run.
        self.counters: Counter[str] = Counter()
        self._framework_serial = itertools.count(1)
        # What the registry holds, as written (or loaded) by this master.
        self.admitted: dict[str, AgentEntry] = {}
        # Dynamic reservations and volumes per agent (stored in the
        # registry; laid over what the agent reports when it registers).
        self.reservations: dict[str, Resources] = {}
        self.weights: dict[str, float] = {}
        self.quotas: dict[str, QuotaEntry] = {}
        # Agents under maintenance (stored): no offers, their tasks killed.
        self.maintenance: dict[str, MaintenanceEntry] = {}
        # After an election: admitted agents not back yet, until the deadline;
        # reconciliation of their tasks waits for them (framework, task id).
        self.recovering: dict[str, AgentEntry] = {}
        self.reregister_deadline: float | None = None
        self.awaiting: dict[str, list[tuple[str, str]]] = defaultdict(list)

    # --------------------------------------------------------------- recovery

    def recover(self, now: float) -> list[Effect]:
        """A new leader's first step: load the registry (which fences the
        previous leader's writes) and restore what it holds. Frameworks are
        disconnected until they re-subscribe, their failover timeouts running
        from `now`; admitted agents have `agent_reregister_timeout` to come
        back with their tasks.

        Dynamic reservations and volumes (stored by RESERVE/CREATE on the
        accept path) are laid over each agent's resources as it comes back,
        and agents under maintenance are drained again as they come back."""
        if self.agents or self.frameworks:
            raise InvalidArgumentError("recover() starts a fresh master state")
        snapshot = self.registry.load()
        for role, weight in snapshot.weights.items():
            self.allocator.set_weight(role, weight)
        for quota in snapshot.quotas.values():
            self.allocator.set_quota(quota.role, quota.guarantee, quota.limit)
        self.weights, self.quotas = dict(snapshot.weights), dict(snapshot.quotas)
        self.maintenance = dict(snapshot.maintenance)
        grace = self.config.agent_reregister_timeout
        for entry in snapshot.frameworks.values():
            framework_id = entry.framework_id
            self.allocator.add_framework(
                framework_id, list(entry.roles), now, capabilities=entry.capabilities
            )
            self.allocator.deactivate_framework(framework_id)
            self.frameworks[framework_id] = FrameworkRecord(
                framework_id,
                entry.name,
                list(entry.roles),
                frozenset(entry.capabilities),
                entry.failover_timeout,
                entry.registered_at,
                connected=False,
                disconnected_at=now,
                recovery_grace=grace,
            )
        self.admitted = dict(snapshot.agents)
        self.reservations = {
            agent_id: Resources.parse(";".join(texts))
            for agent_id, texts in snapshot.reservations.items()
        }
        self.recovering = dict(snapshot.agents)
        if self.recovering:
            self.reregister_deadline = now + grace
        return []

    def _end_recovery(self, now: float) -> list[Effect]:
        """The re-registration deadline passed: the agents still missing are
        unreachable, and so are the tasks frameworks asked about there."""
        missing, self.recovering, self.reregister_deadline = self.recovering, {}, None
        effects: list[Effect] = []
        for agent_id, entry in missing.items():
            self.agents[agent_id] = AgentRecord(
                agent_id,
                entry.hostname,
                Resources.parse(entry.resources),
                dict(entry.attributes),
                now,
                now,
                reachable=False,
            )
            effects += [
                AgentLost(f.framework_id, agent_id) for f in self.frameworks.values() if f.connected
            ]
            effects += self._answer_awaiting(agent_id, now)
        return effects

    def _answer_awaiting(self, agent_id: str, now: float) -> list[Effect]:
        effects: list[Effect] = []
        for framework_id, task_id in self.awaiting.pop(agent_id, []):
            if framework_id in self.frameworks:
                effects += self.reconcile(framework_id, [task_id], now, {task_id: agent_id})
        return effects

    # ------------------------------------------------------------ weights, quota

    def set_weight(self, role: str, weight: float) -> None:
        """Stored, then applied; checked first by the allocator's own rules
        (on a scratch allocator), so the registry never holds a weight the
        allocator refuses."""
        Allocator().set_weight(role, weight)
        self.registry.put(WeightEntry(role, weight))
        self.allocator.set_weight(role, weight)
        self.weights[role] = weight

    def set_weights(self, weights: Sequence[tuple[str, float]]) -> None:
        """Several roles' weights, all checked before any is stored."""
        scratch = Allocator()
        for role, weight in weights:
            scratch.set_weight(role, weight)
        for role, weight in weights:
            self.set_weight(role, weight)

    def set_quota(self, role: str, guarantee: str, limit: str | None = None) -> None:
        """A role's quota as resource text, stored, then applied; an empty
        guarantee without a limit removes it (and its record)."""
        Allocator().set_quota(role, guarantee, limit)
        removes = not any(quota_quantities(guarantee, "guarantee").values()) and limit is None
        if removes:
            if role in self.quotas:
                self.registry.remove(Key(Kind.QUOTA, role))
            self.quotas.pop(role, None)
        else:
            entry = QuotaEntry(role, guarantee, limit)
            self.registry.put(entry)
            self.quotas[role] = entry
        self.allocator.set_quota(role, guarantee, limit)

    # ------------------------------------------------------------- operator

    def operator_kill(self, task_id: str, framework_id: str | None, now: float) -> list[Effect]:
        """The operator kills a live task (its framework named or not); an
        unknown task, or one of another framework, is refused."""
        record = self.tasks.get(task_id) or self.completed.get(task_id)
        if framework_id is not None:
            self._framework(framework_id)
        if record is None or framework_id not in (None, record.framework_id):
            raise UnknownTaskError(
                f"unknown task '{task_id}'" + (f" of '{framework_id}'" if framework_id else "")
            )
        if record.state.is_terminal:
            raise InvalidArgumentError(f"task '{task_id}' is already {record.state.value}")
        if record.state is TaskState.TASK_UNREACHABLE:
            raise InvalidArgumentError(f"task '{task_id}' is on an unreachable agent")
        return self.kill(record.framework_id, task_id, now)

    def reserve(self, agent_id: str, resources: Resources) -> None:
        """The operator's RESERVE: part of what the agent has available
        (neither offered nor allocated) becomes reserved as `resources` says
        (e.g. "cpus(web):1"). Checked whole first; the agent's total follows
        and the reservation is stored."""
        agent = self._operable(agent_id, resources, "reserve")
        consumed = unreserved_form(resources)
        self._operate(agent, consumed, resources)

    def unreserve(self, agent_id: str, resources: Resources) -> None:
        """The operator's UNRESERVE of available dynamically reserved
        resources (not volumes, not the agent's static reservations)."""
        agent = self._operable(agent_id, resources, "unreserve")
        if any("disk" in item for item in resources.to_json()):
            raise InvalidArgumentError(f"unreserve: {resources} holds volumes: destroy them first")
        dynamic = self.reservations.get(agent_id) or Resources()
        if not resources <= dynamic:
            raise InvalidArgumentError(
                f"unreserve: {resources} is not among agent '{agent_id}'s dynamic "
                f"reservations ({dynamic or 'none'})"
            )
        consumed, converted = Unreserve(resources).conversion()
        self._operate(agent, consumed, converted)

    def create_volumes(self, agent_id: str, volumes: Resources) -> None:
        """The operator's CREATE of persistent volumes (reserved disk with a
        volume id) from the agent's available reserved disk."""
        agent = self._operable(agent_id, volumes, "create volumes")
        self._operate(agent, *Create(volumes).conversion())

    def destroy_volumes(self, agent_id: str, volumes: Resources) -> None:
        """The operator's DESTROY of persistent volumes no task uses."""
        agent = self._operable(agent_id, volumes, "destroy volumes")
        self._operate(agent, *Destroy(volumes).conversion())

    def drain_agent(self, agent_id: str, grace_period: float | None) -> list[Effect]:
        """Maintenance starts (Mesos's DRAIN_AGENT): the agent makes no more
        offers, its outstanding offers are rescinded and its live tasks are
        killed with `grace_period` seconds between SIGTERM and SIGKILL (None:
        the agent's default). Stored first, so that a new leader, or the
        agent coming back from unreachable, keeps it drained. Draining again
        kills what is still live with the new grace period."""
        agent = self._agent(agent_id)
        try:
            entry = MaintenanceEntry(agent_id, grace_period)
        except InvalidRecordError as error:
            raise InvalidArgumentError(str(error)) from None
        self.registry.put(entry)
        self.maintenance[agent_id] = entry
        return self._drain(agent) if agent.reachable else []

    def reactivate_agent(self, agent_id: str) -> None:
        """Maintenance ends (Mesos's REACTIVATE_AGENT): the agent offers again."""
        agent = self._agent(agent_id)
        if agent_id not in self.maintenance:
            raise InvalidArgumentError(f"agent '{agent_id}' is not under maintenance")
        self.registry.remove(Key(Kind.MAINTENANCE, agent_id))
        del self.maintenance[agent_id]
        if agent.reachable:
            self.allocator.activate_agent(agent_id)

    def _drain(self, agent: AgentRecord) -> list[Effect]:
        self.allocator.deactivate_agent(agent.agent_id)
        effects = self._rescind(self.offers.take_agent(agent.agent_id))
        grace = self.maintenance[agent.agent_id].grace_period
        kills: dict[str, list[str]] = defaultdict(list)
        for record in self.tasks.values():
            if record.agent_id == agent.agent_id and not record.state.is_terminal:
                kills[record.framework_id].append(record.task.task_id)
        return effects + [KillTasks(agent.agent_id, f, ids, grace) for f, ids in kills.items()]

    def _operable(self, agent_id: str, resources: Resources, what: str) -> AgentRecord:
        agent = self._agent(agent_id)
        if not agent.reachable:
            raise InvalidArgumentError(f"{what}: agent '{agent_id}' is unreachable")
        if not resources:
            raise InvalidArgumentError(f"{what}: no resources given")
        if resources.reserved() != resources:
            raise InvalidArgumentError(
                f"{what}: every resource must name its role, got {resources}"
            )
        return agent

    def _operate(self, agent: AgentRecord, consumed: Resources, converted: Resources) -> None:
        # The allocator checks that `consumed` is available and changes
        # nothing if not; a failed registry write ends this master's term.
        self.allocator.update_available(agent.agent_id, consumed, converted)
        agent.total = agent.total - consumed + converted
        self._store_reservations(agent.agent_id, agent.total)

    # ----------------------------------------------------------------- agents

    def register_agent(
        self,
        agent_id: str,
        hostname: str,
        total: Resources,
        attributes: dict[str, str],
        now: float,
        tasks: Sequence[TaskReport] = (),
    ) -> list[Effect]:
        """A new agent (admitted to the registry first), one a new leader
        awaits, or one that comes back after being unreachable, with the
        tasks it holds. Its unreachable tasks still running are RUNNING
        again, the others GONE; tasks this master has never seen (it was
        elected since) are taken from the report, and killed if their
        framework is gone."""
        record = self.agents.get(agent_id)
        if record is not None and record.reachable:
            record.last_seen = now
            return []
        entry = AgentEntry(agent_id, hostname, str(total), attributes)
        if self.admitted.get(agent_id) != entry:
            self.registry.put(entry)
            self.admitted[agent_id] = entry
        self.recovering.pop(agent_id, None)
        back: dict[str, dict[str, Resources]] = defaultdict(dict)
        forward: dict[str, list[TaskStatus]] = defaultdict(list)
        reported = {report.task.task_id: report for report in tasks}
        gone: list[TaskRecord] = []
        if record is not None:
            for task in self.tasks.values():
                if task.agent_id != agent_id or task.state is not TaskState.TASK_UNREACHABLE:
                    continue
                report = reported.get(task.task.task_id)
                if report is not None and report.status.state.is_terminal:
                    continue  # its terminal update is resent next
                alive = report is not None
                task.status = TaskStatus(
                    task.task.task_id,
                    TaskState.TASK_RUNNING if alive else TaskState.TASK_GONE,
                    Source.SOURCE_MASTER,
                    now,
                    agent_id=agent_id,
                    reason=Reason.REASON_RECONCILIATION,
                    message="agent re-registered" + ("" if alive else " without this task"),
                    uuid=None,
                )
                forward[task.framework_id].append(task.status)
                if not alive:
                    self._count_terminal(task.status.state)
                    gone.append(task)
                if alive and task.framework_id in self.frameworks:
                    task.holds = True
                    held = back[task.framework_id].get(task.role)
                    resources = task.task.resources
                    back[task.framework_id][task.role] = held + resources if held else resources
        # The master's own GONE needs no acknowledgement: the task is done now.
        for task in gone:
            self._retire(task)
        kills: dict[str, list[str]] = defaultdict(list)
        for task_id, report in reported.items():
            if task_id in self.tasks or task_id in self.completed:
                continue
            if report.framework_id not in self.frameworks:
                if not report.status.state.is_terminal:
                    kills[report.framework_id].append(task_id)
                continue
            holds = not report.status.state.is_terminal
            self.tasks[task_id] = TaskRecord(
                report.task,
                report.framework_id,
                agent_id,
                report.role,
                report.status,
                holds,
                launched_at=now,
            )
            if holds:
                held = back[report.framework_id].get(report.role)
                resources = report.task.resources
                back[report.framework_id][report.role] = held + resources if held else resources
        total = self._with_reservations(agent_id, total)
        self.allocator.add_agent(agent_id, total, now, attributes, allocated=back)
        agent = self.agents[agent_id] = AgentRecord(agent_id, hostname, total, attributes, now, now)
        effects: list[Effect] = [ForwardUpdates(f, s) for f, s in forward.items()]
        effects += [KillTasks(agent_id, f, ids) for f, ids in kills.items()]
        if agent_id in self.maintenance:
            effects += self._drain(agent)
        return effects + self._answer_awaiting(agent_id, now)

    def heartbeat(self, agent_id: str, now: float) -> None:
        """Unknown or unreachable agents must (re-)register instead."""
        record = self._agent(agent_id)
        if not record.reachable:
            raise UnknownAgentError(f"agent '{agent_id}' is unreachable: re-register")
        record.last_seen = now

    # ------------------------------------------------------------- frameworks

    def subscribe(
        self,
        name: str,
        roles: Sequence[str],
        now: float,
        framework_id: str | None = None,
        capabilities: Sequence[str] = (),
        failover_timeout: float = 0.0,
    ) -> tuple[str, list[Effect]]:
        """Register a framework, or fail one over (same id) to a new
        scheduler: it keeps its tasks, and the agents resend the updates it
        has not acknowledged. An id this master has never seen is admitted
        (a framework returning after a master failover); the id of a framework
        torn down is refused."""
        if failover_timeout < 0:
            raise InvalidArgumentError(f"failover_timeout must be >= 0, got {failover_timeout}")
        if framework_id is not None and framework_id in self.removed_frameworks:
            raise UnknownFrameworkError(
                f"framework '{framework_id}' was torn down (its failover timeout passed or it "
                "was removed): subscribe without an id to register anew"
            )
        if framework_id is not None and framework_id in self.frameworks:
            record = self.frameworks[framework_id]
            if failover_timeout != record.failover_timeout:
                entry = record.entry()
                self.registry.put(
                    FrameworkEntry(
                        entry.framework_id,
                        entry.name,
                        entry.roles,
                        entry.capabilities,
                        failover_timeout,
                        entry.registered_at,
                    )
                )
            record.connected, record.disconnected_at = True, None
            record.failover_timeout, record.recovery_grace = failover_timeout, 0.0
            self.allocator.activate_framework(framework_id)
            pending: dict[str, list[str]] = defaultdict(list)
            for task_id, task in self.tasks.items():
                if task.framework_id == framework_id:
                    pending[task.agent_id].append(task_id)
            return framework_id, [
                ResendUpdates(agent_id, ids)
                for agent_id, ids in pending.items()
                if self.agents[agent_id].reachable
            ]
        if framework_id is not None:
            check_task_id(framework_id)
        new_id = framework_id or self._fresh_framework_id()
        record = FrameworkRecord(
            new_id, name, list(roles), frozenset(capabilities), failover_timeout, now
        )
        # Checked by the allocator (on a scratch one) before it is stored.
        Allocator().add_framework(new_id, list(roles), now, capabilities=capabilities)
        self.registry.put(record.entry())
        self.allocator.add_framework(new_id, list(roles), now, capabilities=capabilities)
        self.frameworks[new_id] = record
        return new_id, []

    def update_framework(
        self,
        framework_id: str,
        roles: Sequence[str] | None = None,
        capabilities: Sequence[str] | None = None,
        failover_timeout: float | None = None,
        name: str | None = None,
    ) -> None:
        """Mesos's UPDATE_FRAMEWORK: change roles (not one it still holds
        resources in), capabilities, failover timeout or name; all or nothing."""
        record = self._framework(framework_id)
        if failover_timeout is not None and failover_timeout < 0:
            raise InvalidArgumentError(f"failover_timeout must be >= 0, got {failover_timeout}")
        entry = FrameworkEntry(
            framework_id,
            record.name if name is None else name,
            record.roles if roles is None else list(roles),
            record.capabilities if capabilities is None else frozenset(capabilities),
            record.failover_timeout if failover_timeout is None else failover_timeout,
            record.registered_at,
        )
        # Only the allocator knows whether a dropped role still holds
        # resources; if the write then fails, this state is discarded.
        self.allocator.update_framework(framework_id, roles, capabilities)
        self.registry.put(entry)
        if roles is not None:
            record.roles = list(roles)
        if capabilities is not None:
            record.capabilities = frozenset(capabilities)
        if failover_timeout is not None:
            record.failover_timeout = failover_timeout
        if name is not None:
            record.name = name

    def disconnect(self, framework_id: str, now: float) -> list[Effect]:
        """The framework's actor is gone: no offers until it reconnects; its
        outstanding offers go back."""
        record = self._framework(framework_id)
        record.connected, record.disconnected_at = False, now
        self.allocator.deactivate_framework(framework_id)
        for offer in self.offers.take_framework(framework_id):
            self._recover(offer.framework_id, offer.agent_id, offer.role, offer.resources)
        return []

    # ----------------------------------------------------------------- offers

    def allocate(self, now: float) -> list[Effect]:
        """One allocation cycle: one SendOffers per framework."""
        batches: dict[str, list[OfferInfo]] = defaultdict(list)
        self.counters["allocation_runs"] += 1
        for offer in self.allocator.allocate(now):
            self.counters["offers"] += 1
            agent = self.agents[offer.agent_id]
            batches[offer.framework_id].append(
                self.offers.add(
                    offer.framework_id,
                    offer.agent_id,
                    offer.role,
                    offer.resources,
                    now,
                    agent.hostname,
                    agent.attributes,
                )
            )
        return [SendOffers(framework_id, offers) for framework_id, offers in batches.items()]

    def decline(
        self, framework_id: str, offer_ids: Sequence[str], refuse_seconds: float, now: float
    ) -> list[Effect]:
        self._framework(framework_id)
        for offer in self.offers.decline(framework_id, offer_ids):
            self.counters["offers_declined"] += 1
            self._recover(
                framework_id, offer.agent_id, offer.role, offer.resources, refuse_seconds, now
            )
        return []

    def accept(
        self,
        framework_id: str,
        offer_ids: Sequence[str],
        operations: Sequence[Operation],
        refuse_seconds: float,
        now: float,
    ) -> list[Effect]:
        self._framework(framework_id)
        plan = self.offers.accept(framework_id, offer_ids, operations, self.tasks.keys())
        effects: list[Effect] = []
        failure = self._apply_conversions(plan)
        destroyed = _destroyed_volumes(plan.conversions) if failure is None else []
        if destroyed and plan.agent_id is not None:
            effects.append(DestroyVolumes(plan.agent_id, destroyed))
        if failure is not None:
            # Nothing of the accept happens: every task is refused and the
            # offers go back whole.
            plan.refused += [
                Refusal(t, Reason.REASON_TASK_INVALID, failure)
                for t in plan.launch + [t for group in plan.groups for t in group]
            ]
            plan.launch, plan.groups = [], []
            plan.unused = [(plan.agent_id or "", plan.role or "", plan.offered)]
            effects.append(ErrorEvent(framework_id, failure))
        for agent_id, role, resources in plan.unused:
            self._recover(framework_id, agent_id, role, resources, refuse_seconds, now)
        if plan.error is not None:
            effects.append(ErrorEvent(framework_id, plan.error))
        effects += [ErrorEvent(framework_id, dropped) for dropped in plan.dropped]
        errors = [
            TaskStatus(
                r.task.task_id,
                TaskState.TASK_ERROR,
                Source.SOURCE_MASTER,
                now,
                agent_id=plan.agent_id,
                reason=r.reason,
                message=r.message,
                uuid=None,
            )
            for r in plan.refused
        ]
        if errors:
            effects.append(ForwardUpdates(framework_id, errors))
        launched = plan.launch + [t for group in plan.groups for t in group]
        if launched and plan.agent_id is not None and plan.role is not None:
            for task in launched:
                staging = TaskStatus(
                    task.task_id,
                    TaskState.TASK_STAGING,
                    Source.SOURCE_MASTER,
                    now,
                    agent_id=plan.agent_id,
                    uuid=None,
                )
                self.tasks[task.task_id] = TaskRecord(
                    task, framework_id, plan.agent_id, plan.role, staging, launched_at=now
                )
            effects.append(
                LaunchTasks(plan.agent_id, framework_id, plan.launch, plan.groups, plan.role)
            )
            self.counters["tasks_launched"] += len(launched)
        return effects

    def _apply_conversions(self, plan: AcceptPlan) -> str | None:
        """Apply the accept's reservation and volume operations to the
        allocator and the agent's total, all or none; why not, if none."""
        if not plan.conversions or plan.agent_id is None or plan.role is None:
            return None
        agent = self.agents[plan.agent_id]
        done: list[tuple[Resources, Resources]] = []
        try:
            for consumed, converted in plan.conversions:
                self.allocator.update_allocation(
                    plan.framework_id, plan.agent_id, plan.role, consumed, converted
                )
                done.append((consumed, converted))
        except PyactorsError as error:
            for consumed, converted in reversed(done):
                self.allocator.update_allocation(
                    plan.framework_id, plan.agent_id, plan.role, converted, consumed
                )
            return f"the accept's operations were not applied: {error}"
        for consumed, converted in done:
            agent.total = agent.total - consumed + converted
        self._store_reservations(plan.agent_id, agent.total)
        return None

    def _store_reservations(self, agent_id: str, total: Resources) -> None:
        """Record the agent's dynamic reservations and volumes: what is
        reserved now beyond what it reported (a failed write ends this
        master's term, so nothing is offered from an unstored reservation)."""
        reported = Resources.parse(self.admitted[agent_id].resources)
        try:
            dynamic = total.reserved() - reported.reserved()
        except ResourceError:
            # A volume made of a static reservation: nothing to lay over the
            # agent's own report, which keeps its static reservations.
            log.warning("agent %s: volumes on static reservations are not stored", agent_id)
            return
        if dynamic:
            self.registry.put(ReservationEntry(agent_id, [str(dynamic)]))
            self.reservations[agent_id] = dynamic
        elif self.reservations.pop(agent_id, None) is not None:
            self.registry.remove(Key(Kind.RESERVATIONS, agent_id))

    def _with_reservations(self, agent_id: str, reported: Resources) -> Resources:
        """The agent's resources with its stored reservations laid over."""
        dynamic = self.reservations.get(agent_id)
        if not dynamic:
            return reported
        try:
            return reported - unreserved_form(dynamic) + dynamic
        except ResourceError:
            log.warning(
                "agent %s came back with %s, too little for its stored reservations %s: "
                "they are dropped",
                agent_id,
                reported,
                dynamic,
            )
            return reported

    # ------------------------------------------------------------- tasks

    def status_updates(self, agent_id: str, statuses: Sequence[TaskStatus]) -> list[Effect]:
        """Updates an agent sends (a batch): record each task's state, free
        the resources of terminal tasks, forward to frameworks in one batch
        each. Updates of unknown tasks or impossible transitions are still
        acknowledged so the agent stops resending them, and not forwarded.
        A disconnected framework's updates are recorded but not forwarded:
        the agent keeps them until the framework is back."""
        self._agent(agent_id)
        self.counters["status_updates"] += len(statuses)
        forward: dict[str, list[TaskStatus]] = defaultdict(list)
        stale: list[tuple[str, str]] = []
        for status in statuses:
            record = self.tasks.get(status.task_id)
            if record is None or record.agent_id != agent_id:
                if status.uuid is not None:
                    stale.append((status.task_id, status.uuid))
                continue
            if record.state != status.state and not can_transition(record.state, status.state):
                if status.uuid is not None:
                    stale.append((status.task_id, status.uuid))
                continue
            if status.state.is_terminal and not record.state.is_terminal:
                self._count_terminal(status.state)
            record.status = status
            if status.state.is_terminal and record.holds:
                record.holds = False
                self._recover(record.framework_id, agent_id, record.role, record.task.resources)
            framework = self.frameworks.get(record.framework_id)
            if framework is None:
                # Nobody will acknowledge it: the framework was torn down.
                if status.uuid is not None:
                    stale.append((status.task_id, status.uuid))
                    self._complete(record, status.uuid)
            elif framework.connected:
                forward[record.framework_id].append(status)
        effects: list[Effect] = [ForwardUpdates(f, s) for f, s in forward.items()]
        if stale:
            effects.append(AcknowledgeToAgent(agent_id, stale))
        return effects

    def acknowledge(
        self, framework_id: str, acknowledgements: Sequence[tuple[str, str]]
    ) -> list[Effect]:
        """The framework acknowledges updates (task id, uuid); each agent
        gets its own in one message and may drop them. A task that is not
        the framework's refuses the whole batch. Acknowledging a terminal
        update moves the task to the completed ones."""
        self._framework(framework_id)
        records = []
        for task_id, uuid in acknowledgements:
            record = self.tasks.get(task_id) or self.completed.get(task_id)
            if record is None or record.framework_id != framework_id:
                raise InvalidArgumentError(f"task '{task_id}' is not a task of '{framework_id}'")
            records.append((record, uuid))
        per_agent: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for record, uuid in records:
            per_agent[record.agent_id].append((record.task.task_id, uuid))
            self._complete(record, uuid)
        return [AcknowledgeToAgent(agent_id, acks) for agent_id, acks in per_agent.items()]

    def kill(self, framework_id: str, task_id: str, now: float) -> list[Effect]:
        record = self.tasks.get(task_id) or self.completed.get(task_id)
        if record is None or record.framework_id != framework_id:
            # Mesos answers a kill of an unknown task with TASK_LOST/UNKNOWN.
            status = TaskStatus(
                task_id,
                TaskState.TASK_UNKNOWN,
                Source.SOURCE_MASTER,
                now,
                reason=Reason.REASON_TASK_UNKNOWN,
                message="no such task",
                uuid=None,
            )
            return [ForwardUpdates(framework_id, [status])]
        if record.state.is_terminal:
            return []
        return [KillTasks(record.agent_id, framework_id, [task_id])]

    def shutdown_executor(
        self, framework_id: str, agent_id: str, executor_id: str, now: float
    ) -> list[Effect]:
        """Mesos's SHUTDOWN: end an executor and its tasks. Each task here
        is its own executor (as with Mesos's command executor), so this kills
        the task `executor_id` on that agent."""
        self._framework(framework_id)
        record = self.tasks.get(executor_id)
        if record is None or record.framework_id != framework_id or record.agent_id != agent_id:
            raise InvalidArgumentError(
                f"no executor '{executor_id}' of '{framework_id}' on agent '{agent_id}'"
            )
        return self.kill(framework_id, executor_id, now)

    def message_to_task(
        self, framework_id: str, agent_id: str, task_id: str, data: bytes
    ) -> list[Effect]:
        """A scheduler's message for one of its live tasks (executor id =
        task id, as for Mesos's command executor)."""
        self._framework(framework_id)
        task_messages.check_message(data)
        record = self.tasks.get(task_id)
        if (
            record is None
            or record.framework_id != framework_id
            or record.agent_id != agent_id
            or record.state.is_terminal
        ):
            raise InvalidArgumentError(
                f"no live task '{task_id}' of '{framework_id}' on agent '{agent_id}'"
            )
        return [MessageToTask(agent_id, task_id, data)]

    def messages_from_tasks(
        self, agent_id: str, messages: Sequence[tuple[str, bytes]]
    ) -> list[Effect]:
        """Messages tasks on an agent left for their schedulers. Like Mesos's
        framework messages they are best effort: a disconnected or removed
        framework's are dropped."""
        self._agent(agent_id)
        out: dict[str, list[tuple[str, str, bytes]]] = defaultdict(list)
        for task_id, data in messages:
            record = self.tasks.get(task_id)
            if record is None or record.agent_id != agent_id:
                continue
            framework = self.frameworks.get(record.framework_id)
            if framework is not None and framework.connected:
                out[record.framework_id].append((agent_id, task_id, data))
        return [FrameworkMessages(f, m) for f, m in out.items()]

    def reconcile(
        self,
        framework_id: str,
        task_ids: Sequence[str],
        now: float,
        agent_ids: Mapping[str, str] | None = None,
    ) -> list[Effect]:
        """The latest state of the named tasks (all the framework's tasks
        when none are named), as updates that need no acknowledgement.

        `agent_ids` says where the framework last saw a task: a task this
        master does not know is answered once its agent is heard of (a new
        leader awaiting the agent answers when it re-registers or when the
        deadline passes): GONE from a registered agent, UNREACHABLE on an
        unreachable one, else UNKNOWN."""
        self._framework(framework_id)
        wanted = list(task_ids) or [
            t for t, r in self.tasks.items() if r.framework_id == framework_id
        ]
        statuses = []
        for task_id in wanted:
            record = self.tasks.get(task_id) or self.completed.get(task_id)
            if record is None or record.framework_id != framework_id:
                agent_id = (agent_ids or {}).get(task_id)
                if agent_id is not None and agent_id in self.recovering:
                    self.awaiting[agent_id].append((framework_id, task_id))
                    continue
                agent = self.agents.get(agent_id or "")
                state = (
                    TaskState.TASK_UNKNOWN
                    if agent is None
                    else TaskState.TASK_GONE
                    if agent.reachable
                    else TaskState.TASK_UNREACHABLE
                )
                statuses.append(
                    TaskStatus(
                        task_id,
                        state,
                        Source.SOURCE_MASTER,
                        now,
                        agent_id=agent_id,
                        reason=Reason.REASON_RECONCILIATION,
                        uuid=None,
                    )
                )
            else:
                latest = record.status
                statuses.append(
                    TaskStatus(
                        task_id,
                        latest.state,
                        Source.SOURCE_MASTER,
                        now,
                        agent_id=record.agent_id,
                        reason=Reason.REASON_RECONCILIATION,
                        message=latest.message,
                        healthy=latest.healthy,
                        uuid=None,
                    )
                )
        return [ForwardUpdates(framework_id, statuses)] if statuses else []

    # ------------------------------------------------------------- timers

    def expire(self, now: float) -> list[Effect]:
        """Rescind offers past offer_timeout; mark agents silent past
        agent_timeout unreachable (their tasks TASK_UNREACHABLE, resources
        out of the allocator)."""
        effects = self._rescind(self.offers.take_expired(now, self.config.offer_timeout))
        for agent in self.agents.values():
            if agent.reachable and now - agent.last_seen > self.config.agent_timeout:
                effects += self._mark_unreachable(agent, now)
        if self.reregister_deadline is not None and now >= self.reregister_deadline:
            effects += self._end_recovery(now)
        for framework in list(self.frameworks.values()):
            gone_at = framework.disconnected_at
            timeout = max(framework.failover_timeout, framework.recovery_grace)
            if gone_at is not None and now - gone_at >= timeout:
                effects += self.teardown(framework.framework_id)
        return effects

    def _rescind(self, offers: Sequence[OfferInfo]) -> list[Effect]:
        """Take back outstanding offers: their resources return to the
        allocator and each framework hears which of its offers are gone."""
        rescinded: dict[str, list[str]] = defaultdict(list)
        for offer in offers:
            self._recover(offer.framework_id, offer.agent_id, offer.role, offer.resources)
            rescinded[offer.framework_id].append(offer.id)
            self.counters["offers_rescinded"] += 1
        return [Rescind(f, ids) for f, ids in rescinded.items()]

    def teardown(self, framework_id: str) -> list[Effect]:
        """Remove a framework: kill its live tasks, give back everything it
        holds. Its tasks' later updates are acknowledged, not forwarded."""
        self._framework(framework_id)
        self.registry.remove(Key(Kind.FRAMEWORK, framework_id))
        for offer in self.offers.take_framework(framework_id):
            self._recover(framework_id, offer.agent_id, offer.role, offer.resources)
        kills: dict[str, list[str]] = defaultdict(list)
        for record in self.tasks.values():
            if record.framework_id == framework_id and not record.state.is_terminal:
                record.holds = False
                if record.state is not TaskState.TASK_UNREACHABLE:
                    kills[record.agent_id].append(record.task.task_id)
        self.allocator.remove_framework(framework_id)
        del self.frameworks[framework_id]
        self.removed_frameworks.add(framework_id)
        return [KillTasks(agent_id, framework_id, ids) for agent_id, ids in kills.items()]

    def agent_lost(self, agent_id: str, now: float) -> list[Effect]:
        """The agent's actor is gone (not merely silent): unreachable now,
        without waiting for agent_timeout."""
        agent = self._agent(agent_id)
        return self._mark_unreachable(agent, now) if agent.reachable else []

    def _mark_unreachable(self, agent: AgentRecord, now: float) -> list[Effect]:
        agent.reachable = False
        # Offers and allocations on it leave with it; it comes back through
        # register_agent with its running tasks.
        self.offers.take_agent(agent.agent_id)
        self.allocator.remove_agent(agent.agent_id)
        forward: dict[str, list[TaskStatus]] = defaultdict(list)
        for record in self.tasks.values():
            if record.agent_id != agent.agent_id or record.state.is_terminal:
                continue
            record.holds = False
            record.status = TaskStatus(
                record.task.task_id,
                TaskState.TASK_UNREACHABLE,
                Source.SOURCE_MASTER,
                now,
                agent_id=agent.agent_id,
                reason=Reason.REASON_AGENT_DISCONNECTED,
                message=f"agent {agent.agent_id} has not been heard from since {agent.last_seen}",
                uuid=None,
            )
            forward[record.framework_id].append(record.status)
        lost: list[Effect] = [
            AgentLost(f.framework_id, agent.agent_id)
            for f in self.frameworks.values()
            if f.connected
        ]
        return [ForwardUpdates(f, s) for f, s in forward.items()] + lost

    # ------------------------------------------------------------- state

    def state(self) -> dict[str, Any]:
        """A Mesos /state-like summary."""
        live: dict[str, list[dict[str, Any]]] = defaultdict(list)
        completed: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for records, into in ((self.tasks, live), (self.completed, completed)):
            for t in records.values():
                into[t.framework_id].append(
                    {
                        "id": t.task.task_id,
                        "name": t.task.name,
                        "state": t.state.value,
                        "agent_id": t.agent_id,
                        "role": t.role,
                        "resources": str(t.task.resources),
                        "status": t.status.to_dict(),
                    }
                )
        return {
            "agents": [
                {
                    "id": a.agent_id,
                    "hostname": a.hostname,
                    "resources": str(a.total),
                    "attributes": a.attributes,
                    "reachable": a.reachable,
                }
                for a in self.agents.values()
            ],
            "frameworks": [
                {
                    "id": f.framework_id,
                    "name": f.name,
                    "roles": f.roles,
                    "capabilities": sorted(f.capabilities),
                    "failover_timeout": f.failover_timeout,
                    "connected": f.connected,
                    "tasks": live[f.framework_id],
                    "completed_tasks": completed[f.framework_id],
                }
                for f in self.frameworks.values()
            ],
            "outstanding_offers": len(self.offers),
            "counters": dict(self.counters),
            "allocator": self.allocator.snapshot(),
            "weights": dict(self.weights),
            "quotas": {
                role: {"guarantee": q.guarantee, "limit": q.limit}
                for role, q in self.quotas.items()
            },
            "recovering_agents": sorted(self.recovering),
        }

    # ------------------------------------------------------------- internals

    def _agent(self, agent_id: str) -> AgentRecord:
        record = self.agents.get(agent_id)
        if record is None:
            raise UnknownAgentError(f"unknown agent '{agent_id}'")
        return record

    def _framework(self, framework_id: str) -> FrameworkRecord:
        record = self.frameworks.get(framework_id)
        if record is None:
            raise UnknownFrameworkError(f"unknown framework '{framework_id}'")
        return record

    def _fresh_framework_id(self) -> str:
        # Ids admitted from elsewhere (after a master failover) may already
        # use the serial's next values.
        while True:
            candidate = f"framework-{next(self._framework_serial)}"
            if candidate not in self.frameworks and candidate not in self.removed_frameworks:
                return candidate

    def _complete(self, record: TaskRecord, uuid: str) -> None:
        """The terminal update of a task was delivered: keep the task among
        the completed ones, a bounded history."""
        delivered = record.status.state.is_terminal and record.status.uuid == uuid
        if delivered and self.tasks.get(record.task.task_id) is record:
            self._retire(record)

    def _retire(self, record: TaskRecord) -> None:
        task_id = record.task.task_id
        del self.tasks[task_id]
        self.completed[task_id] = record
        while len(self.completed) > self.config.max_completed_tasks:
            self.completed.popitem(last=False)

    def _count_terminal(self, state: TaskState) -> None:
        self.counters["tasks_" + state.value.removeprefix("TASK_").lower()] += 1

    def _recover(
        self,
        framework_id: str,
        agent_id: str,
        role: str,
        resources: Resources,
        refuse_seconds: float = 0.0,
        now: float | None = None,
    ) -> None:
        agent = self.agents.get(agent_id)
        if resources and agent is not None and agent.reachable and framework_id in self.frameworks:
            self.allocator.recover(framework_id, agent_id, resources, refuse_seconds, now, role)


def _destroyed_volumes(conversions: Sequence[tuple[Resources, Resources]]) -> list[str]:
    """Persistence ids that DESTROY operations among these conversions end."""
    destroyed = []
    for consumed, converted in conversions:
        kept = set(persistent_volumes.persistence_ids(converted))
        destroyed += [v for v in persistent_volumes.persistence_ids(consumed) if v not in kept]
    return destroyed
