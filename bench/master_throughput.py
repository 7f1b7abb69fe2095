#!/usr/bin/env python3
"""The master's state machine alone: launches per second and CPU per launch.

Drives `MasterState` in this process, without Ray, through the loop
`bench/cluster.py`'s emulated cluster runs: N agents of one slot each and
200 frameworks in 20 roles, every framework launching one task on every
slot it is offered. Per cycle (one simulated second): expiry and the
allocation cycle; each framework's accept of each offer; the agents'
RUNNING updates (one batch per agent, as a pool sends them); the
frameworks' acknowledgements; the FINISHED updates of the tasks whose time
is up (exponential, mean `--task-seconds`, seeded) and their
acknowledgements. Every call's effects go through `coalesce` and an
`Outbox`, as `MasterActor._send` does, under the master actor's garbage
collector thresholds (`--default-gc`: Python's). What the actor adds on top (Ray's
(de)serialization and sends) is not here: `bench/cluster.py` measures it.

Figures per scale, over the steady cycles after the first fill:
  launches/s     launches / wall seconds spent in the master's calls
  per cpu-s      launches / CPU seconds in them: what one core of its own
                 gives, the figure the verdict takes (the machine is shared,
                 so wall time carries the others' load)
  cpu us/launch  the process's CPU seconds in those calls per launch
  cycle ms       CPU of expiry + the allocation cycle, per cycle (the core's too)
  cycle us, accept us, update us, ack us   CPU per launch, by phase
  core ms        the allocator core's last cycle (wall)
  idle cycle us, idle visits   a cycle when nothing changed: CPU (best of
                 five) and `MasterState.last_cycle_visits` (-1: a master
                 without that count)
  ratios         against the smallest scale of the same run

Verdicts: CPU per launch grows at most 2x from the smallest scale, and
launches/s reach 5,000 x HEADROOM. The headroom is the actor's share: at
5,000 launches/s the master's one thread has 200 us per launch for
everything, and each launch also costs it six Ray messages' share
(accept in, LaunchTasks out, the update in, its forward out, the
acknowledgement in and out, each pickled or unpickled) plus the loop's
own work, which bench/cluster.py measured at about as much again as the
state machine's; a state machine at 3x the goal leaves two thirds of the
thread for them.

`--memory` measures instead what the master holds per agent once the
cluster is full (each scale in a process of its own, after the same steady
cycles): its Python objects (tracemalloc, the allocation sites that hold
most written to bench/out/master_memory.txt) and the process's RSS growth,
both per agent, and what grows between two scales per added agent. RSS
less the Python objects is the Rust core's heap and the allocators' slack.

    python bench/master_throughput.py [--quick] [--agents 1000 10000 ...] [--profile]
    python bench/master_throughput.py --memory [--agents 10000 50000]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import heapq
import io
import itertools
import json
import pstats
import random
import subprocess
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import outputs
import psutil
from rich.console import Console
from rich.table import Table

from pyactors import Resources
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import Effect, ForwardUpdates, LaunchTasks, SendOffers
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.master.actor import tune_collector
from pyactors.master.outbox import Outbox, coalesce
from pyactors.master.state import MasterConfig, MasterState

OUT = Path(__file__).parent / "out"
AGENT = "cpus:1;mem:2048"
TASK = "cpus:1;mem:2048"
GOAL_LAUNCHES = 5_000
HEADROOM = 3.0
CPU_GROWTH_LIMIT = 2.0
# The hosting actors, as bench/cluster.py has them: one agent pool, one
# framework pool.
AGENT_HOST, FRAMEWORK_HOST = "agent-pool", "framework-pool"

T = TypeVar("T")


@dataclass
class Phases:
    """Wall and CPU seconds spent in the master's calls, by phase."""

    wall: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def timed(self, phase: str, call: Callable[..., T], *args: Any) -> T:
        wall, cpu = time.perf_counter(), time.process_time()
        result = call(*args)
        self.cpu[phase] += time.process_time() - cpu
        self.wall[phase] += time.perf_counter() - wall
        return result


