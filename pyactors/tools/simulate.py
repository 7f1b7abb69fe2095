"""A simulated cluster driven by the real allocator: `python -m pyactors.simulate`.

A deterministic discrete-event simulation. Agents and frameworks are plain
Python objects and tasks are records with a duration (no processes); the
allocator is the real one (`pyactors.core.allocator.Allocator`, the Rust core, or
with `--reference` its pure-Python twin). Time is simulated: every step of
the loop is one second (`now` = 0, 1, ..., --seconds), nothing sleeps.

Each simulated second:

1. tasks whose duration is over finish; their resources are recovered
   (refuse_seconds=0) and the service framework revives if it is short;
2. `allocate(now)` makes the cycle's offers (its wall time is measured);
3. each framework answers its offers: a launch keeps part of an offer and
   recovers the rest with a filter (refuse_seconds), a decline recovers all.

The cluster: --agents agents of `cpus:8;mem:16384;disk:100000;ports:[...]`,
three in four with a `rack` attribute. The frameworks:

- `pi` (role `science`): a batch job that always has work, many short tasks
  of <1 cpu, 1 GB>, as many as each offer holds.
- `web` (role `web`, weight 2, quota guarantee of exactly its tasks): keeps 8
  long-running tasks of <2 cpus, 512 MB, 1 port>; suppresses its offers when
  all 8 run and revives when one ends.
- `gang` (role `ml`): always has work, gangs of 4 tasks of <2 cpus, 2 GB>
  that start together or not at all: it launches only as many whole gangs as
  one round of offers holds and declines the round (with a filter) if it
  cannot hold one.

Everything printed and written with --json is a function of the flags
(--agents, --seconds, --seed), except the wall times of the allocation cycles
(kept apart under "run" in the JSON). Both allocators make the same offers,
so --reference changes nothing else either.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, TypeVar

import orjson

from pyactors.core.allocator import Allocator, Offer

DEFAULT_AGENTS = 20
DEFAULT_SECONDS = 120
AGENT_TOTAL = "cpus:8;mem:16384;disk:100000;ports:[31000-31999]"
RACKS = ("r1", "r2", "r3")
REFUSE_SECONDS = 5.0  # Mesos's default filter for declined offers
SAMPLE_EVERY = 5  # simulated seconds between share samples and audits
PROGRESS_EVERY = 10  # simulated seconds between progress updates
SHOWN_SAMPLES = 7  # rows of the share-over-time table
TREND_POINTS = 12  # characters of a share sparkline
SPARKS = "▁▂▃▄▅▆▇█"


class Bundle(Protocol):
    """What the simulation needs of a resource bundle; both `pyactors.Resources`
    and the reference `PyResources` have it."""

    def __add__(self, other: Self, /) -> Self: ...
    def __sub__(self, other: Self, /) -> Self: ...
    def __le__(self, other: Self, /) -> bool: ...
    def __bool__(self) -> bool: ...
    def scalar(self, name: str) -> float: ...
    def to_dict(self) -> Mapping[str, object]: ...


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


T = TypeVar("T")
Parse = Callable[[str], Bundle]


# ----------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class Config:
    agents: int = DEFAULT_AGENTS
    seconds: int = DEFAULT_SECONDS
    seed: int = 0
    reference: bool = False


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task's needs and how long it runs (whole seconds, inclusive range)."""

    cpus: float
    mem: int
    ports: int
    min_seconds: int
    max_seconds: int

    def text(self, port: int | None = None) -> str:
        text = f"cpus:{self.cpus:g};mem:{self.mem}"
        return text if port is None else f"{text};ports:[{port}-{port}]"


@dataclass(frozen=True, slots=True)
class Task:
    framework_id: str
    agent_id: str
    role: str
    resources: Bundle
    ends_at: int


@dataclass(slots=True)
class Recover:
    """Resources handed back: the unused part of an offer, or an offer declined."""

    agent_id: str
    role: str
    resources: Bundle
    refuse_seconds: float


