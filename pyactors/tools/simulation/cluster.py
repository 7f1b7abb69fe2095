"""The simulated cluster: agents and the toy frameworks (`workloads`)
around the real allocator, in simulated time.

Each simulated second (`Simulation.step`):

1. tasks whose duration is over finish; their resources are recovered
   (refuse_seconds=0) and the service framework revives if it is short;
2. `allocate(now)` makes the cycle's offers (its wall time is measured);
3. each framework answers its offers: a launch keeps part of an offer and
   recovers the rest with a filter (refuse_seconds), a decline recovers all.

Every few seconds the allocator's snapshot is audited against the
simulation's own books (`Simulation.audit`).
"""

from __future__ import annotations

import hashlib
import heapq
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pyactors.core.allocator import Allocator, Offer
from pyactors.tools.simulation.workloads import (
    Answer,
    Parse,
    SimulatedFramework,
    SimulatedService,
    Task,
    default_frameworks,
)

DEFAULT_AGENTS = 20
DEFAULT_SECONDS = 120
AGENT_TOTAL = "cpus:8;mem:16384;disk:100000;ports:[31000-31999]"
RACKS = ("r1", "r2", "r3")
SAMPLE_EVERY = 5  # simulated seconds between share samples and audits
PROGRESS_EVERY = 10  # simulated seconds between progress updates


