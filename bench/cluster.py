#!/usr/bin/env python3
"""The whole system at Mesos-paper scale, with emulated agents.

Reproduces the scalability experiment of the Mesos paper (Hindman et al.,
NSDI 2011, section 6.5) as far as this machine holds: a real master actor,
real framework drivers (200 of them, hosted by one pool actor) and N
emulated agents (hosted by one pool actor, speaking the agent protocol;
their tasks "run" for an exponentially distributed time, mean 30 s, without
a process). As in the paper, every framework launches on everything it is
offered, so the cluster stays full: each agent has one slot, and the task
rate is agents / 30 s.

Figures per scale, over a measured window after a warm-up:
  launch overhead   per agent, time from a task ending (its slot freed) to
                    the next task launched there (the paper's metric):
                    median, p90, p99
  tasks/s, offers/s launched and made, from the pool's and master's counters
  master CPU        the master process's CPU seconds per second (1.0 = a core)
  master RSS        its resident memory at the end
  cycle ms          the allocator core's last cycle
  register s        time for all agents to register
  reference         the same figures at the smallest scale are the reference:
                    the table gives each scale's overhead and master CPU as a
                    ratio of it

Run it from the repository root:

    python bench/cluster.py [--quick] [--agents 1000 10000 50000] [--json PATH] [--plot PATH]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

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


def run_scale(
    agents: int, frameworks: int, task_seconds: float, warmup: float, window: float
) -> dict[str, Any]:
    cluster = pyactors.start(
        agents=0,
        allocation_interval=1.0,
        config=MasterConfig(agent_timeout=120.0, offer_timeout=60.0),
    )
    pool = framework_pool = None
    try:
        started = time.monotonic()
        pool = ray_calls.spawn(
            AgentPoolActor, cluster.leader(), agents, AGENT, task_seconds=task_seconds
        )
        ray_calls.ask(pool, "start", pool, timeout=600)
        registered = time.monotonic() - started
        ray_calls.ship_by_value(Greedy)
        specs = [(Greedy, (f"f{i}",), f"greedy-{i}", [f"role-{i % 20}"]) for i in range(frameworks)]
        framework_pool = ray_calls.spawn(FrameworkPoolActor, cluster.location, specs)
        ray_calls.ask(framework_pool, "start", framework_pool, timeout=600)
        time.sleep(warmup)
        before = sample(cluster, pool)
        time.sleep(window)
        after = sample(cluster, pool)
    finally:
        for handle in (pool, framework_pool):
            if handle is not None:
                ray_calls.stop(handle)
        cluster.shutdown()
    span = after["at"] - before["at"]
    overheads = after["pool"]["launch_overheads"][len(before["pool"]["launch_overheads"]) :]
    quantiles = statistics.quantiles(overheads, n=100) if len(overheads) >= 100 else None
    return {
        "agents": agents,
        "frameworks": frameworks,
        "register_seconds": registered,
        "window_seconds": span,
        "tasks_per_second": (after["pool"]["launched"] - before["pool"]["launched"]) / span,
        "offers_per_second": (after["offers"] - before["offers"]) / span,
        "running_at_end": after["pool"]["running"],
        "launch_overhead_median_ms": 1000 * statistics.median(overheads) if overheads else None,
        "launch_overhead_p90_ms": 1000 * quantiles[89] if quantiles else None,
        "launch_overhead_p99_ms": 1000 * quantiles[98] if quantiles else None,
        "master_cpu": (master_cpu(after) - master_cpu(before)) / span,
        "master_rss_mb": after["master"]["rss_bytes"] / 2**20,
        "cycle_ms": 1000 * after["master"]["allocation_cycle_seconds"],
    }


def master_cpu(sample: dict[str, Any]) -> float:
    usage = sample["master"]
    return float(usage["cpu_user_seconds"] + usage["cpu_system_seconds"])


def sample(cluster: Cluster, pool: Any) -> dict[str, Any]:
    return {
        "at": time.monotonic(),
        "pool": ray_calls.ask(pool, "figures", timeout=120),
        "master": cluster.on_leader(MasterRef.process_usage),
        "offers": cluster.on_leader(MasterRef.state_summary)["counters"].get("offers", 0),
    }


def table(results: list[dict[str, Any]]) -> str:
    reference = results[0]

    def ratio(key: str, result: dict[str, Any]) -> str:
        if not result[key] or not reference[key]:
            return "-"
        return f"{result[key] / reference[key]:.2f}x"

    def number(value: float | None, digits: int = 0) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    header = (
        f"{'agents':>7} {'fws':>4} {'reg s':>6} {'tasks/s':>8} {'offers/s':>9} "
        f"{'ovh p50 ms':>10} {'p90':>7} {'p99':>7} {'ovh/ref':>8} "
        f"{'master cpu':>10} {'cpu/ref':>8} {'rss MB':>7} {'cycle ms':>8}"
    )
    rows = [header, "-" * len(header)]
    for r in results:
        rows.append(
            f"{r['agents']:>7} {r['frameworks']:>4} {r['register_seconds']:>6.1f} "
            f"{r['tasks_per_second']:>8.0f} {r['offers_per_second']:>9.0f} "
            f"{number(r['launch_overhead_median_ms'], 1):>10} "
            f"{number(r['launch_overhead_p90_ms']):>7} {number(r['launch_overhead_p99_ms']):>7} "
            f"{ratio('launch_overhead_median_ms', r):>8} {r['master_cpu']:>10.2f} "
            f"{ratio('master_cpu', r):>8} {r['master_rss_mb']:>7.0f} {r['cycle_ms']:>8.1f}"
        )
    return "\n".join(rows)


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agents = [r["agents"] for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, label in (
        ("launch_overhead_median_ms", "median"),
        ("launch_overhead_p90_ms", "p90"),
        ("launch_overhead_p99_ms", "p99"),
    ):
        left.plot(agents, [r[key] or math.nan for r in results], marker="o", label=label)
    left.set_xscale("log")
    left.set_xlabel("emulated agents")
    left.set_ylabel("launch overhead (ms)")
    left.set_title("freed resources -> next launch")
    left.legend()
    right.plot(agents, [r["tasks_per_second"] for r in results], marker="o", label="tasks/s")
    right.plot(agents, [100 * r["master_cpu"] for r in results], marker="s", label="master CPU %")
    right.set_xscale("log")
    right.set_xlabel("emulated agents")
    right.set_title(f"{results[0]['frameworks']} frameworks, tasks of ~30 s")
    right.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 5,000 agents, short")
    parser.add_argument("--agents", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    parser.add_argument("--frameworks", type=int, default=200)
    parser.add_argument("--task-seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--json", type=Path, default=OUT / "cluster.json")
    parser.add_argument("--plot", type=Path, default=OUT / "cluster.png")
    args = parser.parse_args()
    if args.quick:
        args.agents, args.warmup, args.window = [1_000, 5_000], 15.0, 10.0
    # A Ray instance of its own: the figures must not share one with anything.
    ray_calls.ensure_started(address="local")
    results = []
    for agents in args.agents:
        results.append(
            run_scale(agents, args.frameworks, args.task_seconds, args.warmup, args.window)
        )
        print(table(results).splitlines()[-1], file=sys.stderr)
    print(table(results))
    outputs.write(results, args.json, args.plot, plot)


if __name__ == "__main__":
    main()