@dataclass(slots=True)
class Answer:
    """A framework's reply to one round of offers."""

    launches: list[Task] = field(default_factory=list)
    recovers: list[Recover] = field(default_factory=list)
    declined: int = 0  # offers handed back whole


@dataclass
class Framework:
    """A framework with its counters; subclasses decide what to launch."""

    name: str
    role: str
    weight: float
    spec: TaskSpec
    seed: int
    launched: int = 0
    finished: int = 0
    running: int = 0
    declined: int = 0
    rng: random.Random = field(init=False, repr=False)

    kind: ClassVar[str] = "framework"
    hungry: ClassVar[bool] = True  # always has work, so competes for every spare cpu

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}:{self.name}")

    def wants_offers(self) -> bool:
        return True

    def duration(self) -> int:
        return self.rng.randint(self.spec.min_seconds, self.spec.max_seconds)

    def answer(self, offers: Sequence[Offer], now: int, parse: Parse) -> Answer:
        raise NotImplementedError

    def fill(self, offers: Sequence[Offer], now: int, parse: Parse, wanted: float) -> Answer:
        """Launch up to `wanted` tasks, as many as each offer holds in turn."""
        answer = Answer()
        for offer in offers:
            bundles, rest = pack(offer.resources, self.spec, parse, wanted)
            wanted -= len(bundles)
            answer.launches += [self.task(offer, b, now + self.duration()) for b in bundles]
            settle(answer, offer, rest, bool(bundles))
        return answer

    def task(self, offer: Offer, resources: Bundle, ends_at: int) -> Task:
        return Task(self.name, offer.agent_id, offer.role, resources, ends_at)


@dataclass
class BatchFramework(Framework):
    """Launches as many tasks as each offer holds (an endless queue)."""

    kind: ClassVar[str] = "batch"

    def answer(self, offers: Sequence[Offer], now: int, parse: Parse) -> Answer:
        return self.fill(offers, now, parse, math.inf)


@dataclass
class ServiceFramework(Framework):
    """Keeps `target` long-running tasks; suppressed while all of them run."""

    target: int = 8
    kind: ClassVar[str] = "service"
    hungry: ClassVar[bool] = False

    def wants_offers(self) -> bool:
        return self.running < self.target

    def answer(self, offers: Sequence[Offer], now: int, parse: Parse) -> Answer:
        return self.fill(offers, now, parse, self.target - self.running)


@dataclass
class GangFramework(Framework):
    """Launches gangs of `size` tasks, all in one round or none."""

    size: int = 4
    kind: ClassVar[str] = "gang"

    def answer(self, offers: Sequence[Offer], now: int, parse: Parse) -> Answer:
        answer = Answer()
        slots = sum(len(pack(o.resources, self.spec, parse, math.inf)[0]) for o in offers)
        gangs = slots // self.size
        wanted = gangs * self.size
        ends = [now + self.duration() for _ in range(gangs)]  # a gang ends together
        for offer in offers:
            bundles, rest = pack(offer.resources, self.spec, parse, wanted - len(answer.launches))
            for bundle in bundles:
                gang = len(answer.launches) // self.size
                answer.launches.append(self.task(offer, bundle, ends[gang]))
            settle(answer, offer, rest, bool(bundles))
        return answer


def pack(
    offered: Bundle, spec: TaskSpec, parse: Parse, limit: float
) -> tuple[list[Bundle], Bundle]:
    """Cut up to `limit` tasks of `spec` out of `offered`, lowest ports first;
    returns the tasks' bundles and what is left."""
    need = parse(spec.text())
    bundles: list[Bundle] = []
    rest = offered
    while len(bundles) < limit and need <= rest:
        task = need
        if spec.ports:
            port = first_port(rest)
            if port is None:
                break
            task = parse(spec.text(port))
        bundles.append(task)
        rest = rest - task
    return bundles, rest


def first_port(resources: Bundle) -> int | None:
    ranges = resources.to_dict().get("ports")
    if not isinstance(ranges, list) or not ranges:
        return None
    return int(ranges[0][0])


