#!/usr/bin/env python3
"""The whole system at Mesos-paper scale, with emulated agents.

Reproduces the scalability experiment of the Mesos paper (Hindman et al.,
NSDI 2011, section 6.5) as far as this machine holds: a real master actor,
real framework drivers (200 of them, hosted by one pool actor) and N
emulated agents (hosted by `--pools` pool actors, 25,000 agents each by
default, each registering, heartbeating and sending its update batches
itself; their tasks "run" for an exponentially distributed time, mean 30 s,
without a process). As in the paper, every framework launches on everything
it is offered, so the cluster stays full: each agent has one slot, and the
task rate is agents / 30 s.

Figures per scale, over a measured window after the cluster has filled (or
stopped filling: the master's pace) and a warm-up:
  launch overhead   per agent, time from a task ending (its slot freed) to
                    the next task launched there (the paper's metric):
                    median, p90, p99
  tasks/s, offers/s launched (the agent pools' counters) and offered (the
                    framework pool's)
  master CPU        the master process's CPU seconds per second (1.0 = a core)
                    and per launch (CPU ms / launches in the window)
  master RSS        its resident memory at the end
  cycle ms          the allocator core's last cycle
  register s        time for all agents to register
  emul cpu          the agent and framework pools' CPU seconds per second:
                    the load generators share the master's cores
  resent            status updates the agents sent again, unacknowledged
                    after 10 s (a lost message costs a slot 10 s or more)
  lag ms            the master's event loop's longest stall in the window
                    (a wake-up every 50 ms, how late it came)
  gc max ms, gc %   its garbage collector's longest pause per generation in
                    the window, and the window's share spent collecting

Then the throughput point: 50,000 agents with tasks of mean 10 s, 5,000
launches/s if the master keeps up. 50,000 agents rather than 100,000 with
20 s tasks, for the same rate: the same size as the scaling point it is
read beside, so only the rate changes, and half the per-agent upkeep
(registration, heartbeats, the emulation's memory) on the two cores the
master shares with its load.

Then the goals of issue 18, each a ratio within this run (so the machine's
noise cancels), with a verdict: launch overhead p99 at 50,000 agents at most
3x that at 1,000 and under 1 s; the master's CPU per launch at most 2x; its
RSS at 50,000 at most 2x that at 10,000; the throughput point; a 100,000-agent
point. A scale that fails is a missed goal with its reason, and the run goes
on to the next.

`--flame [LABEL]` records the master with py-spy during the largest scale's
window: bench/out/master_flame_LABEL.svg, its raw stacks (.raw) and its five
frames with the most own time (.txt, also printed).

Run it from the repository root:

    python bench/cluster.py [--quick] [--agents 1000 10000 50000 100000] [--flame [LABEL]]
                            [--throughput AGENTS SECONDS | --no-throughput] [--json PATH]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flame
import outputs

import pyactors
from pyactors import Resources
from pyactors.agent.pool import AgentPoolActor
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.master.state import MasterConfig
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster
from pyactors.runtime.handles import MasterRef
from pyactors.scheduler.api import Driver, Scheduler
from pyactors.scheduler.pool import FrameworkPoolActor

OUT = Path(__file__).parent / "out"
# One task slot per agent: at 50,000 agents and 30 s tasks that is already
# ~1,700 launches a second through one Python master.
AGENT = "cpus:1;mem:2048"
TASK = "cpus:1;mem:2048"
AGENTS_PER_POOL = 25_000
# Mesos's master pings each agent every 15 s (agent_ping_timeout).
HEARTBEAT_SECONDS = 15.0
# A step (registration, subscription) fails only once it stops advancing
# for this long: a loaded machine is slow, not stuck.
STALL_SECONDS = 300.0
# The cluster is as full as it gets once running tasks stop growing this long.
FILL_PLATEAU = 15.0
# The scales the goals name; a run without one uses the nearest it has.
SMALL, MIDDLE, LARGE, HUGE = 1_000, 10_000, 50_000, 100_000


class Greedy(Scheduler):
    """Launches a task on every slot it is offered, as the paper's
    frameworks did: the cluster stays full, and each freed slot is a launch
    waiting to happen."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.shape = Resources.parse(TASK)
        self.serial = 0

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        for offer in offers:
            tasks, left = [], offer.resources
            while self.shape <= left:
                self.serial += 1
                tasks.append(TaskInfo(f"{self.prefix}-{self.serial}", "t", self.shape, command="x"))
                left = left - self.shape
            if tasks:
                driver.accept([offer.id], [Launch(tasks)], refuse_seconds=5)
            else:
                driver.decline([offer.id], refuse_seconds=5)


