"""What the hot messages cost on the wire, per launch.

bench/cluster.py's throughput point launches thousands of tasks a second,
and every launch costs messages between the master, the agent pools and the
framework pool: the framework's ACCEPT, the master's LaunchTasks, two status
updates (RUNNING, FINISHED) and their ForwardUpdates, an offer, the
framework's acknowledgements and the master's to the agents, and the
heartbeats of 50,000 agents every 15 s. This builds those messages as one
round of that run sends them (`--launches` per round, 200 frameworks) and
times, per launch, the bytes and the CPU to serialize and deserialize each
one three ways in the same run:

- `ray`: as Ray sends a value argument (its serialization context: msgpack,
  then cloudpickle for what msgpack cannot hold), loaded as Ray loads it
  (the C unpickler over cloudpickle's output);
- `wire`: as the handles send it now (`pyactors.runtime.wire`: the C
  pickler, bytes Ray passes through as they are);
- `stdlib`: the same value through `pickle.dumps`/`loads`, the reference.

    python3 bench/wire.py [--launches N] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import pickle
import time
from collections.abc import Callable
from typing import Any

import msgpack
import ray._private.worker
import ray.cloudpickle
from ray._private.serialization import SerializationContext

from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import (
    Accept,
    Acknowledge,
    AcknowledgeToAgent,
    AgentMessage,
    CallBatch,
    ForwardUpdates,
    FrameworkEvent,
    LaunchTasks,
    SendOffers,
)
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.runtime import wire

FRAMEWORKS = 200
SHAPE = "cpus:1;mem:2048"
# 50,000 agents heartbeating every 15 s, over ten polls a second.
HEARTBEATS_PER_ROUND = 50_000 // 15 // 10


def messages(launches: int) -> list[tuple[str, Any, Callable[[Any], Any]]]:
    """(what, the call's payload, how the handles send it) for one round
    of `launches`, spread over the frameworks and one agent each."""
    resources = Resources.parse(SHAPE)
    framework = [f"framework-{n % FRAMEWORKS}" for n in range(launches)]
    agents = [f"agent-{n}" for n in range(launches)]
    tasks = [TaskInfo(f"greedy-{n}-{n}", "t", resources, command="x") for n in range(launches)]
    now = time.monotonic()

    def update(n: int, state: TaskState) -> TaskStatus:
        return TaskStatus(
            tasks[n].task_id,
            state,
            Source.SOURCE_EXECUTOR,
            now,
            agent_id=agents[n],
            uuid=os.urandom(16).hex(),
        )

    running = [update(n, TaskState.TASK_RUNNING) for n in range(launches)]
    finished = [update(n, TaskState.TASK_FINISHED) for n in range(launches)]
    offers: dict[str, list[OfferInfo]] = {}
    accepts: list[CallBatch] = []
    acknowledges: dict[str, list[tuple[str, str]]] = {}
    forwarded: dict[str, list[TaskStatus]] = {}
    for n in range(launches):
        offer = OfferInfo(f"offer-{n}", framework[n], agents[n], "role", resources, agents[n])
        offers.setdefault(framework[n], []).append(offer)
        accepts.append((framework[n], [Accept([offer.id], [Launch([tasks[n]])], 5.0)]))
        for status in (running[n], finished[n]):
            acknowledges.setdefault(framework[n], []).append((status.task_id, status.uuid or ""))
            forwarded.setdefault(framework[n], []).append(status)
    launch: list[AgentMessage] = [
        LaunchTasks(agents[n], framework[n], [tasks[n]], [], "role") for n in range(launches)
    ]
    acknowledged: list[AgentMessage] = [
        AcknowledgeToAgent(agents[n], [(s.task_id, s.uuid or "")])
        for n in range(launches)
        for s in (running[n], finished[n])
    ]
    send_offers: list[FrameworkEvent] = [SendOffers(f, o) for f, o in offers.items()]
    forward: list[FrameworkEvent] = [ForwardUpdates(f, s) for f, s in forwarded.items()]
    acks: list[CallBatch] = [(f, [Acknowledge(a)]) for f, a in acknowledges.items()]
    updates = [(agents[n], [s]) for n in range(launches) for s in (running[n], finished[n])]
    heartbeats = [f"agent-{n}" for n in range(HEARTBEATS_PER_ROUND)]

    def deliver(value: list[AgentMessage]) -> Any:
        return wire.agent_messages("deliver", value)

    def deliver_events(value: list[FrameworkEvent]) -> Any:
        return wire.pack("deliver_events", value)

    def calls(value: list[CallBatch]) -> Any:
        return wire.call_batches("calls_batch", value)

    def updated(value: list[tuple[str, list[TaskStatus]]]) -> Any:
        return wire.pack("status_update_batches", value)

    return [
        ("calls_batch ACCEPT/LAUNCH", accepts, calls),
        ("deliver LaunchTasks", launch, deliver),
        ("status_update_batches", updates, updated),
        ("deliver_events SendOffers", send_offers, deliver_events),
        ("deliver_events ForwardUpdates", forward, deliver_events),
        ("calls_batch ACKNOWLEDGE", acks, calls),
        ("deliver AcknowledgeToAgent", acknowledged, deliver),
        ("heartbeats (agent ids)", heartbeats, as_sent),
    ]


def as_sent(value: Any) -> Any:
    """A message the handles send as it is."""
    return value


def timed(repeat: int, action: Callable[[], Any]) -> float:
    """The least CPU seconds of `repeat` runs of `action`."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        action()
        best = min(best, time.process_time() - started)
    return best


def measure(launches: int, repeat: int) -> list[dict[str, Any]]:
    context = SerializationContext(ray._private.worker.global_worker)
    rows = []
    for what, value, send in messages(launches):
        sent = send(value)
        # Ray loads a pickled argument from cloudpickle's output of the list
        # of what msgpack could not hold.
        by_ray = ray.cloudpickle.dumps([value], protocol=5)
        by_stdlib = pickle.dumps(value, protocol=5)
        packed = isinstance(sent, bytes)
        ray_out = timed(repeat, lambda v=value: context.serialize(v))
        if packed or send is not as_sent:
            ray_in = timed(repeat, lambda b=by_ray: pickle.loads(b))
        else:
            # Strings and lists of them Ray writes with msgpack, not pickled.
            by_msgpack = msgpack.packb(value)
            ray_in = timed(repeat, lambda b=by_msgpack: msgpack.unpackb(b))
        wire_out = timed(repeat, lambda v=value, s=send: context.serialize(s(v)))
        wire_in = timed(repeat, lambda s=sent: wire.unpack(s)) if packed else ray_in
        stdlib_out = timed(repeat, lambda v=value: pickle.dumps(v, protocol=5))
        stdlib_in = timed(repeat, lambda b=by_stdlib: pickle.loads(b))
        rows.append(
            {
                "what": what,
                "packed": packed,
                "ray_bytes": context.serialize(value).total_bytes / launches,
                "wire_bytes": context.serialize(sent).total_bytes / launches,
                "ray_us": 1e6 * (ray_out + ray_in) / launches,
                "wire_us": 1e6 * (wire_out + wire_in) / launches,
                "stdlib_us": 1e6 * (stdlib_out + stdlib_in) / launches,
                "ray_out_us": 1e6 * ray_out / launches,
                "wire_out_us": 1e6 * wire_out / launches,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launches", type=int, default=300, help="launches per round")
    parser.add_argument("--repeat", type=int, default=20, help="runs of each, the least kept")
    args = parser.parse_args()
    rows = measure(args.launches, args.repeat)
    print(
        f"per launch, {args.launches} launches a round; serialize + deserialize CPU µs "
        "(the least of the runs) and bytes"
    )
    header = (
        f"{'message':32} {'ray B':>7} {'wire B':>7} {'ray µs':>7} {'wire µs':>8} "
        f"{'stdlib µs':>9} {'ray/stdlib':>10} {'wire/stdlib':>11} {'wire/ray':>8}"
    )
    print(header)
    total = {"ray_us": 0.0, "wire_us": 0.0, "stdlib_us": 0.0}
    for row in rows:
        for key in total:
            total[key] += row[key]
        print(
            f"{row['what']:32} {row['ray_bytes']:7.0f} {row['wire_bytes']:7.0f} "
            f"{row['ray_us']:7.2f} {row['wire_us']:8.2f} {row['stdlib_us']:9.2f} "
            f"{row['ray_us'] / row['stdlib_us']:9.2f}x {row['wire_us'] / row['stdlib_us']:10.2f}x "
            f"{row['wire_us'] / row['ray_us']:7.2f}x"
            + ("" if row["packed"] else "  (as it is: msgpack)")
        )
    print(
        f"{'all of a launch':32} {'':7} {'':7} {total['ray_us']:7.2f} {total['wire_us']:8.2f} "
        f"{total['stdlib_us']:9.2f} {total['ray_us'] / total['stdlib_us']:9.2f}x "
        f"{total['wire_us'] / total['stdlib_us']:10.2f}x {total['wire_us'] / total['ray_us']:7.2f}x"
    )


if __name__ == "__main__":
    main()
