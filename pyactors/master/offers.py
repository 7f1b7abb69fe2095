"""Offers out and resources back: the allocation cycle, declines, accepts
and rescinds, over the offer book (`pyactors.master.offer_book`) and the
allocator.

Every resource leaves the allocator as an offer and comes back through
`give_back`: declined, rescinded, left unused by an accept, or freed by a
task that ended; nothing comes back for an agent that is unreachable or a
framework that is gone (the allocator forgot them already).
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from pyactors._core import Resources
from pyactors.agent import volumes as persistent_volumes
from pyactors.core.allocator import Allocator, Recovery
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import (
    Conversion,
    Create,
    Destroy,
    Launch,
    LaunchGroup,
    Operation,
    Reserve,
    TaskInfo,
    Unreserve,
    reservation_roles,
)
from pyactors.core.protocol import (
    DestroyVolumes,
    Effect,
    ErrorEvent,
    ExecutorReport,
    ForwardUpdates,
    LaunchTasks,
    Rescind,
    SendOffers,
)
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.errors import AuthorizationError, PyactorsError
from pyactors.master.agent_store import AgentStore
from pyactors.master.executor_book import ExecutorRecord, MasterExecutors
from pyactors.master.offer_book import AcceptPlan, OfferBook, Refusal
from pyactors.master.records import AgentRecord, FrameworkRecord, TaskRecord
from pyactors.master.task_book import TaskBook
from pyactors.security.acls import Acls

# The ACL of each reservation and volume operation, and what it acts on.
_CONVERSION_ACLS: dict[type[Conversion], str] = {
    Reserve: "reserve_resources",
    Unreserve: "unreserve_resources",
    Create: "create_volumes",
    Destroy: "destroy_volumes",
}


class Offering:
    def __init__(
        self,
        allocator: Allocator,
        book: OfferBook,
        agents: Mapping[str, AgentRecord],
        frameworks: Mapping[str, FrameworkRecord],
        tasks: TaskBook,
        store: AgentStore,
        counters: Counter[str],
        acls: Acls,
    ) -> None:
        self.allocator = allocator
        self.acls = acls
        self.book = book
        self.agents = agents
        self.frameworks = frameworks
        self.tasks = tasks
        self.store = store
        self.counters = counters
        # Custom executors and the resources they hold beside their tasks.
        self.executors = MasterExecutors()
        # Each role's name as one string (a cycle's offers bring new copies).
        self.roles: dict[str, str] = {}
        # While a batch of calls is carried out (`hold_give_backs`): what
        # its accepts left unused, per (refuse_seconds, now), to give back
        # in one call into the allocator each.
        self._held: dict[tuple[float, float], list[Recovery]] | None = None

    def allocate(self, now: float) -> list[Effect]:
        """One allocation cycle: one SendOffers per framework."""
        batches: dict[str, list[OfferInfo]] = defaultdict(list)
        self.counters["allocation_runs"] += 1
        offers = self.allocator.allocate(now)
        self.counters["offers"] += len(offers)
        frameworks, roles = self.frameworks, self.roles
        for offer in offers:
            # The records' own strings, not the core's fresh copies: the
            # offer's task keeps them for as long as it runs.
            agent = self.agents[offer.agent_id]
            framework_id = frameworks[offer.framework_id].framework_id
            role = roles.setdefault(offer.role, offer.role)
            batches[framework_id].append(
                self.book.add(
                    framework_id,
                    agent.agent_id,
                    role,
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
        declined = self.book.decline(framework_id, offer_ids)
        self.counters["offers_declined"] += len(declined)
        self.give_back_offers(declined, refuse_seconds, now)
        return []

    def accept(
        self,
        framework_id: str,
        offer_ids: Sequence[str],
        operations: Sequence[Operation],
        refuse_seconds: float,
        now: float,
    ) -> list[Effect]:
        framework = self.frameworks[framework_id]
        # The record's string, not the call's copy: the tasks keep it.
        framework_id = framework.framework_id
        operations, unauthorized, denied = self._authorized(framework, operations)
        plan = self.book.accept(
            framework_id,
            offer_ids,
            operations,
            self.tasks.live.keys(),
            self.executors.running(framework_id),
        )
        plan.refused += unauthorized
        plan.dropped += denied
        effects: list[Effect] = []
        failure = self._apply_conversions(plan)
        destroyed = (
            _destroyed_volumes(plan.conversions) if failure is None and plan.conversions else []
        )
        if destroyed and plan.agent_id is not None:
            effects.append(DestroyVolumes(plan.agent_id, destroyed))
        if failure is not None:
            # Nothing of the accept happens: every task is refused and the
            # offers go back whole.
            plan.refused += [
                Refusal(t, Reason.REASON_TASK_INVALID, failure)
                for t in plan.launch + [t for group in plan.groups for t in group]
            ]
            plan.launch, plan.groups, plan.executors = [], [], []
            plan.unused = [(plan.agent_id or "", plan.role or "", plan.offered)]
            effects.append(ErrorEvent(framework_id, failure))
        for agent_id, role, resources in plan.unused:
            if self._held is None:
                self.give_back(framework_id, agent_id, role, resources, refuse_seconds, now)
            elif self._returnable(framework_id, agent_id, resources):
                held = self._held.setdefault((refuse_seconds, now), [])
                held.append((framework_id, agent_id, role, resources))
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
        launched = (
            plan.launch + [t for group in plan.groups for t in group]
            if plan.groups
            else plan.launch
        )
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
                self.tasks.add(
                    TaskRecord(
                        task, framework_id, plan.agent_id, plan.role, staging, launched_at=now
                    )
                )
            for executor in plan.executors:
                self.executors.add(framework_id, plan.agent_id, plan.role, executor)
            effects.append(
                LaunchTasks(plan.agent_id, framework_id, plan.launch, plan.groups, plan.role)
            )
            self.counters["tasks_launched"] += len(launched)
        return effects

    def _authorized(
        self, framework: FrameworkRecord, operations: Sequence[Operation]
    ) -> tuple[list[Operation], list[Refusal], list[str]]:
        """The operations the framework's principal may do, its tasks with
        their user filled from the framework's; the tasks refused (a
        LAUNCH_GROUP with one refused is refused whole) and the reservation
        and volume operations dropped, each with its ACL's denial."""
        allowed: list[Operation] = []
        refused: list[Refusal] = []
        dropped: list[str] = []
        principal = framework.principal
        for operation in operations:
            if isinstance(operation, Launch | LaunchGroup):
                if self.acls.allow_everything and framework.user is None:
                    allowed.append(operation)  # no ACLs, no user to fill: as given
                    continue
                tasks = [_with_user(task, framework.user) for task in operation.tasks]
                denials = [self._denial("run_tasks", principal, task.user) for task in tasks]
                if isinstance(operation, LaunchGroup) and any(denials):
                    names = ", ".join(
                        t.task_id for t, why in zip(tasks, denials, strict=True) if why
                    )
                    denials = [
                        why or f"its group has unauthorized tasks: {names}" for why in denials
                    ]
                unauthorized = Reason.REASON_TASK_UNAUTHORIZED
                kept = []
                for task, why in zip(tasks, denials, strict=True):
                    if why is None:
                        kept.append(task)
                    else:
                        refused.append(Refusal(task, unauthorized, why))
                if len(kept) == len(operation.tasks) and all(
                    k is t for k, t in zip(kept, operation.tasks, strict=True)
                ):
                    allowed.append(operation)  # the usual case: unchanged, not copied
                elif kept:
                    allowed.append(type(operation)(kept))
                continue
            action = _CONVERSION_ACLS[type(operation)]
            resources = (
                operation.volumes
                if isinstance(operation, Create | Destroy)
                else operation.resources
            )
            denials = [self._denial(action, principal, r) for r in reservation_roles(resources)]
            why = next((denial for denial in denials if denial is not None), None)
            if why is None:
                allowed.append(operation)
            else:
                dropped.append(f"{type(operation).__name__.upper()}: {why}")
        return allowed, refused, dropped

    def _denial(self, action: str, principal: str | None, obj: str | None) -> str | None:
        if self.acls.allow_everything:
            return None  # no ACLs (the default): nothing to look up per task
        try:
            self.acls.check(action, principal, obj)
        except AuthorizationError as error:
            return str(error)
        return None

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
        self.store.store_reservations(plan.agent_id, agent.total)
        return None

    def rescind(self, offers: Sequence[OfferInfo]) -> list[Effect]:
        """Take back outstanding offers: their resources return to the
        allocator and each framework hears which of its offers are gone."""
        rescinded: dict[str, list[str]] = defaultdict(list)
        for offer in offers:
            rescinded[offer.framework_id].append(offer.id)
        self.counters["offers_rescinded"] += len(offers)
        self.give_back_offers(offers)
        return [Rescind(f, ids) for f, ids in rescinded.items()]

    def withdraw(self, framework_id: str) -> None:
        """The framework's outstanding offers go back to the allocator
        (it disconnected, or is being removed): it is not told."""
        self.give_back_offers(self.book.take_framework(framework_id))

    def rejoin_executors(
        self,
        agent_id: str,
        reports: Sequence[ExecutorReport],
        allocated: dict[str, dict[str, Resources]] | None,
    ) -> list[Effect]:
        """An agent registers with its executors (`MasterExecutors.rejoin`);
        those it no longer runs give back what they held."""
        gone, shutdowns = self.executors.rejoin(agent_id, reports, self.frameworks, allocated)
        self.executors_exited(gone)
        return shutdowns

    def executors_exited(self, records: Sequence[ExecutorRecord | None]) -> None:
        """Executors that exited give back the resources they held, all in
        one call into the allocator."""
        self.give_back_many(
            (record.framework_id, record.agent_id, record.role, record.info.resources)
            for record in records
            if record is not None and record.holds
        )

    def hold_give_backs(self) -> None:
        """From now on, what accepts leave unused is held until
        `flush_give_backs`, which gives it back in one call into the
        allocator per filter: for a batch of accepts. Whoever holds must
        flush before any other change reaches the allocator (a revive, a
        framework's update or removal, a cycle): nothing else can tell the
        held resources are not back yet."""
        if self._held is None:
            self._held = {}

    def flush_give_backs(self, keep_holding: bool = False) -> None:
        """Give back what is held (see `hold_give_backs`), in the order the
        accepts left it, and stop holding unless `keep_holding`."""
        held, self._held = self._held, ({} if keep_holding else None)
        for (refuse_seconds, now), items in (held or {}).items():
            self.allocator.recover_many(items, refuse_seconds, now)

    def give_back_many(self, held: Iterable[tuple[str, str, str, Resources]]) -> None:
        """`give_back` without a filter for many (framework, agent, role,
        resources) in one call into the allocator: a batch of ended tasks
        or exited executors."""
        returnable = [item for item in held if self._returnable(item[0], item[1], item[3])]
        if returnable:
            self.allocator.recover_many(returnable)

    def give_back_offers(
        self, offers: Iterable[OfferInfo], refuse_seconds: float = 0.0, now: float | None = None
    ) -> None:
        """`give_back` for many offers in one call into the allocator (a
        framework's declines, rescinds): the per-call cost, not the per-offer
        work, dominated a round of declines at thousands of agents."""
        self.allocator.recover_many(
            [
                (offer.framework_id, offer.agent_id, offer.role, offer.resources)
                for offer in offers
                if self._returnable(offer.framework_id, offer.agent_id, offer.resources)
            ],
            refuse_seconds,
            now,
        )

    def _returnable(self, framework_id: str, agent_id: str, resources: Resources) -> bool:
        """Whether resources held there still belong to the allocator: an
        unreachable agent's left with it, a removed framework's with it."""
        agent = self.agents.get(agent_id)
        return (
            bool(resources)
            and agent is not None
            and agent.reachable
            and (framework_id in self.frameworks)
        )

    def give_back(
        self,
        framework_id: str,
        agent_id: str,
        role: str,
        resources: Resources,
        refuse_seconds: float = 0.0,
        now: float | None = None,
    ) -> None:
        if self._returnable(framework_id, agent_id, resources):
            self.allocator.recover(framework_id, agent_id, resources, refuse_seconds, now, role)


def _with_user(task: TaskInfo, user: str | None) -> TaskInfo:
    if task.user is not None or user is None:
        return task
    return dataclasses.replace(task, user=user)


def _destroyed_volumes(conversions: Sequence[tuple[Resources, Resources]]) -> list[str]:
    """Persistence ids that DESTROY operations among these conversions end."""
    destroyed = []
    for consumed, converted in conversions:
        kept = set(persistent_volumes.persistence_ids(converted))
        destroyed += [v for v in persistent_volumes.persistence_ids(consumed) if v not in kept]
    return destroyed
