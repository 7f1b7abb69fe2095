"""The allocator benchmark's clusters and scenarios: how each scenario drives
one implementation at one size, and the figures it records (allocator.py, the
entry point, says what each scenario models)."""

from __future__ import annotations

import gc
import hashlib
import random
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyactors._reference.allocator import ReferenceAllocator
from pyactors.core.allocator import Allocator, Offer

AllocatorLike = Allocator | ReferenceAllocator

IMPLS: dict[str, Callable[..., AllocatorLike]] = {"rust": Allocator, "python": ReferenceAllocator}
SCENARIOS = ("add", "full_cycle", "steady", "decline_offers", "mesos_decline", "suppressed")
DECLINES = ("decline_offers", "mesos_decline")
CYCLE_GROUP = ("add", "full_cycle", "steady")  # measured on one cluster, skipped together

AGENT_TOTAL = "cpus:24;mem:49152;disk:1048576;ports:[31000-32000]"
AGENT_USED = "cpus:16;mem:2014;disk:1024"  # Mesos's DeclineOffers allocation, minus ports
AGENT_CPUS, AGENT_MEM = 24, 49152
# Mesos's DeclineOffers agent: its own total, and fragment(createRange(31000,
# 32000), 16) as the allocated ports (15 single ports, then 31030-32000).
MESOS_AGENT_TOTAL = "cpus:24;mem:4096;disk:4096;ports:[31000-32000]"
MESOS_PORTS = ",".join([*(f"{p}-{p}" for p in range(31000, 31030, 2)), "31030-32000"])
MESOS_AGENT_USED = f"cpus:16;mem:2014;disk:1024;ports:[{MESOS_PORTS}]"
MESOS_ROLE = "*"
YEAR = 365 * 24 * 3600.0  # the longest filter the allocators accept
SEED = 20190508  # allocator shuffle and which agents steady releases
MAX_ROLES = 10
SUPPRESSED_FRACTION = 0.99  # as Mesos's ExtremeSuppressOffers
STEADY_RELEASED_FRACTION = 0.01


@dataclass(frozen=True)
class Limits:
    """How much one implementation may spend on one scenario at one size."""

    repeats: int  # add + full_cycle builds (median reported)
    steady_cycles: int
    decline_rounds: int  # cap on Mesos's 2 * M rounds
    suppressed_rounds: int
    unit_budget_s: float  # skip when setup + one measurement is predicted longer
    scenario_budget_s: float  # stop repeating (or stop rounds) after this much


@dataclass(frozen=True)
class Cell:
    """One implementation at one size, with the scenarios to run there."""

    impl: str
    agents: int
    frameworks: int
    scenarios: tuple[str, ...] = SCENARIOS


@dataclass
class Result:
    """One scenario for one implementation at one size.

    `seconds` is the headline: the median for add, full_cycle, steady and
    suppressed; the mean round for the two DeclineOffers. `cost_s` (setup plus one
    measurement) feeds the predictions that skip larger sizes.
    """

    scenario: str
    impl: str
    agents: int
    frameworks: int
    seconds: float | None = None
    skipped: str | None = None
    cost_s: float | None = None
    figures: dict[str, Any] = field(default_factory=dict)


def skipped(cell: Cell, scenario: str, reason: str) -> Result:
    return Result(scenario, cell.impl, cell.agents, cell.frameworks, skipped=reason)


# --------------------------------------------------------------- the cluster


def framework_ids(count: int) -> list[str]:
    return [f"fw-{j:05d}" for j in range(count)]


def agent_ids(count: int) -> list[str]:
    return [f"agent-{i:06d}" for i in range(count)]


def role_names(frameworks: int) -> list[str]:
    return [f"team-{k}" for k in range(min(frameworks, MAX_ROLES))]


def role_of(index: int, roles: Sequence[str]) -> str:
    return roles[index % len(roles)]