def settle(answer: Answer, offer: Offer, rest: Bundle, launched: bool) -> None:
    """Hand back what was not used, with a filter either way."""
    if not launched:
        answer.declined += 1
    if rest:
        answer.recovers.append(Recover(offer.agent_id, offer.role, rest, REFUSE_SECONDS))


def default_frameworks(seed: int) -> list[Framework]:
    return [
        BatchFramework("pi", "science", 1.0, TaskSpec(1, 1024, 0, 2, 10), seed),
        ServiceFramework("web", "web", 2.0, TaskSpec(2, 512, 1, 30, 90), seed, target=8),
        GangFramework("gang", "ml", 1.0, TaskSpec(2, 2048, 0, 6, 16), seed, size=4),
    ]


# ----------------------------------------------------------------- simulation


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
    frameworks: list[Framework]
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

    def framework(self, name: str) -> Framework:
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

    def apply(self, framework: Framework, answer: Answer) -> None:
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
    web = next(f for f in frameworks if isinstance(f, ServiceFramework))
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


# ----------------------------------------------------------------- summary


def convergence_tolerance(agents: int) -> float:
    """How far apart the hungry frameworks' weighted shares may end up.

    Two agents' worth of cpus, as a share of the cluster (2 / agents): one
    because DRF hands out an agent's free resources to one role at a time and
    a gang is itself one agent's cpus (4 x 2), so the framework behind may
    trail by a whole agent; one for the fragments only `pi` can use (a free
    cpu left alone on an agent fits a pi task but no gang task), which pi
    absorbs whenever the gang declines them. (Seeds 0-39 stay well inside:
    largest spreads 0.18 at 10 agents, 0.064 at 20, 0.023 at 50.)
    """
    return min(1.0, 2.0 / agents)


def convergence(simulation: Simulation) -> dict[str, Any]:
    """The hungry frameworks' weighted shares over the last quarter of the run
    (the instant values move by a whole gang when one ends)."""
    hungry = [f.name for f in simulation.frameworks if f.hungry]
    first = simulation.config.seconds - simulation.config.seconds // 4
    window = [second for second in simulation.seconds if second.now >= first]
    means = {name: statistics.fmean(w.weighted_shares[name] for w in window) for name in hungry}
    spread = max(means.values()) - min(means.values()) if means else 0.0
    tolerance = convergence_tolerance(simulation.config.agents)
    return {
        "frameworks": hungry,
        "window": [window[0].now, window[-1].now],
        "mean_weighted_shares": {name: round(share, 6) for name, share in means.items()},
        "spread": round(spread, 6),
        "tolerance": round(tolerance, 6),
        "converged": spread <= tolerance,
    }


