#!/usr/bin/env python3
"""Allocator benchmark: the Rust core against its pure-Python twin.

Modelled on Mesos's allocator benchmarks (src/tests/hierarchical_allocator_
benchmarks.cpp and the HierarchicalAllocator_BENCHMARK_Test cases): N identical
agents (cpus:24;mem:49152;disk:1048576;ports:[31000-32000]) and M frameworks
spread over up to ten roles, one with a quota guarantee, one with a quota
limit and two with weights, driven through the public API with explicit `now`
timestamps. Both implementations run the same calls in the same process.

Scenarios (seconds are wall time from time.perf_counter, end to end through
the Python API; for the Rust core the decline rounds and the full cycle also
record `last_cycle_seconds`, allocate() inside the core without building the
Python offers, as Mesos's allocation_run_ms):
  add             register the roles, the M frameworks and the N agents
  full_cycle      the first allocate() on the empty cluster (everything offered)
  steady          allocate() with everything allocated after 1% of the agents
                  were released (recover with no filter)
  decline_offers  DeclineOffers, harder variant: the roles, quota and weights
                  above; each agent starts with cpus:16;mem:2014;disk:1024
                  used by framework i % M; each round recovers every offer of
                  the previous round with a one-year filter, advances time
                  1 s and times allocate()
  mesos_decline   exactly Mesos's DeclineOffers: all frameworks in role "*",
                  no quota or weights, agents cpus:24;mem:4096;disk:4096;
                  ports:[31000-32000] with cpus:16;mem:2014;disk:1024 and 16
                  port ranges allocated; rounds as decline_offers
  suppressed      Mesos's ExtremeSuppressOffers: that loaded cluster with 99%
                  of the frameworks suppressed; offers are recovered unfiltered

Run it from the repository root (so `pyactors` is the installed package):

    python bench/allocator.py [--quick] [--json PATH] [--plot PATH] [--profile]
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

try:
    import pyactors
    from pyactors._reference.allocator import ReferenceAllocator
    from pyactors.core.allocator import Allocator, Offer
except ImportError as error:  # the Rust extension is not built into the source tree
    sys.exit(f"cannot import pyactors ({error}); install it first: pip install .")

AllocatorLike = Allocator | ReferenceAllocator

IMPLS: dict[str, Callable[..., AllocatorLike]] = {"rust": Allocator, "python": ReferenceAllocator}
SCENARIOS = ("add", "full_cycle", "steady", "decline_offers", "mesos_decline", "suppressed")
DECLINES = ("decline_offers", "mesos_decline")
DECLINE_LABELS = {
    "decline_offers": "harder variant: 10 roles, quota, weights",
    "mesos_decline": "Mesos's exact shape: role *, no quota",
}
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

FULL_AGENTS = (1000, 5000, 10000, 20000, 50000)
FULL_FRAMEWORKS = (1, 50, 100, 200, 500, 1000)
TARGET_DECLINE = (10000, 1000)
TARGET_CYCLE = (20000, 2000)
# The team brief: Mesos 1.8's figures and ours to beat.
MESOS_DECLINE_S, GOAL_DECLINE_S = 1.06, 0.020
MESOS_CYCLE_S, GOAL_CYCLE_S = 3.8, 0.100
GOAL_SPEEDUP = 50.0

DEFAULT_JSON = Path(__file__).resolve().parent / "out" / "allocator.json"
DEFAULT_PLOT = Path(__file__).resolve().parent / "out" / "allocator.png"


# --------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Limits:
    """How much one implementation may spend on one scenario at one size."""

    repeats: int  # add + full_cycle builds (median reported)
    steady_cycles: int
    decline_rounds: int  # cap on Mesos's 2 * M rounds
    suppressed_rounds: int
    unit_budget_s: float  # skip when setup + one measurement is predicted longer
    scenario_budget_s: float  # stop repeating (or stop rounds) after this much


LIMITS = {
    ("quick", "rust"): Limits(3, 5, 50, 5, 10.0, 8.0),
    ("quick", "python"): Limits(1, 2, 3, 2, 15.0, 10.0),
    ("full", "rust"): Limits(5, 10, 1_000_000, 5, 30.0, 10.0),
    ("full", "python"): Limits(3, 3, 1_000_000, 3, 15.0, 10.0),
}


@dataclass(frozen=True)
class Cell:
    """One implementation at one size, with the scenarios to run there."""

    impl: str
    agents: int
    frameworks: int
    scenarios: tuple[str, ...] = SCENARIOS


def quick_plan() -> list[Cell]:
    """A subset that finishes in about a minute on two shared cores: a small
    size, a sweep of N at M=1,000 for the growth curve, both implementations
    at the DeclineOffers target size (Python without mesos_decline, whose
    ratio comes from the small size), and the Rust core at the cycle target."""
    python_target = tuple(s for s in SCENARIOS if s != "mesos_decline")
    cells = []
    for impl in ("rust", "python"):
        cells.append(Cell(impl, 1000, 50))
        cells.append(Cell(impl, 1000, 1000, CYCLE_GROUP))
        cells.append(Cell(impl, 5000, 1000, CYCLE_GROUP))
        cells.append(Cell(impl, *TARGET_DECLINE, SCENARIOS if impl == "rust" else python_target))
    cells.append(Cell("rust", *TARGET_CYCLE, CYCLE_GROUP))
    return cells


def full_plan() -> list[Cell]:
    """Mesos's grid (minus its 3,000 and 6,000 frameworks) plus the cycle
    target, smallest first so that budget predictions have data."""
    sizes = sorted({(n, m) for n in FULL_AGENTS for m in FULL_FRAMEWORKS} | {TARGET_CYCLE})
    return [Cell(impl, n, m) for impl in ("rust", "python") for n, m in sizes]


# --------------------------------------------------------------- results


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
    """Give back whole offers, as a framework declining them; returns seconds."""
    start = time.perf_counter()
    for offer in offers:
        alloc.recover(
            offer.framework_id,
            offer.agent_id,
            offer.resources,
            refuse_seconds=refuse_seconds,
            now=now,
            role=offer.role,
        )
    return time.perf_counter() - start


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
    cores: list[float] = []
    recovers: list[float] = []
    counts: list[int] = []
    offers: list[Offer] = []
    now = 0.0
    gc.collect()
    started = time.perf_counter()
    for _ in range(planned):
        recovers.append(recover_all(alloc, offers, now, YEAR))
        now += 1.0
        seconds, offers = timed_allocate(alloc, now)
        rounds.append(seconds)
        core = core_seconds(alloc)
        if core is not None:
            cores.append(core)
        counts.append(len(offers))
        if time.perf_counter() - started > limits.scenario_budget_s:
            break
    mean = statistics.mean(rounds)
    # Round 0 has nothing to recover; later rounds recover the previous offers.
    recover_mean = statistics.mean(recovers[1:]) if len(recovers) > 1 else 0.0
    figures: dict[str, Any] = {
        "rounds": len(rounds),
        "rounds_planned": planned,
        "max_s": max(rounds),
        "first_s": rounds[0],
        "later_mean_s": statistics.mean(rounds[1:]) if len(rounds) > 1 else None,
        "offers_per_round": statistics.mean(counts),
        "recover_mean_s": recover_mean,
        "setup_s": cluster.add_s,
        "round_s": rounds,
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


# --------------------------------------------------------------- budgets


def predict_cost(history: Sequence[Result], cell: Cell, scenario: str) -> float | None:
    """Scale the cost of the largest measured smaller size: linear in agents
    (every cycle visits each agent), square root in frameworks (each agent
    stops at the first framework that takes it; sorting is the rest). Rough,
    but it only decides what not to try."""
    smaller = [
        r
        for r in history
        if r.scenario == scenario
        and r.impl == cell.impl
        and r.cost_s is not None
        and r.agents <= cell.agents
        and r.frameworks <= cell.frameworks
    ]
    if not smaller:
        return None
    ref = max(smaller, key=lambda r: (r.agents * r.frameworks, r.agents))
    scale = (cell.agents / ref.agents) * math.sqrt(cell.frameworks / ref.frameworks)
    return (ref.cost_s or 0.0) * scale


def skip_reason(history: Sequence[Result], cell: Cell, scenario: str, limits: Limits) -> str | None:
    for r in history:
        if (
            r.scenario == scenario
            and r.impl == cell.impl
            and r.skipped
            and r.agents <= cell.agents
            and r.frameworks <= cell.frameworks
        ):
            return f"over budget at {r.agents:,} x {r.frameworks:,}"
    predicted = predict_cost(history, cell, scenario)
    if predicted is not None and predicted > limits.unit_budget_s:
        return f"predicted {predicted:.1f} s > {limits.unit_budget_s:.0f} s budget"
    return None


def run_cell(cell: Cell, limits: Limits, history: Sequence[Result]) -> list[Result]:
    out: list[Result] = []
    if "full_cycle" in cell.scenarios:
        reason = skip_reason(history, cell, "full_cycle", limits)
        if reason:
            out += [skipped(cell, s, reason) for s in CYCLE_GROUP]
        else:
            out += measure_cycle_group(cell, limits)
    measures = {
        "decline_offers": measure_decline,
        "mesos_decline": functools.partial(measure_decline, mesos=True),
        "suppressed": measure_suppressed,
    }
    for scenario, measure in measures.items():
        if scenario not in cell.scenarios:
            continue
        reason = skip_reason(history, cell, scenario, limits)
        out.append(skipped(cell, scenario, reason) if reason else measure(cell, limits))
    return out


def run_plan(cells: Sequence[Cell], mode: str) -> list[Result]:
    results: list[Result] = []
    for cell in cells:
        started = time.perf_counter()
        results += run_cell(cell, LIMITS[(mode, cell.impl)], results)
        progress(
            f"{cell.impl:>6} {cell.agents:>6,} x {cell.frameworks:<5,} "
            f"{time.perf_counter() - started:6.1f} s"
        )
    return results


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --------------------------------------------------------------- memory


def memory_probe(impl: str, agents: int, frameworks: int) -> dict[str, float]:
    """Runs in a fresh interpreter: the peak RSS growth of building the
    cluster and running its first cycle (offers kept alive), from
    /proc/self/status. A fresh process is needed because RSS only shows a new
    peak and freed memory is not always returned to the OS."""
    gc.collect()
    before = proc_status_kib("VmRSS")
    cluster = build_cluster(impl, agents, frameworks, loaded=False)
    offers = cluster.alloc.allocate(1.0)
    peak, now = proc_status_kib("VmHWM"), proc_status_kib("VmRSS")
    del offers
    return {"peak_growth_mib": (peak - before) / 1024, "held_mib": (now - before) / 1024}


def proc_status_kib(key: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return float(line.split()[1])
    raise KeyError(key)


def measure_memory(results: Sequence[Result], quick: bool) -> list[dict[str, Any]]:
    """One probe per implementation at the target sizes, and in full mode also
    along N at 1,000 frameworks (memory barely depends on M)."""
    if not Path("/proc/self/status").exists():
        return []
    wanted = {TARGET_DECLINE} if quick else {TARGET_DECLINE, TARGET_CYCLE}
    cells = sorted(
        {
            (r.impl, r.agents, r.frameworks)
            for r in results
            if r.scenario == "full_cycle"
            and r.seconds is not None
            and ((r.agents, r.frameworks) in wanted or (not quick and r.frameworks == 1000))
        }
    )
    out = []
    for impl, agents, frameworks in cells:
        command = [sys.executable, __file__, "--memory-probe", impl, str(agents), str(frameworks)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            progress(f"memory probe {impl} {agents} x {frameworks} failed: {done.stderr[-300:]}")
            continue
        probe = json.loads(done.stdout)
        out.append({"impl": impl, "agents": agents, "frameworks": frameworks, **probe})
    return out


# --------------------------------------------------------------- profile


def profile_phases() -> dict[str, Any]:
    """Where the Python API sees the Rust time go at the DeclineOffers target
    size: registration, a full cycle (split into the core's allocate, which
    includes building its Python tuples, and the facade's Offer objects), a
    declined round's recover calls and its allocate."""
    agents, frameworks = TARGET_DECLINE
    empty = build_cluster("rust", agents, frameworks, loaded=False)
    assert isinstance(empty.alloc, Allocator)
    core = empty.alloc._core  # private on purpose: to separate the facade's share
    start = time.perf_counter()
    raw = core.allocate(1.0)
    middle = time.perf_counter()
    offers = [Offer(*fields) for fields in raw]
    end = time.perf_counter()
    recover_s = recover_all(empty.alloc, offers, 1.0, YEAR)
    next_s, _ = timed_allocate(empty.alloc, 2.0)
    return {
        "size": [agents, frameworks],
        "add_frameworks_s": empty.add_frameworks_s,
        "add_agents_s": empty.add_agents_s,
        "full_cycle_core_s": middle - start,
        "full_cycle_offer_objects_s": end - middle,
        "offers": len(offers),
        "recover_all_offers_s": recover_s,
        "allocate_after_declines_s": next_s,
    }


def perf_mode() -> str | None:
    """'hardware' when perf counts instructions (the brief's test), 'software'
    when only cpu-clock sampling works (virtual machines), None without perf."""
    if shutil.which("perf") is None:
        return None
    probe = subprocess.run(
        ["perf", "stat", "-x,", "-e", "instructions", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode == 0 and "not supported" not in probe.stderr:
        return "hardware"
    probe = subprocess.run(
        ["perf", "record", "-q", "-e", "cpu-clock", "-o", os.devnull, "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    return "software" if probe.returncode == 0 else None


def profile_with_perf(mode: str) -> dict[str, Any]:
    """Sample only the allocate() calls of a child process (perf's control
    FIFO switches sampling on around them), then list the hottest symbols."""
    agents, frameworks = TARGET_DECLINE
    event = "cycles" if mode == "hardware" else "cpu-clock"
    with tempfile.TemporaryDirectory() as tmp:
        ctl, ack, data = (os.path.join(tmp, name) for name in ("ctl", "ack", "perf.data"))
        os.mkfifo(ctl)
        os.mkfifo(ack)
        child = [sys.executable, __file__, "--perf-child", str(agents), str(frameworks), ctl, ack]
        record = ["perf", "record", "-q", "-e", event, "-F", "2999", "-D", "-1"]
        record += ["--control", f"fifo:{ctl},{ack}", "-o", data, "--", *child]
        done = subprocess.run(record, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return {"error": done.stderr[-500:]}
        report = ["perf", "report", "-i", data, "--stdio", "--no-children", "-q"]
        by_dso = perf_lines([*report, "--sort", "dso"], 8)
        by_symbol = perf_lines([*report, "--sort", "dso,symbol"], 15)
    return {
        "event": event,
        "window": "5 allocate() calls with everything available",
        "child": done.stdout.strip(),
        "by_dso": by_dso,
        "by_symbol": by_symbol,
    }


def perf_lines(command: list[str], limit: int) -> list[str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = []
    for line in done.stdout.splitlines():
        words = line.split()
        while words and words[-1] == "-":  # empty columns perf prints for srcline
            words.pop()
        if "%" in line:
            lines.append(" ".join(words))
    return lines[:limit]


def perf_child(agents: int, frameworks: int, ctl_path: str, ack_path: str) -> None:
    """The process perf samples: five allocate() calls with everything
    available (the first cycle, then four after all offers were returned)."""
    cluster = build_cluster("rust", agents, frameworks, loaded=False)
    times = []
    with open(ctl_path, "w") as ctl, open(ack_path) as ack:
        for step in range(5):

            def command(word: str) -> None:
                ctl.write(word + "\n")
                ctl.flush()
                ack.readline()

            command("enable")
            seconds, offers = timed_allocate(cluster.alloc, 1.0 + step)
            command("disable")
            times.append(seconds)
            recover_all(cluster.alloc, offers, 1.0 + step, 0.0)
    print("allocate() " + ", ".join(f"{1000 * t:.1f} ms" for t in times))


def run_profile() -> dict[str, Any]:
    progress("profile: phases at the DeclineOffers target size")
    out: dict[str, Any] = {"phases": profile_phases()}
    mode = perf_mode()
    out["perf"] = mode
    if mode is not None:
        progress(f"profile: perf ({mode} event)")
        out["perf_profile"] = profile_with_perf(mode)
    return out


# --------------------------------------------------------------- reporting


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_n(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e4:
        return f"{value / 1e3:.0f} k"
    return f"{value:,.0f}"


def index(results: Sequence[Result]) -> dict[tuple[str, str, int, int], Result]:
    return {(r.scenario, r.impl, r.agents, r.frameworks): r for r in results}


def speedup(rust: Result | None, python: Result | None) -> float | None:
    """Python seconds / Rust seconds. DeclineOffers rounds get slower as
    filters pile up, so there only the rounds both ran are compared."""
    if rust is None or python is None or not rust.seconds or python.seconds is None:
        return None
    if rust.scenario not in DECLINES:
        return python.seconds / rust.seconds
    common = min(rust.figures["rounds"], python.figures["rounds"])
    rust_mean = statistics.mean(rust.figures["round_s"][:common])
    return statistics.mean(python.figures["round_s"][:common]) / rust_mean


def details(result: Result | None) -> str:
    if result is None:
        return ""
    if result.skipped:
        return f"skipped: {result.skipped}"
    f = result.figures
    if result.scenario == "add":
        return f"fws {fmt_s(f['frameworks_s'])}, {fmt_n(f['agents_per_s'])} agents/s"
    if result.scenario == "full_cycle":
        core = f"core {fmt_s(f['core_s'])}, " if f["core_s"] is not None else ""
        return f"{core}{fmt_n(f['offers'])} offers, {fmt_n(f['offers_per_s'] or 0)} offers/s"
    if result.scenario == "steady":
        return f"{f['released_agents']:,} released, {fmt_n(f['offers_per_cycle'])} offers"
    if result.scenario in DECLINES:
        core = f" core {fmt_s(f['core_mean_s'])}," if f["core_mean_s"] is not None else ""
        return (
            f"{f['rounds']}/{f['rounds_planned']} rounds,{core} max {fmt_s(f['max_s'])}, "
            f"{fmt_n(f['offers_per_round'])} offers/round, recover {fmt_s(f['recover_mean_s'])}"
        )
    return f"{f['suppressed_frameworks']:,} suppressed, {fmt_n(f['offers_per_round'])} offers"


def comparison_rows(results: Sequence[Result]) -> list[list[str]]:
    table = index(results)
    sizes = sorted({(r.agents, r.frameworks) for r in results})
    rows = []
    for scenario in SCENARIOS:
        for agents, frameworks in sizes:
            rust = table.get((scenario, "rust", agents, frameworks))
            python = table.get((scenario, "python", agents, frameworks))
            if rust is None and python is None:
                continue
            ratio = speedup(rust, python)
            check = same_offers(rust, python)
            rows.append(
                [
                    scenario,
                    f"{agents:,} x {frameworks:,}",
                    fmt_s(rust.seconds) if rust else "-",
                    fmt_s(python.seconds) if python else "-",
                    f"{ratio:.0f}x{check}" if ratio else "-",
                    details(rust) if rust else details(python),
                    row_notes(scenario, rust, python),
                ]
            )
    return rows


def row_notes(scenario: str, rust: Result | None, python: Result | None) -> str:
    """Which DeclineOffers is which, and what the details column (the Rust
    side) does not say about Python."""
    notes = [DECLINE_LABELS[scenario]] if scenario in DECLINE_LABELS else []
    if rust is not None and python is not None:
        if python.skipped:
            notes.append(f"python skipped: {python.skipped}")
        elif scenario in DECLINES:
            notes.append(f"python {python.figures['rounds']} rounds")
    return "; ".join(notes)


def same_offers(rust: Result | None, python: Result | None) -> str:
    """Flag cells where the implementations did not make the same offers (the
    full cycle's digest, DeclineOffers' offers per common round)."""
    if rust is None or python is None or rust.seconds is None or python.seconds is None:
        return ""
    if rust.scenario == "full_cycle":
        same = rust.figures["digest"] == python.figures["digest"]
    elif rust.scenario in DECLINES:
        common = min(rust.figures["rounds"], python.figures["rounds"])
        same = rust.figures["round_offers"][:common] == python.figures["round_offers"][:common]
    else:
        return ""
    return "" if same else " (OFFERS DIFFER)"


def target_rows(results: Sequence[Result]) -> list[dict[str, Any]]:
    """Like with like: Mesos's DeclineOffers figure is its allocation time on
    its own cluster, so that row takes mesos_decline's core time; the
    multi-role decline_offers is shown beside it, as a harder variant."""
    table = index(results)
    mesos = table.get(("mesos_decline", "rust", *TARGET_DECLINE))
    harder = table.get(("decline_offers", "rust", *TARGET_DECLINE))
    cycle = table.get(("full_cycle", "rust", *TARGET_CYCLE))
    allocating = [s for s in SCENARIOS if s != "add"]
    return [
        target_row(
            "DeclineOffers round, 10,000 x 1,000, Mesos's shape (mean core)",
            MESOS_DECLINE_S,
            GOAL_DECLINE_S,
            figure(mesos, "core_mean_s"),
            f"mesos_decline; end-to-end {fmt_s(mesos.seconds)}, {decline_rounds(mesos)}"
            if mesos
            else "",
        ),
        target_row(
            "  harder variant: 10 roles, quota, weights (mean core)",
            None,
            None,
            figure(harder, "core_mean_s"),
            f"decline_offers, not a target; end-to-end {fmt_s(harder.seconds)}, "
            f"{decline_rounds(harder)}"
            if harder
            else "",
        ),
        target_row(
            "full cycle, 20,000 x 2,000 (median end-to-end)",
            MESOS_CYCLE_S,
            GOAL_CYCLE_S,
            cycle.seconds if cycle else None,
            "verdict on end-to-end; core = last_cycle_seconds",
            core=figure(cycle, "core_s"),
        ),
        speedup_row("Rust/Python speedup, allocate() cycles, worst", results, allocating),
    ]


def figure(result: Result | None, key: str) -> float | None:
    return result.figures.get(key) if result is not None else None


def decline_rounds(result: Result) -> str:
    if result.skipped:
        return f"skipped: {result.skipped}"
    return f"{result.figures['rounds']}/{result.figures['rounds_planned']} rounds"


def speedup_row(what: str, results: Sequence[Result], scenarios: Sequence[str]) -> dict[str, Any]:
    """The smallest speedup over the cells where both implementations ran."""
    table = index(results)
    measured = [
        (ratio, r)
        for r in results
        if r.impl == "rust" and r.scenario in scenarios
        for ratio in [speedup(r, table.get((r.scenario, "python", r.agents, r.frameworks)))]
        if ratio is not None
    ]
    row: dict[str, Any] = {"what": what, "mesos": "-", "goal": f">= {GOAL_SPEEDUP:.0f}x"}
    if not measured:
        return {**row, "ours": "-", "verdict": "-", "value": None, "notes": ""}
    ratio, worst = min(measured, key=lambda item: item[0])
    return {
        **row,
        "ours": f"{ratio:.0f}x",
        "verdict": "met" if ratio >= GOAL_SPEEDUP else "MISSED",
        "value": ratio,
        "notes": f"worst: {worst.scenario} {worst.agents:,} x {worst.frameworks:,}",
    }


def target_row(
    what: str,
    mesos_s: float | None,
    goal_s: float | None,
    ours: float | None,
    notes: str,
    core: float | None = None,
) -> dict[str, Any]:
    """`core`, when given, is shown beside `ours` (which the verdict uses)."""
    verdict = "-" if ours is None or goal_s is None else ("met" if ours < goal_s else "MISSED")
    shown = fmt_s(ours) if core is None else f"{fmt_s(ours)} (core {fmt_s(core)})"
    return {
        "what": what,
        "mesos": fmt_s(mesos_s),
        "goal": "-" if goal_s is None else f"< {fmt_s(goal_s)}",
        "ours": shown,
        "verdict": verdict,
        "value": ours,
        "notes": notes,
    }


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """rich when installed (nicer in a terminal), else aligned plain text."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print_plain(title, headers, rows)
        return
    table = Table(title=title, title_justify="left", min_width=len(title))
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if 1 < i < 5 else "left")
    for row in rows:
        table.add_row(*row)
    Console(width=max(160, shutil.get_terminal_size().columns)).print(table)


def print_plain(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    print(f"\n{title}")
    for line in (headers, ["-" * w for w in widths], *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())


def print_report(
    results: Sequence[Result],
    memory: Sequence[dict[str, Any]],
    targets: Sequence[dict[str, Any]],
    profile: dict[str, Any] | None,
) -> None:
    headers = ["scenario", "agents x fws", "Rust", "Python", "speedup", "details", "notes"]
    print_table(
        "Allocator benchmark (seconds per phase; median)", headers, comparison_rows(results)
    )
    if memory:
        rows = [
            [
                m["impl"],
                f"{m['agents']:,} x {m['frameworks']:,}",
                f"{m['peak_growth_mib']:.0f} MiB",
                f"{m['held_mib']:.0f} MiB",
            ]
            for m in memory
        ]
        print_table(
            "Memory (RSS growth: add + full cycle)",
            ["impl", "agents x fws", "peak", "held after"],
            rows,
        )
    rows = [
        [t["what"], t["mesos"], t["goal"], t["ours"], t["verdict"], t["notes"]] for t in targets
    ]
    headers = ["target", "Mesos 1.8", "goal", "ours (Rust)", "verdict", "notes"]
    print_table("Targets", headers, rows)
    if profile:
        print_profile(profile)


def print_profile(profile: dict[str, Any]) -> None:
    phases = profile["phases"]
    rows = [[key, fmt_s(value)] for key, value in phases.items() if key.endswith("_s")]
    print_table(
        f"Profile: Rust at {phases['size'][0]:,} x {phases['size'][1]:,} "
        f"({phases['offers']:,} offers), as the Python API sees it",
        ["phase", "seconds"],
        rows,
    )
    sampled = profile.get("perf_profile")
    if not sampled:
        print(f"\nperf: {profile['perf'] or 'not available'}; no sampled profile")
        return
    if "error" in sampled:
        print(f"\nperf failed: {sampled['error']}")
        return
    print(f"\nperf record -e {sampled['event']} over {sampled['window']} ({sampled['child']})")
    print("share of samples by object:")
    for line in sampled["by_dso"]:
        print("  " + line)
    print("hottest symbols:")
    for line in sampled["by_symbol"]:
        print("  " + line)


# --------------------------------------------------------------- outputs


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, default=str) + "\n")


def write_plot(path: Path, results: Sequence[Result]) -> bool:
    """Two log-log panels, seconds against agents, one line per framework
    count: full cycle and DeclineOffers mean round. Solid Rust, dashed Python."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; no display on a server
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"\nno plot: matplotlib is missing; pip install '.[bench]' provides it ({path})")
        return False
    figure, axes = plt.subplots(1, 2, figsize=(13, 5))
    panels = (("full_cycle", GOAL_CYCLE_S), ("decline_offers", GOAL_DECLINE_S))
    for axis, (scenario, goal) in zip(axes, panels, strict=True):
        plot_panel(axis, scenario, results)
        axis.axhline(goal, color="grey", linestyle=":", label=f"goal {fmt_s(goal)}")
        axis.legend(fontsize=7, ncol=2)
    figure.suptitle("pyactors allocator: Rust core (solid) vs Python reference (dashed)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def plot_panel(axis: Any, scenario: str, results: Sequence[Result]) -> None:
    frameworks = sorted({r.frameworks for r in results if r.scenario == scenario})
    colours = {m: f"C{i}" for i, m in enumerate(frameworks)}
    for impl, style, marker in (("rust", "-", "o"), ("python", "--", "s")):
        for m in frameworks:
            points = sorted(
                (r.agents, r.seconds)
                for r in results
                if r.scenario == scenario and r.impl == impl and r.frameworks == m and r.seconds
            )
            if points:
                xs, ys = zip(*points, strict=True)
                label = f"{impl}, {m:,} fws"
                axis.plot(xs, ys, style, marker=marker, color=colours[m], label=label)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("agents")
    axis.set_ylabel("seconds")
    axis.set_title("full cycle" if scenario == "full_cycle" else "DeclineOffers round (mean)")
    axis.grid(True, which="both", alpha=0.3)


# --------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a subset that runs in about 60 s")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="figures as JSON")
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help="PNG plot")
    parser.add_argument("--profile", action="store_true", help="where the Rust time goes")
    # Internal: the child processes of the memory probe and the perf profile.
    parser.add_argument("--memory-probe", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--perf-child", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def metadata(mode: str, elapsed: float) -> dict[str, Any]:
    return {
        "mode": mode,
        "elapsed_s": elapsed,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "pyactors": pyactors.__file__,
        "seed": SEED,
        "agent": AGENT_TOTAL,
        "agent_used_when_loaded": AGENT_USED,
        "mesos_agent": MESOS_AGENT_TOTAL,
        "mesos_agent_used": MESOS_AGENT_USED,
        "timing": "time.perf_counter wall time around allocate() (or the add calls); "
        "core_*: Allocator.last_cycle_seconds",
        "limits": {impl: asdict(LIMITS[(mode, impl)]) for impl in IMPLS},
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_probe:
        impl, agents, frameworks = args.memory_probe
        print(json.dumps(memory_probe(impl, int(agents), int(frameworks))))
        return 0
    if args.perf_child:
        agents, frameworks, ctl, ack = args.perf_child
        perf_child(int(agents), int(frameworks), ctl, ack)
        return 0
    mode = "quick" if args.quick else "full"
    started = time.perf_counter()
    results = run_plan(quick_plan() if args.quick else full_plan(), mode)
    memory = measure_memory(results, args.quick)
    profile = run_profile() if args.profile else None
    targets = target_rows(results)
    print_report(results, memory, targets, profile)
    elapsed = time.perf_counter() - started
    document = {
        "meta": metadata(mode, elapsed),
        "results": [asdict(r) for r in results],
        "memory": memory,
        "targets": targets,
        "profile": profile,
    }
    write_json(args.json, document)
    plotted = write_plot(args.plot, results)
    print(f"\nwrote {args.json}" + (f" and {args.plot}" if plotted else ""))
    print(f"total {elapsed:.1f} s ({mode} mode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