class StalledError(Exception):
    """A step of a scale's start stopped advancing."""


def wait_progress(read: Callable[[], int], goal: int, what: str) -> float:
    """Seconds until `read()` reaches `goal`; StalledError once it has not
    moved for STALL_SECONDS."""
    started = time.monotonic()
    last, moved_at = -1, started
    while True:
        value = read()
        now = time.monotonic()
        if value >= goal:
            return now - started
        if value != last:
            last, moved_at = value, now
        elif now - moved_at > STALL_SECONDS:
            raise StalledError(f"{what}: {value} of {goal}, none more in {STALL_SECONDS:.0f} s")
        time.sleep(1.0)


def wait_filled(agent_pools: list[Any], agents: int) -> float:
    """Seconds until the cluster is full, or as full as the master keeps it
    (running tasks grow by under 1% in FILL_PLATEAU s). The first offers
    take every agent at once, and a window measured while that backlog
    drains measures the start, not the steady state."""
    started = time.monotonic()
    history: list[tuple[float, int]] = []
    while True:
        running = sum(ray_calls.ask(p, "figures", None)["running"] for p in agent_pools)
        now = time.monotonic()
        history.append((now, running))
        if running >= 0.95 * agents:
            return now - started
        earlier = [r for at, r in history if now - at >= FILL_PLATEAU]
        if earlier and running - earlier[-1] < 0.01 * agents:
            return now - started
        time.sleep(1.0)


def run_point(
    agents: int, task_seconds: float, args: argparse.Namespace, flame_label: str | None
) -> dict[str, Any]:
    """One scale's figures, or what failed (`error`) without raising."""
    pools = args.pools or math.ceil(agents / AGENTS_PER_POOL)
    result: dict[str, Any] = {
        "agents": agents,
        "pools": pools,
        "frameworks": args.frameworks,
        "task_seconds": task_seconds,
    }
    try:
        result.update(measure(agents, pools, task_seconds, args, flame_label))
    except Exception as error:
        traceback.print_exc()
        result["error"] = f"{type(error).__name__}: {error}"
    return result


def measure(
    agents: int,
    pools: int,
    task_seconds: float,
    args: argparse.Namespace,
    flame_label: str | None,
) -> dict[str, Any]:
    cluster = pyactors.start(
        agents=0,
        allocation_interval=1.0,
        config=MasterConfig(agent_timeout=120.0, offer_timeout=60.0),
    )
    handles: list[Any] = []
    try:
        started = time.monotonic()
        leader = cluster.leader()
        agent_pools = [
            ray_calls.spawn(
                AgentPoolActor,
                leader,
                count,
                AGENT,
                prefix=f"emulated{n}",
                task_seconds=task_seconds,
                seed=n,
                heartbeat_interval=HEARTBEAT_SECONDS,
            )
            for n, count in enumerate(split(agents, pools))
        ]
        handles += agent_pools
        for pool in agent_pools:
            ray_calls.ask(pool, "start", pool)
        wait_progress(
            lambda: sum(ray_calls.ask(p, "figures", None)["registered"] for p in agent_pools),
            agents,
            "agents registered",
        )
        registered = time.monotonic() - started
        ray_calls.ship_by_value(Greedy)
        specs = [
            (Greedy, (f"f{i}",), f"greedy-{i}", [f"role-{i % 20}"]) for i in range(args.frameworks)
        ]
        framework_pool = ray_calls.spawn(FrameworkPoolActor, cluster.location, specs)
        handles.append(framework_pool)
        ray_calls.ask(framework_pool, "start", framework_pool)
        subscribed = wait_progress(
            lambda: len(ray_calls.ask(framework_pool, "subscribed")),
            args.frameworks,
            "frameworks subscribed",
        )
        filled = wait_filled(agent_pools, agents)
        time.sleep(args.warmup)
        before = sample(cluster, agent_pools, framework_pool, None)
        recording = None
        if flame_label is not None:
            svg = args.json.parent / f"master_flame_{flame_label}.svg"
            recording = flame.Recording(int(before["master"]["pid"]), args.window, svg)
        time.sleep(args.window)
        after = sample(cluster, agent_pools, framework_pool, before)
        what = f"{agents:,} agents, {task_seconds:g} s tasks, a {args.window:g} s window"
        profile = finish_flame(recording, what) if recording is not None else None
    finally:
        tear_down(cluster, handles)
    figures = window_figures(before, after)
    figures.update(register_seconds=registered, subscribe_seconds=subscribed, fill_seconds=filled)
    if profile is not None:
        figures["flame"] = profile
    return figures


