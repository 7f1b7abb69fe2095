"""Gang scheduling as a plain state machine: a gang's N tasks start all
together or not at all.

Gangs start in submission order (a gang being retried goes first). The
planner holds the offers it is given until the first pending gang fits in
them, then launches it: one LAUNCH_GROUP per agent it uses (on one agent
when one agent can take it all), every accept in the same batch. Offers
held `hold_timeout` (scaled by a seeded random factor in [0.5, 1.5]) without
the gang fitting are all declined, and for a random backoff that doubles
with each release in a row (up to `max_backoff_factor` times) the planner
declines what it is offered: of two gangs that each hold half of what they
need, the first to let go lets the other finish, so neither waits forever.

A failed member fails its gang's attempt: the planner kills the attempt's
other live members and starts the whole gang again (new task ids) up to
`retries` times, then marks it failed. MPI jobs and barrier stages cannot
go on without a rank, and a rank cannot join a running job alone, so a gang
is only ever restarted whole. A member that finishes early is fine; the
gang is finished when all of them have.

Members learn their place from their environment: GANG_NAME, GANG_RANK
(0..N-1), GANG_SIZE and GANG_ATTEMPT (0 first).

A gang larger than the cluster can hold is reported unplaceable instead of
blocking the queue forever: the planner remembers the most each agent has
offered at once (per role). When held offers are let go without the gang
fitting, a pending gang whose member fits on none of those agents, or
whose members do not all fit in all of them together, is marked with the
reason (`unplaceable`); it keeps its place in the queue, but the gangs
behind it go first. Each offer that shows more is weighed again, so when
the cluster grows (a new or larger agent, resources freed) the reason is
gone and the gang starts in its turn. What an agent offered is what it can
give this framework's roles: resources others hold count once offered.
"""

from __future__ import annotations

import enum
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyactors._core import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import LaunchGroup, TaskInfo, check_task_id
from pyactors.core.tasks import TaskState, TaskStatus
from pyactors.errors import DuplicateError, InvalidArgumentError
from pyactors.frameworks.decisions import Accept, Decisions, Demand, how_many_fit, total_of

# Offers declined while no gang is pending come back after this long (the
# framework is suppressed then anyway) ...
IDLE_REFUSE_SECONDS = 5.0
# ... and offers of an agent too small for even one member, after this.
TOO_SMALL_REFUSE_SECONDS = 1.0
# A gang's name leaves room for "-a<attempt>-<rank>" in a 200-character task id.
_NAME_LENGTH = 160


class GangState(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class GangJob:
    """N identical members running `command` (a shell command) with
    `resources` each and `env` added to the GANG_* variables."""

    name: str
    size: int
    command: str
    resources: Resources | str = "cpus:1;mem:128"
    env: Mapping[str, str] = field(default_factory=dict)
    retries: int = 2

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.name, str) or len(self.name) > _NAME_LENGTH:
            problems.append(f"name must be a string of at most {_NAME_LENGTH} characters")
        else:
            try:
                check_task_id(self.name)
            except InvalidArgumentError as error:
                problems.append(f"name: {error}")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 1:
            problems.append(f"size must be a positive integer, got {self.size!r}")
        if not isinstance(self.command, str) or not self.command.strip():
            problems.append("command must be a non-empty shell command")
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            problems.append(f"retries must be an integer >= 0, got {self.retries!r}")
        resources = self.resources
        if isinstance(resources, str):
            resources = Resources.parse(resources)
            object.__setattr__(self, "resources", resources)
        if not isinstance(resources, Resources) or not resources:
            problems.append("resources must name what each member needs, e.g. 'cpus:1;mem:128'")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.env.items()):
            problems.append("env must map strings to strings")
        if problems:
            raise InvalidArgumentError(f"gang {self.name!r}: " + "; ".join(problems))

    @property
    def shape(self) -> Resources:
        assert isinstance(self.resources, Resources)
        return self.resources

    def member(self, attempt: int, rank: int) -> TaskInfo:
        env = {
            **self.env,
            "GANG_NAME": self.name,
            "GANG_RANK": str(rank),
            "GANG_SIZE": str(self.size),
            "GANG_ATTEMPT": str(attempt),
        }
        task_id = f"{self.name}-a{attempt}-{rank}"
        return TaskInfo(task_id, self.name, self.shape, command=self.command, env=env)


