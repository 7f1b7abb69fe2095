#!/usr/bin/env python3
"""How long the master takes to answer its HTTP state endpoints at scale.

The master state is built directly (no Ray, simulated agents): N agents of
cpus:16;mem:64 GiB with ports, 50 frameworks over 10 roles, and T running
tasks spread over them by accepting offers. Each endpoint's answer is
rendered (`pyactors.api.state_json`) and encoded with orjson, as the HTTP
handler does, while the master's event loop waits: that is the time it
blocks the master. A task's JSON is reused while its status and usage are
unchanged, so "/master/state" is a repeated request and "(cold)" one where
every task changed since the last.

Reference in the same run: one allocation cycle of the same master (after
everything it offered is declined without filters), so the table reads as
"a /master/state costs k allocation cycles" whatever the machine's load.

Run it from the repository root:

    python bench/state_api.py [--repeat 5] [--json PATH] [--plot PATH]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from outputs import write

from pyactors import Resources
from pyactors.api import state_json as sj
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import SendOffers
from pyactors.master.state import MasterConfig, MasterState

SCALES = [(100, 1_000), (1_000, 10_000), (2_000, 20_000)]
FRAMEWORKS = 50
ABOUT = sj.About(id="bench", version="0", start_time=0.0, clock_offset=0.0, now=1.0)


def build(agents: int, tasks: int) -> MasterState:
    master = MasterState(MasterConfig())
    total = Resources.parse("cpus:16;mem:65536;disk:100000;ports:[31000-32000]")
    for i in range(agents):
        master.register_agent(f"agent-{i}", f"host-{i}", total, {"rack": f"r{i % 10}"}, now=0)
    frameworks = [
        master.subscribe(f"fw-{j}", [f"role-{j % 10}"], now=0)[0] for j in range(FRAMEWORKS)
    ]
    assert frameworks
    task_resources = Resources.parse("cpus:1;mem:128")
    launched, now = 0, 1.0
    while launched < tasks:
        for effect in master.allocate(now):
            if not isinstance(effect, SendOffers):
                continue
            for offer in effect.offers:
                count = min(8, tasks - launched)
                if count <= 0:
                    master.decline(effect.framework_id, [offer.id], 0, now)
                    continue
                batch = [
                    TaskInfo(f"task-{launched + k}", "t", task_resources, command="true")
                    for k in range(count)
                ]
                launched += count
                master.accept(effect.framework_id, [offer.id], [Launch(batch)], 0, now)
        now += 1.0
    return master


def timed(work: Callable[[], Any], repeat: int) -> float:
    """Median seconds of `repeat` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(agents: int, tasks: int, repeat: int) -> dict[str, Any]:
    master = build(agents, tasks)

    def first_state() -> bytes:
        # As if every task changed since the last request: no JSON reused.
        for record in master.tasks.values():
            record.rendered = None
        return orjson.dumps(sj.state(master, ABOUT))

    endpoints: dict[str, Callable[[], Any]] = {
        "/master/state (cold)": first_state,
        "/master/state": lambda: orjson.dumps(sj.state(master, ABOUT)),
        "/master/state-summary": lambda: orjson.dumps(sj.state_summary(master, ABOUT)),
        "/master/slaves": lambda: orjson.dumps(sj.slaves(master, ABOUT)),
        "/master/tasks?limit=100": lambda: orjson.dumps(sj.tasks(master, ABOUT, limit=100)),
        "/metrics/snapshot": lambda: orjson.dumps(sj.metrics(master, ABOUT)),
    }
    figures = {name: timed(work, repeat) for name, work in endpoints.items()}

    def cycle() -> None:
        offers = [o.id for o in master.offers]
        for framework_id in master.frameworks:
            master.decline(framework_id, offers, 0, now=1e6)
        master.allocate(now=1e6)

    reference = timed(cycle, repeat)
    size = len(orjson.dumps(sj.state(master, ABOUT)))
    return {
        "agents": agents,
        "tasks": tasks,
        "seconds": figures,
        "cycle_seconds": reference,
        "state_bytes": size,
    }


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = [f"{r['agents']:,} x {r['tasks']:,}" for r in results]
    names = list(results[0]["seconds"])
    width = 0.8 / (len(names) + 1)
    for k, name in enumerate([*names, "allocation cycle"]):
        values = [
            1000 * (r["cycle_seconds"] if name == "allocation cycle" else r["seconds"][name])
            for r in results
        ]
        ax.bar([i + k * width for i in range(len(results))], values, width, label=name)
    ax.set_xticks([i + 0.4 for i in range(len(results))], labels)
    ax.set_xlabel("agents x running tasks")
    ax.set_ylabel("ms (median)")
    ax.set_yscale("log")
    ax.set_title("Rendering and encoding the HTTP state endpoints")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("bench/out/state_api.json"))
    parser.add_argument("--plot", type=Path, default=Path("bench/out/state_api.png"))
    args = parser.parse_args()
    results = [measure(agents, tasks, args.repeat) for agents, tasks in SCALES]
    names = list(results[0]["seconds"])
    print(f"{'agents':>7} {'tasks':>7} " + " ".join(f"{n:>24}" for n in names) + "  cycle ms")
    for r in results:
        cells = []
        for name in names:
            seconds = r["seconds"][name]
            cells.append(f"{seconds * 1000:9.1f} ms ({seconds / r['cycle_seconds']:5.1f}x)")
        print(
            f"{r['agents']:>7} {r['tasks']:>7} "
            + " ".join(f"{c:>24}" for c in cells)
            + f"  {r['cycle_seconds'] * 1000:8.1f}"
        )
    print("(x: times the allocation cycle of the same master, same run)")
    write(results, args.json, args.plot, plot)


if __name__ == "__main__":
    main()