def configure_roles(alloc: AllocatorLike, roles: Sequence[str], agents: int) -> None:
    """Quota and weights sized from the cluster, so the guarantee and the
    limit bind (and cost something) at every N."""
    cpus, mem = agents * AGENT_CPUS, agents * AGENT_MEM
    alloc.set_quota(roles[0], guarantee={"cpus": 0.05 * cpus, "mem": 0.05 * mem})
    if len(roles) > 1:
        alloc.set_quota(roles[1], limit={"cpus": 0.25 * cpus, "mem": 0.25 * mem})
    if len(roles) > 2:
        alloc.set_weight(roles[2], 2.0)
    if len(roles) > 3:
        alloc.set_weight(roles[3], 0.5)


@dataclass
class Cluster:
    alloc: AllocatorLike
    frameworks: list[str]
    agents: list[str]
    add_frameworks_s: float
    add_agents_s: float

    @property
    def add_s(self) -> float:
        return self.add_frameworks_s + self.add_agents_s


def build_cluster(
    impl: str, agents: int, frameworks: int, loaded: bool, mesos: bool = False
) -> Cluster:
    """Register everything at now=0. `loaded`: each agent already runs
    AGENT_USED for framework i % M (passed to add_agent, as on re-registration).
    `mesos`: Mesos's DeclineOffers cluster instead, one role "*" without quota
    or weights, MESOS_AGENT_TOTAL agents and MESOS_AGENT_USED when loaded."""
    alloc = IMPLS[impl](seed=SEED)
    fw_ids, ag_ids = framework_ids(frameworks), agent_ids(agents)
    roles = [MESOS_ROLE] if mesos else role_names(frameworks)
    total, in_use = (MESOS_AGENT_TOTAL, MESOS_AGENT_USED) if mesos else (AGENT_TOTAL, AGENT_USED)
    # Arguments are built before the clock starts: we time the allocator, not dicts.
    used = [
        {fw_ids[i % frameworks]: {role_of(i % frameworks, roles): in_use}} if loaded else None
        for i in range(agents)
    ]
    gc.collect()
    start = time.perf_counter()
    if not mesos:
        configure_roles(alloc, roles, agents)
    for j, fw in enumerate(fw_ids):
        alloc.add_framework(fw, [role_of(j, roles)], now=0.0)
    middle = time.perf_counter()
    for agent, allocated in zip(ag_ids, used, strict=True):
        alloc.add_agent(agent, total, 0.0, allocated=allocated)
    end = time.perf_counter()
    return Cluster(alloc, fw_ids, ag_ids, middle - start, end - middle)


def timed_allocate(alloc: AllocatorLike, now: float) -> tuple[float, list[Offer]]:
    start = time.perf_counter()
    offers = alloc.allocate(now)
    return time.perf_counter() - start, offers


def core_seconds(alloc: AllocatorLike) -> float | None:
    """The Rust core's own time for the last allocate(); None for Python."""
    return alloc.last_cycle_seconds if isinstance(alloc, Allocator) else None


def recover_all(
    alloc: AllocatorLike, offers: Iterable[Offer], now: float, refuse_seconds: float
) -> float:
    """Give back whole offers, as frameworks declining them, in one batch
    call; returns wall seconds."""
    start = time.perf_counter()
    alloc.recover_many(list(offers), refuse_seconds=refuse_seconds, now=now)
    return time.perf_counter() - start


def cpu_timed(call: Callable[..., Any], *args: Any) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this thread, result). The CPU time leaves
    out what other processes on a shared machine take from us; the calls
    timed run on this thread (the core releases the GIL but not the thread)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    result = call(*args)
    return time.perf_counter() - wall, time.thread_time() - cpu, result


def offers_digest(offers: Sequence[Offer]) -> str:
    """Both implementations must make the very same offers; comparing digests
    shows the speedup is measured on equal work."""
    text = "\n".join(f"{o.framework_id} {o.agent_id} {o.role} {o.resources}" for o in offers)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------- scenarios