class ClusterAllocator(Protocol):
    """The allocator calls the simulation makes; `Allocator` and
    `ReferenceAllocator` both have them. Resources passed in are bundles of
    the allocator's own kind (or text)."""

    def add_agent(
        self, agent_id: str, total: str, now: float, attributes: Mapping[str, str] | None = ...
    ) -> None: ...
    def add_framework(self, framework_id: str, roles: Sequence[str], now: float) -> None: ...
    def set_weight(self, role: str, weight: float) -> None: ...
    def set_quota(self, role: str, guarantee: Mapping[str, float] | None = ...) -> None: ...
    def suppress(self, framework_id: str) -> None: ...
    def revive(self, framework_id: str) -> None: ...
    def recover(
        self,
        framework_id: str,
        agent_id: str,
        resources: Any,
        refuse_seconds: float = ...,
        now: float | None = ...,
        role: str | None = ...,
    ) -> None: ...
    def allocate(self, now: float) -> list[Offer]: ...
    def snapshot(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Config:
    """What decides a run: agents, simulated seconds, the seed, which allocator."""

    agents: int = DEFAULT_AGENTS
    seconds: int = DEFAULT_SECONDS
    seed: int = 0
    reference: bool = False


@dataclass(frozen=True, slots=True)
class Second:
    """The cluster after one simulated second, from the simulation's own books."""

    now: int
    cpus: float  # fraction used by running tasks
    mem: float
    weighted_shares: dict[str, float]  # framework -> dominant share / role weight


@dataclass(frozen=True, slots=True)
class Sample:
    """The allocator's own view (its snapshot) at one simulated second."""

    now: int
    weighted_shares: dict[str, float]


@dataclass
class Simulation:
    config: Config
    allocator: ClusterAllocator
    parse: Parse
    frameworks: list[SimulatedFramework]
    agents: list[str]
    total_cpus: float
    total_mem: float
    now: int = 0
    tasks: list[tuple[int, int, Task]] = field(default_factory=list)  # heap by end
    serial: int = 0
    suppressed: set[str] = field(default_factory=set)
    offers: int = 0
    offer_digest: Any = field(default_factory=hashlib.sha256)
    cycle_seconds: list[float] = field(default_factory=list)
    seconds: list[Second] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    audits: int = 0
    violations: list[str] = field(default_factory=list)

    def framework(self, name: str) -> SimulatedFramework:
        return next(f for f in self.frameworks if f.name == name)

    def step(self) -> None:
        """One simulated second: finish tasks, allocate, answer offers."""
        self.finish_tasks()
        self.sync_suppression()
        started = time.perf_counter()
        offers = self.allocator.allocate(self.now)
        self.cycle_seconds.append(time.perf_counter() - started)
        self.record_offers(offers)
        for framework in self.frameworks:
            mine = [o for o in offers if o.framework_id == framework.name]
            if mine:
                self.apply(framework, framework.answer(mine, self.now, self.parse))
        self.sync_suppression()
        self.seconds.append(self.books())
        if self.now % SAMPLE_EVERY == 0 or self.now == self.config.seconds:
            self.sample()

    def finish_tasks(self) -> None:
        while self.tasks and self.tasks[0][0] <= self.now:
            _, _, task = heapq.heappop(self.tasks)
            self.allocator.recover(
                task.framework_id, task.agent_id, task.resources, 0.0, self.now, task.role
            )
            framework = self.framework(task.framework_id)
            framework.running -= 1
            framework.finished += 1

    def sync_suppression(self) -> None:
        """Suppress frameworks with nothing to launch; revive them when they have."""
        for framework in self.frameworks:
            wants = framework.wants_offers()
            if wants and framework.name in self.suppressed:
                self.allocator.revive(framework.name)
                self.suppressed.discard(framework.name)
            elif not wants and framework.name not in self.suppressed:
                self.allocator.suppress(framework.name)
                self.suppressed.add(framework.name)

    def record_offers(self, offers: list[Offer]) -> None:
        self.offers += len(offers)
        for offer in offers:
            line = (
                f"{self.now} {offer.framework_id} {offer.agent_id} {offer.role} {offer.resources}\n"
            )
            self.offer_digest.update(line.encode())

    def apply(self, framework: SimulatedFramework, answer: Answer) -> None:
        for task in answer.launches:
            heapq.heappush(self.tasks, (task.ends_at, self.serial, task))
            self.serial += 1
        framework.launched += len(answer.launches)
        framework.running += len(answer.launches)
        framework.declined += answer.declined
        for back in answer.recovers:
            self.allocator.recover(
                framework.name,
                back.agent_id,
                back.resources,
                back.refuse_seconds,
                self.now,
                back.role,
            )

    def books(self) -> Second:
        """Utilisation and weighted dominant shares of the running tasks (tasks
        use no disk, so cpus and mem decide the dominant share)."""
        shares = {
            f.name: max(
                f.running * f.spec.cpus / self.total_cpus, f.running * f.spec.mem / self.total_mem
            )
            / f.weight
            for f in self.frameworks
        }
        cpus = sum(f.running * f.spec.cpus for f in self.frameworks)
        mem = sum(f.running * f.spec.mem for f in self.frameworks)
        return Second(self.now, cpus / self.total_cpus, mem / self.total_mem, shares)

    def sample(self) -> None:
        snapshot = self.allocator.snapshot()
        self.audit(snapshot)
        sample = Sample(self.now, weighted_shares(snapshot))
        books = self.seconds[-1].weighted_shares
        for name, share in sample.weighted_shares.items():
            if abs(share - books[name]) > 1e-9:
                self.violations.append(
                    f"t={self.now} {name}: allocator share {share} but tasks make {books[name]}"
                )
        self.samples.append(sample)

    def audit(self, snapshot: Mapping[str, Any]) -> None:
        """Every agent: available + allocated == total, and what the allocator
        holds for each framework is exactly what its running tasks use."""
        self.audits += 1
        self.violations += agent_problems(snapshot, self.parse)
        running: dict[tuple[str, str, str], list[Task]] = {}
        for _, _, task in self.tasks:
            running.setdefault((task.agent_id, task.framework_id, task.role), []).append(task)
        for agent_id, agent in snapshot["agents"].items():
            for framework_id, by_role in agent["allocated"].items():
                for role, text in by_role.items():
                    held = self.parse(text)
                    for task in running.pop((agent_id, framework_id, role), []):
                        if not task.resources <= held:
                            self.violations.append(
                                f"t={self.now} {agent_id}: {framework_id} runs {task.resources} "
                                f"outside its allocation {text}"
                            )
                            continue
                        held = held - task.resources
                    if held:
                        self.violations.append(
                            f"t={self.now} {agent_id}: {framework_id} holds {held} without tasks"
                        )
        for agent_id, framework_id, role in running:
            self.violations.append(f"t={self.now} {agent_id}: {framework_id}/{role} task not held")


def agent_problems(snapshot: Mapping[str, Any], parse: Parse) -> list[str]:
    """Agents whose available + allocated is not exactly their total."""
    problems = []
    for agent_id, agent in snapshot["agents"].items():
        used = parse(agent["available"])
        for by_role in agent["allocated"].values():
            for text in by_role.values():
                used = used + parse(text)
        if used != parse(agent["total"]):
            problems.append(f"{agent_id}: available + allocated = {used}, total {agent['total']}")
    return problems


def weighted_shares(snapshot: Mapping[str, Any]) -> dict[str, float]:
    """Each framework's dominant share divided by its role's weight."""
    roles = snapshot["roles"]
    return {
        name: max(
            (share / roles[role]["weight"] for role, share in framework["shares"].items()),
            default=0.0,
        )
        for name, framework in snapshot["frameworks"].items()
    }


def build(config: Config) -> Simulation:
    """The cluster at t=0: agents registered, frameworks subscribed, web's
    weight and quota set."""
    allocator: ClusterAllocator
    parse: Parse
    if config.reference:
        from pyactors._reference.allocator import ReferenceAllocator
        from pyactors._reference.resources import PyResources

        allocator, parse = ReferenceAllocator(seed=config.seed), PyResources.parse
    else:
        from pyactors import Resources

        allocator, parse = Allocator(seed=config.seed), Resources.parse
    frameworks = default_frameworks(config.seed)
    for framework in frameworks:
        if framework.weight != 1.0:
            allocator.set_weight(framework.role, framework.weight)
        allocator.add_framework(framework.name, [framework.role], 0.0)
    web = next(f for f in frameworks if isinstance(f, SimulatedService))
    allocator.set_quota(
        web.role, {"cpus": web.target * web.spec.cpus, "mem": web.target * web.spec.mem}
    )
    agents = [f"agent-{index:03d}" for index in range(config.agents)]
    for index, agent_id in enumerate(agents):
        attributes = {} if index % 4 == 3 else {"rack": RACKS[index % len(RACKS)]}
        allocator.add_agent(agent_id, AGENT_TOTAL, 0.0, attributes)
    total = parse(AGENT_TOTAL)
    return Simulation(
        config,
        allocator,
        parse,
        frameworks,
        agents,
        total.scalar("cpus") * config.agents,
        total.scalar("mem") * config.agents,
    )


def run(config: Config, progress: Callable[[Simulation], None] | None = None) -> Simulation:
    """Simulate t = 0 .. config.seconds; `progress` is called every few seconds."""
    if config.agents < 1 or config.seconds < 0:
        raise ValueError("need at least one agent and a non-negative duration")
    simulation = build(config)
    for now in range(config.seconds + 1):
        simulation.now = now
        simulation.step()
        if progress is not None and (now % PROGRESS_EVERY == 0 or now == config.seconds):
            progress(simulation)
    return simulation
