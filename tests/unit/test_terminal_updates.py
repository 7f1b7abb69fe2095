"""A task's terminal state reaches a scheduler once, across a master
failover too: the framework actor and the masters' state machines driven
together, without Ray (a stand-in handle carries the subscribe call)."""

from __future__ import annotations

import asyncio

import pytest
from support.master_handle import MasterHandle

from pyactors import Resources
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import (
    Acknowledge,
    AcknowledgeToAgent,
    Call,
    Effect,
    ForwardUpdates,
    Reconcile,
    SendOffers,
    TaskReport,
)
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.ha.leader import MasterLocation
from pyactors.master.registry import MemoryRegistry, MemoryStore
from pyactors.master.state import MasterConfig, MasterState
from pyactors.runtime.handles import FrameworkRef
from pyactors.scheduler.api import Driver, FrameworkActor, Scheduler

TASK = TaskInfo("t", "t", Resources.parse("cpus:1;mem:64"), command="true")


class Recorder(Scheduler):
    """Records what it is given; acknowledges it itself when not automatic."""

    def __init__(self, auto: bool) -> None:
        self.auto_acknowledge = auto
        self.seen: list[tuple[str, TaskState, Reason | None]] = []

    def update(self, driver: Driver, status: TaskStatus) -> None:
        self.seen.append((status.task_id, status.state, status.reason))
        if not self.auto_acknowledge:
            driver.acknowledge(status)


class Harness:
    """One framework actor and the calls it sends, carried to a master."""

    def __init__(self, auto: bool) -> None:
        self.calls: list[Call] = []
        self.actor = FrameworkActor(
            Recorder,
            (auto,),
            MasterLocation(),
            "fw",
            ["r"],
            60.0,
            [],
            sink=lambda _, calls: self.calls.extend(calls),
        )
        self.actor.ref = FrameworkRef(object())  # type: ignore[arg-type]
        self.framework_id = ""

    @property
    def seen(self) -> list[tuple[str, TaskState, Reason | None]]:
        scheduler = self.actor.scheduler
        assert isinstance(scheduler, Recorder)
        return scheduler.seen

    def follow(self, master: MasterState, now: float) -> None:
        """The actor subscribes with a (new) leader, as on a leader change."""
        asyncio.run(self.actor._follow(MasterHandle(master, now)))  # type: ignore[arg-type]
        self.framework_id = self.actor._driver().framework_id

    def deliver(self, effects: list[Effect]) -> None:
        events = [e for e in effects if isinstance(e, ForwardUpdates)]
        asyncio.run(self.actor.deliver_events(list(events)))

    def carry(self, master: MasterState, now: float) -> list[Effect]:
        """The calls sent so far, carried out by `master`."""
        effects: list[Effect] = []
        calls, self.calls = self.calls, []
        for call in calls:
            match call:
                case Acknowledge(acknowledgements):
                    effects += master.acknowledge(self.framework_id, acknowledgements)
                case Reconcile(task_ids, agent_ids):
                    effects += master.reconcile(self.framework_id, task_ids, now, agent_ids)
                case _:
                    raise AssertionError(f"unexpected call {call}")
        return effects


def leader(store: MemoryStore, now: float) -> MasterState:
    master = MasterState(MasterConfig(agent_reregister_timeout=10), MemoryRegistry(store))
    master.recover(now)
    return master


def agent_status(state: TaskState, uuid: str, at: float) -> TaskStatus:
    return TaskStatus("t", state, Source.SOURCE_EXECUTOR, at, agent_id="agent-0", uuid=uuid)


def launched(harness: Harness, master: MasterState) -> None:
    master.register_agent("agent-0", "h", Resources.parse("cpus:2;mem:512"), {}, 0)
    harness.follow(master, now=0)
    (offers,) = [e for e in master.allocate(now=1) if isinstance(e, SendOffers)]
    master.accept(harness.framework_id, [offers.offers[0].id], [Launch([TASK])], 0, now=1)
    harness.deliver(
        master.status_updates("agent-0", [agent_status(TaskState.TASK_RUNNING, "r", 2)])
    )
    harness.carry(master, now=2)


