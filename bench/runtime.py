#!/usr/bin/env python3
"""End-to-end task throughput of the actor runtime, and offer latency.

A local cluster of 4 agents runs one framework that launches trivial tasks
(`true`) on every offer, as many as fit, and keeps doing so. Each task goes
the whole path: offer, accept, launch as a process in its sandbox,
TASK_RUNNING, TASK_FINISHED, acknowledgement, resources back to the
allocator, offered again. Figures:

  tasks/s          tasks that reached TASK_FINISHED per second, over the
                   measured window (after a warm-up)
  freed->offer     for each finished task, the time from the agent seeing it
                   end (its update's timestamp) to the framework receiving the
                   next offer of that agent (median and p90)
  reference        in the same run, a bare loop that starts `true` the same
                   way (a process group with output files in a fresh
                   directory) and waits for it, in one process: the machine's
                   raw ceiling for one process spawning, measured just before
                   and just after the cluster runs; the table reports the
                   runtime's rate as a ratio of the higher of the two (the
                   machine is shared and its load drifts; the higher one is
                   never flattered by a cluster still shutting down)

Both run twice: with the agents' work dir on the disk (the system's temporary
directory) and on a tmpfs (/dev/shm), because creating a sandbox (a
directory and three files) costs far more on a disk file system than the
rest of a launch.

Then issue 18's goal with a verdict: on disk, at least 0.9 of the bare
loop's rate (the tmpfs ratio is shown as information); a verdict whose
bare loops before and after differ by more than 1.5x says its reference
was unsteady (the disk's metadata operations, which the bare loop does one
after another, slow down several times over under other loads).

Run it from the repository root:

    python bench/runtime.py [--seconds 20] [--json PATH] [--plot PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import outputs

import pyactors
from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.tasks import TaskStatus
from pyactors.runtime import ray_calls
from pyactors.scheduler.api import Driver, Scheduler

OUT = Path(__file__).parent / "out"
TASK = "cpus:0.1;mem:16"
# Issue 18: the runtime's rate on disk as a fraction of the bare loop's.
GOAL_RATIO = 0.9
# Bare loops before and after further apart than this: the machine's load
# moved under the run, and its verdict says so.
STEADY = 1.5


class Flood(Scheduler):
    """Launches `true` tasks on everything offered; records finish times,
    the agents' end timestamps and offer arrivals."""

    def __init__(self) -> None:
        self.shape = Resources.parse(TASK)
        self.serial = 0
        self.finished: list[float] = []
        self.freed: list[tuple[float, str]] = []
        self.offered: list[tuple[float, str]] = []
        self.failed = 0

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        now = time.monotonic()
        for offer in offers:
            self.offered.append((now, offer.agent_id))
            tasks, left = [], offer.resources
            while self.shape <= left:
                self.serial += 1
                tasks.append(TaskInfo(f"f{self.serial}", "flood", self.shape, command="true"))
                left = left - self.shape
            if tasks:
                driver.accept([offer.id], [Launch(tasks)], refuse_seconds=0)
            else:
                driver.decline([offer.id], refuse_seconds=0)

    def update(self, driver: Driver, status: TaskStatus) -> None:
        if status.state.is_terminal:
            if status.state.value == "TASK_FINISHED":
                self.finished.append(time.monotonic())
            else:
                self.failed += 1
            self.freed.append((status.timestamp, status.agent_id or ""))

    def figures(self) -> dict[str, Any]:
        return {
            "finished": self.finished,
            "freed": self.freed,
            "offered": self.offered,
            "failed": self.failed,
            "launched": self.serial,
        }


def reference_rate(seconds: float, parent: str | None) -> float:
    """Processes per second one Python process can start and reap, each a
    session leader with output files in its own new directory."""
    with tempfile.TemporaryDirectory(dir=parent) as root:
        count, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            sandbox = Path(root) / str(count)
            sandbox.mkdir()
            with open(sandbox / "stdout", "wb") as out, open(sandbox / "stderr", "wb") as err:
                subprocess.Popen(
                    ["/bin/sh", "-c", "true"],
                    cwd=sandbox,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                ).wait()
            count += 1
        return count / seconds


def latencies(figures: dict[str, Any], start: float, end: float) -> list[float]:
    """For each task freed in the window, the wait until its agent's next
    offer reached the framework."""
    offers_by_agent: dict[str, list[float]] = {}
    for at, agent in figures["offered"]:
        offers_by_agent.setdefault(agent, []).append(at)
    waits = []
    for freed_at, agent in figures["freed"]:
        if not start <= freed_at <= end:
            continue
        later = [t for t in offers_by_agent.get(agent, []) if t >= freed_at]
        if later:
            waits.append(min(later) - freed_at)
    return waits


