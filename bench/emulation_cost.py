"""What the emulation costs per launch, without Ray.

bench/cluster.py's load generators (the agent pools and the framework pool
of 200 Greedy frameworks) share the machine's cores with the master they
measure, so every CPU millisecond they spend per launch is one the master
does not get. This runs both of them in one process against a stand-in
master that only routes (offers to frameworks, launches and
acknowledgements to agents, updates to frameworks, as the master batches
them: one `deliver_events` and one `deliver` per round), and times each
side's own work per launch, with and without what pickling its messages in
and out costs (as the handles pack them: `pyactors.runtime.wire`; Ray
passes the bytes through).

    python3 bench/emulation_cost.py [--agents N] [--frameworks N] [--rounds N] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from cluster import AGENT, Greedy

from pyactors import Resources
from pyactors.agent.pool import EmulatedAgents
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch
from pyactors.core.protocol import (
    Accept,
    Acknowledge,
    AcknowledgeToAgent,
    AgentMessage,
    CallBatch,
    Decline,
    ForwardUpdates,
    FrameworkEvent,
    LaunchTasks,
    SendOffers,
)
from pyactors.core.tasks import TaskStatus
from pyactors.ha.leader import MasterLocation
from pyactors.runtime import wire
from pyactors.scheduler.api import Driver
from pyactors.scheduler.pool import FrameworkPoolActor

# The pool's rounds, as AgentPoolActor polls.
ROUND_SECONDS = 0.1


class RoutingMaster:
    """Only what the master does with the emulation's messages: who gets
    what. Its own cost is not counted."""

    def __init__(self) -> None:
        self.calls: list[list[CallBatch]] = []

    def calls_batch(self, host: Any, batches: list[CallBatch]) -> None:
        self.calls.append(batches)


class Side:
    """CPU seconds one side spent on its own work and on pickling."""

    def __init__(self) -> None:
        self.work = 0.0
        self.pickling = 0.0

    def run(self, call: Callable[..., Any], *args: Any) -> Any:
        started = time.process_time()
        result = call(*args)
        self.work += time.process_time() - started
        return result

    def pickle(self, message: Any) -> None:
        started = time.process_time()
        wire.unpack(wire.pack("emulation", message))
        self.pickling += time.process_time() - started


def run(agents: int, frameworks: int, rounds: int, task_seconds: float) -> dict[str, float]:
    master = RoutingMaster()
    specs = [(Greedy, (f"f{i}",), f"greedy-{i}", [f"role-{i % 20}"]) for i in range(frameworks)]
    pool = FrameworkPoolActor(MasterLocation(), specs)  # type: ignore[arg-type]
    for n, framework in enumerate(pool.frameworks):
        framework_id = f"framework-{n}"
        driver = Driver(master, framework_id, None, framework.sink)  # type: ignore[arg-type]
        driver.on_offers_used = framework._offers_used
        framework.driver, framework.framework_id = driver, framework_id
        pool.by_id[framework_id] = framework
    framework_ids = list(pool.by_id)
    emulated = EmulatedAgents([f"agent-{i}" for i in range(agents)], task_seconds, seed=0)
    resources = Resources.parse(AGENT)
    task_agent: dict[str, str] = {}
    task_framework: dict[str, str] = {}
    offered: dict[str, str] = {}
    free = list(emulated.agent_ids)
    framework_side, agent_side = Side(), Side()
    loop = asyncio.new_event_loop()
    serial = 0
    now = 0.0
    for _ in range(rounds):
        now += ROUND_SECONDS
        # Offers: every free agent, round robin over the frameworks.
        per_framework: dict[str, list[OfferInfo]] = defaultdict(list)
        for agent_id in free:
            serial += 1
            framework_id = framework_ids[serial % len(framework_ids)]
            offer_id = f"offer-{serial}"
            offered[offer_id] = agent_id
            per_framework[framework_id].append(
                OfferInfo(offer_id, framework_id, agent_id, "role", resources, agent_id)
            )
        free = []
        events: list[FrameworkEvent] = [SendOffers(f, o) for f, o in per_framework.items()]
        messages = route_calls(master, events, framework_side, loop, pool, offered, free)
        for message in messages:
            if isinstance(message, LaunchTasks):
                for task in message.tasks:
                    task_agent[task.task_id] = message.agent_id
                    task_framework[task.task_id] = message.framework_id
        agent_side.pickle(messages)
        agent_side.run(receive_all, emulated, messages, now)
        batches = agent_side.run(emulated.poll, now)
        agent_side.pickle(batches)
        # Updates to their frameworks; a terminal one frees its agent.
        updates: dict[str, list[TaskStatus]] = defaultdict(list)
        for _, statuses in batches:
            for status in statuses:
                updates[task_framework[status.task_id]].append(status)
                if status.state.is_terminal:
                    free.append(task_agent[status.task_id])
        events = [ForwardUpdates(f, s) for f, s in updates.items()]
        acknowledgements = route_calls(master, events, framework_side, loop, pool, offered, free)
        per_agent: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for message in acknowledgements:
            if isinstance(message, AcknowledgeToAgent):
                for task_id, uuid in message.acknowledgements:
                    per_agent[task_agent[task_id]].append((task_id, uuid))
        to_agents = [AcknowledgeToAgent(a, acks) for a, acks in per_agent.items()]
        agent_side.pickle(to_agents)
        agent_side.run(receive_all, emulated, to_agents, now)
    loop.close()
    launched = emulated.launched
    return {
        "launched": launched,
        "framework_ms": 1000 * framework_side.work / launched,
        "framework_pickle_ms": 1000 * framework_side.pickling / launched,
        "agent_ms": 1000 * agent_side.work / launched,
        "agent_pickle_ms": 1000 * agent_side.pickling / launched,
    }


def receive_all(emulated: EmulatedAgents, messages: list[AgentMessage], now: float) -> None:
    """As AgentPoolActor.deliver."""
    for message in messages:
        emulated.receive(message, now)


def route_calls(
    master: RoutingMaster,
    events: list[FrameworkEvent],
    side: Side,
    loop: asyncio.AbstractEventLoop,
    pool: FrameworkPoolActor,
    offered: dict[str, str],
    free: list[str],
) -> list[AgentMessage]:
    """Deliver the events to the pool; the agents' messages its calls make
    (an acknowledgement's agent is found by the caller)."""
    if not events:
        return []
    side.pickle(events)
    side.run(loop.run_until_complete, pool.deliver_events(events))
    sent, master.calls = master.calls, []
    side.pickle(sent)
    out: list[AgentMessage] = []
    for batches in sent:
        for framework_id, calls in batches:
            for call in calls:
                if isinstance(call, Accept):
                    agent_id = offered.pop(call.offer_ids[0])
                    for operation in call.operations:
                        if isinstance(operation, Launch):
                            out.append(
                                LaunchTasks(agent_id, framework_id, operation.tasks, [], "role")
                            )
                elif isinstance(call, Decline):
                    free.extend(offered.pop(o) for o in call.offer_ids)
                elif isinstance(call, Acknowledge):
                    out.append(AcknowledgeToAgent("", call.acknowledgements))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--frameworks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--task-seconds", type=float, default=2.0)
    parser.add_argument("--profile", action="store_true", help="print the top frames by own time")
    args = parser.parse_args()
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    figures = run(args.agents, args.frameworks, args.rounds, args.task_seconds)
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    print(
        f"{figures['launched']:,} launches; CPU ms per launch: "
        f"framework pool {figures['framework_ms']:.3f} "
        f"(+{figures['framework_pickle_ms']:.3f} pickling), "
        f"agent pool {figures['agent_ms']:.3f} (+{figures['agent_pickle_ms']:.3f} pickling)"
    )


if __name__ == "__main__":
    main()
