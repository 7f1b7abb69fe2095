"""The main job: a local cluster running two frameworks side by side.

`pi` packs as many short tasks as its offers hold; `gang` (the built-in
`pyactors.frameworks.Gang`) launches groups of four or nothing. Both run
real processes on the agents and share them by DRF; the demo shows what it
waits for while it runs, then prints what ran, the dominant shares over time
and where each framework's output lives, and draws the shares and the tasks
finished per second in a PNG (with matplotlib: pip install 'pyactors[bench]').

    python -m pyactors.demo [--agents 4] [--pi-tasks 300] [--gangs 20] [--plot PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil
import ray
from ray.exceptions import RayError
from rich.console import Console
from rich.text import Text

import pyactors
from pyactors import Launch, Resources, TaskInfo, TaskStatus
from pyactors.core.offer import OfferInfo
from pyactors.errors import PyactorsError
from pyactors.frameworks import Gang, GangJob
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Framework
from pyactors.scheduler.api import Driver, Scheduler

PI_TERMS = 20000
# The arithmetic is real work but brief (tens of ms); the sleep stands for the
# rest of a task's run. Tasks spinning a core each for their whole run would
# use many times the cpus they were given and drown the machine: the figures
# would show CPU contention rather than DRF.
PI_COMMAND = (
    f"i=0; s=0; while [ $i -lt {PI_TERMS} ]; do s=$((s+i)); i=$((i+1)); done; sleep 1; echo $s"
)
GANG_COMMAND = 'sleep 2; echo "gang member $MESOS_TASK_ID done"'
GANG_SIZE = 4
# Roles of the two frameworks, in the order the reports list them.
ROLES = {"pi": "science", "gang": "ml"}
# No task ending for this long means the cluster is stuck, not slow.
STALL_SECONDS = 300.0


@dataclass(frozen=True)
class Shapes:
    """What each agent offers and what each task of either framework asks."""

    agent: str
    pi: str
    gang_member: str


def shapes(agents: int, cpus: float, mem_mb: float) -> Shapes:
    """The agents share `cpus` and `mem_mb` evenly. A pi task takes a quarter
    of an agent's cpus and a sixteenth of its memory, a gang member the
    converse: with dominant resources that differ, DRF lets each framework
    hold about three quarters of its own (more than an even split gives),
    and four members fit in one agent or spread over several."""
    if agents < 1:
        raise pyactors.InvalidArgumentError(f"the demo needs at least one agent, got {agents}")

    def cpus_of(total: float, share: float) -> str:
        # Scalars are fixed point with 3 decimals: rounding down keeps n
        # parts of 1/n within the whole.
        return f"{max(0.001, math.floor(total * share * 1000) / 1000):.3f}"

    def mem_of(total: float, share: float) -> str:
        return str(max(1, math.floor(total * share)))

    cpu, mem = float(cpus_of(cpus, 1 / agents)), float(mem_of(mem_mb, 1 / agents))
    return Shapes(
        agent=f"cpus:{cpu:.3f};mem:{mem:.0f}",
        pi=f"cpus:{cpus_of(cpu, 1 / 4)};mem:{mem_of(mem, 1 / 16)}",
        gang_member=f"cpus:{cpus_of(cpu, 1 / 16)};mem:{mem_of(mem, 1 / 4)}",
    )


def machine_shapes(agents: int) -> Shapes:
    """Shapes for this machine: all its cpus and half its memory, so that the
    agents offer what is really there."""
    return shapes(agents, os.cpu_count() or 1, psutil.virtual_memory().total / 2**20 / 2)


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

    def ended(self) -> int:
        return sum(n for state, n in self.counts().items() if state != "TASK_RUNNING")

    def finished(self) -> int:
        return self.counts().get("TASK_FINISHED", 0)


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


@dataclass(frozen=True)
class Sample:
    """One look at the cluster, `t` seconds after the first framework started."""

    t: float
    shares: dict[str, float]  # framework -> its role's dominant share
    finished: dict[str, int]  # framework -> tasks finished so far


@dataclass
class DemoResult:
    """What the demo measured; `run` fills it as it goes, so that a caller
    passing its own keeps what was measured when the demo fails."""

    work_dir: str = ""
    shapes: Shapes | None = None
    seconds: float = 0.0  # from starting the cluster to the end of the work
    complete: bool = False  # every pi task and every gang finished
    tallies: dict[str, Tally] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    sandboxes: dict[str, str | None] = field(default_factory=dict)
    start_seconds: dict[str, float] = field(default_factory=dict)


class StalledError(PyactorsError):
    """No task ended for the demo's whole `timeout`: the cluster is stuck."""


