#!/usr/bin/env python3
"""What one state read costs the master's event loop at 10,000 and 50,000
agents (issue 18), and what it costs in all.

The master state is built directly (no Ray): N agents of one slot each
(cpus:1;mem:1024), 200 frameworks over 10 roles, one cycle's offers, half
of them accepted with a task. For `/master/state`, `/metrics/snapshot` and
the v1 operator API's GET_STATE it times, in CPU seconds of this process
(the machine is shared: wall time would count the others), what the HTTP
handler runs on the loop (`pyactors.api.state_view`: the view's copy, and
for `/master/state` the allocator's snapshot as text, shown alone too), and the
whole read: the copy and its rendering in the worker thread. Each figure
is the median of `--repeat` reads after one that fills the caches. The
collector runs with the master actor's thresholds, as in its process.

Run it from the repository root:

    python bench/state_loop.py [--agents 10000 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any, cast

from pyactors import Resources
from pyactors.api import state_json, state_view
from pyactors.api.access import Viewer
from pyactors.api.v1 import operator_json
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import SendOffers
from pyactors.master.actor import tune_collector
from pyactors.master.state import MasterConfig, MasterState
from pyactors.security.acls import Acls

FRAMEWORKS = 200
ABOUT = state_json.About(id="bench", version="0", now=1.0)
EVERYONE = Viewer(Acls(), None)


def build(agents: int) -> MasterState:
    master = MasterState(MasterConfig())
    slot = Resources.parse("cpus:1;mem:1024")
    for i in range(agents):
        master.register_agent(f"agent-{i}", f"host-{i}", slot, {}, now=0)
    for j in range(FRAMEWORKS):
        master.subscribe(f"fw-{j}", [f"role-{j % 10}"], now=0)
    task = Resources.parse("cpus:1;mem:512")
    launched = 0
    for effect in master.allocate(1.0):
        if not isinstance(effect, SendOffers):
            continue
        for offer in effect.offers:
            if launched < agents // 2:
                launch = Launch([TaskInfo(f"task-{launched}", "t", task, command="true")])
                master.accept(effect.framework_id, [offer.id], [launch], 0, 1.0)
                launched += 1
    return master


def cpu_ms(work: Callable[[], Any], repeat: int) -> float:
    work()
    times = []
    for _ in range(repeat):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return 1000 * statistics.median(times)


def read(shape: state_view.Shape, master: MasterState, allocator: bool) -> Callable[[], bytes]:
    return lambda: state_view.encode(shape, EVERYONE, state_view.take(master, allocator), ABOUT)


def measure(agents: int, repeat: int) -> list[tuple[str, float, float]]:
    master = build(agents)

    def metrics() -> dict[str, float]:
        view = state_view.take(master, allocator=False)
        view.thaw()
        return state_json.metrics(cast(MasterState, view), ABOUT)

    return [
        (
            "/master/state",
            cpu_ms(lambda: state_view.take(master, allocator=True), repeat),
            cpu_ms(read(state_json.state, master, True), repeat),
        ),
        (
            "  of which the allocator's snapshot",
            cpu_ms(master.allocator.snapshot_json, repeat),
            0.0,
        ),
        (
            "/metrics/snapshot",
            cpu_ms(lambda: state_view.take(master, allocator=False), repeat),
            cpu_ms(metrics, repeat),
        ),
        (
            "v1 GET_STATE",
            cpu_ms(lambda: state_view.take(master, allocator=False), repeat),
            cpu_ms(read(operator_json.get_state, master, False), repeat),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tune_collector()
    print(f"{'agents':>7}  {'read':28}  {'on the loop ms':>14}  {'in all ms':>10}")
    for agents in args.agents:
        for name, loop, whole in measure(agents, args.repeat):
            in_all = f"{whole:10.1f}" if whole else f"{'-':>10}"
            print(f"{agents:>7}  {name:28}  {loop:14.1f}  {in_all}")


if __name__ == "__main__":
    main()