def measure_cycle_group(cell: Cell, limits: Limits) -> list[Result]:
    """add and full_cycle on fresh clusters (median over repeats), then steady
    on the last one, whose every agent is allocated by then."""
    adds: list[tuple[float, float]] = []  # (frameworks_s, agents_s) per build
    cycles: list[float] = []
    cores: list[float | None] = []
    started = time.perf_counter()
    while True:
        cluster = build_cluster(cell.impl, cell.agents, cell.frameworks, loaded=False)
        seconds, offers = timed_allocate(cluster.alloc, 1.0)
        adds.append((cluster.add_frameworks_s, cluster.add_agents_s))
        cycles.append(seconds)
        cores.append(core_seconds(cluster.alloc))
        if (
            len(cycles) >= limits.repeats
            or time.perf_counter() - started > limits.scenario_budget_s
        ):
            break
        del cluster, offers  # free before the next build: peak memory stays one cluster
    add = add_result(cell, adds)
    full = full_cycle_result(cell, cycles, cores, offers, add.seconds or 0.0)
    steady = measure_steady(cell, limits, cluster, offers)
    return [add, full, steady]


def add_result(cell: Cell, adds: Sequence[tuple[float, float]]) -> Result:
    totals = [fws + agents for fws, agents in adds]
    agents_s = statistics.median(agents for _, agents in adds)
    figures = {
        "repeats": len(adds),
        "frameworks_s": statistics.median(fws for fws, _ in adds),
        "agents_s": agents_s,
        "agents_per_s": cell.agents / agents_s,
        "all_s": totals,
    }
    total = statistics.median(totals)
    return Result("add", cell.impl, cell.agents, cell.frameworks, total, None, total, figures)


def full_cycle_result(
    cell: Cell,
    cycles: Sequence[float],
    cores: Sequence[float | None],
    offers: Sequence[Offer],
    add_s: float,
) -> Result:
    median = statistics.median(cycles)
    measured_cores = [c for c in cores if c is not None]
    figures = {
        "repeats": len(cycles),
        "core_s": statistics.median(measured_cores) if measured_cores else None,
        "all_core_s": measured_cores,
        "offers": len(offers),
        "offers_per_s": len(offers) / median if median > 0 else None,
        "all_s": list(cycles),
        "digest": offers_digest(offers),
    }
    return Result(
        "full_cycle", cell.impl, cell.agents, cell.frameworks, median, None, add_s + median, figures
    )


def measure_steady(cell: Cell, limits: Limits, cluster: Cluster, offers: list[Offer]) -> Result:
    """A quiet cycle: 1% of the agents had their offers returned (tasks
    ended, no filter); the rest stay allocated and must cost little."""
    alloc = cluster.alloc
    held: dict[str, list[Offer]] = {}
    for offer in offers:
        held.setdefault(offer.agent_id, []).append(offer)
    released = max(1, int(cell.agents * STEADY_RELEASED_FRACTION))
    rng = random.Random(SEED)
    times, counts, now = [], [], 1.0
    gc.collect()
    started = time.perf_counter()
    for _ in range(limits.steady_cycles):
        chosen = rng.sample(list(held), min(released, len(held)))
        recover_all(alloc, (o for agent in chosen for o in held.pop(agent)), now, 0.0)
        now += 1.0
        seconds, new = timed_allocate(alloc, now)
        for offer in new:
            held.setdefault(offer.agent_id, []).append(offer)
        times.append(seconds)
        counts.append(len(new))
        if time.perf_counter() - started > limits.scenario_budget_s:
            break
    median = statistics.median(times)
    figures = {
        "cycles": len(times),
        "released_agents": released,
        "offers_per_cycle": statistics.mean(counts),
        "all_s": times,
    }
    return Result("steady", cell.impl, cell.agents, cell.frameworks, median, None, median, figures)


