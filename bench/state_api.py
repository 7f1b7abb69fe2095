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

Then the master's loop while `/master/state` is requested back to back at
the largest scale, rendered as the HTTP API renders it now (a copy taken on
the loop, rendered and encoded in a thread: `pyactors.api.state_view`) and,
in the same run, as it did before (rendered on the loop): how late a 10 ms
heartbeat timer and a 100 ms allocation cycle (running on that loop, as the
master's do) fire, and the longest the loop was held.

Run it from the repository root:

    python bench/state_api.py [--repeat 5] [--requests 8] [--json PATH] [--plot PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from outputs import write

from pyactors import Resources
from pyactors.api import state_json as sj
from pyactors.api import state_view
from pyactors.api.access import Viewer
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import SendOffers
from pyactors.master.state import MasterConfig, MasterState
from pyactors.security.acls import Acls

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


HEARTBEAT_SECONDS = 0.01
CYCLE_SECONDS = 0.1


async def _late(period: float, lateness: list[float], work: Callable[[], Any]) -> None:
    """Wake every `period`, do `work`, and note how late each wake was."""
    loop = asyncio.get_running_loop()
    due = loop.time() + period
    while True:
        await asyncio.sleep(max(0.0, due - loop.time()))
        lateness.append(loop.time() - due)
        work()
        due = max(due + period, loop.time())


async def _requests(master: MasterState, requests: int, on_loop: bool) -> dict[str, Any]:
    viewer = Viewer(Acls(), None)
    heartbeats: list[float] = []
    cycles: list[float] = []
    held: list[float] = []
    clock = 1e6

    def cycle() -> None:
        nonlocal clock
        clock += CYCLE_SECONDS
        master.allocate(clock)

    timers = [
        asyncio.create_task(_late(HEARTBEAT_SECONDS, heartbeats, lambda: None)),
        asyncio.create_task(_late(CYCLE_SECONDS, cycles, cycle)),
    ]
    await asyncio.sleep(0.2)
    heartbeats.clear()
    cycles.clear()
    for _ in range(requests):
        start = time.perf_counter()
        if on_loop:
            orjson.dumps(sj.state(viewer.state(master), ABOUT))
            held.append(time.perf_counter() - start)
        else:
            view = state_view.take(master, allocator=True)
            held.append(time.perf_counter() - start)
            await asyncio.to_thread(state_view.encode, sj.state, viewer, view, ABOUT)
        await asyncio.sleep(0)
    for timer in timers:
        timer.cancel()

    def ms(values: list[float], q: float) -> float:
        return (
            1000 * statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
            if len(values) > 1
            else 0.0
        )

    return {
        "heartbeat_p50_ms": ms(heartbeats, 50),
        "heartbeat_p99_ms": ms(heartbeats, 99),
        "heartbeat_max_ms": 1000 * max(heartbeats, default=0.0),
        "cycle_p50_ms": ms(cycles, 50),
        "cycle_max_ms": 1000 * max(cycles, default=0.0),
        "loop_held_median_ms": 1000 * statistics.median(held),
        "loop_held_max_ms": 1000 * max(held),
        "heartbeats": len(heartbeats),
    }


def loop_latency(master: MasterState, requests: int) -> dict[str, Any]:
    """The loop's figures with the state rendered on it (before) and off it
    (after), the same master, one after the other."""
    before = asyncio.run(_requests(master, requests, on_loop=True))
    after = asyncio.run(_requests(master, requests, on_loop=False))
    ratios = {
        name: before[name] / after[name]
        for name in ("heartbeat_max_ms", "heartbeat_p99_ms", "cycle_max_ms", "loop_held_max_ms")
        if after[name] > 0
    }
    # Of what the loop still holds: the allocator's snapshot (roles' shares),
    # made in the core without letting go of the interpreter.
    snapshot_ms = 1000 * timed(master.allocator.snapshot, 3)
    return {"before": before, "after": after, "ratio": ratios, "allocator_snapshot_ms": snapshot_ms}


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
    parser.add_argument("--requests", type=int, default=8, help="state requests per loop run")
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
    agents, tasks = SCALES[-1]
    loop = loop_latency(build(agents, tasks), args.requests)
    results[-1]["loop"] = loop
    print(f"\nthe master's loop at {agents:,} agents x {tasks:,} tasks, /master/state back to back")
    print(f"{'':>24} {'before (on the loop)':>22} {'after (off it)':>16} {'ratio':>7}")
    for name in loop["before"]:
        before, after = loop["before"][name], loop["after"][name]
        ratio = loop["ratio"].get(name)
        shown = "" if ratio is None else f"{ratio:6.1f}x"
        print(f"{name:>24} {before:>22.1f} {after:>16.1f} {shown:>7}")
    snapshot_ms = loop["allocator_snapshot_ms"]
    print(f"(of the loop held after: the allocator's snapshot, {snapshot_ms:.1f} ms)")
    write(results, args.json, args.plot, plot)


if __name__ == "__main__":
    main()
