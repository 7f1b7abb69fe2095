"""The master as a plain state machine.

The master actor is a thin shell around `MasterState`: it feeds in what
arrives (registrations, calls, status updates, timer ticks) with the time,
and sends the `Effect`s each call returns (`pyactors.core.protocol`).
Nothing here touches Ray or a clock, so tests drive whole scenarios
directly and replay them exactly. Every method that needs the time takes it
as `now`, right after its required parameters (before the optional ones).

Messages are batched as the runtime needs: one `SendOffers` per framework
per cycle, one `ForwardUpdates` per framework per call.

`MasterState` owns the agents and frameworks and their lifecycles, and
collaborators for the rest: the tasks (`TaskBook`), offers and the
resources coming back (`Offering`), the operator's calls (`Operator`), what
the registry holds about agents (`AgentStore`) and a new leader's wait for
its agents (`Recovery`).

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

import dataclasses
import itertools
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pyactors._core import Resources
from pyactors.core.allocator import Allocator
from pyactors.core.operations import USER_RULE, Operation, check_task_id, valid_user
from pyactors.core.protocol import (
    AgentLost,
    Effect,
    ExecutorReport,
    ExitedExecutor,
    ForwardUpdates,
    KillTasks,
    ResendUpdates,
    TaskReport,
)
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.errors import (
    AuthenticationError,
    InvalidArgumentError,
    UnknownAgentError,
    UnknownFrameworkError,
)
from pyactors.master.agent_store import AgentStore
from pyactors.master.executor_book import ExecutorRecord
from pyactors.master.liveness import Liveness
from pyactors.master.maintenance import MachineId
from pyactors.master.maintenance_book import MaintenanceBook
from pyactors.master.offer_book import OfferBook
from pyactors.master.offers import Offering
from pyactors.master.operator import Operator
from pyactors.master.operator_calls import OperatorCalls
from pyactors.master.records import (
    AgentRecord,
    FrameworkRecord,
    MasterConfig,
    Shared,
    TaskRecord,
    known_agent,
    known_framework,
)
from pyactors.master.recovery import Recovery, recovered_frameworks
from pyactors.master.registry import MemoryRegistry, Registry
from pyactors.master.registry_records import (
    AgentEntry,
    CompletedFrameworkEntry,
    FrameworkEntry,
    Key,
    Kind,
    MaintenanceEntry,
    QuotaEntry,
)
from pyactors.master.task_book import TaskBook

# The documented import path of the master's configuration.
__all__ = ["MasterConfig", "MasterState"]


def _loaded_memory_registry() -> Registry:
    registry = MemoryRegistry()
    registry.load()
    return registry


@dataclass
class MasterState(OperatorCalls):
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
        self.shared = Shared()
        # Torn-down frameworks' ids, oldest first, with when they were removed.
        self.removed_frameworks: dict[str, float] = {}
        # The disconnected frameworks, in the order they disconnected: the
        # only ones `expire` looks at for their failover timeout.
        self._disconnected: dict[str, None] = {}
        self._failover_visits = 0
        # Totals since start (Mesos's master/* counters): offers made,
        # declined, rescinded, tasks launched, tasks that reached each
        # terminal state (`tasks_<state>`), status updates received,
        # allocation cycles run.
        self.counters: Counter[str] = Counter()
        self._framework_serial = itertools.count(1)
        self.task_book = TaskBook(self.config.max_completed_tasks, self.counters)
        self.agent_store = AgentStore(self.registry)
        self.offering = Offering(
            self.allocator,
            self.offers,
            self.agents,
            self.frameworks,
            self.task_book,
            self.agent_store,
            self.counters,
            self.config.acls,
        )
        self.operator = Operator(
            self.registry,
            self.allocator,
            self.agents,
            self.frameworks,
            self.task_book,
            self.offering,
            self.agent_store,
            self.config.acls,
        )
        self.recovery = Recovery()
        self.liveness = Liveness()
        self.maintenance_book = MaintenanceBook(
            self.registry,
            self.agents,
            self.frameworks,
            self.task_book,
            self.offering,
            self.config.acls,
            self.offer_prefix,
        )

    # What the collaborators hold, as the HTTP state and tests read it.

    @property
    def tasks(self) -> dict[str, TaskRecord]:
        return self.task_book.live

    @property
    def completed(self) -> OrderedDict[str, TaskRecord]:
        return self.task_book.completed

    @property
    def executors(self) -> list[ExecutorRecord]:
        return list(self.offering.executors)

    @property
    def reservations(self) -> dict[str, Resources]:
        return self.agent_store.reservations

    @property
    def weights(self) -> dict[str, float]:
        return self.operator.weights

    @property
    def quotas(self) -> dict[str, QuotaEntry]:
        return self.operator.quotas

    @property
    def maintenance(self) -> dict[str, MaintenanceEntry]:
        return self.operator.maintenance

    @property
    def recovering(self) -> dict[str, AgentEntry]:
        """Admitted agents a new leader still awaits."""
        return self.recovery.agents

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
        self.operator.restore(snapshot)
        self.maintenance_book.restore(snapshot)
        completed = sorted(snapshot.completed_frameworks.values(), key=lambda e: e.removed_at)
        self.removed_frameworks = {e.framework_id: e.removed_at for e in completed}
        grace = self.config.agent_reregister_timeout
        for framework_id, record in recovered_frameworks(
            snapshot.frameworks.values(), now, grace
        ).items():
            self.allocator.add_framework(
                framework_id, record.roles, now, capabilities=record.capabilities
            )
            self.allocator.deactivate_framework(framework_id)
            self.frameworks[framework_id] = record
            self._disconnected[framework_id] = None
        self.agent_store.restore(snapshot.agents, snapshot.reservations, snapshot.static_volumes)
        self.recovery.begin(snapshot.agents, now + grace)
        return []

    def _end_recovery(self, now: float) -> list[Effect]:
        """The re-registration deadline passed: the agents still missing are
        unreachable, and so are the tasks frameworks asked about there."""
        effects: list[Effect] = []
        for agent_id, entry in self.recovery.missing(now).items():
            self.agents[agent_id] = AgentRecord(
                agent_id,
                entry.hostname,
                Resources.parse(entry.resources),
                dict(entry.attributes),
                now,
                now,
                reachable=False,
            )
            effects += self._agent_lost_events(agent_id)
            effects += self._answer_deferred(agent_id, now)
        return effects

    def _answer_deferred(self, agent_id: str, now: float) -> list[Effect]:
        effects: list[Effect] = []
        for framework_id, task_id in self.recovery.deferred(agent_id):
            if framework_id in self.frameworks:
                effects += self.reconcile(framework_id, [task_id], now, {task_id: agent_id})
        return effects

    # ----------------------------------------------------------------- agents

    def register_agent(
        self,
        agent_id: str,
        hostname: str,
        total: Resources,
        attributes: dict[str, str],
        now: float,
        tasks: Sequence[TaskReport] = (),
        recovered: bool = False,
        executors: Sequence[ExecutorReport] = (),
    ) -> list[Effect]:
        """A new agent (admitted to the registry first), one a new leader
        awaits, or one that comes back after being unreachable, with the
        tasks it holds (`TaskBook.rejoin`). One under maintenance is drained
        again. One that restarted (`recovered`) or was disconnected is
        reconciled with what it holds (`_agent_back`)."""
        record = self.agents.get(agent_id)
        if record is not None and record.reachable:
            record.last_seen = now
            self.liveness.heard(agent_id, now)
            if recovered or record.disconnected_at is not None:
                return self._agent_back(record, tasks, now, executors)
            return []
        if self.maintenance_book.refuses(hostname):
            return []  # Mesos shuts such an agent down; it tries again once UP
        shared = self.shared
        total, attributes = shared.resources(total), shared.attributes(attributes)
        self.agent_store.admit(AgentEntry(agent_id, hostname, shared.text(str(total)), attributes))
        self.recovery.back(agent_id)
        rejoined = self.task_book.rejoin(agent_id, tasks, self.frameworks, record is not None, now)
        shutdowns = self.offering.rejoin_executors(agent_id, executors, rejoined.allocated)
        total = shared.resources(self.agent_store.with_reservations(agent_id, total))
        self.allocator.add_agent(agent_id, total, now, attributes, allocated=rejoined.allocated)
        agent = self.agents[agent_id] = AgentRecord(agent_id, hostname, total, attributes, now, now)
        self.liveness.heard(agent_id, now)
        effects: list[Effect] = [ForwardUpdates(f, s) for f, s in rejoined.forward.items()]
        effects += [KillTasks(agent_id, f, ids) for f, ids in rejoined.kills.items()] + shutdowns
        if agent_id in self.maintenance:
            effects += self.operator.drain(agent)
        return effects + self._answer_deferred(agent_id, now)

    def heartbeat(self, agent_id: str, now: float) -> None:
        """Unknown or unreachable agents must (re-)register instead."""
        known_agent(self.agents, agent_id)
        if self.heartbeats([agent_id], now):
            raise UnknownAgentError(f"agent '{agent_id}' is unreachable: re-register")

    def heartbeats(self, agent_ids: Sequence[str], now: float) -> list[str]:
        """`heartbeat` for the agents one actor hosts: those that must
        register again, without an exception each."""
        unknown = []
        agents, liveness = self.agents, self.liveness
        for agent_id in agent_ids:
            record = agents.get(agent_id)
            if record is None or not record.reachable or record.disconnected_at is not None:
                unknown.append(agent_id)
                continue
            record.last_seen = now
            liveness.heard(agent_id, now)
        return unknown

    def agent_lost(self, agent_id: str, now: float) -> list[Effect]:
        """The agent's actor is gone (not merely silent): unreachable now,
        without waiting for agent_timeout."""
        agent = known_agent(self.agents, agent_id)
        agent.disconnected_at = None
        return self._mark_unreachable(agent, now) if agent.reachable else []

    def agent_disconnected(self, agent_id: str, now: float) -> list[Effect]:
        """The agent's actor died but its node stays: it may come back with
        its tasks (agent recovery). Until `agent_recovery_timeout` passes
        its tasks stay live and keep their resources, nobody hears of it,
        its offers are rescinded and it gets no new ones."""
        agent = known_agent(self.agents, agent_id)
        if not agent.reachable or agent.disconnected_at is not None:
            return []
        agent.disconnected_at = now
        self.liveness.disconnected(agent_id, now)
        self.allocator.deactivate_agent(agent_id)
        return self.offering.rescind(self.offers.take_agent(agent_id))

    def _agent_back(
        self,
        agent: AgentRecord,
        reports: Sequence[TaskReport],
        now: float,
        executors: Sequence[ExecutorReport] = (),
    ) -> list[Effect]:
        """A restarted agent registers with everything it recovered: the
        tasks this master has there that it does not report are TASK_GONE
        (Mesos 1.x); those it reports keep their records (their updates
        follow); those of frameworks gone meanwhile are killed."""
        agent_id = agent.agent_id
        if agent.disconnected_at is not None:
            agent.disconnected_at = None
            if agent_id not in self.maintenance:
                self.allocator.activate_agent(agent_id)
        reported = {report.task.task_id for report in reports}
        gone = [r for r in self.task_book.on_agent(agent_id) if r.task.task_id not in reported]
        effects = self.status_updates(
            agent_id,
            [
                TaskStatus(
                    record.task.task_id,
                    TaskState.TASK_GONE,
                    Source.SOURCE_MASTER,
                    now,
                    agent_id=agent_id,
                    reason=Reason.REASON_AGENT_RESTARTED,
                    message="agent restarted without this task",
                    uuid=None,
                )
                for record in gone
            ],
        )
        for record in gone:
            self.task_book.retire(record)  # the master's own update needs no acknowledgement
        kills: dict[str, list[str]] = defaultdict(list)
        for report in reports:
            if report.framework_id not in self.frameworks and not report.status.state.is_terminal:
                kills[report.framework_id].append(report.task.task_id)
        shutdowns = self.offering.rejoin_executors(agent_id, executors, None)
        return effects + [KillTasks(agent_id, f, ids) for f, ids in kills.items()] + shutdowns

    def _mark_unreachable(self, agent: AgentRecord, now: float) -> list[Effect]:
        """Its offers are rescinded (frameworks must not hold dead offers,
        and once out of the book no offer timeout would rescind them), then
        its tasks are TASK_UNREACHABLE and frameworks hear it is lost. Its
        allocations leave with it: it comes back through register_agent
        with its running tasks."""
        agent.reachable = False
        self.liveness.forget(agent.agent_id)
        # Unreachable first: nothing rescinded goes back to the allocator.
        rescinds = self.offering.rescind(self.offers.take_agent(agent.agent_id))
        self.allocator.remove_agent(agent.agent_id)
        self.offering.executors.unreachable(agent.agent_id)
        return (
            rescinds
            + self.maintenance_book.agent_gone(agent.agent_id)
            + self.task_book.unreachable(agent, now)
            + self._agent_lost_events(agent.agent_id)
        )

    def _remove_agent(self, agent: AgentRecord, now: float) -> list[Effect]:
        """Mesos's removal of an agent whose machine goes DOWN: its tasks
        killed there and TASK_LOST for their frameworks, it is forgotten
        (its registry entry stays: it may register again once UP)."""
        agent_id = agent.agent_id
        kills, lost = self.maintenance_book.removal(agent, now)
        effects = self.maintenance_book.agent_gone(agent_id)
        effects += self.offering.rescind(self.offers.take_agent(agent_id))
        effects += kills + self.status_updates(agent_id, lost)
        for status in lost:
            self.task_book.retire(self.tasks[status.task_id])
        if agent.reachable:
            self.allocator.remove_agent(agent_id)
        self.liveness.forget(agent_id)
        del self.agents[agent_id]
        return effects + self._agent_lost_events(agent_id)

    def _agent_lost_events(self, agent_id: str) -> list[Effect]:
        connected = (f for f in self.frameworks.values() if f.connected)
        return [AgentLost(f.framework_id, agent_id) for f in connected]

    # ------------------------------------------------------------- frameworks

    def subscribe(
        self,
        name: str,
        roles: Sequence[str],
        now: float,
        framework_id: str | None = None,
        capabilities: Sequence[str] = (),
        failover_timeout: float = 0.0,
        principal: str | None = None,
        secret: str | None = None,
        user: str | None = None,
        webui_url: str | None = None,
    ) -> tuple[str, list[Effect]]:
        """Register a framework, or fail one over (same id) to a new
        scheduler: it keeps its tasks, and the agents resend the updates it
        has not acknowledged. An id this master has never seen is admitted
        (a framework returning after a master failover); the id of a framework
        torn down is refused.

        With credentials configured, `principal` and `secret` must match
        them (else AuthenticationError); the ACL register_frameworks must let
        the principal use every role (else AuthorizationError). A framework
        fails over only to the principal that registered it. `user` is the
        OS user its tasks run as when they name none."""
        self._authenticate(name, principal, secret)
        for role in roles:
            self.config.acls.check("register_frameworks", principal, role)
        if user is not None and not valid_user(user):
            raise InvalidArgumentError(f"invalid framework user {user!r}: {USER_RULE}")
        if failover_timeout < 0:
            raise InvalidArgumentError(f"failover_timeout must be >= 0, got {failover_timeout}")
        if framework_id is not None and framework_id in self.removed_frameworks:
            raise UnknownFrameworkError(
                f"framework '{framework_id}' was torn down (its failover timeout passed or it "
                "was removed): subscribe without an id to register anew"
            )
        if framework_id is not None and framework_id in self.frameworks:
            record = self.frameworks[framework_id]
            if record.principal != principal:
                raise AuthenticationError(
                    f"framework '{framework_id}' was registered by "
                    f"{_principal_name(record.principal)}, not {_principal_name(principal)}: "
                    "a framework fails over only to its own principal"
                )
            record.webui_url = webui_url
            return framework_id, self._reconnect(record, failover_timeout)
        if framework_id is not None:
            check_task_id(framework_id)
        new_id = framework_id or self._fresh_framework_id()
        record = FrameworkRecord(
            new_id,
            name,
            list(roles),
            frozenset(capabilities),
            failover_timeout,
            now,
            principal=principal,
            user=user,
            webui_url=webui_url,
        )
        # Checked by the allocator (on a scratch one) before it is stored.
        Allocator().add_framework(new_id, list(roles), now, capabilities=capabilities)
        self.registry.put(record.entry())
        self.allocator.add_framework(new_id, list(roles), now, capabilities=capabilities)
        self.frameworks[new_id] = record
        return new_id, []

    def _reconnect(self, record: FrameworkRecord, failover_timeout: float) -> list[Effect]:
        framework_id = record.framework_id
        if failover_timeout != record.failover_timeout:
            self.registry.put(
                dataclasses.replace(record.entry(), failover_timeout=failover_timeout)
            )
        record.connected, record.disconnected_at = True, None
        self._disconnected.pop(framework_id, None)
        record.failover_timeout, record.recovery_grace = failover_timeout, 0.0
        self.allocator.activate_framework(framework_id)
        pending = self.task_book.to_resend(framework_id).items()
        return [ResendUpdates(a, ids) for a, ids in pending if self.agents[a].reachable]

    def update_framework(
        self,
        framework_id: str,
        roles: Sequence[str] | None = None,
        capabilities: Sequence[str] | None = None,
        failover_timeout: float | None = None,
        name: str | None = None,
    ) -> list[Effect]:
        """Mesos's UPDATE_FRAMEWORK: change roles (not one it still holds
        resources in), capabilities, failover timeout or name; all or nothing."""
        record = known_framework(self.frameworks, framework_id)
        if failover_timeout is not None and failover_timeout < 0:
            raise InvalidArgumentError(f"failover_timeout must be >= 0, got {failover_timeout}")
        for role in roles or ():
            self.config.acls.check("register_frameworks", record.principal, role)
        entry = FrameworkEntry(
            framework_id,
            record.name if name is None else name,
            record.roles if roles is None else list(roles),
            record.capabilities if capabilities is None else frozenset(capabilities),
            record.failover_timeout if failover_timeout is None else failover_timeout,
            record.registered_at,
            record.principal,
            record.user,
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
        return []

    def revive(self, framework_id: str, roles: Sequence[str] | None) -> list[Effect]:
        """Offers again in these roles (all when None), filters cleared."""
        self.allocator.revive(framework_id, roles)
        return []

    def suppress(self, framework_id: str, roles: Sequence[str] | None) -> list[Effect]:
        """No offers in these roles (all when None) until revived."""
        self.allocator.suppress(framework_id, roles)
        return []

    def disconnect(self, framework_id: str, now: float) -> list[Effect]:
        """The framework's actor is gone: no offers until it reconnects; its
        outstanding offers go back."""
        record = known_framework(self.frameworks, framework_id)
        record.connected, record.disconnected_at = False, now
        self._disconnected[framework_id] = None
        self.allocator.deactivate_framework(framework_id)
        self.offering.withdraw(framework_id)
        self.maintenance_book.framework_gone(framework_id)
        return []

    def teardown(self, framework_id: str, now: float) -> list[Effect]:
        """Remove a framework: its live tasks are TASK_KILLED at once (and
        killed on their agents), everything it holds is given back. Its
        tasks' later updates are acknowledged, not forwarded. Its id is kept
        (the newest `max_completed_frameworks`) in the registry, refused
        when it subscribes again."""
        known_framework(self.frameworks, framework_id)
        limit = self.config.max_completed_frameworks
        kept = [*self.removed_frameworks, framework_id][-limit:] if limit > 0 else []
        evicted = [old for old in self.removed_frameworks if old not in kept]
        self.registry.write(
            put=[CompletedFrameworkEntry(framework_id, now)] if kept else [],
            remove=[
                Key(Kind.FRAMEWORK, framework_id),
                *(Key(Kind.COMPLETED_FRAMEWORK, old) for old in evicted),
            ],
        )
        self.offering.withdraw(framework_id)
        self.maintenance_book.framework_gone(framework_id)
        kills = self.task_book.release(framework_id, now)
        self.allocator.remove_framework(framework_id)
        del self.frameworks[framework_id]
        self._disconnected.pop(framework_id, None)
        self.removed_frameworks = {fid: self.removed_frameworks.get(fid, now) for fid in kept}
        return kills + self.offering.executors.release(framework_id)

    def operator_teardown(
        self, framework_id: str, now: float, principal: str | None = None
    ) -> list[Effect]:
        """The operator removes a framework: the ACL teardown_frameworks
        must let `principal` (None: an unauthenticated caller) tear down
        frameworks of the framework's principal."""
        record = known_framework(self.frameworks, framework_id)
        self.config.acls.check("teardown_frameworks", principal, record.principal)
        return self.teardown(framework_id, now)

    def _authenticate(self, name: str, principal: str | None, secret: str | None) -> None:
        credentials = self.config.credentials
        if credentials is None or credentials.verify(principal, secret):
            return
        if principal is None:
            raise AuthenticationError(
                f"framework {name!r} gave no principal: this master requires credentials"
            )
        raise AuthenticationError(
            f"framework {name!r}: principal {principal!r} and its secret do not match "
            "the master's credentials"
        )

    def _fresh_framework_id(self) -> str:
        # Ids admitted from elsewhere (after a master failover) may already
        # use the serial's next values.
        while True:
            candidate = f"framework-{next(self._framework_serial)}"
            if candidate not in self.frameworks and candidate not in self.removed_frameworks:
                return candidate

    # ----------------------------------------------------------------- offers

    def allocate(self, now: float) -> list[Effect]:
        """One allocation cycle: one SendOffers per framework (offers from
        scheduled machines carry their unavailability), then inverse offers."""
        offers = self.maintenance_book.with_unavailability(self.offering.allocate(now))
        return offers + self.maintenance_book.make(now)

    def answer_inverse_offers(
        self,
        framework_id: str,
        inverse_offer_ids: Sequence[str],
        accept: bool,
        refuse_seconds: float | None,
        now: float,
    ) -> list[Effect]:
        known_framework(self.frameworks, framework_id)
        return self.maintenance_book.answer(
            framework_id, list(inverse_offer_ids), accept, refuse_seconds, now
        )

    def decline(
        self, framework_id: str, offer_ids: Sequence[str], refuse_seconds: float, now: float
    ) -> list[Effect]:
        known_framework(self.frameworks, framework_id)
        return self.offering.decline(framework_id, offer_ids, refuse_seconds, now)

    def accept(
        self,
        framework_id: str,
        offer_ids: Sequence[str],
        operations: Sequence[Operation],
        refuse_seconds: float,
        now: float,
    ) -> list[Effect]:
        known_framework(self.frameworks, framework_id)
        return self.offering.accept(framework_id, offer_ids, operations, refuse_seconds, now)

    # ------------------------------------------------------------------ tasks

    def status_updates(self, agent_id: str, statuses: Sequence[TaskStatus]) -> list[Effect]:
        """Updates an agent sends (a batch): recorded, forwarded to their
        frameworks in one batch each (`TaskBook.status_updates`); the
        resources of tasks that ended go back to the allocator."""
        known_agent(self.agents, agent_id)
        return self.status_update_batches([(agent_id, statuses)])

    def status_update_batches(
        self, batches: Sequence[tuple[str, Sequence[TaskStatus]]]
    ) -> list[Effect]:
        """`status_updates` for the agents one actor hosts, in one give-back;
        unknown agents' are skipped (a new leader's resend once registered)."""
        known = [(agent_id, s) for agent_id, s in batches if agent_id in self.agents]
        self.counters["status_updates"] += sum(len(statuses) for _, statuses in known)
        effects, freed = self.task_book.status_update_batches(known, self.frameworks)
        self.offering.give_back_many(
            (r.framework_id, r.agent_id, r.role, r.task.resources) for r in freed
        )
        return effects

    def acknowledge(
        self, framework_id: str, acknowledgements: Sequence[tuple[str, str]]
    ) -> list[Effect]:
        known_framework(self.frameworks, framework_id)
        return self.task_book.acknowledge(framework_id, acknowledgements)

    def kill(
        self, framework_id: str, task_id: str, now: float, grace_period: float | None = None
    ) -> list[Effect]:
        return self.task_book.kill(framework_id, task_id, now, grace_period)

    def shutdown_executor(
        self, framework_id: str, agent_id: str, executor_id: str, now: float
    ) -> list[Effect]:
        known_framework(self.frameworks, framework_id)
        return self.task_book.shutdown_executor(framework_id, agent_id, executor_id, now)

    def executor_exited(self, exited: ExitedExecutor) -> None:
        """Mesos's ExitedExecutorMessage: its resources go back."""
        known_agent(self.agents, exited.agent_id)
        self.executors_exited([exited])

    def executors_exited(self, exits: Sequence[ExitedExecutor]) -> None:
        """`executor_exited` for a batch, in one give-back; unknown agents'
        are skipped (they report their executors as they register)."""
        book = self.offering.executors
        self.offering.executors_exited(
            [
                book.exited(e.framework_id, e.agent_id, e.executor_id)
                for e in exits
                if e.agent_id in self.agents
            ]
        )

    def message_to_task(
        self, framework_id: str, agent_id: str, task_id: str, data: bytes
    ) -> list[Effect]:
        known_framework(self.frameworks, framework_id)
        return self.task_book.message_to_task(framework_id, agent_id, task_id, data)

    def messages_from_tasks(
        self, agent_id: str, messages: Sequence[tuple[str, bytes]]
    ) -> list[Effect]:
        known_agent(self.agents, agent_id)
        return self.task_book.messages_from_tasks(agent_id, messages, self.frameworks)

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
        known_framework(self.frameworks, framework_id)

        def unknown_state(task_id: str, agent_id: str | None) -> TaskState | None:
            if agent_id is not None and self.recovery.awaits(agent_id):
                self.recovery.defer(agent_id, framework_id, task_id)
                return None
            agent = self.agents.get(agent_id or "")
            if agent is None:
                return TaskState.TASK_UNKNOWN
            return TaskState.TASK_GONE if agent.reachable else TaskState.TASK_UNREACHABLE

        return self.task_book.reconcile(framework_id, task_ids, agent_ids or {}, unknown_state, now)

    # ----------------------------------------------------------------- timers

    def expire(self, now: float) -> list[Effect]:
        """Rescind offers past offer_timeout; mark agents silent past
        agent_timeout unreachable (their tasks TASK_UNREACHABLE, resources
        out of the allocator); end a new leader's wait for its agents; remove
        frameworks disconnected past their failover timeout."""
        effects = self.offering.rescind(self.offers.take_expired(now, self.config.offer_timeout))
        effects += self.maintenance_book.expire(now, self.config.offer_timeout)
        due = self.liveness.due(now, self.config.agent_timeout, self.config.agent_recovery_timeout)
        for agent_id in due.not_recovered:
            self.agents[agent_id].disconnected_at = None
        for agent_id in due.silent + due.not_recovered:
            effects += self._mark_unreachable(self.agents[agent_id], now)
        effects += self._end_recovery(now)
        self._failover_visits = len(self._disconnected)
        for framework_id in list(self._disconnected):
            framework = self.frameworks[framework_id]
            gone_at = framework.disconnected_at
            timeout = max(framework.failover_timeout, framework.recovery_grace)
            if gone_at is not None and now - gone_at >= timeout:
                effects += self.teardown(framework_id, now)
        return effects

    @property
    def last_cycle_visits(self) -> int:
        """Offers, agents and disconnected frameworks the last `expire`
        looked at, and agents the last cycle shuffled and visited: it grows
        with what changed, never with idle agents (tests count it)."""
        visits = self.offers.visited + self.liveness.visited + self._failover_visits
        cycle = self.allocator.last_cycle_candidates + self.allocator.last_cycle_visits
        return visits + cycle

    # --------------------------------------------------------------- operator

    def start_maintenance(
        self, machines: tuple[MachineId, ...], now: float, principal: str | None = None
    ) -> list[Effect]:
        """START_MAINTENANCE (/machine/down): DRAINING machines are DOWN and
        their agents removed (ACL start_maintenances). The schedule's other
        calls are `maintenance_book`'s."""
        effects: list[Effect] = []
        for agent in self.maintenance_book.start(machines, principal):
            effects += self._remove_agent(agent, now)
        return effects


def _principal_name(principal: str | None) -> str:
    return "no principal" if principal is None else f"principal {principal!r}"
