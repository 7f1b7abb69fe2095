"""The master's work per cycle grows with what changed, not with the cluster:
counted (`MasterState.last_cycle_visits`, the books' indexes), never timed."""

from __future__ import annotations

from typing import Any

import pytest

from pyactors import Resources
from pyactors.core.allocator import Allocator, Recovery
from pyactors.core.operations import ExecutorInfo, Launch, TaskInfo
from pyactors.core.protocol import AcknowledgeToAgent, ExitedExecutor, LaunchTasks, SendOffers
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.master.outbox import coalesce
from pyactors.master.state import MasterConfig, MasterState

SLOT = "cpus:1;mem:256"


class CountingAllocator:
    """The master's real allocator, with the sizes of its `recover_many`
    calls written down (and no single `recover` allowed)."""

    def __init__(self, allocator: Allocator) -> None:
        self.allocator = allocator
        self.recoveries: list[int] = []

    def recover_many(self, items: list[Recovery], *args: Any) -> None:
        self.recoveries.append(len(items))
        self.allocator.recover_many(items, *args)

    def recover(self, *args: Any) -> None:
        raise AssertionError("resources given back one by one")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.allocator, name)


def full_cluster(agents: int) -> tuple[MasterState, str, list[str]]:
    """Agents of one slot each, every slot running a task of one framework."""
    master = MasterState(MasterConfig(offer_timeout=30, agent_timeout=1e6))
    for i in range(agents):
        master.register_agent(f"agent-{i}", f"host-{i}", Resources.parse(SLOT), {}, now=0)
    framework_id, _ = master.subscribe("greedy", ["science"], now=0)
    (batch,) = [e for e in master.allocate(now=1) if isinstance(e, SendOffers)]
    task_ids = []
    for offer in batch.offers:
        task_id = f"t-{offer.agent_id}"
        task = TaskInfo(task_id, "t", Resources.parse(SLOT), command="x")
        master.accept(framework_id, [offer.id], [Launch([task])], refuse_seconds=0, now=1)
        running = TaskStatus(
            task_id, TaskState.TASK_RUNNING, Source.SOURCE_EXECUTOR, 1, agent_id=offer.agent_id
        )
        master.status_updates(offer.agent_id, [running])
        task_ids.append(task_id)
    return master, framework_id, task_ids


def one_task_ends(master: MasterState, agents: int) -> int:
    """The cycle's visits after one task of a full cluster finished."""
    finished = TaskStatus(
        "t-agent-0", TaskState.TASK_FINISHED, Source.SOURCE_EXECUTOR, 2, agent_id="agent-0"
    )
    master.status_update_batches([("agent-0", [finished])])
    effects = master.expire(now=2) + master.allocate(now=2)
    (batch,) = [e for e in effects if isinstance(e, SendOffers)]
    assert [o.agent_id for o in batch.offers] == ["agent-0"]
    return master.last_cycle_visits


def test_a_cycle_after_one_change_visits_the_same_at_any_size() -> None:
    visits = {}
    for agents in (10, 2_000):
        master, _, _ = full_cluster(agents)
        visits[agents] = one_task_ends(master, agents)
    # The freed agent, the one outstanding offer and the liveness check's
    # first agent: a handful, the same at 10 and 2,000 agents.
    assert visits[10] == visits[2_000] <= 4


def test_an_idle_cycle_visits_nothing_but_the_first_of_each_order() -> None:
    master, _, _ = full_cluster(1_000)
    master.expire(now=3)
    master.allocate(now=3)
    # Liveness stops at its first agent; no offers, no disconnected frameworks.
    assert master.last_cycle_visits == 1


def test_expiry_visits_only_the_offers_due() -> None:
    master = MasterState(MasterConfig(offer_timeout=10, agent_timeout=1e6))
    for i in range(500):
        master.register_agent(f"agent-{i}", f"host-{i}", Resources.parse(SLOT), {}, now=0)
    master.subscribe("holder", ["science"], now=0)
    master.allocate(now=1)  # 500 offers held, none due before now=11
    master.expire(now=5)
    assert master.offers.visited == 1
    assert len(master.expire(now=11)) == 1  # one Rescind with all 500
    assert master.offers.visited == 500


@pytest.mark.parametrize("agents", [10, 1_000])
def test_an_agent_or_framework_event_visits_only_its_own_tasks(agents: int) -> None:
    master, framework_id, _ = full_cluster(agents)
    book = master.task_book
    assert [r.task.task_id for r in book.on_agent("agent-3")] == ["t-agent-3"]
    assert len(book.of_framework(framework_id)) == agents
    master.agent_lost("agent-3", now=5)
    (record,) = book.on_agent("agent-3")
    assert record.state is TaskState.TASK_UNREACHABLE
    assert [r.state for r in book.on_agent("agent-4")] == [TaskState.TASK_RUNNING]


