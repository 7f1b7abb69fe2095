"""Which faults the chaos harness injects, in what order and how far apart:
a pure function of the seed, so a failing run is replayed by its seed."""

from __future__ import annotations

import random
from dataclasses import dataclass

from pyactors.errors import InvalidArgumentError

AGENT_KILL = "agent_kill"
LEADER_KILL = "leader_kill"
LEADER_STOP = "leader_stop"
ZK_RESTART = "zk_restart"
FRAMEWORK_KILL = "framework_kill"
TASK_KILL = "task_kill"
NODE_REPLACE = "node_replace"

KINDS = (
    AGENT_KILL,
    LEADER_KILL,
    LEADER_STOP,
    ZK_RESTART,
    FRAMEWORK_KILL,
    TASK_KILL,
    NODE_REPLACE,
)

# What each fault does, for the report's legend.
DESCRIPTIONS = {
    AGENT_KILL: "SIGKILL an agent's actor process",
    LEADER_KILL: "SIGKILL the leading master",
    LEADER_STOP: "SIGSTOP the leader past its ZooKeeper session timeout, then SIGCONT",
    ZK_RESTART: "restart the ZooKeeper server",
    FRAMEWORK_KILL: "SIGKILL a framework's actor (it fails over)",
    TASK_KILL: "SIGKILL a running task's process group",
    NODE_REPLACE: "remove a Ray node and add another",
}


@dataclass(frozen=True)
class Fault:
    """The `index`th fault: its kind, how long after the previous fault's
    recovery it comes (`gap`, seconds), and `pick`, which of the targets
    there are then it hits (taken modulo their count)."""

    index: int
    kind: str
    gap: float
    pick: int


def plan(
    seed: int,
    count: int,
    kinds: tuple[str, ...] = KINDS,
    min_gap: float = 3.0,
    max_gap: float = 10.0,
) -> list[Fault]:
    """`count` faults from `seed`. Kinds are drawn from a shuffled bag, so
    every kind comes once in each run of len(kinds) faults: a run long
    enough for n bags injects each kind n times."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise InvalidArgumentError(f"fault kinds must be some of {list(KINDS)}, got {list(kinds)}")
    if count < 0 or not 0 <= min_gap <= max_gap:
        raise InvalidArgumentError(
            f"need count >= 0 and 0 <= min_gap <= max_gap; got {count}, {min_gap}, {max_gap}"
        )
    rng = random.Random(seed)
    bag: list[str] = []
    faults = []
    for index in range(count):
        if not bag:
            bag = list(kinds)
            rng.shuffle(bag)
        kind = bag.pop()
        gap = round(rng.uniform(min_gap, max_gap), 3)
        faults.append(Fault(index, kind, gap, rng.randrange(1 << 30)))
    return faults