def measure_decline(cell: Cell, limits: Limits, mesos: bool = False) -> Result:
    """Mesos's DeclineOffers: every offer is declined for a year, so each round
    must look past more filters to find a framework that still wants the agent.
    `mesos`: on Mesos's own cluster (mesos_decline) rather than the multi-role
    one (decline_offers)."""
    cluster = build_cluster(cell.impl, cell.agents, cell.frameworks, loaded=True, mesos=mesos)
    alloc, planned = cluster.alloc, min(2 * cell.frameworks, limits.decline_rounds)
    rounds: list[float] = []
    rounds_cpu: list[float] = []
    cores: list[float] = []
    recovers: list[float] = []
    recovers_cpu: list[float] = []
    counts: list[int] = []
    by_token: list[bool] = []
    offers: list[Offer] = []
    now = 0.0
    # As the master keeps them with its records: tokens are looked up once.
    framework_tokens = {f: alloc.framework_token(f) for f in cluster.frameworks}
    agent_tokens = {a: alloc.agent_token(a) for a in cluster.agents}
    gc.collect()
    started = time.perf_counter()
    for round_index in range(planned):
        # Round 0 has nothing to recover; later rounds give back the previous
        # round's offers in one call: recover_many_by_token and recover_many
        # (ids) in turn, the items built before the clock starts for both.
        if offers:
            tokens = round_index % 2 == 1
            if tokens:
                items: list[Any] = [
                    (
                        framework_tokens[o.framework_id],
                        agent_tokens[o.agent_id],
                        o.role,
                        o.resources,
                    )
                    for o in offers
                ]
                call = alloc.recover_many_by_token
            else:
                items, call = offers, alloc.recover_many
            wall, cpu, _ = cpu_timed(call, items, YEAR, now)
            recovers.append(wall)
            recovers_cpu.append(cpu)
            by_token.append(tokens)
        now += 1.0
        seconds, cpu, offers = cpu_timed(alloc.allocate, now)
        rounds.append(seconds)
        rounds_cpu.append(cpu)
        core = core_seconds(alloc)
        if core is not None:
            cores.append(core)
        counts.append(len(offers))
        if time.perf_counter() - started > limits.scenario_budget_s:
            break
    mean = statistics.mean(rounds)
    recover_mean = statistics.mean(recovers) if recovers else 0.0
    # Recovering round i's offers against round i itself, both end to end
    # (the call from Python, conversions included) in this thread's CPU time.
    ratios = [(t, r / c) for t, r, c in zip(by_token, recovers_cpu, rounds_cpu, strict=False) if c]
    recover_ratios = [ratio for t, ratio in ratios if t]
    recover_ratios_ids = [ratio for t, ratio in ratios if not t]
    token_cpu = [r for t, r in zip(by_token, recovers_cpu, strict=True) if t]
    ids_cpu = [r for t, r in zip(by_token, recovers_cpu, strict=True) if not t]
    figures: dict[str, Any] = {
        "rounds": len(rounds),
        "rounds_planned": planned,
        "max_s": max(rounds),
        "first_s": rounds[0],
        "later_mean_s": statistics.mean(rounds[1:]) if len(rounds) > 1 else None,
        "offers_per_round": statistics.mean(counts),
        "recover_mean_s": recover_mean,
        "recover_cpu_mean_s": statistics.mean(recovers_cpu) if recovers_cpu else None,
        "recover_ratio": statistics.median(recover_ratios) if recover_ratios else None,
        "recover_ratio_ids": (
            statistics.median(recover_ratios_ids) if recover_ratios_ids else None
        ),
        "recover_token_cpu_mean_s": statistics.mean(token_cpu) if token_cpu else None,
        "recover_ids_cpu_mean_s": statistics.mean(ids_cpu) if ids_cpu else None,
        "recover_by_token": by_token,
        "setup_s": cluster.add_s,
        "round_s": rounds,
        "round_cpu_s": rounds_cpu,
        "recover_s": recovers,
        "recover_cpu_s": recovers_cpu,
        "round_offers": counts,
        "core_mean_s": statistics.mean(cores) if cores else None,
        "core_max_s": max(cores) if cores else None,
        "core_round_s": cores,
    }
    cost = cluster.add_s + mean + recover_mean
    scenario = "mesos_decline" if mesos else "decline_offers"
    return Result(scenario, cell.impl, cell.agents, cell.frameworks, mean, None, cost, figures)