class Emulation:
    """The master and what its agents and frameworks answer, in one process."""

    def __init__(self, agents: int, frameworks: int, task_seconds: float, seed: int) -> None:
        self.master = MasterState(MasterConfig(agent_timeout=1e9, offer_timeout=60.0))
        self.random = random.Random(seed)
        self.task_seconds = task_seconds
        self.shape = Resources.parse(TASK)
        self.serial = 0
        self.ending: list[tuple[float, str, str]] = []  # (finish at, task, agent)
        self.phases = Phases()
        self.launches = 0
        total = Resources.parse(AGENT)
        for i in range(agents):
            self.master.register_agent(f"agent-{i}", f"host-{i}", total, {}, 0.0)
        self.framework_ids = [
            self.master.subscribe(f"greedy-{i}", [f"role-{i % 20}"], 0.0)[0]
            for i in range(frameworks)
        ]
        self.agent_hosts = {f"agent-{i}": AGENT_HOST for i in range(agents)}
        self.framework_hosts = dict.fromkeys(self.framework_ids, FRAMEWORK_HOST)

    def cycle(self, now: float) -> int:
        """One allocation cycle and everything it leads to; the launches."""
        master, timed = self.master, self.phases.timed
        offers = timed("cycle", lambda: self.send(master.expire(now) + master.allocate(now)))
        launched = 0
        accepted: list[Effect] = []
        for batch in offers:
            if not isinstance(batch, SendOffers):
                continue
            for offer in batch.offers:
                tasks, left = [], offer.resources
                while self.shape <= left:
                    self.serial += 1
                    tasks.append(TaskInfo(f"t{self.serial}", "t", self.shape, command="x"))
                    left = left - self.shape
                accepted += timed(
                    "accept",
                    master.accept,
                    batch.framework_id,
                    [offer.id],
                    [Launch(tasks)],
                    5.0,
                    now,
                )
        launches = [
            e for e in timed("accept", lambda: self.send(accepted)) if isinstance(e, LaunchTasks)
        ]
        running: dict[str, list[TaskStatus]] = defaultdict(list)
        for launch in launches:
            for task in launch.tasks:
                launched += 1
                running[launch.agent_id].append(
                    self.status(task.task_id, launch.agent_id, TaskState.TASK_RUNNING, now)
                )
                end = now + self.random.expovariate(1 / self.task_seconds)
                heapq.heappush(self.ending, (end, task.task_id, launch.agent_id))
        self.updates_and_acks(running, now)
        finished: dict[str, list[TaskStatus]] = defaultdict(list)
        while self.ending and self.ending[0][0] <= now:
            _, task_id, agent_id = heapq.heappop(self.ending)
            finished[agent_id].append(self.status(task_id, agent_id, TaskState.TASK_FINISHED, now))
        self.updates_and_acks(finished, now)
        return launched

    def updates_and_acks(self, by_agent: dict[str, list[TaskStatus]], now: float) -> None:
        master, timed = self.master, self.phases.timed

        def updates() -> list[Effect]:
            # One message from the pool for all its agents' batches.
            return self.send(master.status_update_batches(list(by_agent.items())))

        forwards = timed("update", updates)

        def acknowledgements() -> list[Effect]:
            effects: list[Effect] = []
            for forward in forwards:
                if isinstance(forward, ForwardUpdates):
                    acks = [(s.task_id, s.uuid) for s in forward.statuses if s.uuid]
                    effects += master.acknowledge(forward.framework_id, acks)
            return self.send(effects)

        timed("ack", acknowledgements)

    def send(self, effects: Sequence[Effect]) -> list[Effect]:
        """What `MasterActor._send` does before Ray: merge, then group per host."""
        merged = coalesce(effects)
        to_agents: Outbox[str, Effect] = Outbox(self.agent_hosts)
        to_frameworks: Outbox[str, Effect] = Outbox(self.framework_hosts)
        for effect in merged:
            if isinstance(effect, ForwardUpdates | SendOffers):
                to_frameworks.post(effect.framework_id, effect)
            elif isinstance(effect, LaunchTasks):
                to_agents.post(effect.agent_id, effect)
        return merged

    def status(self, task_id: str, agent_id: str, state: TaskState, now: float) -> TaskStatus:
        return TaskStatus(task_id, state, Source.SOURCE_EXECUTOR, now, agent_id=agent_id)