def run(seconds: float, warmup: float, agents: int, parent: str | None) -> dict[str, Any]:
    reference_before = reference_rate(min(seconds, 5.0), parent)
    with tempfile.TemporaryDirectory(dir=parent, prefix="pyactors-bench-") as work_dir:
        cluster = pyactors.start(
            agents=agents,
            agent_resources="cpus:4;mem:4096",
            allocation_interval=1.0,
            work_dir=work_dir,
        )
        try:
            framework = cluster.run_framework(Flood, name="flood", roles=["flood"])
            started = time.monotonic()
            time.sleep(warmup + seconds)
            figures = framework.call("figures")
        finally:
            cluster.shutdown()
    reference_after = reference_rate(min(seconds, 5.0), parent)
    reference = max(reference_before, reference_after)
    window = (started + warmup, started + warmup + seconds)
    done = [t for t in figures["finished"] if window[0] <= t <= window[1]]
    waits = latencies(figures, *window)
    rate = len(done) / seconds
    return {
        "work_dir": "tmpfs" if parent == "/dev/shm" else "disk",
        "agents": agents,
        "seconds": seconds,
        "tasks_finished": len(done),
        "tasks_failed": figures["failed"],
        "tasks_per_second": rate,
        "freed_to_offer_median_ms": 1000 * statistics.median(waits) if waits else None,
        "freed_to_offer_p90_ms": (
            1000 * statistics.quantiles(waits, n=10)[-1] if len(waits) >= 10 else None
        ),
        "reference_spawns_per_second": reference,
        "reference_before_spawns_per_second": reference_before,
        "reference_after_spawns_per_second": reference_after,
        "ratio_to_reference": rate / reference,
        "per_second": per_second(figures["finished"], started, warmup + seconds),
        "cpus": os.cpu_count(),
    }


def per_second(finished: list[float], started: float, span: float) -> list[int]:
    counts = [0] * int(span + 1)
    for t in finished:
        second = int(t - started)
        if 0 <= second < len(counts):
            counts[second] += 1
    return counts


def plot(figures: dict[str, Any], path: Path) -> None:
    results = figures["runs"]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for result in results:
        (line,) = ax.plot(result["per_second"], label=f"work dir on {result['work_dir']}")
        ax.axhline(
            result["reference_spawns_per_second"],
            ls="--",
            c=line.get_color(),
            label=f"bare spawn loop ({result['work_dir']})",
        )
    ax.set_xlabel("seconds since the framework subscribed")
    ax.set_ylabel("tasks finished per second")
    ax.set_title(f"pyactors end to end, {results[0]['agents']} local agents, trivial tasks")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)


def table(results: list[dict[str, Any]]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    rows = [("work dir", [r["work_dir"] for r in results])]
    rows += [
        (name, [fmt(r) for r in results])
        for name, fmt in (
            ("agents", lambda r: str(r["agents"])),
            ("tasks finished in window", lambda r: str(r["tasks_finished"])),
            ("tasks/s (end to end)", lambda r: f"{r['tasks_per_second']:.0f}"),
            (
                "bare spawn loop before/after, /s",
                lambda r: (
                    f"{r['reference_before_spawns_per_second']:.0f}"
                    f"/{r['reference_after_spawns_per_second']:.0f}"
                ),
            ),
            ("bare spawn loop (higher), /s", lambda r: f"{r['reference_spawns_per_second']:.0f}"),
            ("ratio to bare spawn loop", lambda r: f"{r['ratio_to_reference']:.2f}"),
            ("freed -> offer, median ms", lambda r: ms(r["freed_to_offer_median_ms"])),
            ("freed -> offer, p90 ms", lambda r: ms(r["freed_to_offer_p90_ms"])),
            ("tasks failed", lambda r: str(r["tasks_failed"])),
        )
    ]
    return outputs.transposed(rows, 10)


def goals(results: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Issue 18's runtime goal (on disk) with its verdict; tmpfs as information."""
    rows = []
    for result in results:
        ratio = result["ratio_to_reference"]
        on_disk = result["work_dir"] == "disk"
        references = (
            result["reference_before_spawns_per_second"],
            result["reference_after_spawns_per_second"],
        )
        verdict = "met" if ratio >= GOAL_RATIO else "missed"
        if max(references) > STEADY * min(references):
            verdict += " (reference unsteady)"
        rows.append(
            {
                "goal": f"runtime rate on {result['work_dir']} / bare spawn loop",
                "target": f">= {GOAL_RATIO}" if on_disk else "information",
                "measured": f"{ratio:.2f}",
                "verdict": verdict if on_disk else "-",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--json", type=Path, default=OUT / "runtime.json")
    parser.add_argument("--plot", type=Path, default=OUT / "runtime.png")
    args = parser.parse_args()
    ray_calls.ensure_started(address="local")
    parents = [None] + (["/dev/shm"] if os.path.isdir("/dev/shm") else [])
    results = [run(args.seconds, args.warmup, args.agents, parent) for parent in parents]
    rows = goals(results)
    print(table(results))
    print()
    print(outputs.goals_table(rows))
    outputs.write({"runs": results, "goals": rows}, args.json, args.plot, plot)


if __name__ == "__main__":
    main()
