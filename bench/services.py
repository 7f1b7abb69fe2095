#!/usr/bin/env python3
"""Self-healing of the service framework, seen from a client of its load balancer.

A local cluster of 3 agents runs the built-in service framework with an HTTP
app of 3 instances (`python3 -m http.server`, an HTTP health check every
`--interval` s) behind HAProxy. Each round kills one instance's process
group with SIGKILL from outside, while a client thread asks the load
balancer every 20 ms which task answers. Figures, per round and summed up:

  kill -> new task     the replacement appears in `svc.app()` (the agent saw
                       the process die, the framework got TASK_FAILED and
                       launched on the next offer)
  kill -> healthy      the replacement passed its first health check
  kill -> LB serves it the client gets its first answer from the replacement
                       (the framework reloaded HAProxy with it)
  failed requests      client requests that got no answer in the round
                       (HAProxy still sent some to the dead backend)

Run it from the repository root:

    python bench/services.py [--rounds 5] [--interval 0.5] [--json PATH] [--plot PATH]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import outputs
import psutil

import pyactors
from pyactors.frameworks.services.client import Services
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster

OUT = Path(__file__).parent / "out"
APP = "/bench-web"


def app(interval: float) -> dict[str, Any]:
    return {
        "id": APP,
        "cmd": 'echo "$MESOS_TASK_ID" > id && echo ok > healthy '
        '&& exec python3 -m http.server "$PORT0"',
        "instances": 3,
        "cpus": 0.1,
        "mem": 64,
        "backoffSeconds": 0.1,
        "healthChecks": [
            {
                "protocol": "HTTP",
                "path": "/healthy",
                "gracePeriodSeconds": 30,
                "intervalSeconds": interval,
                "timeoutSeconds": 2,
                "maxConsecutiveFailures": 3,
                "delaySeconds": 0,
            }
        ],
    }


class Client(threading.Thread):
    """Asks the load balancer which task answers, every 20 ms."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url + "/id"
        self.answers: list[tuple[float, str | None]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=1) as response:
                    answer: str | None = response.read().decode().strip()
            except (urllib.error.URLError, OSError):
                answer = None
            self.answers.append((time.monotonic(), answer))
            time.sleep(0.02)


def kill_instance(cluster: Cluster, task_id: str) -> None:
    sandbox = cluster.sandbox(task_id)
    for process in psutil.process_iter(["cwd"]):
        if process.info["cwd"] == sandbox:
            os.killpg(process.pid, signal.SIGKILL)
            return
    raise RuntimeError(f"no process of {task_id} in {sandbox}")


def round_once(
    cluster: Cluster, svc: Services, client: Client, timeout: float = 120
) -> dict[str, Any]:
    before = {t["id"] for t in svc.wait(APP, timeout=timeout)["tasks"]}
    victim = sorted(before)[0]
    mark = len(client.answers)
    killed_at = time.monotonic()
    kill_instance(cluster, victim)
    new_task = healthy = served = None
    deadline = killed_at + timeout
    while served is None or healthy is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no replacement of {victim} served within {timeout} s")
        now = time.monotonic()
        tasks = [t for t in svc.app(APP)["tasks"] if t["id"] not in before]
        if tasks and new_task is None:
            new_task = now
        if tasks and tasks[0]["healthy"] and healthy is None:
            healthy = now
        fresh = [t for t, a in client.answers[mark:] if a is not None and a not in before]
        if fresh and served is None:
            served = fresh[0]
        time.sleep(0.02)
    window = client.answers[mark:]
    return {
        "victim": victim,
        "kill_to_new_task_s": (new_task or served) - killed_at,
        "kill_to_healthy_s": healthy - killed_at,
        "kill_to_served_s": served - killed_at,
        "requests": len(window),
        "failed_requests": sum(1 for _, a in window if a is None),
    }


def run(rounds: int, interval: float) -> dict[str, Any]:
    work = tempfile.mkdtemp(prefix="pyactors-bench-services-")
    cluster = pyactors.start(
        agents=3, agent_resources="cpus:2;mem:1024", work_dir=work, allocation_interval=0.2
    )
    try:
        svc = cluster.services()
        svc.deploy(app(interval))
        svc.wait(APP, healthy=3, timeout=120)
        client = Client(svc.endpoint(APP))
        client.start()
        results = [round_once(cluster, svc, client) for _ in range(rounds)]
        client.stopping.set()
        client.join()
    finally:
        cluster.shutdown()
    summary = {
        key: statistics.median(r[key] for r in results)
        for key in ("kill_to_new_task_s", "kill_to_healthy_s", "kill_to_served_s")
    }
    return {
        "agents": 3,
        "instances": 3,
        "health_check_interval_s": interval,
        "rounds": results,
        "median": summary,
        "failed_requests": sum(r["failed_requests"] for r in results),
        "requests": sum(r["requests"] for r in results),
    }


def table(result: dict[str, Any]) -> str:
    rows = [("round", "kill->new task s", "kill->healthy s", "kill->LB serves it s", "failed/req")]
    for index, r in enumerate(result["rounds"], 1):
        rows.append(
            (
                str(index),
                f"{r['kill_to_new_task_s']:.2f}",
                f"{r['kill_to_healthy_s']:.2f}",
                f"{r['kill_to_served_s']:.2f}",
                f"{r['failed_requests']}/{r['requests']}",
            )
        )
    m = result["median"]
    rows.append(
        (
            "median",
            f"{m['kill_to_new_task_s']:.2f}",
            f"{m['kill_to_healthy_s']:.2f}",
            f"{m['kill_to_served_s']:.2f}",
            f"{result['failed_requests']}/{result['requests']}",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(f"{v:>{w}}" for v, w in zip(row, widths, strict=True)) for row in rows
    )


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (result,) = results
    rounds = result["rounds"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    xs = range(1, len(rounds) + 1)
    for key, label in (
        ("kill_to_new_task_s", "replacement launched"),
        ("kill_to_healthy_s", "replacement healthy"),
        ("kill_to_served_s", "load balancer serves it"),
    ):
        ax.plot(xs, [r[key] for r in rounds], marker="o", label=label)
    ax.set_xlabel("round (one instance killed with SIGKILL)")
    ax.set_ylabel("seconds after the kill")
    ax.set_title(
        f"Self-healing behind HAProxy: 3 instances, health check every "
        f"{result['health_check_interval_s']} s"
    )
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--json", type=Path, default=OUT / "services.json")
    parser.add_argument("--plot", type=Path, default=OUT / "services.png")
    args = parser.parse_args()
    ray_calls.ensure_started(address="local")
    result = run(args.rounds, args.interval)
    print(table(result))
    outputs.write([result], args.json, args.plot, plot)


if __name__ == "__main__":
    main()
