#!/usr/bin/env python3
"""Chaos: a mixed workload on a real cluster while faults are injected at
random from a seed, then every invariant checked.

On several Ray nodes of this machine (`ray.cluster_utils.Cluster`) it runs
a long-running pyactors cluster (`pyactors.up`) with three masters on a
ZooKeeper server of its own, and on it: short batch tasks (`ChaosBatch`),
an HTTP service with health checks behind HAProxy, a job repeating every
5 s with a dependent job, and a gang of two every 20 s. Meanwhile it
injects faults (see `pyactors.tools.chaos.schedule`), one after another:
each a seeded time after the previous one recovered, i.e. after the
invariant it threatened held again (a leader elected and serving, the agent
re-registered, the framework subscribed again, the killed task relaunched,
the new node's agent registered). Dead masters are started again, as an
operator's process supervisor would.

At the end it stops launching, waits for the system to settle, checks the
invariants over the workload's ledger (`pyactors.tools.chaos.invariants`)
and writes JSON (`--json`), a table and a plot of work done over time with
the faults marked (PNG in bench/out/). It exits 1 naming each invariant
broken, 2 if the system could not be started or the run failed. Everything
it started is stopped, on failure and on Ctrl-C too. The same seed replays
the same faults against the same targets (by their order).

    python bench/chaos.py [--minutes N] [--seed S] [--json PATH] [--plot PATH]
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from types import FrameType
from typing import Any

from chaos_faults import Faults, Injected, NoTarget
from chaos_system import System
from chaos_workload import CHILD_JOB, JOB_PERIOD, Workload
from rich.console import Console

from pyactors.tools.chaos import invariants, report, schedule
from pyactors.tools.chaos.ledger import read_job_runs, read_records, read_starts
from pyactors.tools.chaos.workload import TICK_JOB

OUT = Path(__file__).parent / "out"
# How long a fault may take to recover before it counts as not recovered.
RECOVERY_BOUND = 180.0
# How long the settling may take at most, all its steps together: what has
# not settled by then breaks an invariant.
SETTLE_BOUND = 240.0

console = Console(stderr=True)


class Run:
    def __init__(self, minutes: float, seed: int) -> None:
        self.minutes = minutes
        self.seed = seed
        self.run_dir = Path(tempfile.mkdtemp(prefix="pyactors-chaos-"))
        self.system = System(self.run_dir)
        self.workload: Workload | None = None
        self.faults: Faults | None = None
        self.injected: list[Injected] = []
        self.t0 = 0.0
        self.settled_at = 0.0
        self.live: dict[str, Any] = {}

    def say(self, text: str) -> None:
        minute = (time.time() - self.t0) / 60 if self.t0 else 0.0
        console.log(f"min {minute:5.2f} | {text}")

    def tend(self) -> None:
        """Chores between checks: masters kept at three, the workload's."""
        try:
            for name in self.system.restart_dead_masters():
                self.say(f"started {name} again")
        except Exception as error:
            self.say(f"could not start a master again yet: {error}")
        if self.workload is not None:
            self.workload.tend()

    def wait(self, check: Any, bound: float) -> float | None:
        """Seconds until `check()` holds (tending meanwhile), or None."""
        started = time.time()
        while time.time() - started < bound:
            try:
                if check():
                    return time.time() - started
            except Exception as error:
                if self.faults is not None:
                    self.faults.why = f"{type(error).__name__}: {error}"[:300]
            self.tend()
            time.sleep(0.25)
        return None

    def pause(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self.tend()
            time.sleep(min(0.5, max(0.0, until - time.monotonic())))

    def execute(self) -> None:
        self.say(f"starting ZooKeeper, Ray and pyactors in {self.run_dir}")
        cluster = self.system.start()
        self.workload = Workload(cluster, self.run_dir, self.seed)
        self.workload.start()
        self.faults = Faults(self.system, self.workload, self.tend)
        self.t0 = time.time()
        self.say("workload running; faults begin")
        deadline = self.t0 + self.minutes * 60
        count = int(self.minutes * 60 / 3.0) + len(schedule.KINDS)
        for fault in schedule.plan(self.seed, count):
            self.pause(max(0.0, min(fault.gap, deadline - time.time())))
            if time.time() >= deadline:
                break
            try:
                done, check = self.faults.inject(fault)
            except NoTarget as reason:
                self.say(f"fault {fault.index} {fault.kind}: skipped ({reason})")
                continue
            self.injected.append(done)
            self.say(f"fault {fault.index} {fault.kind}: {done.target}")
            bound = max(0.0, RECOVERY_BOUND - (time.time() - done.at))
            waited = self.wait(check, bound)
            if waited is None:
                done.unrecovered_because = self.faults.why
                self.say(f"fault {fault.index} {fault.kind}: NOT recovered: {self.faults.why}")
            else:
                recovered = done.recovered_at or time.time()
                done.recovered_after = round(recovered - done.at, 3)
                self.say(f"fault {fault.index} {fault.kind}: recovered in {done.recovered_after} s")
        self.settle()

    def settle(self) -> None:
        workload = self.workload
        assert workload is not None and self.faults is not None
        self.settled_at = time.time()
        deadline = self.settled_at + SETTLE_BOUND

        def step(name: str, check: Any) -> bool:
            """Wait for one settling condition; say how long it took (the
            whole run's settling shares one bound)."""
            waited = self.wait(check, max(1.0, deadline - time.time()))
            if waited is None:
                self.say(f"settling: {name} did not hold in time ({self.faults.why})")
            else:
                self.say(f"settling: {name} after {waited:.1f} s")
            return waited is not None

        self.say("settling: no more launches")
        workload.stop_launching()
        expected = invariants.schedule_times(
            workload.job_start, JOB_PERIOD, self.settled_at - JOB_PERIOD
        )
        self.live["expected_job_times"] = expected

        def jobs_caught_up() -> bool:
            # Every occurrence due ran, and its dependent after it.
            workload.read_history()
            runs = read_job_runs(workload.job_runs)
            ran = invariants.job_figures(runs, TICK_JOB, workload.scheduled_of, expected)
            return not ran.skipped and not invariants.dependents_skipped(
                runs, TICK_JOB, CHILD_JOB, expected
            )

        step("every job occurrence run", jobs_caught_up)
        # What the jobs framework says of each run, before its job goes:
        # a skipped time's run is explained by its state and message.
        self.live["job_history"] = workload.job_history()
        workload.remove_jobs()
        workload.read_history()

        def batch_done() -> bool:
            return not self.faults.running_batch_tasks() and _batch_settled(self.run_dir)

        step("every batch task ended", batch_done)
        step(
            "every gang ended",
            lambda: all(g["state"] in ("FINISHED", "FAILED") for g in workload.gangs()),
        )
        step("one leader serving everyone", self.faults.serving)
        self.live["services_restored"] = step(
            "the service healthy and answering",
            lambda: (
                workload.service_healthy()
                and workload.prober is not None
                and workload.prober.served_since(time.time() - 2)
            ),
        )
        try:
            self.live["gangs"] = workload.gangs()
        except Exception as error:
            self.live["gangs"] = []
            self.say(f"could not read the gangs: {error}")
        self.say("settled")

    def close(self) -> None:
        if self.workload is not None:
            self.workload.close()
        self.system.close()
        for leftover in ("work", "zookeeper"):
            shutil.rmtree(self.run_dir / leftover, ignore_errors=True)

    def figures(self) -> tuple[dict[str, Any], dict[str, list[float]]]:
        assert self.workload is not None and self.faults is not None
        workload = self.workload
        records = read_records(self.run_dir / "batch.jsonl")
        starts = read_starts(workload.starts)
        batch = invariants.batch_figures(
            records,
            self.faults.killed_tasks,
            self.faults.removed_agents,
            {s.task_id for s in starts},
            self.faults.agent_kills,
        )
        twice = invariants.run_twice(starts)
        runs = read_job_runs(workload.job_runs)
        jobs = invariants.job_figures(
            runs,
            TICK_JOB,
            workload.scheduled_of,
            self.live.get("expected_job_times", []),
            self.faults.removed_at,
        )
        gangs = self.live.get("gangs", [])
        unfinished = [g["name"] for g in gangs if g["state"] != "FINISHED"]
        missing = sorted(set(workload.gangs_submitted) - {g["name"] for g in gangs})
        recoveries: dict[str, list[float]] = defaultdict(list)
        for done in self.injected:
            if done.recovered_after is not None:
                recoveries[done.kind].append(done.recovered_after)
        prober = workload.prober.answers if workload.prober is not None else []
        skipped = set(jobs.skipped)
        runs_not_succeeded = [
            run
            for run in self.live.get("job_history", [])
            if run.get("state") != "SUCCESS" or round(float(run["scheduled"]), 3) in skipped
        ]
        figures: dict[str, Any] = {
            "seed": self.seed,
            "minutes": self.minutes,
            "run_dir": str(self.run_dir),
            "faults": dict(Counter(d.kind for d in self.injected)),
            "recovery": {kind: invariants.percentiles(v) for kind, v in recoveries.items()},
            "tasks_launched": batch.launched,
            "tasks_finished": batch.finished,
            "tasks_lost": len(batch.lost),
            "tasks_failed_unexpectedly": len(batch.failed_unexpectedly),
            "tasks_killed_by_faults": len(batch.killed_by_faults),
            "tasks_unreachable_by_faults": len(batch.unreachable_by_faults),
            "launches_failed_by_agent_kills": len(batch.launch_failed_by_faults),
            "tasks_run_twice": len(twice),
            "duplicate_updates": len(batch.duplicate_updates),
            "updates_redelivered_after_failover": batch.redelivered_after_failover,
            "launches_dropped_in_flight": len(batch.dropped_in_flight),
            "job_runs": jobs.runs,
            "jobs_skipped": len(jobs.skipped),
            "jobs_doubled": len(jobs.doubled),
            "jobs_rerun_after_node_loss": len(jobs.rerun_after_node_loss),
            "dependent_runs": sum(1 for r in runs if r.job == CHILD_JOB),
            "dependents_skipped": invariants.dependents_skipped(
                runs, TICK_JOB, CHILD_JOB, self.live.get("expected_job_times", [])
            ),
            "services_restored": bool(self.live.get("services_restored")),
            "service_requests_failed": sum(1 for _, ok in prober if not ok),
            "gangs_submitted": len(workload.gangs_submitted),
            "gangs_done": len(gangs) - len(unfinished),
            "gangs_unfinished": len(unfinished) + len(missing),
            "faults_unrecovered": sum(1 for d in self.injected if d.recovered_after is None),
            "fault_log": [
                {
                    "index": d.index,
                    "kind": d.kind,
                    "minute": round((d.at - self.t0) / 60, 2),
                    "target": d.target,
                    "recovered_after": d.recovered_after,
                    "unrecovered_because": d.unrecovered_because,
                }
                for d in self.injected
            ],
            "details": {
                "lost": batch.lost,
                "dropped_in_flight": batch.dropped_in_flight,
                "launches_failed_by_agent_kills": batch.launch_failed_by_faults,
                "failed_unexpectedly": batch.failed_unexpectedly,
                "run_twice": twice,
                "duplicate_updates": batch.duplicate_updates,
                "jobs_skipped": jobs.skipped,
                "jobs_doubled": jobs.doubled,
                "jobs_rerun_after_node_loss": jobs.rerun_after_node_loss,
                "job_runs_unplaced": jobs.unplaced,
                "gangs_unfinished": unfinished + missing,
                # Why: the jobs framework's record of each run not
                # SUCCESS (or of a skipped time), and the unfinished gangs.
                "job_runs_not_succeeded": runs_not_succeeded,
                "gangs_unfinished_records": [g for g in gangs if g["state"] != "FINISHED"],
            },
        }
        figures["broken"] = invariants.broken(figures)
        work = {
            "batch tasks finished": [
                r["t"] - self.t0
                for r in records
                if r.get("event") == "update" and r.get("state") == "TASK_FINISHED"
            ],
            "job runs": [r.at - self.t0 for r in runs],
            "task processes started": [s.at - self.t0 for s in starts],
        }
        return figures, work


def _batch_settled(run_dir: Path) -> bool:
    """Every batch task launched has a terminal (or unreachable) update."""
    ended = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST"}
    ended |= {"TASK_DROPPED", "TASK_GONE", "TASK_UNREACHABLE"}
    launched, done = set(), set()
    for record in read_records(run_dir / "batch.jsonl"):
        if record.get("event") == "launch":
            launched.add(record["task"])
        elif record.get("event") == "update" and record.get("state") in ended:
            done.add(record["task"])
    return launched <= done


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 31))
    parser.add_argument("--json", type=Path, default=OUT / "chaos.json")
    parser.add_argument("--plot", type=Path, default=OUT / "chaos.png")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupted)
    console.log(f"chaos: seed {args.seed}, {args.minutes} min")
    run = Run(args.minutes, args.seed)
    try:
        run.execute()
        figures, work = run.figures()
    except KeyboardInterrupt:
        console.log("interrupted: stopping everything")
        return 130
    except Exception:
        console.print_exception()
        console.log(f"the run failed (seed {args.seed}); its ledger is in {run.run_dir}")
        return 2
    finally:
        run.close()
    report.write_json(figures, args.json)
    marks = [((d.at - run.t0), d.kind) for d in run.injected]
    title = f"chaos: seed {args.seed}, {args.minutes} min, {len(run.injected)} faults"
    report.plot(work, marks, title, args.plot)
    out = Console()
    for table in report.tables(figures):
        out.print(table)
    for line in figures["broken"]:
        out.print(f"[red]BROKEN[/red] {line}")
    for name, items in figures["details"].items():
        for item in items[:10]:
            out.print(f"  {name}: {item}")
    console.log(f"wrote {args.json} and {args.plot}; ledger in {run.run_dir}")
    return 1 if figures["broken"] else 0


if __name__ == "__main__":
    sys.exit(main())
