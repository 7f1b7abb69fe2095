"""The main job: a local cluster running two frameworks side by side.

`pi` packs as many short CPU-bound tasks as its offers hold; `gang` (the
built-in `pyactors.frameworks.Gang`) launches groups of four or nothing.
Both run real processes on the agents; the demo prints progress every
second and ends with what ran, the dominant shares over time and where
each framework's output lives.

    python -m pyactors.demo [--agents 4] [--pi-tasks 300] [--gangs 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyactors
from pyactors import Launch, Resources, TaskInfo, TaskStatus
from pyactors.cluster import Framework
from pyactors.frameworks import Gang, GangJob
from pyactors.offer_book import OfferInfo
from pyactors.scheduler import Driver, Scheduler

# A few hundred ms of shell arithmetic: real work, short enough to churn.
PI_COMMAND = "i=0; s=0; while [ $i -lt 150000 ]; do s=$((s+i)); i=$((i+1)); done; echo $s"
GANG_COMMAND = 'sleep 2; echo "gang member $MESOS_TASK_ID done"'


@dataclass
class Tally:
    """What a framework saw, for the demo's report."""

    launched: int = 0
    latest: dict[str, str] = field(default_factory=dict)  # task id -> state
    first_task: str | None = None

    def record(self, status: TaskStatus) -> None:
        self.latest[status.task_id] = status.state.value

    def counts(self) -> Counter[str]:
        return Counter(self.latest.values())


class PackingScheduler(Scheduler):
    """Launches `total` short tasks, as many per offer as fit."""

    def __init__(self, total: int, shape: str = "cpus:0.5;mem:64") -> None:
        self.total = total
        self.shape = Resources.parse(shape)
        self.tally = Tally()

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        for offer in offers:
            tasks, left = [], offer.resources
            while self.tally.launched < self.total and self.shape <= left:
                task_id = f"pi-{self.tally.launched}"
                tasks.append(TaskInfo(task_id, "pi", self.shape, command=PI_COMMAND))
                self.tally.first_task = self.tally.first_task or task_id
                self.tally.launched += 1
                left = left - self.shape
            if tasks:
                driver.accept([offer.id], [Launch(tasks)], refuse_seconds=0)
            else:
                driver.decline([offer.id], refuse_seconds=1 if self.done() else 0)

    def update(self, driver: Driver, status: TaskStatus) -> None:
        self.tally.record(status)

    def done(self) -> bool:
        return self.tally.launched >= self.total

    def report(self) -> Tally:
        return self.tally


def gang_tally(gangs: list[dict[str, Any]]) -> Tally:
    """The demo's view of `Gang`'s report: every member of every attempt."""
    tally = Tally()
    for gang in gangs:
        for attempt in gang["attempts"]:
            for member in attempt["members"]:
                tally.launched += 1
                tally.latest[member["task_id"]] = member["state"]
                tally.first_task = tally.first_task or member["task_id"]
    return tally


@dataclass
class DemoResult:
    seconds: float
    tallies: dict[str, Tally]
    shares: list[tuple[float, dict[str, float]]]
    sandboxes: dict[str, str | None]


def run(
    agents: int = 4,
    pi_tasks: int = 300,
    gangs: int = 20,
    timeout: float = 120.0,
    show: bool = True,
    **cluster_options: Any,
) -> DemoResult:
    # The work dir outlives the demo so that the task outputs it points to
    # can be read afterwards.
    work_dir = cluster_options.pop("work_dir", None) or tempfile.mkdtemp(prefix="pyactors-demo-")
    cluster = pyactors.start(
        agents=agents,
        agent_resources="cpus:4;mem:4096",
        allocation_interval=0.1,
        work_dir=work_dir,
        **cluster_options,
    )
    try:
        frameworks = {
            "pi": cluster.run_framework(PackingScheduler, pi_tasks, name="pi", roles=["science"]),
            "gang": cluster.run_framework(
                Gang,
                [GangJob(f"gang-{n}", 4, GANG_COMMAND, "cpus:0.5;mem:64") for n in range(gangs)],
                name="gang",
                roles=["ml"],
            ),
        }
        wanted = {"pi": pi_tasks, "gang": gangs * 4}
        started = time.monotonic()
        shares: list[tuple[float, dict[str, float]]] = []
        while time.monotonic() - started < timeout:
            time.sleep(0.5)
            tallies = _tallies(frameworks)
            roles = cluster.state()["allocator"]["roles"]
            moment = {
                name: roles.get(role, {}).get("share", 0.0)
                for name, role in (("pi", "science"), ("gang", "ml"))
            }
            shares.append((time.monotonic() - started, moment))
            if show:
                print(_progress_line(time.monotonic() - started, tallies, moment), flush=True)
            if all(_ended(tallies[n]) >= wanted[n] for n in frameworks):
                break
        tallies = _tallies(frameworks)
        sandboxes = {
            name: cluster.sandbox(t.first_task) if t.first_task else None
            for name, t in tallies.items()
        }
        result = DemoResult(time.monotonic() - started, tallies, shares, sandboxes)
    finally:
        cluster.shutdown()
    if show:
        print(_summary(result))
    return result


def _tallies(frameworks: dict[str, Framework]) -> dict[str, Tally]:
    return {
        "pi": frameworks["pi"].call("report"),
        "gang": gang_tally(frameworks["gang"].call("gangs")),
    }


def _ended(tally: Tally) -> int:
    return sum(n for state, n in tally.counts().items() if state != "TASK_RUNNING")


def _progress_line(elapsed: float, tallies: dict[str, Tally], shares: dict[str, float]) -> str:
    parts = [
        f"{name}: {t.launched} launched, {t.counts().get('TASK_FINISHED', 0)} finished, "
        f"share {shares[name]:.2f}"
        for name, t in tallies.items()
    ]
    return f"[{elapsed:5.1f}s] " + " | ".join(parts)


def _summary(result: DemoResult) -> str:
    lines = [f"\nDone in {result.seconds:.1f}s.", "", "framework  launched  states"]
    for name, tally in result.tallies.items():
        states = ", ".join(f"{s}={n}" for s, n in sorted(tally.counts().items()))
        lines.append(f"{name:<10} {tally.launched:>8}  {states}")
    lines += ["", "dominant shares over time (t: pi / gang)"]
    step = max(1, len(result.shares) // 8)
    for t, moment in result.shares[::step]:
        lines.append(f"  {t:5.1f}s: {moment['pi']:.2f} / {moment['gang']:.2f}")
    busy = [m for _, m in result.shares if m["pi"] and m["gang"]]
    if busy:
        mean = {n: sum(m[n] for m in busy) / len(busy) for n in ("pi", "gang")}
        lines.append(
            f"mean while both ran: pi {mean['pi']:.2f} / gang {mean['gang']:.2f}"
            " (equal weights: DRF aims for equal shares)"
        )
    lines += ["", "output of a task of each framework:"]
    for name, path in result.sandboxes.items():
        lines.append(f"  {name}: {path}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--pi-tasks", type=int, default=300)
    parser.add_argument("--gangs", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    result = run(args.agents, args.pi_tasks, args.gangs, args.timeout)
    complete = all(
        _ended(result.tallies[n]) >= want
        for n, want in (("pi", args.pi_tasks), ("gang", args.gangs * 4))
    )
    return 0 if complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
