#!/usr/bin/env python3
"""Throughput of a pymesos framework against a Python `Scheduler`, in one run.

One local cluster (2 agents of cpus:4;mem:4096) runs the same workload
twice, one framework after the other: launch `--tasks` trivial command tasks
(`true`, cpus 0.1, mem 16) on every offer, as many as fit, until all have
reached TASK_FINISHED. First a Python `Scheduler` (a framework actor, calls
over Ray), then pymesos 0.3.15's MesosSchedulerDriver in this process
(Mesos's v1 scheduler HTTP API: JSON over HTTP, each call its own request,
each update acknowledged by its own call). Figures: tasks finished per
second from the first offer to the last TASK_FINISHED, and the ratio
pymesos / Python.

Run it from the repository root (pymesos installed: `bash .ci/install-pymesos`):

    python bench/mesos_frameworks.py [--tasks 400] [--json PATH] [--plot PATH]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import outputs

import pyactors
from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.tasks import TaskState, TaskStatus
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster
from pyactors.scheduler.api import Driver, Scheduler

OUT = Path(__file__).parent / "out"
CPUS, MEM = 0.1, 16.0


def fitting(cpus: float, mem: float) -> int:
    return int(min(cpus / CPUS + 1e-9, mem / MEM + 1e-9))


class PythonFlood(Scheduler):
    """Launches `true` tasks on what is offered until `total` are launched."""

    def __init__(self, total: int) -> None:
        self.total, self.launched, self.finished = total, 0, 0
        self.first_offer: float | None = None
        self.finishes: list[float] = []

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        self.first_offer = self.first_offer or time.time()
        for offer in offers:
            count = min(
                fitting(offer.resources.scalar("cpus"), offer.resources.scalar("mem")),
                self.total - self.launched,
            )
            tasks = [
                TaskInfo(
                    f"py-{self.launched + i}",
                    "t",
                    Resources.parse(f"cpus:{CPUS};mem:{MEM}"),
                    "true",
                )
                for i in range(count)
            ]
            self.launched += count
            if tasks:
                driver.accept([offer.id], [Launch(tasks)], refuse_seconds=0.0)
            else:
                driver.decline([offer.id], refuse_seconds=3600)

    def update(self, driver: Driver, status: TaskStatus) -> None:
        if status.state is TaskState.TASK_FINISHED:
            self.finished += 1
            self.finishes.append(time.time())

    def figures(self) -> dict[str, Any]:
        return {"finished": self.finished, "first": self.first_offer, "finishes": self.finishes}


def python_run(cluster: Cluster, total: int) -> dict[str, Any]:
    framework = cluster.run_framework(PythonFlood, total, name="python-flood")
    while (figures := framework.call("figures"))["finished"] < total:
        time.sleep(0.2)
    cluster.teardown(framework)
    return rate("python Scheduler", figures["first"], figures["finishes"])


def pymesos_run(address: str, total: int) -> dict[str, Any]:
    from addict import Dict
    from pymesos import MesosSchedulerDriver
    from pymesos import Scheduler as PymesosScheduler

    done = threading.Event()
    figures: dict[str, Any] = {"launched": 0, "first": None, "finishes": []}

    class Flood(PymesosScheduler):
        def resourceOffers(self, driver: Any, offers: list[Any]) -> None:
            figures["first"] = figures["first"] or time.time()
            for offer in offers:
                scalars = {r.name: r.scalar.value for r in offer.resources if "scalar" in r}
                count = min(
                    fitting(scalars.get("cpus", 0.0), scalars.get("mem", 0.0)),
                    total - figures["launched"],
                )
                tasks = []
                for _ in range(count):
                    task = Dict()
                    task.task_id.value = f"mesos-{figures['launched']}"
                    task.agent_id.value = offer.agent_id.value
                    task.name = "t"
                    task.command.value = "true"
                    task.resources = [
                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": CPUS}},
                        {"name": "mem", "type": "SCALAR", "scalar": {"value": MEM}},
                    ]
                    tasks.append(task)
                    figures["launched"] += 1
                filters = {"refuse_seconds": 0.0 if tasks else 3600}
                driver.launchTasks(offer.id, tasks, filters)

        def statusUpdate(self, driver: Any, update: Any) -> None:
            if update.state == "TASK_FINISHED":
                figures["finishes"].append(time.time())
                if len(figures["finishes"]) >= total:
                    done.set()

    framework = Dict(user="", name="pymesos-flood")
    driver = MesosSchedulerDriver(Flood(), framework, address, use_addict=True)
    driver.start()
    try:
        done.wait()
    finally:
        driver.stop()
        driver.join()
    return rate("pymesos (v1 HTTP API)", figures["first"], figures["finishes"])


def rate(name: str, first: float, finishes: list[float]) -> dict[str, Any]:
    """Tasks finished per second from the first offer to the last finish,
    and each finish's time since the first offer (for the plot)."""
    since_first = sorted(t - first for t in finishes)
    return {
        "framework": name,
        "tasks": len(finishes),
        "seconds": since_first[-1],
        "tasks_per_second": len(finishes) / since_first[-1],
        "finished_at_s": since_first,
    }


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (result,) = results
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for run in result["runs"]:
        times = run["finished_at_s"]
        ax.step(times, range(1, len(times) + 1), where="post", label=run["framework"])
    ax.set_xlabel("seconds since the framework's first offer")
    ax.set_ylabel("tasks finished")
    ax.set_title(
        f"Trivial command tasks, same cluster: pymesos / Python "
        f"= {result['ratio_pymesos_to_python']:.2f}"
    )
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--json", type=Path, default=OUT / "mesos_frameworks.json")
    parser.add_argument("--plot", type=Path, default=OUT / "mesos_frameworks.png")
    args = parser.parse_args()
    # A Ray instance of its own, whatever else runs on this machine.
    ray_calls.ensure_started(address="local")
    with tempfile.TemporaryDirectory(prefix="pyactors-bench-") as work_dir:
        cluster = pyactors.start(
            agents=2, agent_resources="cpus:4;mem:4096", allocation_interval=0.2, work_dir=work_dir
        )
        try:
            python = python_run(cluster, args.tasks)
            mesos = pymesos_run(cluster.url.removeprefix("http://"), args.tasks)
        finally:
            cluster.shutdown()
    result = {
        "runs": [python, mesos],
        "ratio_pymesos_to_python": mesos["tasks_per_second"] / python["tasks_per_second"],
    }
    outputs.write([result], args.json, args.plot, plot)
    print(f"{'framework':<24}{'tasks':>8}{'seconds':>10}{'tasks/s':>10}")
    for run in result["runs"]:
        print(
            f"{run['framework']:<24}{run['tasks']:>8}{run['seconds']:>10.2f}"
            f"{run['tasks_per_second']:>10.1f}"
        )
    print(f"ratio pymesos / python: {result['ratio_pymesos_to_python']:.2f}")


if __name__ == "__main__":
    main()
