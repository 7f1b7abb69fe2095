"""The master's outstanding offers and the validation of accepts.

A plain state machine (time is an argument) that the master actor drives:
offers get ids when the allocator makes them, leave when accepted, declined,
rescinded after `offer_timeout`, or when their agent or framework goes. An
accept is validated as a whole before anything happens, and turns into a
plan the master applies: the tasks to launch, the tasks refused with their
reason (they get TASK_ERROR), and what is left of the offers to recover.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from pyactors._core import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import (
    Conversion,
    ExecutorInfo,
    Launch,
    LaunchGroup,
    Operation,
    Reserve,
    TaskInfo,
)
from pyactors.core.tasks import Reason
from pyactors.errors import InvalidArgumentError, ResourceError
from pyactors.master.grouping import Grouped


@dataclass(frozen=True)
class Refusal:
    """A task that will not be launched, and why (sent as TASK_ERROR)."""

    task: TaskInfo
    reason: Reason
    message: str


@dataclass
class AcceptPlan:
    """What an accept amounts to, for the master to apply in one step."""

    framework_id: str
    agent_id: str | None
    role: str | None
    launch: list[TaskInfo] = field(default_factory=list)
    groups: list[list[TaskInfo]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    # What to give back to the allocator with the caller's filter, as
    # (agent, role, resources); empty bundles are left out.
    unused: list[tuple[str, str, Resources]] = field(default_factory=list)
    # Set when the offers themselves were invalid: the error event's text.
    error: str | None = None
    # RESERVE/UNRESERVE/CREATE/DESTROY that fit, in order: (consumed,
    # converted) for the allocator; and why the others were dropped.
    conversions: list[tuple[Resources, Resources]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    # Everything the accepted offers held (given back whole if the
    # conversions cannot be applied).
    offered: Resources = field(default_factory=Resources)
    # Custom executors its tasks launch (not running on the agent before):
    # their resources were taken from the offers beside the tasks'.
    executors: list[ExecutorInfo] = field(default_factory=list)


class OfferBook:
    """Outstanding offers by id, oldest first, and by agent and framework, so
    that taking an agent's or a framework's offers, or the expired ones,
    visits only those."""

    def __init__(self, prefix: str = "offer") -> None:
        # Offer ids must not repeat across leaders: a framework may still
        # hold an offer of the previous one.
        self._prefix = prefix
        self._offers: dict[str, OfferInfo] = {}
        self._by_agent: Grouped[OfferInfo] = Grouped()
        self._by_framework: Grouped[OfferInfo] = Grouped()
        self._serial = 0
        # Offers `take_expired` looked at on its last call: those it took,
        # plus the first that was not due. Tests count it.
        self.visited = 0

    def __len__(self) -> int:
        return len(self._offers)

    def __iter__(self) -> Iterator[OfferInfo]:
        """The outstanding offers, oldest first."""
        return iter(list(self._offers.values()))

    def get(self, offer_id: str) -> OfferInfo | None:
        return self._offers.get(offer_id)

    def add(
        self,
        framework_id: str,
        agent_id: str,
        role: str,
        resources: Resources,
        now: float,
        hostname: str = "",
        attributes: dict[str, str] | None = None,
    ) -> OfferInfo:
        self._serial += 1
        offer = OfferInfo(
            id=f"{self._prefix}-{self._serial}",
            framework_id=framework_id,
            agent_id=agent_id,
            role=role,
            resources=resources,
            hostname=hostname,
            # The agent's own: nothing changes an offer's attributes.
            attributes={} if attributes is None else attributes,
            created_at=now,
        )
        self._offers[offer.id] = offer
        self._by_agent.add(agent_id, offer.id, offer)
        self._by_framework.add(framework_id, offer.id, offer)
        return offer

    def of_framework(self, framework_id: str) -> list[OfferInfo]:
        return list(self._by_framework.of(framework_id).values())

    def take_expired(self, now: float, timeout: float) -> list[OfferInfo]:
        """Remove and return the offers older than `timeout` (to rescind).
        Offers are made at the master's monotonic `now`, so the expired ones
        are the oldest: the scan stops at the first that is not."""
        expired = []
        self.visited = 0
        for offer in self._offers.values():
            self.visited += 1
            if now - offer.created_at < timeout:
                break
            expired.append(offer)
        return self._take(expired)

    def take_agent(self, agent_id: str) -> list[OfferInfo]:
        return self._take(list(self._by_agent.of(agent_id).values()))

    def take_framework(self, framework_id: str) -> list[OfferInfo]:
        return self._take(list(self._by_framework.of(framework_id).values()))

    def decline(self, framework_id: str, offer_ids: Sequence[str]) -> list[OfferInfo]:
        """Remove the caller's offers among `offer_ids` (unknown ones are
        ignored: they may have been rescinded meanwhile) and return them."""
        return self._take(
            self._offers[i]
            for i in dict.fromkeys(offer_ids)
            if i in self._offers and self._offers[i].framework_id == framework_id
        )

    def accept(
        self,
        framework_id: str,
        offer_ids: Sequence[str],
        operations: Sequence[Operation],
        known_task_ids: Container[str],
        running_executors: Container[tuple[str, str]] = frozenset(),
    ) -> AcceptPlan:
        """Validate an accept and remove its offers.

        Invalid offers (unknown, another framework's, repeated, or from more
        than one agent) make the whole call invalid: every task is refused
        with REASON_INVALID_OFFERS and the caller's valid offers are returned
        unused. Otherwise each task is checked in order against what is left
        of the offers: a task that is malformed, reuses a task id, or does not
        fit is refused; LAUNCH_GROUP launches all its tasks or none.
        RESERVE/UNRESERVE/CREATE/DESTROY change what is left for the
        operations after them; one that cannot apply is dropped with a reason.
        """
        problem = self._offer_problem(framework_id, offer_ids)
        if problem is None and len(offer_ids) == 1:
            mine = [self._offers[offer_ids[0]]]
        else:
            mine = [
                self._offers[i] for i in dict.fromkeys(offer_ids) if self._owned(framework_id, i)
            ]
        self._take(mine)
        if problem is not None:
            tasks = [
                t for op in operations if isinstance(op, Launch | LaunchGroup) for t in op.tasks
            ]
            return AcceptPlan(
                framework_id,
                None,
                None,
                refused=[Refusal(t, Reason.REASON_INVALID_OFFERS, problem) for t in tasks],
                unused=[(o.agent_id, o.role, o.resources) for o in mine if o.resources],
                error=problem,
            )
        agent_id, role = mine[0].agent_id, mine[0].role
        plan = AcceptPlan(framework_id, agent_id, role)
        left = mine[0].resources
        for offer in mine[1:]:
            left = left + offer.resources
        plan.offered = left
        taken = _Taken(known_task_ids)
        started = _Started(agent_id, running_executors)
        for operation in operations:
            if isinstance(operation, Launch | LaunchGroup):
                left = self._plan(plan, operation, left, taken, started)
            else:
                left = _convert(plan, operation, left, role)
        if left:
            plan.unused = [(agent_id, role, left)]
        return plan

    def _plan(
        self,
        plan: AcceptPlan,
        operation: Launch | LaunchGroup,
        left: Resources,
        taken: _Taken,
        started: _Started,
    ) -> Resources:
        refusals = []
        group = isinstance(operation, LaunchGroup)
        # A group's tasks are held here until the whole group is known to fit.
        need = _NOTHING
        executor = operation.tasks[0].executor if group and operation.tasks else None
        if executor is not None and not started.running(executor):
            need = executor.resources
        executor_need = need
        for task in operation.tasks:
            why = _task_problem(task, taken)
            extra = None
            if why is None and not group and task.executor is not None:
                if not started.running(task.executor):
                    extra = task.executor.resources
                bundles = [task.resources] if extra is None else [task.resources, extra]
                why = _executor_fit_problem(bundles, left, "task and its")
            elif why is None and not group:
                # The usual task: checked without building a bundle first.
                why = None if _fits(task.resources, left) else _fit_problem(task, need, left)
            elif why is None:
                why = _fit_problem(task, need, left)
                if why is not None and executor is not None:
                    bundles = [executor_need, *(t.resources for t in operation.tasks)]
                    why = _executor_fit_problem(bundles, left, "task group and its") or why
            if why is not None:
                refusals.append(Refusal(task, Reason.REASON_TASK_INVALID, why))
                continue
            taken.add(task.task_id)
            if not group:
                left = left - task.resources if extra is None else left - task.resources - extra
                plan.launch.append(task)
                if task.executor is not None and not started.running(task.executor):
                    started.start(task.executor, plan)
            else:
                need = need + task.resources
        if group:
            if refusals:
                failed = ", ".join(r.task.task_id for r in refusals)
                accepted = [t for t in operation.tasks if all(r.task is not t for r in refusals)]
                taken.difference_update(t.task_id for t in accepted)
                refusals += [
                    Refusal(t, Reason.REASON_TASK_INVALID, f"its group has invalid tasks: {failed}")
                    for t in accepted
                ]
            else:
                left = left - need
                plan.groups.append(list(operation.tasks))
                if executor is not None and not started.running(executor):
                    started.start(executor, plan)
        plan.refused += refusals
        return left

    def _owned(self, framework_id: str, offer_id: str) -> bool:
        offer = self._offers.get(offer_id)
        return offer is not None and offer.framework_id == framework_id

    def _offer_problem(self, framework_id: str, offer_ids: Sequence[str]) -> str | None:
        if not offer_ids:
            return "an accept needs at least one offer"
        if len(offer_ids) == 1:  # the usual accept: one offer, nothing to compare
            offer = self._offers.get(offer_ids[0])
            if offer is not None and offer.framework_id == framework_id:
                return None
        if len(set(offer_ids)) != len(offer_ids):
            return "an offer id is listed twice"
        for offer_id in offer_ids:
            offer = self._offers.get(offer_id)
            if offer is None:
                return f"offer '{offer_id}' is unknown (rescinded, declined or never made)"
            if offer.framework_id != framework_id:
                return f"offer '{offer_id}' was made to another framework"
        offers = [self._offers[i] for i in offer_ids]
        if len({o.agent_id for o in offers}) > 1:
            return "offers from more than one agent cannot be accepted together"
        if len({o.role for o in offers}) > 1:
            return "offers in more than one role cannot be accepted together"
        return None

    def _take(self, offers: Iterable[OfferInfo]) -> list[OfferInfo]:
        taken = list(offers)
        for offer in taken:
            if self._offers.pop(offer.id, None) is None:
                continue
            self._by_agent.drop(offer.agent_id, offer.id)
            self._by_framework.drop(offer.framework_id, offer.id)
        return taken


def _convert(plan: AcceptPlan, operation: Conversion, left: Resources, role: str) -> Resources:
    """Plan a RESERVE/UNRESERVE/CREATE/DESTROY against what is `left`; one
    that cannot apply is dropped (and said so), the others go on, as in
    Mesos."""
    name = type(operation).__name__.upper()
    try:
        consumed, converted = operation.conversion()
    except (InvalidArgumentError, ResourceError) as error:
        plan.dropped.append(f"{name}: {error}")
        return left
    roles = {item.get("role") for item in converted.to_json()} - {None}
    if isinstance(operation, Reserve) and roles != {role}:
        plan.dropped.append(
            f"{name}: resources can be reserved only for the offer's role '{role}', "
            f"not {sorted(r for r in roles if r)}"
        )
        return left
    if not consumed <= left:
        plan.dropped.append(
            f"{name}: needs {consumed} but only {left} is left of the accepted offers"
        )
        return left
    plan.conversions.append((consumed, converted))
    return left - consumed + converted


def _fit_problem(task: TaskInfo, need: Resources, left: Resources) -> str | None:
    """Why the task does not fit in what is `left` beside what the group
    being planned already `need`s, or None."""
    try:
        if need + task.resources <= left:
            return None
    except ResourceError as error:  # e.g. a port already taken in this group
        return str(error)
    return (
        f"task '{task.task_id}' needs {task.resources} but only {left - need} "
        "is left of the accepted offers"
    )


# No resources: what a group needs before its first task (never changed:
# Resources are values).
_NOTHING = Resources()


def _fits(resources: Resources, left: Resources) -> bool:
    """Whether `resources` fit in what is `left` (False also when they
    cannot be compared: the full check then says why)."""
    try:
        return resources <= left
    except ResourceError:
        return False


def _executor_fit_problem(bundles: Sequence[Resources], left: Resources, what: str) -> str | None:
    """Mesos's refusal of a task (or group) whose resources with its new
    executor's (`bundles`) do not fit in what is `left`."""
    total = Resources()
    try:
        for bundle in bundles:
            total = total + bundle
        if total <= left:
            return None
    except ResourceError as error:  # e.g. a port the executor takes too
        return str(error)
    verb = "are" if "group" in what else "is"
    return f"Total resources {total} required by {what} executor {verb} more than available {left}"