def run_scale(
    agents: int, frameworks: int, cycles: int, task_seconds: float, profile: cProfile.Profile | None
) -> dict[str, Any]:
    started = time.perf_counter()
    emulation = Emulation(agents, frameworks, task_seconds, seed=agents)
    setup = time.perf_counter() - started
    fill_started = time.perf_counter()
    filled = emulation.cycle(1.0)
    fill = time.perf_counter() - fill_started
    emulation.phases = Phases()
    if profile is not None:
        profile.enable()
    launched = sum(emulation.cycle(1.0 + c) for c in range(1, cycles + 1))
    if profile is not None:
        profile.disable()
    phases = emulation.phases
    wall, cpu = sum(phases.wall.values()), sum(phases.cpu.values())
    per_launch = max(launched, 1)
    idle_us, idle_visits = idle_cycle(emulation, 1.0 + cycles)
    return {
        "agents": agents,
        "frameworks": frameworks,
        "cycles": cycles,
        "setup_seconds": setup,
        "fill_launches": filled,
        "fill_launches_per_second": filled / fill if fill else None,
        "launches": launched,
        "launches_per_second": launched / wall if wall else None,
        "launches_per_cpu_second": launched / cpu if cpu else None,
        "cpu_us_per_launch": 1e6 * cpu / per_launch,
        "cycle_ms": 1000 * phases.cpu["cycle"] / cycles,
        "cycle_us_per_launch": 1e6 * phases.cpu["cycle"] / per_launch,
        "allocator_cycle_ms": 1000 * emulation.master.allocator.last_cycle_seconds,
        "idle_cycle_us": idle_us,
        "idle_cycle_visits": idle_visits,
        **{
            f"{phase}_us_per_launch": 1e6 * phases.cpu[phase] / per_launch
            for phase in ("accept", "update", "ack")
        },
    }


def idle_cycle(emulation: Emulation, now: float) -> tuple[float, int]:
    """A cycle when nothing changed (the last cycle's freed slots taken again
    at the same time): its CPU microseconds (best of five) and what it
    visited (`MasterState.last_cycle_visits`). Flat from 1,000 agents up."""
    emulation.cycle(now)
    master, best = emulation.master, float("inf")
    for _ in range(5):
        started = time.process_time()
        master.expire(now)
        master.allocate(now)
        best = min(best, time.process_time() - started)
    return 1e6 * best, getattr(master, "last_cycle_visits", -1)