def tear_down(cluster: Cluster, handles: list[Any]) -> None:
    """Stop the scale's actors, the master first and without asking it: it
    would take its load generators' deaths as tens of thousands of agents
    lost before answering, and the next scale must not share the machine
    with it (there is no ZooKeeper session to close)."""
    for master in cluster.masters:
        ray_calls.stop(master)
    for handle in handles:
        ray_calls.stop(handle)
    cluster.shutdown()


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (n < total % parts) for n in range(parts)]


def sample(
    cluster: Cluster, agent_pools: list[Any], framework_pool: Any, since: dict[str, Any] | None
) -> dict[str, Any]:
    """Counters now; with `since`, each pool's overheads measured after it.
    How long each actor took to answer is how far its event loop is behind
    (`answer_ms`): the one that falls behind first is the bottleneck."""
    answered: dict[str, float] = {}

    def timed(name: str, call: Callable[..., Any], *args: Any) -> Any:
        started = time.monotonic()
        answer = call(*args)
        answered[name] = max(answered.get(name, 0.0), 1000 * (time.monotonic() - started))
        return answer

    at = time.monotonic()
    pools = [
        timed(
            "agent_pools",
            ray_calls.ask,
            pool,
            "figures",
            None if since is None else since["pools"][n]["overheads_measured"],
        )
        for n, pool in enumerate(agent_pools)
    ]
    return {
        "at": at,
        "pools": pools,
        "frameworks": timed("framework_pool", ray_calls.ask, framework_pool, "figures"),
        "master": timed("master", cluster.on_leader, MasterRef.process_usage),
        "answer_ms": answered,
    }