class StatusLine:
    """What the demo is waiting for and for how long. rich renders it again
    at each refresh, so the seconds go on ticking while a call blocks; on a
    console that is not a terminal each phase is printed once instead."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.phase = ""
        self.detail = ""
        self.since = time.monotonic()

    def enter(self, phase: str) -> None:
        self.phase, self.detail, self.since = phase, "", time.monotonic()
        if not self.console.is_terminal:
            self.console.print(Text(f"{phase} ..."))

    def __rich__(self) -> Text:
        text = Text(f"{self.phase} ({time.monotonic() - self.since:.0f}s)")
        if self.detail:
            text.append(f"  {self.detail}", style="dim")
        return text


@contextlib.contextmanager
def status_line(console: Console) -> Iterator[StatusLine]:
    line = StatusLine(console)
    if console.is_terminal:
        with console.status(line):
            yield line
    else:
        yield line


def run(
    agents: int = 4,
    pi_tasks: int = 300,
    gangs: int = 20,
    timeout: float = STALL_SECONDS,
    status: StatusLine | None = None,
    record: DemoResult | None = None,
    **cluster_options: Any,
) -> DemoResult:
    """Run the demo to its end. It waits as long as tasks keep ending: only
    `timeout` seconds without any raises StalledError. `status` shows the
    phases; `record` is filled as the demo goes (see DemoResult)."""
    result = record if record is not None else DemoResult()
    phase: Callable[[str], None] = status.enter if status is not None else _quiet
    # The work dir outlives the demo so that the task outputs it points to
    # can be read afterwards.
    work_dir = cluster_options.pop("work_dir", None) or tempfile.mkdtemp(prefix="pyactors-demo-")
    result.work_dir = work_dir
    result.shapes = machine_shapes(agents)
    began = time.monotonic()
    if not ray.is_initialized():
        phase("starting Ray")
        # Its own Ray instance: one found running here (another user's, or
        # one that is shutting down) is no place for a demo.
        ray_calls.ensure_started(address="local")
    cluster = pyactors.start(
        agents=agents,
        agent_resources=result.shapes.agent,
        allocation_interval=0.1,
        work_dir=work_dir,
        progress=phase,
        **cluster_options,
    )
    try:
        started = time.monotonic()
        pi = cluster.run_framework(
            PackingScheduler, pi_tasks, result.shapes.pi, name="pi", roles=[ROLES["pi"]]
        )
        jobs = [
            GangJob(f"gang-{n}", GANG_SIZE, GANG_COMMAND, result.shapes.gang_member)
            for n in range(gangs)
        ]
        gang = cluster.run_framework(Gang, jobs, name="gang", roles=[ROLES["gang"]])
        phase("running")
        frameworks = {"pi": pi, "gang": gang}
        _watch(cluster, frameworks, started, pi_tasks, gangs, timeout, status, result)
        result.sandboxes = {
            name: cluster.sandbox(t.first_task) if t.first_task else None
            for name, t in result.tallies.items()
        }
        result.seconds = time.monotonic() - began
    finally:
        result.start_seconds = dict(cluster.start_seconds)
        phase("shutting the cluster down")
        cluster.shutdown()
    return result


def _quiet(phase: str) -> None:
    """The phases of a demo that shows none."""


def _watch(
    cluster: pyactors.Cluster,
    frameworks: dict[str, Framework],
    started: float,
    pi_tasks: int,
    gangs: int,
    timeout: float,
    status: StatusLine | None,
    result: DemoResult,
) -> None:
    """Sample the shares and tallies until all work ended, or nothing has
    ended for `timeout` seconds."""
    last_change, ended = time.monotonic(), -1
    while True:
        reported = frameworks["gang"].call("gangs")
        result.tallies = {"pi": frameworks["pi"].call("report"), "gang": gang_tally(reported)}
        roles = cluster.state()["allocator"]["roles"]
        now = time.monotonic()
        result.samples.append(
            Sample(
                now - started,
                {name: roles.get(role, {}).get("share", 0.0) for name, role in ROLES.items()},
                {name: t.finished() for name, t in result.tallies.items()},
            )
        )
        gangs_ended = all(g["state"] in ("FINISHED", "FAILED") for g in reported)
        result.complete = result.tallies["pi"].finished() >= pi_tasks and all(
            g["state"] == "FINISHED" for g in reported
        )
        if status is not None:
            status.detail = _progress(result, pi_tasks, gangs)
        if result.tallies["pi"].ended() >= pi_tasks and gangs_ended:
            return
        if (now_ended := sum(t.ended() for t in result.tallies.values())) != ended:
            ended, last_change = now_ended, now
        elif now - last_change > timeout:
            raise StalledError(
                f"no task ended in {timeout:.0f}s: {_progress(result, pi_tasks, gangs)}"
            )
        time.sleep(0.5)


def _progress(result: DemoResult, pi_tasks: int, gangs: int) -> str:
    pi, gang = result.tallies["pi"], result.tallies["gang"]
    shares = result.samples[-1].shares
    return (
        f"finished: pi {pi.finished()}/{pi_tasks}, gang {gang.finished()}/{gangs * GANG_SIZE}"
        f" · shares {shares['pi']:.2f} / {shares['gang']:.2f}"
    )


def _summary(result: DemoResult) -> str:
    lines = [f"\nDone in {result.seconds:.1f}s.", "", "framework  launched  states"]
    for name, tally in result.tallies.items():
        states = ", ".join(f"{s}={n}" for s, n in sorted(tally.counts().items()))
        lines.append(f"{name:<10} {tally.launched:>8}  {states}")
    if result.shapes is not None:
        lines += [
            "",
            f"each agent offers {result.shapes.agent}; a pi task asks {result.shapes.pi},"
            f" a gang member {result.shapes.gang_member}",
        ]
    lines += ["", "dominant shares over time (t: pi / gang)"]
    step = max(1, len(result.samples) // 8)
    for sample in result.samples[::step]:
        lines.append(f"  {sample.t:5.1f}s: {sample.shares['pi']:.2f} / {sample.shares['gang']:.2f}")
    busy = [s.shares for s in result.samples if s.shares["pi"] and s.shares["gang"]]
    if busy:
        mean = {n: sum(m[n] for m in busy) / len(busy) for n in ROLES}
        lines.append(
            f"mean while both ran: pi {mean['pi']:.2f} / gang {mean['gang']:.2f}"
            " (equal weights: DRF aims for equal dominant shares)"
        )
    lines += ["", "output of a task of each framework:"]
    for name, path in result.sandboxes.items():
        lines.append(f"  {name}: {path}")
    return "\n".join(lines)


def finish_rates(samples: list[Sample], name: str, window: float = 2.0) -> list[float]:
    """Tasks of `name` finished per second at each sample, over the `window`
    seconds before it (sampling is too coarse for a rate per sample)."""
    rates, first = [], 0
    for sample in samples:
        while samples[first].t < sample.t - window:
            first += 1
        span = sample.t - samples[first].t
        done = sample.finished[name] - samples[first].finished[name]
        rates.append(done / span if span > 0 else 0.0)
    return rates


def plot(result: DemoResult, path: Path) -> bool:
    """Draw the shares and finish rates into `path`; False without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [s.t for s in result.samples]
    fig, (shares, rates) = plt.subplots(2, 1, sharex=True, figsize=(8, 5.5))
    for name, role in ROLES.items():
        label = f"{name} (role {role})"
        shares.step(times, [s.shares[name] for s in result.samples], where="post", label=label)
        rates.plot(times, finish_rates(result.samples, name), label=label)
    shares.set_ylim(0, 1.05)
    shares.set_ylabel("dominant share")
    shares.set_title("DRF at work: each framework's dominant share of the cluster")
    shares.legend(loc="lower right", fontsize="small")
    shares.grid(alpha=0.3)
    rates.set_ylabel("tasks finished per second")
    rates.set_xlabel("seconds since the first framework started")
    rates.legend(loc="best", fontsize="small")
    rates.grid(alpha=0.3)
    if result.shapes is not None:
        fig.suptitle(
            f"pyactors demo: agents of {result.shapes.agent}; pi tasks {result.shapes.pi},"
            f" gang members {result.shapes.gang_member}",
            fontsize="small",
        )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _one_line(error: BaseException) -> str:
    """The error's message on one line: a Ray error's text carries the
    remote traceback, which says nothing to a user of the demo."""
    text = str(error).split("Traceback (most recent call last)")[0]
    return " ".join(text.split()) or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--pi-tasks", type=int, default=300)
    parser.add_argument("--gangs", type=int, default=20)
    parser.add_argument(
        "--timeout",
        type=float,
        default=STALL_SECONDS,
        help="give up when no task has ended for this many seconds (a slow run is not a failure)",
    )
    parser.add_argument(
        "--work-dir", help="where the agents keep the sandboxes (default: a new temporary one)"
    )
    parser.add_argument("--plot", type=Path, help="where to draw the PNG (default: the work dir)")
    parser.add_argument("--report-json", type=Path, help="write what was measured there, as JSON")
    args = parser.parse_args(argv)
    result = DemoResult()
    began = time.monotonic()
    error, code, plot_path = None, 0, None
    try:
        with status_line(Console(stderr=True)) as status:
            run(
                args.agents,
                args.pi_tasks,
                args.gangs,
                args.timeout,
                status,
                result,
                work_dir=args.work_dir,
            )
        print(_summary(result))
        plot_path = _draw(result, args.plot or Path(result.work_dir) / "demo.png")
        if not result.complete:
            error, code = "not every task finished (see the states above)", 1
    except KeyboardInterrupt:
        error, code = "interrupted", 130
    except (PyactorsError, RayError, OSError) as failure:
        error, code = _one_line(failure), 1
    if error is not None:
        print(f"pyactors: {error}", file=sys.stderr)
    if args.report_json is not None:
        try:
            _write_report(args.report_json, result, error, time.monotonic() - began, plot_path)
        except OSError as failure:
            print(f"pyactors: no report written: {_one_line(failure)}", file=sys.stderr)
            code = code or 1
    return code


def _draw(result: DemoResult, path: Path) -> Path | None:
    """The plot's path, or None (and a note) without matplotlib."""
    try:
        drawn = plot(result, path)
    except OSError as failure:
        raise OSError(f"cannot draw the plot at {path}: {_one_line(failure)}") from failure
    if drawn:
        print(f"\nplot: {path}")
        return path
    print("\n(no plot: matplotlib is not installed; pip install 'pyactors[bench]')")
    return None


def _write_report(
    path: Path, result: DemoResult, error: str | None, seconds: float, plot_path: Path | None
) -> None:
    report = {
        "ok": error is None,
        "error": error,
        "seconds": result.seconds or seconds,
        "start_seconds": result.start_seconds,
        "tallies": {
            name: {"launched": t.launched, "states": dict(t.counts())}
            for name, t in result.tallies.items()
        },
        "plot": None if plot_path is None else str(plot_path),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    raise SystemExit(main())
