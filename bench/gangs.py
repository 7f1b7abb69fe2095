#!/usr/bin/env python3
"""What two competing gangs cost: two gang frameworks that each need most
of the cluster, against one gang alone.

A local cluster of two agents (cpus:2 each) and gangs of three members of
one cpu that run `sleep` for `--work` seconds: no gang fits on one agent, and
two cannot run at once. The agents are added after the frameworks
subscribed, so the allocator offers one agent to each gang and both start
out holding half of what they need: the deadlock that the hold timeout
breaks. Figures, per hold timeout, over `--repeats` fresh clusters:

  makespan     from the second agent registered to the last gang finished
  waits        from the second agent registered to each gang's launch
  releases     how often a gang let go of held offers

The reference is one gang alone in the same run: two gangs served one after
the other ideally take twice its makespan, so the ratio two / one shows the
price of contention (above 2) on top of the queueing.

Run it from the repository root:

    python bench/gangs.py [--repeats 3] [--work 2] [--hold-timeouts 1 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import outputs

import pyactors
from pyactors.frameworks import Gang, GangJob
from pyactors.runtime import ray_calls

OUT = Path(__file__).parent / "out"


def run_once(gangs: int, work: float, hold_timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pyactors-bench-gangs-") as work_dir:
        cluster = pyactors.start(agents=0, work_dir=work_dir, allocation_interval=0.1)
        try:
            frameworks = [
                cluster.run_framework(
                    Gang,
                    [GangJob(f"g{n}", 3, f"sleep {work}", "cpus:1;mem:64", retries=0)],
                    hold_timeout,
                    name=f"gang-{n}",
                )
                for n in range(gangs)
            ]
            for n in range(2):
                cluster.add_agent(f"agent-{n}", ray_calls.current_node_id(), "cpus:2;mem:512")
            # Once both agents are in, the gangs can fit: the clock starts.
            started = time.monotonic()
            while not all(f.call("done") for f in frameworks):
                time.sleep(0.05)
            reports = [f.call("gangs")[0] for f in frameworks]
        finally:
            cluster.shutdown()
    return {
        "makespan": max(r["finished_at"] for r in reports) - started,
        "waits": sorted(r["attempts"][0]["launched_at"] - started for r in reports),
        "releases": sum(r["releases"] for r in reports),
        "states": [r["state"] for r in reports],
    }


def measure(repeats: int, work: float, hold_timeout: float) -> dict[str, Any]:
    runs = {
        label: [run_once(gangs, work, hold_timeout) for _ in range(repeats)]
        for label, gangs in (("one", 1), ("two", 2))
    }
    median = {label: statistics.median(r["makespan"] for r in rs) for label, rs in runs.items()}
    return {
        "hold_timeout": hold_timeout,
        "work": work,
        "runs": runs,
        "median_makespan_one": median["one"],
        "median_makespan_two": median["two"],
        "ratio_two_to_one": median["two"] / median["one"],
        "all_finished": all(
            state == "FINISHED" for rs in runs.values() for r in rs for state in r["states"]
        ),
    }


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i, result in enumerate(results):
        for j, label in enumerate(("one", "two")):
            x = i * 3 + j
            spans = [r["makespan"] for r in result["runs"][label]]
            ax.bar(x, statistics.median(spans), color=f"C{j}", label=None if i else f"{label}")
            ax.plot([x] * len(spans), spans, "k.")
    ax.set_xticks([i * 3 + 0.5 for i in range(len(results))])
    ax.set_xticklabels([f"hold {r['hold_timeout']:g} s" for r in results])
    ax.set_ylabel("makespan, s (bars: median)")
    ax.set_title(f"one gang alone vs two competing gangs ({results[0]['work']:g} s of work)")
    ax.legend(title="gangs", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        f"{'hold s':>6} {'one: makespan':>14} {'two: makespan':>14} {'two/one':>8} "
        f"{'two: waits (median of runs)':>28} {'releases':>9}"
    ]
    for r in results:
        two = r["runs"]["two"]
        waits = [statistics.median(run["waits"][k] for run in two) for k in (0, 1)]
        releases = "/".join(str(run["releases"]) for run in two)
        lines.append(
            f"{r['hold_timeout']:>6g} {r['median_makespan_one']:>14.2f} "
            f"{r['median_makespan_two']:>14.2f} {r['ratio_two_to_one']:>8.2f} "
            f"{waits[0]:>13.2f} / {waits[1]:>10.2f}  {releases:>9}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=float, default=2.0)
    parser.add_argument("--hold-timeouts", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--json", type=Path, default=OUT / "gangs.json")
    parser.add_argument("--plot", type=Path, default=OUT / "gangs.png")
    args = parser.parse_args()
    ray_calls.ensure_started(address="local")
    results = [measure(args.repeats, args.work, hold) for hold in args.hold_timeouts]
    print(table(results))
    outputs.write(results, args.json, args.plot, plot)


if __name__ == "__main__":
    main()