def window_figures(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    span = after["at"] - before["at"]

    def total(key: str, at: dict[str, Any]) -> Any:
        return sum(pool[key] for pool in at["pools"])

    launches = total("launched", after) - total("launched", before)
    overheads = [o for pool in after["pools"] for o in pool["launch_overheads"]]
    quantiles = statistics.quantiles(overheads, n=100) if len(overheads) >= 100 else None
    cpu = master_cpu(after) - master_cpu(before)
    agent_pools_cpu = total("cpu_seconds", after) - total("cpu_seconds", before)
    framework_pool_cpu = after["frameworks"]["cpu_seconds"] - before["frameworks"]["cpu_seconds"]
    emulation = agent_pools_cpu + framework_pool_cpu
    offers = after["frameworks"]["offers_received"] - before["frameworks"]["offers_received"]
    return {
        "window_seconds": span,
        "launches": launches,
        "tasks_per_second": launches / span,
        "offers_per_second": offers / span,
        "running_at_end": total("running", after),
        # Lost messages show here: updates not acknowledged within 10 s,
        # agents the master had timed out.
        "updates_resent": total("updates_resent", after) - total("updates_resent", before),
        "agents_registered_again": total("registered_again", after)
        - total("registered_again", before),
        "launch_overheads_measured": len(overheads),
        "launch_overhead_median_ms": 1000 * statistics.median(overheads) if overheads else None,
        "launch_overhead_p90_ms": 1000 * quantiles[89] if quantiles else None,
        "launch_overhead_p99_ms": 1000 * quantiles[98] if quantiles else None,
        "master_cpu": cpu / span,
        "master_cpu_ms_per_launch": 1000 * cpu / launches if launches else None,
        "master_rss_mb": after["master"]["rss_bytes"] / 2**20,
        # The agent and framework pools: the load shares the master's cores.
        "emulation_cpu": emulation / span,
        "agent_pools_cpu": agent_pools_cpu / span,
        "framework_pool_cpu": framework_pool_cpu / span,
        "emulation_cpu_ms_per_launch": 1000 * emulation / launches if launches else None,
        "cycle_ms": 1000 * after["master"]["allocation_cycle_seconds"],
        "answer_ms_at_end": after["answer_ms"],
        "master_at_end": after["master"],
        **pause_figures(before["master"], after["master"], span),
    }


def pause_figures(before: dict[str, float], after: dict[str, float], span: float) -> dict[str, Any]:
    """What stopped the master's loop during the window (`Pauses.take`: the
    maxima the second sample read cover the window alone): its longest
    stall, the longest collection of each generation, the share of the
    window spent collecting, and the longest allocation cycle."""
    if "loop_lag_max_seconds" not in after:
        return {}
    generations = range(3)
    collecting = sum(after[f"gc{g}_seconds"] - before[f"gc{g}_seconds"] for g in generations)
    return {
        "loop_lag_max_ms": 1000 * after["loop_lag_max_seconds"],
        "gc_max_ms": [1000 * after[f"gc{g}_max_seconds"] for g in generations],
        "gc_collections": [
            int(after[f"gc{g}_collections"] - before[f"gc{g}_collections"]) for g in generations
        ],
        "gc_share": collecting / span,
        "cycle_max_ms": 1000 * after.get("cycle_max_seconds", 0.0),
    }


def master_cpu(sample: dict[str, Any]) -> float:
    usage = sample["master"]
    return float(usage["cpu_user_seconds"] + usage["cpu_system_seconds"])


def finish_flame(recording: flame.Recording, what: str) -> dict[str, Any]:
    try:
        frames = recording.finish()
    except flame.FlameError as error:
        return {"error": str(error)}
    listing = flame.describe(frames)
    recording.svg.with_suffix(".txt").write_text(
        f"The master's five frames with the most own time ({recording.svg.name}; {what}; "
        f"samples of the thread holding the GIL):\n{listing}\n"
    )
    print(f"master flame graph: {recording.svg}\n{listing}", file=sys.stderr)
    return {
        "svg": str(recording.svg),
        "top_frames": [{"frame": f.name, "samples": f.samples, "share": f.share} for f in frames],
    }


# ------------------------------------------------------------------ tables


def number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(results: list[dict[str, Any]]) -> str:
    reference = next((r for r in results if "error" not in r), None)

    def ratio(key: str, result: dict[str, Any]) -> str:
        if reference is None or not result.get(key) or not reference.get(key):
            return "-"
        return f"{result[key] / reference[key]:.2f}x"

    header = (
        f"{'agents':>7} {'pools':>5} {'task s':>6} {'reg s':>6} {'tasks/s':>8} {'offers/s':>9} "
        f"{'ovh p50 ms':>10} {'p90':>7} {'p99':>7} {'p99/ref':>8} {'master cpu':>10} "
        f"{'cpu ms/launch':>13} {'/ref':>6} {'rss MB':>7} {'cycle ms':>8} {'emul cpu':>8} "
        f"{'resent':>6} {'lag ms':>6} {'gc max ms g0/g1/g2':>18} {'gc %':>5}"
    )
    rows = [header, "-" * len(header)]
    for r in results:
        lead = f"{r['agents']:>7} {r['pools']:>5} {r['task_seconds']:>6.0f}"
        if "error" in r:
            rows.append(f"{lead}  failed: {r['error']}")
            continue
        rows.append(
            f"{lead} {r['register_seconds']:>6.1f} {r['tasks_per_second']:>8.0f} "
            f"{r['offers_per_second']:>9.0f} {number(r['launch_overhead_median_ms'], 1):>10} "
            f"{number(r['launch_overhead_p90_ms']):>7} {number(r['launch_overhead_p99_ms']):>7} "
            f"{ratio('launch_overhead_p99_ms', r):>8} {r['master_cpu']:>10.2f} "
            f"{number(r['master_cpu_ms_per_launch'], 3):>13} "
            f"{ratio('master_cpu_ms_per_launch', r):>6} {r['master_rss_mb']:>7.0f} "
            f"{r['cycle_ms']:>8.1f} {r['emulation_cpu']:>8.2f} {r['updates_resent']:>6} "
            f"{pauses(r)}"
        )
    return "\n".join(rows)


def pauses(r: dict[str, Any]) -> str:
    if "loop_lag_max_ms" not in r:
        return ""
    collections = "/".join(f"{ms:.0f}" for ms in r["gc_max_ms"])
    return f"{r['loop_lag_max_ms']:>6.0f} {collections:>18} {100 * r['gc_share']:>5.1f}"


def nearest(scales: list[dict[str, Any]], agents: int) -> dict[str, Any] | None:
    return min(scales, key=lambda r: abs(r["agents"] - agents), default=None)


def goals(
    scales: list[dict[str, Any]], throughput: dict[str, Any] | None, skipped: str
) -> list[dict[str, Any]]:
    """Issue 18's goals for the master, each with what was measured and a
    verdict; a point that is missing or failed misses its goal, saying why."""
    small, middle, large = nearest(scales, SMALL), nearest(scales, MIDDLE), nearest(scales, LARGE)
    if large is not None and middle is large:
        middle = max(
            (r for r in scales if r["agents"] < large["agents"]),
            default=None,
            key=lambda r: r["agents"],
        )
    rows = []

    def row(goal: str, target: str, measure: Callable[[], tuple[str, bool]], *points: Any) -> None:
        failed = [p for p in points if p is None or "error" in p]
        if failed:
            why = "; ".join(
                "no such point" if p is None else f"{p['agents']:,} agents failed: {p['error']}"
                for p in failed
            )
            rows.append({"goal": goal, "target": target, "measured": why, "verdict": "missed"})
            return
        measured, met = measure()
        verdict = "met" if met else "missed"
        rows.append({"goal": goal, "target": target, "measured": measured, "verdict": verdict})

    def name(point: dict[str, Any] | None, fallback: int) -> str:
        return f"{(point or {}).get('agents', fallback):,}"

    def growth(key: str, big: dict[str, Any], base: dict[str, Any], unit: str) -> tuple[float, str]:
        if big.get(key) is None or not base.get(key):
            return math.inf, f"not measured ({key})"
        times = big[key] / base[key]
        return times, f"{times:.2f}x ({big[key]:,.1f} vs {base[key]:,.1f} {unit})"

    def p99() -> tuple[str, bool]:
        assert large is not None and small is not None
        times, said = growth("launch_overhead_p99_ms", large, small, "ms")
        return said, times <= 3 and (large["launch_overhead_p99_ms"] or math.inf) < 1000

    def cpu() -> tuple[str, bool]:
        assert large is not None and small is not None
        times, said = growth("master_cpu_ms_per_launch", large, small, "CPU ms/launch")
        return said, times <= 2

    def rss() -> tuple[str, bool]:
        assert large is not None and middle is not None
        times, said = growth("master_rss_mb", large, middle, "MB")
        return said, times <= 2

    def rate() -> tuple[str, bool]:
        assert throughput is not None
        p99_ms = throughput["launch_overhead_p99_ms"]
        said = (
            f"{throughput['tasks_per_second']:,.0f} launches/s, p99 {number(p99_ms)} ms "
            f"(CPU: master {throughput['master_cpu']:.2f}, "
            f"emulation {throughput['emulation_cpu']:.2f})"
        )
        return said, throughput["tasks_per_second"] >= 5000 and (p99_ms or math.inf) < 1000

    huge = next((r for r in scales if r["agents"] == HUGE), None)

    def reported() -> tuple[str, bool]:
        assert huge is not None
        said = (
            f"{huge['pools']} pools: {huge['tasks_per_second']:,.0f} launches/s, overhead p99 "
            f"{number(huge['launch_overhead_p99_ms'])} ms, master CPU "
            f"{huge['master_cpu']:.2f}, RSS {huge['master_rss_mb']:,.0f} MB"
        )
        return said, True

    big, base, mid = name(large, LARGE), name(small, SMALL), name(middle, MIDDLE)
    row(f"launch overhead p99, {big} vs {base} agents", "<= 3x and < 1 s", p99, large, small)
    row(f"master CPU per launch, {big} vs {base} agents", "<= 2x", cpu, large, small)
    row(f"master RSS, {big} vs {mid} agents", "<= 2x", rss, large, middle)
    if throughput is None:
        rows.append(
            {
                "goal": "throughput",
                "target": ">= 5,000 launches/s, p99 < 1 s",
                "measured": f"not run ({skipped})",
                "verdict": "missed",
            }
        )
    else:
        goal = (
            f"throughput, {throughput['agents']:,} agents, {throughput['task_seconds']:g} s tasks"
        )
        row(goal, ">= 5,000 launches/s, p99 < 1 s", rate, throughput)
    if huge is None:
        rows.append(
            {
                "goal": f"{HUGE:,} agents",
                "target": "reported",
                "measured": "not run (not among --agents)",
                "verdict": "missed",
            }
        )
    else:
        row(f"{HUGE:,} agents", "reported", reported, huge)
    return rows


def plot(figures: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [r for r in figures["scales"] if "error" not in r]
    agents = [r["agents"] for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, label in (
        ("launch_overhead_median_ms", "median"),
        ("launch_overhead_p90_ms", "p90"),
        ("launch_overhead_p99_ms", "p99"),
    ):
        left.plot(agents, [r[key] or math.nan for r in results], marker="o", label=label)
    left.axhline(1000, color="grey", linestyle=":", label="1 s")
    left.set_xscale("log")
    left.set_xlabel("emulated agents")
    left.set_ylabel("launch overhead (ms)")
    left.set_title("freed resources -> next launch")
    left.legend()
    right.plot(agents, [r["tasks_per_second"] for r in results], marker="o", label="tasks/s")
    right.plot(agents, [100 * r["master_cpu"] for r in results], marker="s", label="master CPU %")
    point = figures["throughput"]
    if point is not None and "error" not in point:
        right.plot(
            [point["agents"]],
            [point["tasks_per_second"]],
            marker="*",
            markersize=12,
            linestyle="none",
            label=f"tasks/s, {point['task_seconds']:g} s tasks",
        )
    right.set_xscale("log")
    right.set_xlabel("emulated agents")
    right.set_title(f"{figures['frameworks']} frameworks, tasks of ~30 s")
    right.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 5,000 agents, short")
    parser.add_argument("--agents", type=int, nargs="+", default=[SMALL, MIDDLE, LARGE])
    parser.add_argument("--pools", type=int, default=0, help="agent pools (default: 1 per 25,000)")
    parser.add_argument("--frameworks", type=int, default=200)
    parser.add_argument("--task-seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument(
        "--throughput",
        type=float,
        nargs=2,
        default=[LARGE, 10.0],
        metavar=("AGENTS", "SECONDS"),
        help="the throughput point",
    )
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument(
        "--flame",
        nargs="?",
        const="after",
        metavar="LABEL",
        help="profile the master at the largest scale (py-spy)",
    )
    parser.add_argument("--json", type=Path, default=OUT / "cluster.json")
    parser.add_argument("--plot", type=Path, default=OUT / "cluster.png")
    args = parser.parse_args()
    skipped = "--no-throughput"
    if args.quick:
        args.agents, args.warmup, args.window = [1_000, 5_000], 15.0, 10.0
        args.no_throughput, skipped = True, "--quick"
    args.json.parent.mkdir(parents=True, exist_ok=True)
    # A Ray instance of its own: the figures must not share one with anything.
    ray_calls.ensure_started(address="local")
    scales = []
    largest = max(args.agents)
    for agents in args.agents:
        label = args.flame if agents == largest else None
        scales.append(run_point(agents, args.task_seconds, args, label))
        print(table(scales).splitlines()[-1], file=sys.stderr)
    throughput = None
    if not args.no_throughput:
        agents, seconds = int(args.throughput[0]), args.throughput[1]
        throughput = run_point(agents, seconds, args, None)
        print(table([throughput]).splitlines()[-1], file=sys.stderr)
    rows = goals(scales, throughput, skipped)
    print(table(scales + ([throughput] if throughput else [])))
    print()
    print(outputs.goals_table(rows))
    figures = {
        "frameworks": args.frameworks,
        "scales": scales,
        "throughput": throughput,
        "goals": rows,
        "argv": sys.argv[1:],
    }
    outputs.write(figures, args.json, args.plot, plot)


if __name__ == "__main__":
    main()