def test_a_batch_of_ended_tasks_and_exited_executors_is_one_give_back() -> None:
    master, framework_id, _ = full_cluster(4)
    counting = CountingAllocator(master.allocator)
    calls = counting.recoveries
    master.offering.allocator = counting  # type: ignore[assignment]
    finished = [
        (
            f"agent-{i}",
            [
                TaskStatus(
                    f"t-agent-{i}",
                    TaskState.TASK_FINISHED,
                    Source.SOURCE_EXECUTOR,
                    2,
                    agent_id=f"agent-{i}",
                )
            ],
        )
        for i in range(4)
    ]
    master.status_update_batches([*finished, ("agent-unknown", [])])
    assert calls == [4]
    # Executors: each of two agents runs one (with a task, filling its slot),
    # and both exit in one batch.
    executor = ExecutorInfo("ex", "run-executor", Resources.parse("cpus:0.5;mem:64"))
    offers = [o for e in master.allocate(now=3) if isinstance(e, SendOffers) for o in e.offers][:2]
    for offer in offers:
        task = TaskInfo(
            f"e-{offer.agent_id}", "e", Resources.parse("cpus:0.5;mem:192"), executor=executor
        )
        (launch,) = [
            e
            for e in master.accept(framework_id, [offer.id], [Launch([task])], 0, now=3)
            if isinstance(e, LaunchTasks)
        ]
        assert launch.tasks == [task]
    calls.clear()
    master.executors_exited(
        [ExitedExecutor(o.agent_id, framework_id, "ex", "exited") for o in offers]
        + [ExitedExecutor("agent-unknown", framework_id, "ex", "exited")]
    )
    assert calls == [2]
    assert master.executors == []


def small_accepts(hold: bool) -> tuple[list[int], list[tuple[str, str]]]:
    """Three accepts, each leaving part of its offer unused, with the
    give-backs held or not; the allocator's recover_many calls (a single
    `recover` fails) and what the next cycle offers."""
    master = MasterState(MasterConfig(offer_timeout=30, agent_timeout=1e6))
    for i in range(3):
        master.register_agent(f"agent-{i}", f"host-{i}", Resources.parse(SLOT), {}, now=0)
    framework_id, _ = master.subscribe("small", ["science"], now=0)
    (batch,) = [e for e in master.allocate(now=1) if isinstance(e, SendOffers)]
    counting = CountingAllocator(master.allocator)
    if hold:
        master.offering.allocator = counting  # type: ignore[assignment]
        master.offering.hold_give_backs()
    for offer in batch.offers:
        small = TaskInfo(
            f"s-{offer.agent_id}", "s", Resources.parse("cpus:0.5;mem:64"), command="x"
        )
        master.accept(framework_id, [offer.id], [Launch([small])], refuse_seconds=0, now=1)
    if hold:
        master.offering.flush_give_backs()
    (again,) = [e for e in master.allocate(now=2) if isinstance(e, SendOffers)]
    return counting.recoveries, sorted((o.agent_id, str(o.resources)) for o in again.offers)


def test_accepts_held_together_give_back_once_and_offer_the_same() -> None:
    """What a batch of accepts leaves unused goes back in one call (the
    actor holds it over a calls_batch), and the next cycle offers exactly
    what it offers when each accept gives back at once."""
    held_calls, held_offers = small_accepts(hold=True)
    assert held_calls == [3]
    _, offers = small_accepts(hold=False)
    assert held_offers == offers == [(f"agent-{i}", "cpus:0.5;mem:192") for i in range(3)]


def test_a_pool_of_heartbeats_names_the_agents_to_register_again() -> None:
    master, _, _ = full_cluster(4)
    master.agent_lost("agent-1", now=2)
    master.agent_disconnected("agent-2", now=2)
    unknown = master.heartbeats(["agent-0", "agent-1", "agent-2", "agent-3", "stranger"], now=5)
    assert unknown == ["agent-1", "agent-2", "stranger"]
    assert [master.agents[a].last_seen for a in ("agent-0", "agent-3")] == [5, 5]
    # The liveness order: those heard at 5 are not due before 5 + timeout.
    assert master.liveness.due(6, 1e6, 1e6).silent == []


def test_coalesce_copies_only_what_it_merges_and_never_extends_the_callers() -> None:
    first = AcknowledgeToAgent("a1", [("t1", "u1")])
    alone = AcknowledgeToAgent("a2", [("t2", "u2")])
    second = AcknowledgeToAgent("a1", [("t3", "u3")])
    merged = coalesce([first, alone, second])
    assert merged == [AcknowledgeToAgent("a1", [("t1", "u1"), ("t3", "u3")]), alone]
    assert merged[1] is alone  # nothing to merge: not copied
    assert first.acknowledgements == [("t1", "u1")]
