#!/usr/bin/env python3
"""Schedule drift of the built-in jobs framework.

A local cluster of 2 agents runs, through `Cluster.jobs()`, four jobs on
short ISO 8601 repeating schedules (every 2, 2, 3 and 5 s, `echo`) and one
dependent job after the 3 s one, for `--seconds`. Figures, per allocation
interval of the master:

  drift            for each scheduled run, the time from its scheduled
                   instant to the framework receiving its TASK_RUNNING
                   (p50, p90, max): the framework's timer, revive, the
                   allocation cycle, offer, launch of a process, update
  child delay      for each dependent run, from its parent's success (as the
                   framework recorded it) to its own TASK_RUNNING
  skipped          runs skipped (missed by more than epsilon, or FORBID)

Run it from the repository root:

    python bench/jobs.py [--seconds 30] [--intervals 1.0 0.2] [--json PATH] [--plot PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import outputs

import pyactors
from pyactors.runtime import ray_calls

OUT = Path(__file__).parent / "out"
PERIODS = {"every2a": 2, "every2b": 2, "every3": 3, "every5": 5}


def run(seconds: float, allocation_interval: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pyactors-bench-jobs-") as work_dir:
        cluster = pyactors.start(
            agents=2,
            agent_resources="cpus:2;mem:1024",
            work_dir=work_dir,
            allocation_interval=allocation_interval,
        )
        try:
            jobs = cluster.jobs()
            start = datetime.fromtimestamp(int(time.time() + 3), UTC).isoformat()
            for name, period in PERIODS.items():
                schedule = f"R/{start}/PT{period}S"
                command = "echo $PYACTORS_JOB_RUN_ID"
                jobs.add({"name": name, "command": command, "schedule": schedule, "mem": 16})
            jobs.add({"name": "child", "command": "echo child", "parents": ["every3"], "mem": 16})
            time.sleep(seconds + 3)
            histories = {name: jobs.history(name) for name in [*PERIODS, "child"]}
        finally:
            cluster.shutdown()
    drifts = [
        run["started"] - run["scheduled"]
        for name in PERIODS
        for run in histories[name]
        if run["started"] is not None
    ]
    parent_done = sorted(r["finished"] for r in histories["every3"] if r["state"] == "SUCCESS")
    child_delays = [
        run["started"] - max(f for f in parent_done if f <= run["scheduled"])
        for run in histories["child"]
        if run["started"] is not None and any(f <= run["scheduled"] for f in parent_done)
    ]
    skipped = sum(r["state"] == "SKIPPED" for h in histories.values() for r in h)
    return {
        "allocation_interval": allocation_interval,
        "seconds": seconds,
        "scheduled_runs_started": len(drifts),
        "skipped": skipped,
        "failed": sum(r["state"] == "FAILED" for h in histories.values() for r in h),
        "drift_p50_ms": 1000 * statistics.median(drifts),
        "drift_p90_ms": 1000 * statistics.quantiles(drifts, n=10)[-1],
        "drift_max_ms": 1000 * max(drifts),
        "child_delay_p50_ms": 1000 * statistics.median(child_delays) if child_delays else None,
        "drifts_ms": [1000 * d for d in drifts],
        "cpus": os.cpu_count(),
    }


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for result in results:
        drifts = sorted(result["drifts_ms"])
        fractions = [(i + 1) / len(drifts) for i in range(len(drifts))]
        label = f"allocation interval {result['allocation_interval']} s"
        ax.step(drifts, fractions, where="post", label=label)
    ax.set_xlabel("drift: TASK_RUNNING received - scheduled time (ms)")
    ax.set_ylabel("fraction of runs")
    ax.set_title("jobs framework schedule drift, 2 local agents")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)


def table(results: list[dict[str, Any]]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    rows = [("allocation interval (s)", [str(r["allocation_interval"]) for r in results])]
    rows += [
        (name, [fmt(r) for r in results])
        for name, fmt in (
            ("scheduled runs started", lambda r: str(r["scheduled_runs_started"])),
            ("drift p50 ms", lambda r: ms(r["drift_p50_ms"])),
            ("drift p90 ms", lambda r: ms(r["drift_p90_ms"])),
            ("drift max ms", lambda r: ms(r["drift_max_ms"])),
            ("child after parent p50 ms", lambda r: ms(r["child_delay_p50_ms"])),
            ("runs skipped", lambda r: str(r["skipped"])),
            ("runs failed", lambda r: str(r["failed"])),
        )
    ]
    return outputs.transposed(rows, 8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--intervals", type=float, nargs="+", default=[1.0, 0.2])
    parser.add_argument("--json", type=Path, default=OUT / "jobs.json")
    parser.add_argument("--plot", type=Path, default=OUT / "jobs.png")
    args = parser.parse_args()
    ray_calls.ensure_started(address="local")
    results = [run(args.seconds, interval) for interval in args.intervals]
    print(table(results))
    outputs.write(results, args.json, args.plot, plot)


if __name__ == "__main__":
    main()