@pytest.mark.parametrize("auto", [True, False])
def test_a_task_finished_during_a_master_failover_ends_once_for_the_scheduler(auto: bool) -> None:
    store = MemoryStore()
    harness = Harness(auto)
    old = leader(store, now=0)
    launched(harness, old)
    finished = agent_status(TaskState.TASK_FINISHED, "f", 3)
    # The old leader records the update and dies before the framework hears it.
    old.status_updates("agent-0", [finished])
    new = leader(store, now=10)
    new.register_agent(
        "agent-0",
        "h",
        Resources.parse("cpus:2;mem:512"),
        {},
        11,
        [TaskReport(harness.framework_id, "r", TASK, finished)],
    )
    # The framework finds the new leader and reconciles what it saw live:
    # the answer (FINISHED, no uuid) comes before the agent resends the update.
    harness.follow(new, now=12)
    harness.deliver(harness.carry(new, now=12))
    harness.deliver(new.status_updates("agent-0", [finished]))
    assert harness.seen == [
        ("t", TaskState.TASK_RUNNING, None),
        ("t", TaskState.TASK_FINISHED, Reason.REASON_RECONCILIATION),
    ]
    # The agent's update is acknowledged for the scheduler, which had no uuid
    # to acknowledge: the agent stops resending and the task completes.
    effects = harness.carry(new, now=13)
    assert effects == [AcknowledgeToAgent("agent-0", [("t", "f")])]
    assert "t" in new.completed and "t" not in new.tasks
    # A copy resent meanwhile is acknowledged again, never delivered.
    harness.deliver(new.status_updates("agent-0", [finished]))
    assert len(harness.seen) == 2


def test_the_own_reconciliation_answer_after_the_update_is_not_delivered() -> None:
    store = MemoryStore()
    harness = Harness(auto=True)
    old = leader(store, now=0)
    launched(harness, old)
    new = leader(store, now=10)
    running = agent_status(TaskState.TASK_RUNNING, "r", 2)
    new.register_agent(
        "agent-0",
        "h",
        Resources.parse("cpus:2;mem:512"),
        {},
        11,
        [TaskReport(harness.framework_id, "r", TASK, running)],
    )
    harness.follow(new, now=12)
    finished = agent_status(TaskState.TASK_FINISHED, "f", 12)
    # The task ends before the actor's reconciliation reaches the new leader.
    harness.deliver(new.status_updates("agent-0", [finished]))
    harness.deliver(harness.carry(new, now=13))
    assert harness.seen == [
        ("t", TaskState.TASK_RUNNING, None),
        ("t", TaskState.TASK_FINISHED, None),
    ]


def test_a_reconciliation_the_scheduler_asks_for_repeats_a_terminal_state() -> None:
    store = MemoryStore()
    harness = Harness(auto=True)
    master = leader(store, now=0)
    launched(harness, master)
    harness.deliver(
        master.status_updates("agent-0", [agent_status(TaskState.TASK_FINISHED, "f", 3)])
    )
    harness.actor._driver().reconcile(["t"])
    harness.deliver(harness.carry(master, now=4))
    assert harness.seen[1:] == [
        ("t", TaskState.TASK_FINISHED, None),
        ("t", TaskState.TASK_FINISHED, Reason.REASON_RECONCILIATION),
    ]


def test_a_task_id_launched_again_ends_again() -> None:
    harness = Harness(auto=True)
    answer = TaskStatus(
        "t", TaskState.TASK_FINISHED, Source.SOURCE_MASTER, 1, "a", Reason.REASON_RECONCILIATION
    )
    again = [
        TaskStatus("t", TaskState.TASK_RUNNING, Source.SOURCE_EXECUTOR, 2, "a", uuid="r2"),
        TaskStatus("t", TaskState.TASK_FINISHED, Source.SOURCE_EXECUTOR, 3, "a", uuid="f2"),
    ]
    harness.actor.driver = Driver(None, "fw", FrameworkRef(object()), harness.actor.sink)  # type: ignore[arg-type]
    asyncio.run(harness.actor.deliver_events([ForwardUpdates("fw", [answer, *again])]))
    assert [state for _, state, _ in harness.seen] == [
        TaskState.TASK_FINISHED,
        TaskState.TASK_RUNNING,
        TaskState.TASK_FINISHED,
    ]