@dataclass
class Member:
    """A member of one attempt; `running_at` and `ended_at` are the
    timestamps of its updates."""

    task_id: str
    rank: int
    agent_id: str
    state: TaskState = TaskState.TASK_STAGING
    running_at: float | None = None
    ended_at: float | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "rank": self.rank,
            "agent_id": self.agent_id,
            "state": self.state.value,
            "running_at": self.running_at,
            "ended_at": self.ended_at,
            "message": self.message,
        }


@dataclass
class Attempt:
    launched_at: float
    members: list[Member]


@dataclass
class GangRecord:
    job: GangJob
    submitted_at: float
    state: GangState = GangState.PENDING
    attempts: list[Attempt] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    finished_at: float | None = None
    # How often the gang let go of the offers it held without fitting.
    releases: int = 0
    # Why the agents that offered so far cannot hold it (None: they can).
    unplaceable: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.job.name,
            "size": self.job.size,
            "state": self.state.value,
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
            "releases": self.releases,
            "unplaceable": self.unplaceable,
            "failures": list(self.failures),
            "attempts": [
                {"launched_at": a.launched_at, "members": [m.to_dict() for m in a.members]}
                for a in self.attempts
            ],
        }


@dataclass
class _Held:
    offer: OfferInfo
    since: float


class GangPlanner:
    """Decides, from offers, updates and the time, what a gang framework
    does. Time is an argument; randomness comes from `seed`."""

    def __init__(
        self,
        hold_timeout: float = 2.0,
        seed: int | str = 0,
        max_backoff_factor: int = 8,
    ) -> None:
        if not hold_timeout > 0:
            raise InvalidArgumentError(f"hold_timeout must be > 0 seconds, got {hold_timeout}")
        if max_backoff_factor < 1:
            raise InvalidArgumentError(f"max_backoff_factor must be >= 1, got {max_backoff_factor}")
        self.hold_timeout = hold_timeout
        self.max_backoff_factor = max_backoff_factor
        self._rng = random.Random(seed)
        self.gangs: dict[str, GangRecord] = {}
        self._queue: list[str] = []
        self._held: dict[str, _Held] = {}
        self.hold_deadline: float | None = None
        self.backoff_until = float("-inf")
        self._releases_in_row = 0
        # task id -> (gang name, attempt index)
        self._members: dict[str, tuple[str, int]] = {}
        self.demand = Demand()
        # (agent, role) -> the most it offered at once: totals none of
        # which contains another (resources have no single largest).
        self._capacity: dict[tuple[str, str], list[Resources]] = {}

    def reseed(self, seed: int | str) -> None:
        self._rng = random.Random(seed)

    @property
    def longest_hold(self) -> float:
        """No offer is held longer than this (when `tick` runs often enough)."""
        return 1.5 * self.hold_timeout

    def held(self) -> dict[str, float]:
        """Held offer ids and since when."""
        return {offer_id: h.since for offer_id, h in self._held.items()}

    def pending(self) -> list[str]:
        return list(self._queue)

    # ------------------------------------------------------------------ inputs

    def submit(self, job: GangJob, now: float) -> Decisions:
        if not isinstance(job, GangJob):
            raise InvalidArgumentError(f"a gang is a GangJob, not {type(job).__name__}")
        if job.name in self.gangs:
            raise DuplicateError(f"a gang named {job.name!r} was already submitted")
        self.gangs[job.name] = GangRecord(job, now)
        self._queue.append(job.name)
        decisions = Decisions()
        self.demand.report(True, decisions)
        return decisions

    def offers(self, offers: Sequence[OfferInfo], now: float) -> Decisions:
        decisions = Decisions()
        self._learn_capacity(offers)
        if not self._queue:
            decisions.decline([o.id for o in offers], IDLE_REFUSE_SECONDS)
        elif now < self.backoff_until:
            decisions.decline([o.id for o in offers], self.backoff_until - now)
        else:
            for offer in offers:
                self._held[offer.id] = _Held(offer, now)
            self._place(now, decisions)
            self._drop_useless(now, decisions)
        self._settle(now, decisions)
        return decisions

    def agent_lost(self, agent_id: str) -> None:
        """The agent is gone: what it offered no longer counts."""
        for key in [k for k in self._capacity if k[0] == agent_id]:
            del self._capacity[key]
        self._judge_placeable(self._queue)

    def capacity(self) -> dict[str, list[str]]:
        """Per agent (and role: `agent/role`), the most it offered at once."""
        return {f"{a}/{r}": [str(t) for t in totals] for (a, r), totals in self._capacity.items()}

    def rescind(self, offer_id: str) -> None:
        self._held.pop(offer_id, None)
        if not self._held:
            self.hold_deadline = None

    def forget_offers(self) -> None:
        """Drop every held offer (they were another master's)."""
        self._held.clear()
        self.hold_deadline = None

    def tick(self, now: float) -> Decisions:
        decisions = Decisions()
        self._settle(now, decisions)
        return decisions

    def update(self, status: TaskStatus, now: float) -> Decisions:
        decisions = Decisions()
        found = self._members.get(status.task_id)
        if found is None:
            return decisions
        name, index = found
        gang = self.gangs[name]
        attempt = gang.attempts[index]
        member = next(m for m in attempt.members if m.task_id == status.task_id)
        if member.state.is_terminal:
            return decisions
        member.state = status.state
        member.message = status.message or member.message
        # When it happened, as its reporter (the agent) saw it: updates from
        # several agents may reach the framework in any order.
        if status.state is TaskState.TASK_RUNNING and member.running_at is None:
            member.running_at = status.timestamp
        if status.state.is_terminal:
            member.ended_at = status.timestamp
        current = index == len(gang.attempts) - 1 and gang.state is GangState.RUNNING
        if not current:
            return decisions
        if status.state is TaskState.TASK_FINISHED:
            if all(m.state is TaskState.TASK_FINISHED for m in attempt.members):
                gang.state, gang.finished_at = GangState.FINISHED, now
        elif status.state.is_terminal or status.state is TaskState.TASK_UNREACHABLE:
            self._fail_attempt(gang, attempt, member, now, decisions)
        self._settle(now, decisions)
        return decisions

    # --------------------------------------------------------------- reports

    def report(self) -> list[dict[str, Any]]:
        return [gang.to_dict() for gang in self.gangs.values()]

    def done(self) -> bool:
        return all(g.state in (GangState.FINISHED, GangState.FAILED) for g in self.gangs.values())

    # ------------------------------------------------------------- internals

    def _groups(self) -> dict[tuple[str, str], list[OfferInfo]]:
        """Held offers by (agent, role): what one accept may combine."""
        groups: dict[tuple[str, str], list[OfferInfo]] = defaultdict(list)
        for held in self._held.values():
            groups[(held.offer.agent_id, held.offer.role)].append(held.offer)
        return groups

    def _head(self) -> GangRecord | None:
        """The gang offers are gathered for: the first pending one the
        cluster can hold as far as known, else the first pending one."""
        for name in self._queue:
            if self.gangs[name].unplaceable is None:
                return self.gangs[name]
        return self.gangs[self._queue[0]] if self._queue else None

    def _learn_capacity(self, offers: Sequence[OfferInfo]) -> None:
        """Remember what each (agent, role) offers at once, with what is held of it."""
        fresh: dict[tuple[str, str], list[OfferInfo]] = defaultdict(list)
        for offer in offers:
            fresh[(offer.agent_id, offer.role)].append(offer)
        held = self._groups()
        for key, batch in fresh.items():
            total = total_of(held.get(key, []) + batch)
            known = self._capacity.setdefault(key, [])
            if not any(total <= seen for seen in known):
                known[:] = [seen for seen in known if not seen <= total] + [total]
        self._judge_placeable([n for n in self._queue if self.gangs[n].unplaceable])

    def _judge_placeable(self, names: Sequence[str]) -> None:
        for name in names:
            gang = self.gangs[name]
            gang.unplaceable = self._why_unplaceable(gang.job)

    def _why_unplaceable(self, job: GangJob) -> str | None:
        if not self._capacity:
            return None
        room = {
            key: max(how_many_fit(job.shape, total, job.size) for total in totals)
            for key, totals in self._capacity.items()
        }
        held = sum(room.values())
        if held >= job.size:
            return None
        agents = len({agent for agent, _ in self._capacity})
        if held == 0:
            largest = sorted({str(t) for totals in self._capacity.values() for t in totals})
            return (
                f"a member needs {job.shape}, more than any of the {agents} agent(s) offered "
                f"(the most offered at once: {'; '.join(f'[{t}]' for t in largest[:5])})"
            )
        where = ", ".join(f"{a}: {n}" for (a, _), n in sorted(room.items()) if n)
        return (
            f"{job.size} members of {job.shape} do not fit in the {agents} agent(s) "
            f"that offered: room for {held} ({where})"
        )

    def _place(self, now: float, decisions: Decisions) -> None:
        """Launch pending gangs, in order (unplaceable ones aside), while
        the first one fits."""
        while (gang := self._head()) is not None:
            groups = self._groups()
            placement = _placement(gang.job, groups)
            if placement is None:
                return
            self._queue.remove(gang.job.name)
            index = len(gang.attempts)
            members: list[Member] = []
            for key, count in placement:
                tasks = [gang.job.member(index, len(members) + i) for i in range(count)]
                offer_ids = [o.id for o in groups[key]]
                decisions.accepts.append(Accept(offer_ids, [LaunchGroup(tasks)], 0.0))
                for offer_id in offer_ids:
                    del self._held[offer_id]
                members += [Member(t.task_id, int(t.env["GANG_RANK"]), key[0]) for t in tasks]
            for member in members:
                self._members[member.task_id] = (gang.job.name, index)
            gang.attempts.append(Attempt(now, members))
            gang.state = GangState.RUNNING
            self._releases_in_row = 0
            self.hold_deadline = None

    def _drop_useless(self, now: float, decisions: Decisions) -> None:
        """Let go at once of agents that cannot take even one member of the
        gang being gathered. If none can, that gang is judged by all that
        was ever offered, and if it is unplaceable the next one goes first."""
        head = self._head()
        if head is None:
            return
        groups = self._groups().values()
        if groups and all(how_many_fit(head.job.shape, total_of(o), 1) == 0 for o in groups):
            head.unplaceable = self._why_unplaceable(head.job)
            if head.unplaceable is not None:
                self._place(now, decisions)
                head = self._head()
                if head is None:
                    return
        shape = head.job.shape
        for offers in self._groups().values():
            if how_many_fit(shape, total_of(offers), 1) == 0:
                decisions.decline([o.id for o in offers], TOO_SMALL_REFUSE_SECONDS)
                for offer in offers:
                    del self._held[offer.id]

    def _settle(self, now: float, decisions: Decisions) -> None:
        """Start the hold clock, release on its deadline, report demand."""
        if self._held and not self._queue:
            decisions.decline(list(self._held), IDLE_REFUSE_SECONDS)
            self._held.clear()
        if not self._held:
            self.hold_deadline = None
        elif self.hold_deadline is None:
            # Counted from the oldest offer held: offers left over from a
            # launch have been held for a while already.
            oldest = min(h.since for h in self._held.values())
            self.hold_deadline = oldest + self.hold_timeout * self._rng.uniform(0.5, 1.5)
        if self.hold_deadline is not None and now >= self.hold_deadline:
            self._release(now, decisions)
        self.demand.report(bool(self._queue), decisions)

    def _release(self, now: float, decisions: Decisions) -> None:
        factor = min(2**self._releases_in_row, self.max_backoff_factor)
        backoff = self.hold_timeout * factor * self._rng.uniform(0.5, 1.5)
        self._releases_in_row += 1
        self.backoff_until = now + backoff
        decisions.decline(list(self._held), backoff)
        self._held.clear()
        self.hold_deadline = None
        head = self._head()
        if head is not None:
            head.releases += 1
        # The offers gathered did not do: judge every pending gang by all
        # that was ever offered (the first offers alone could mislead).
        self._judge_placeable(self._queue)

    def _fail_attempt(
        self, gang: GangRecord, attempt: Attempt, member: Member, now: float, decisions: Decisions
    ) -> None:
        number = len(gang.attempts) - 1
        detail = f": {member.message}" if member.message else ""
        gang.failures.append(f"attempt {number}: {member.task_id} {member.state.value}{detail}")
        decisions.kills += [
            m.task_id for m in attempt.members if m is not member and not m.state.is_terminal
        ]
        if number < gang.job.retries:
            gang.state = GangState.PENDING
            self._queue.insert(0, gang.job.name)
        else:
            gang.state, gang.finished_at = GangState.FAILED, now


def _placement(
    job: GangJob, groups: Mapping[tuple[str, str], list[OfferInfo]]
) -> list[tuple[tuple[str, str], int]] | None:
    """How many members go to which (agent, role): all on one agent when one
    can take them, else on as few agents as possible; None if they do not
    all fit."""
    room = {key: how_many_fit(job.shape, total_of(o), job.size) for key, o in groups.items()}
    order = sorted((key for key in room if room[key]), key=lambda k: (-room[k], k))
    placement, left = [], job.size
    for key in order:
        take = min(room[key], left)
        placement.append((key, take))
        left -= take
        if left == 0:
            return placement
    return None