def verdicts(result: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    growth = result["cpu_us_per_launch"] / reference["cpu_us_per_launch"]
    rate = result["launches_per_cpu_second"] or 0.0
    return {
        "cpu_growth": growth,
        "rate_ratio": rate / (reference["launches_per_cpu_second"] or 1.0),
        "cycle_ratio": result["cycle_ms"] / reference["cycle_ms"],
        "cpu_growth_met": growth <= CPU_GROWTH_LIMIT,
        "rate_met": rate >= GOAL_LAUNCHES * HEADROOM,
    }


def table(results: list[dict[str, Any]]) -> Table:
    out = Table(
        title=f"MasterState alone: {results[0]['frameworks']} frameworks, one slot per agent",
        caption=(
            f"goals: cpu/launch <= {CPU_GROWTH_LIMIT:.0f}x the smallest scale; "
            f"launches per CPU second >= {GOAL_LAUNCHES:,} x {HEADROOM:.0f} (headroom for Ray)"
        ),
    )
    for name in (
        "agents",
        "launches",
        "launches/s",
        "per cpu-s",
        "x ref",
        "cpu us/launch",
        "x ref",
        "cycle us",
        "accept us",
        "update us",
        "ack us",
        "cycle ms",
        "x ref",
        "core ms",
        "idle cycle us",
        "idle visits",
        "verdict",
    ):
        out.add_column(name, justify="right")
    for r in results:
        v = r["verdicts"]
        verdict = " ".join(
            [
                "cpu " + ("met" if v["cpu_growth_met"] else "missed"),
                "rate " + ("met" if v["rate_met"] else "missed"),
            ]
        )
        out.add_row(
            f"{r['agents']:,}",
            f"{r['launches']:,}",
            f"{r['launches_per_second']:,.0f}",
            f"{r['launches_per_cpu_second']:,.0f}",
            f"{v['rate_ratio']:.2f}x",
            f"{r['cpu_us_per_launch']:.0f}",
            f"{v['cpu_growth']:.2f}x",
            f"{r['cycle_us_per_launch']:.0f}",
            f"{r['accept_us_per_launch']:.0f}",
            f"{r['update_us_per_launch']:.0f}",
            f"{r['ack_us_per_launch']:.0f}",
            f"{r['cycle_ms']:.1f}",
            f"{v['cycle_ratio']:.2f}x",
            f"{r['allocator_cycle_ms']:.1f}",
            f"{r['idle_cycle_us']:.0f}",
            f"{r['idle_cycle_visits']}",
            verdict,
        )
    return out


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agents = [r["agents"] for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(agents, [r["launches_per_second"] for r in results], marker="o", label="launches/s")
    left.axhline(GOAL_LAUNCHES * HEADROOM, linestyle="--", color="grey", label="goal x headroom")
    left.set_xscale("log")
    left.set_xlabel("agents")
    left.set_title("MasterState launches/s")
    left.legend()
    for key, label in (
        ("cpu_us_per_launch", "total"),
        ("accept_us_per_launch", "accept"),
        ("update_us_per_launch", "updates"),
        ("ack_us_per_launch", "acks"),
    ):
        right.plot(agents, [r[key] for r in results], marker="o", label=label)
    right.set_xscale("log")
    right.set_xlabel("agents")
    right.set_ylabel("CPU us per launch")
    right.set_title("where a launch's CPU goes")
    right.legend()
    fig.tight_layout()
    fig.savefig(path)


def profile_text(profile: cProfile.Profile, top: int) -> str:
    stream = io.StringIO()
    pstats.Stats(profile, stream=stream).sort_stats("tottime").print_stats(top)
    return stream.getvalue()


def memory_scale(agents: int, frameworks: int, task_seconds: float, trace: bool) -> dict[str, Any]:
    """What a full cluster of `agents` holds in this process: RSS growth,
    and with `trace` the Python objects' bytes and their top sites (traced
    apart: tracemalloc's own records would count in the RSS)."""
    gc.collect()
    rss = psutil.Process().memory_info().rss
    if trace:
        tracemalloc.start()
    emulation = Emulation(agents, frameworks, task_seconds, seed=agents)
    for c in range(1, 12):
        emulation.cycle(float(c))
    gc.collect()
    result: dict[str, Any] = {"agents": agents, "tasks": len(emulation.master.tasks)}
    if trace:
        result["python_bytes"] = tracemalloc.get_traced_memory()[0]
        top = tracemalloc.take_snapshot().statistics("lineno")[:12]
        result["top_sites"] = [
            f"{stat.size / agents:7.0f} B/agent {stat.count / agents:5.2f} objects/agent  "
            f"{stat.traceback[0]}"
            for stat in top
        ]
        tracemalloc.stop()
    else:
        result["rss_bytes"] = psutil.Process().memory_info().rss - rss
    return result


def memory(args: argparse.Namespace) -> None:
    """`--memory`: each scale measured twice, in fresh processes."""

    def child(agents: int, trace: bool) -> dict[str, Any]:
        command = [sys.executable, __file__, "--memory-child", str(agents)]
        command += ["--frameworks", str(args.frameworks), "--task-seconds", str(args.task_seconds)]
        answer = subprocess.run(command + (["--trace"] if trace else []), capture_output=True)
        if answer.returncode != 0:
            raise RuntimeError(f"{agents} agents: {answer.stderr.decode()[-2000:]}")
        figures: dict[str, Any] = json.loads(answer.stdout)
        return figures

    results = []
    for agents in args.agents:
        result = child(agents, trace=True) | child(agents, trace=False)
        results.append(result)
        print(
            f"{agents:>7,} agents: Python {result['python_bytes'] / agents:6.0f} B/agent, "
            f"RSS {result['rss_bytes'] / agents:6.0f} B/agent",
            file=sys.stderr,
        )
    lines = [f"{'agents':>8} {'python B/agent':>15} {'rss B/agent':>12} {'rest B/agent':>13}"]
    for r in results:
        python, rss = r["python_bytes"] / r["agents"], r["rss_bytes"] / r["agents"]
        lines.append(f"{r['agents']:>8,} {python:>15.0f} {rss:>12.0f} {rss - python:>13.0f}")
    for small, big in itertools.pairwise(results):
        added = big["agents"] - small["agents"]
        python = (big["python_bytes"] - small["python_bytes"]) / added
        rss = (big["rss_bytes"] - small["rss_bytes"]) / added
        lines.append(
            f"per agent added, {small['agents']:,} -> {big['agents']:,}: "
            f"Python {python:.0f} B, RSS {rss:.0f} B"
        )
    largest = results[-1]
    lines += [f"top sites at {largest['agents']:,} agents:", *largest["top_sites"]]
    print("\n".join(lines))
    path = args.json.parent / "master_memory.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 to 10,000 agents, few cycles")
    parser.add_argument("--agents", type=int, nargs="+", default=[1_000, 10_000, 50_000, 100_000])
    parser.add_argument("--frameworks", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--task-seconds", type=float, default=30.0)
    parser.add_argument("--profile", action="store_true", help="write cProfile's top functions")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep Python's collector thresholds instead of the master actor's",
    )
    parser.add_argument("--memory", action="store_true", help="bytes per agent, not launches")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=OUT / "master_throughput.json")
    parser.add_argument("--plot", type=Path, default=OUT / "master_throughput.png")
    parser.add_argument("--profile-out", type=Path, default=OUT / "master_throughput_profile.txt")
    args = parser.parse_args()
    if args.quick:
        args.agents, args.cycles = [1_000, 5_000, 10_000], 10
    if not args.default_gc:
        tune_collector()  # as the master actor's process runs
    if args.memory_child:
        figures = memory_scale(args.memory_child, args.frameworks, args.task_seconds, args.trace)
        print(json.dumps(figures))
        return
    if args.memory:
        if args.agents == parser.get_default("agents"):
            args.agents = [10_000, 50_000]
        memory(args)
        return
    console = Console(width=240)
    results: list[dict[str, Any]] = []
    for agents in args.agents:
        result = run_scale(agents, args.frameworks, args.cycles, args.task_seconds, None)
        results.append(result)
        result["verdicts"] = verdicts(result, results[0])
        print(
            f"{agents} agents: {result['launches_per_second']:.0f} launches/s, "
            f"{result['cpu_us_per_launch']:.0f} us CPU per launch",
            file=sys.stderr,
        )
    console.print(table(results))
    outputs.write(results, args.json, args.plot, plot)
    if args.profile:
        # A run of its own: the profiler's overhead must not reach the table.
        agents = args.agents[-1]
        profile = cProfile.Profile()
        run_scale(agents, args.frameworks, args.cycles, args.task_seconds, profile)
        args.profile_out.parent.mkdir(parents=True, exist_ok=True)
        args.profile_out.write_text(f"== {agents} agents ==\n{profile_text(profile, 25)}")
        print(f"wrote {args.profile_out}", file=sys.stderr)


if __name__ == "__main__":
    main()