def measure_suppressed(cell: Cell, limits: Limits) -> Result:
    """Mesos's ExtremeSuppressOffers: a cycle should cost what the few active
    frameworks need, not what the suppressed ones would."""
    cluster = build_cluster(cell.impl, cell.agents, cell.frameworks, loaded=True)
    alloc = cluster.alloc
    count = int(cell.frameworks * SUPPRESSED_FRACTION)
    for framework in cluster.frameworks[:count]:
        alloc.suppress(framework)
    times: list[float] = []
    counts: list[int] = []
    offers: list[Offer] = []
    now = 0.0
    gc.collect()
    started = time.perf_counter()
    for _ in range(limits.suppressed_rounds):
        recover_all(alloc, offers, now, 0.0)
        now += 1.0
        seconds, offers = timed_allocate(alloc, now)
        times.append(seconds)
        counts.append(len(offers))
        if time.perf_counter() - started > limits.scenario_budget_s:
            break
    median = statistics.median(times)
    figures = {
        "rounds": len(times),
        "suppressed_frameworks": count,
        "offers_per_round": statistics.mean(counts),
        "setup_s": cluster.add_s,
        "all_s": times,
    }
    return Result(
        "suppressed",
        cell.impl,
        cell.agents,
        cell.frameworks,
        median,
        None,
        cluster.add_s + median,
        figures,
    )


IDLE_CLUSTER = (50_000, 200)  # issue 18's cluster: 50,000 agents, 200 frameworks
IDLE_CYCLES = 20


def measure_idle_cycle() -> Result:
    """Issue 18's idle cycle, on the Rust core: 50,000 agents whose every
    resource is offered, so nothing is available. A cycle must touch none of
    them (counted: the candidates it shuffles, the agents it visits), and
    after one agent's offer came back, that agent alone."""
    agents, frameworks = IDLE_CLUSTER
    # Mesos's cluster (one role, no quota): one stage, so one visit per agent.
    cluster = build_cluster("rust", agents, frameworks, loaded=False, mesos=True)
    alloc = cluster.alloc
    assert isinstance(alloc, Allocator)
    offers = alloc.allocate(1.0)
    now = 1.0
    walls: list[float] = []
    cores: list[float] = []
    counts: list[tuple[int, int]] = []
    gc.collect()
    for _ in range(IDLE_CYCLES):
        now += 1.0
        wall, _, _ = cpu_timed(alloc.allocate, now)
        walls.append(wall)
        cores.append(alloc.last_cycle_seconds)
        counts.append((alloc.last_cycle_candidates, alloc.last_cycle_visits))
    alloc.recover_many(offers[:1])
    wall, _, changed = cpu_timed(alloc.allocate, now + 1.0)
    figures = {
        "cycles": len(walls),
        "core_s": statistics.median(cores),
        "all_core_s": cores,
        "all_s": walls,
        "candidates": max(c for c, _ in counts),
        "visits": max(v for _, v in counts),
        "changed_agent": {
            "wall_s": wall,
            "core_s": alloc.last_cycle_seconds,
            "candidates": alloc.last_cycle_candidates,
            "visits": alloc.last_cycle_visits,
            "offers": len(changed),
        },
    }
    median = statistics.median(walls)
    return Result("idle_cycle", "rust", agents, frameworks, median, None, median, figures)