def summarise(simulation: Simulation) -> dict[str, Any]:
    """Everything the run produced, as plain data. All of it is a function of
    the config except "run" (which allocator, and wall times)."""
    final = simulation.samples[-1].weighted_shares
    frameworks = {
        f.name: {
            "kind": f.kind,
            "role": f.role,
            "weight": f.weight,
            "task": f.spec.text(),
            "launched": f.launched,
            "finished": f.finished,
            "running": f.running,
            "declined_offers": f.declined,
            "weighted_share": round(final[f.name], 6),
        }
        for f in simulation.frameworks
    }
    cycles = [seconds * 1000 for seconds in simulation.cycle_seconds]
    return {
        "config": {
            "agents": simulation.config.agents,
            "seconds": simulation.config.seconds,
            "seed": simulation.config.seed,
            "agent_total": AGENT_TOTAL,
        },
        "frameworks": frameworks,
        "shares_over_time": [
            {"t": s.now, **{n: round(v, 6) for n, v in s.weighted_shares.items()}}
            for s in simulation.samples
        ],
        "utilisation": {
            "cpus": round(statistics.fmean(s.cpus for s in simulation.seconds), 6),
            "mem": round(statistics.fmean(s.mem for s in simulation.seconds), 6),
        },
        "offers": {"count": simulation.offers, "digest": simulation.offer_digest.hexdigest()},
        "audits": {"count": simulation.audits, "violations": simulation.violations},
        "convergence": convergence(simulation),
        "run": {
            "allocator": "reference" if simulation.config.reference else "rust",
            "cycles": len(cycles),
            "cycle_ms": {
                "mean": statistics.fmean(cycles),
                "p50": statistics.median(cycles),
                "p99": percentile(cycles, 0.99),
                "max": max(cycles),
                "total": sum(cycles),
            },
        },
    }


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def deterministic(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary without "run": what the flags alone decide."""
    return {key: value for key, value in summary.items() if key != "run"}


def sparkline(values: Sequence[float], top: float) -> str:
    if top <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, int(v / top * len(SPARKS)))] for v in values)


def evenly(items: Sequence[T], count: int) -> list[T]:
    """At most `count` evenly spaced items, always the first and the last."""
    step = max(1, math.ceil((len(items) - 1) / max(1, count - 1)))
    picked = list(items[::step])
    if len(items) > 1 and (len(items) - 1) % step:
        picked.append(items[-1])
    return picked


def convergence_line(summary: Mapping[str, Any]) -> str:
    c = summary["convergence"]
    final = ", ".join(
        f"{n} {summary['frameworks'][n]['weighted_share']:.3f}" for n in c["frameworks"]
    )
    means = ", ".join(f"{n} {share:.3f}" for n, share in c["mean_weighted_shares"].items())
    verdict, relation = ("converged", "<=") if c["converged"] else ("did NOT converge", ">")
    start, end = c["window"]
    return (
        f"DRF shares {verdict}: final weighted dominant shares {final}; "
        f"mean over t={start}..{end}s {means} "
        f"(spread {c['spread']:.3f} {relation} tolerance {c['tolerance']:.3f})"
    )


def summary_rows(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    trend_top = max(
        (v for s in summary["shares_over_time"] for k, v in s.items() if k != "t"), default=0.0
    )
    header = ["framework", "role", "weight", "launched", "finished", "running", "share", "trend"]
    rows = [
        [
            name,
            f["role"],
            f"{f['weight']:g}",
            str(f["launched"]),
            str(f["finished"]),
            str(f["running"]),
            f"{f['weighted_share']:.3f}",
            sparkline(
                [s[name] for s in evenly(summary["shares_over_time"], TREND_POINTS)], trend_top
            ),
        ]
        for name, f in summary["frameworks"].items()
    ]
    return header, rows


def share_rows(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    names = list(summary["frameworks"])
    header = ["t (s)", *names]
    rows = [
        [str(s["t"]), *(f"{s[n]:.3f}" for n in names)]
        for s in evenly(summary["shares_over_time"], SHOWN_SAMPLES)
    ]
    return header, rows


def footer_lines(summary: Mapping[str, Any]) -> list[str]:
    u, run_info, audits = summary["utilisation"], summary["run"], summary["audits"]
    ms = run_info["cycle_ms"]
    return [
        f"mean utilisation: cpus {u['cpus']:.1%}, mem {u['mem']:.1%}",
        f"offers: {summary['offers']['count']} (digest {summary['offers']['digest'][:16]})",
        f"audits: {audits['count']} snapshots, {len(audits['violations'])} problems "
        "(over-committed agents, allocations not matching the running tasks)",
        f"allocation cycle ({run_info['allocator']}, wall time): mean {ms['mean']:.3f} ms, "
        f"p50 {ms['p50']:.3f} ms, p99 {ms['p99']:.3f} ms, max {ms['max']:.3f} ms "
        f"over {run_info['cycles']} cycles",
        convergence_line(summary),
    ]


# ----------------------------------------------------------------- output


def plain_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        title,
        "  ".join(
            h.ljust(w) if h == "framework" else h.rjust(w)
            for h, w in zip(header, widths, strict=True)
        ),
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        cells = [
            c.ljust(w) if h == "framework" else c.rjust(w)
            for h, c, w in zip(header, row, widths, strict=True)
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def progress_line(simulation: Simulation) -> str:
    cpus, mem = simulation.seconds[-1].cpus, simulation.seconds[-1].mem
    parts = [f"{f.name} {f.running} running/{f.launched} launched" for f in simulation.frameworks]
    return f"[t={simulation.now:4d}s] cpus {cpus:6.1%} mem {mem:6.1%} | " + " | ".join(parts)


class Output:
    """Plain text, or rich (a live progress table on a terminal) if available."""

    def __init__(self, plain: bool) -> None:
        self.console: Any = None
        if not plain:
            try:
                from rich.console import Console
            except ImportError:
                pass
            else:
                self.console = Console()

    @property
    def live(self) -> bool:
        return self.console is not None and bool(self.console.is_terminal)

    @contextmanager
    def progress(self) -> Iterator[Callable[[Simulation], None]]:
        if not self.live:
            yield lambda simulation: print(progress_line(simulation), flush=True)
            return
        from rich.live import Live

        with Live(console=self.console, auto_refresh=False, transient=True) as live:
            yield lambda simulation: live.update(self.live_table(simulation), refresh=True)

    def live_table(self, simulation: Simulation) -> Any:
        from rich.table import Table

        cpus, mem = simulation.seconds[-1].cpus, simulation.seconds[-1].mem
        table = Table(
            title=f"t = {simulation.now} / {simulation.config.seconds} s",
            caption=f"cpus {cpus:.0%}, mem {mem:.0%}",
        )
        for column in ("framework", "running", "launched", "finished", "weighted share"):
            table.add_column(column, justify="left" if column == "framework" else "right")
        shares = simulation.samples[-1].weighted_shares if simulation.samples else {}
        for f in simulation.frameworks:
            share = f"{shares.get(f.name, 0.0):.3f}"
            table.add_row(f.name, str(f.running), str(f.launched), str(f.finished), share)
        return table

    def summary(self, summary: Mapping[str, Any]) -> None:
        tables = [
            ("Frameworks", *summary_rows(summary)),
            ("Weighted share over time", *share_rows(summary)),
        ]
        if self.console is None:
            for title, header, rows in tables:
                print(plain_table(title, header, rows), end="\n\n")
            print("\n".join(footer_lines(summary)))
            return
        from rich import box
        from rich.table import Table

        for title, header, rows in tables:
            table = Table(title=title, box=box.SIMPLE_HEAD, collapse_padding=True, show_edge=False)
            for column in header:
                table.add_column(column, justify="left" if column == "framework" else "right")
            for row in rows:
                table.add_row(*row)
            self.console.print(table)
            self.console.print()
        for line in footer_lines(summary):
            self.console.print(line, highlight=False, soft_wrap=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pyactors.simulate",
        description="Simulate a cluster driven by the pyactors allocator (simulated time).",
    )
    parser.add_argument("--agents", type=int, default=DEFAULT_AGENTS, help="agents (default 20)")
    parser.add_argument(
        "--seconds", type=int, default=DEFAULT_SECONDS, help="simulated seconds (default 120)"
    )
    parser.add_argument("--seed", type=int, default=0, help="allocator and task seed")
    parser.add_argument(
        "--reference", action="store_true", help="use the pure-Python reference allocator"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the summary as JSON")
    parser.add_argument("--plain", action="store_true", help="plain text even if rich is there")
    args = parser.parse_args(argv)
    if args.agents < 1 or args.seconds < 0 or not 0 <= args.seed < 2**64:
        parser.error("--agents must be >= 1, --seconds >= 0, --seed in [0, 2**64)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = Config(args.agents, args.seconds, args.seed, args.reference)
    output = Output(args.plain)
    with output.progress() as progress:
        simulation = run(config, progress)
    summary = summarise(simulation)
    output.summary(summary)
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return 1 if summary["audits"]["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