class _Started:
    """The framework's executors on the accept's agent: those running
    before it and those its tasks launch."""

    def __init__(self, agent_id: str, running: Container[tuple[str, str]]) -> None:
        self.agent_id = agent_id
        self.before = running
        self.now: set[str] = set()

    def running(self, info: ExecutorInfo) -> bool:
        return info.executor_id in self.now or (self.agent_id, info.executor_id) in self.before

    def start(self, info: ExecutorInfo, plan: AcceptPlan) -> None:
        self.now.add(info.executor_id)
        plan.executors.append(info)


class _Taken:
    """Task ids in use: the master's (not copied: it may hold many) and
    those this accept has claimed so far."""

    def __init__(self, known: Container[str]) -> None:
        self.known = known
        self.claimed: set[str] = set()

    def __contains__(self, task_id: str) -> bool:
        return task_id in self.claimed or task_id in self.known

    def add(self, task_id: str) -> None:
        self.claimed.add(task_id)

    def difference_update(self, task_ids: Iterable[str]) -> None:
        self.claimed.difference_update(task_ids)


def _task_problem(task: TaskInfo, taken: _Taken) -> str | None:
    problems = task.problems()
    if problems:
        return "; ".join(problems)
    if task.task_id in taken:
        return f"task id '{task.task_id}' is already in use"
    return None
