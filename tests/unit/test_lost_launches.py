"""A launch lost with the master it went to is found by the framework
actor's reconciliation with the next leader: the actor reconciles the tasks
it launched and has not heard of, not only those it saw live. The actor and
the masters' state machines are driven together without Ray (a stand-in
handle carries the subscribe call)."""

from __future__ import annotations

import asyncio

from support.master_handle import MasterHandle

from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import Accept, Call, Effect, ForwardUpdates, Reconcile, SendOffers
from pyactors.core.tasks import Reason, TaskState, TaskStatus
from pyactors.ha.leader import MasterLocation
from pyactors.master.registry import MemoryRegistry, MemoryStore
from pyactors.master.state import MasterConfig, MasterState
from pyactors.runtime.handles import FrameworkRef
from pyactors.scheduler.api import Driver, FrameworkActor, Scheduler

TASK = TaskInfo("t", "t", Resources.parse("cpus:1;mem:64"), command="true")
AGENT = "agent-0"


class LaunchOnce(Scheduler):
    """Launches TASK on the first offer; records every update."""

    def __init__(self) -> None:
        self.launched = False
        self.seen: list[tuple[str, TaskState, Reason | None]] = []

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        if self.launched:
            driver.decline([o.id for o in offers])
            return
        self.launched = True
        driver.accept([offers[0].id], [Launch([TASK])])

    def update(self, driver: Driver, status: TaskStatus) -> None:
        self.seen.append((status.task_id, status.state, status.reason))


def leader(store: MemoryStore, now: float) -> MasterState:
    master = MasterState(MasterConfig(agent_reregister_timeout=10), MemoryRegistry(store))
    master.recover(now)
    return master


def test_a_launch_lost_with_its_master_is_answered_gone_by_the_next_leader() -> None:
    store = MemoryStore()
    calls: list[Call] = []
    actor = FrameworkActor(
        LaunchOnce, (), MasterLocation(), "fw", ["r"], 60.0, [], sink=lambda _, c: calls.extend(c)
    )
    actor.ref = FrameworkRef(object())  # type: ignore[arg-type]
    old = leader(store, now=0)
    old.register_agent(AGENT, "h", Resources.parse("cpus:2;mem:512"), {}, 0)
    asyncio.run(actor._follow(MasterHandle(old, 0)))  # type: ignore[arg-type]
    framework_id = actor._driver().framework_id
    offers = [e for e in old.allocate(now=1) if isinstance(e, SendOffers)]
    asyncio.run(actor.deliver_events(list(offers)))
    # The accept left, and its master died before carrying it out.
    assert any(isinstance(call, Accept) for call in calls)
    calls.clear()
    new = leader(store, now=10)
    new.register_agent(AGENT, "h", Resources.parse("cpus:2;mem:512"), {}, 11, [])
    asyncio.run(actor._follow(MasterHandle(new, 12)))  # type: ignore[arg-type]
    reconciles = [call for call in calls if isinstance(call, Reconcile)]
    assert reconciles == [Reconcile(["t"], {"t": AGENT})]
    answers: list[Effect] = []
    for call in reconciles:
        answers += new.reconcile(framework_id, call.task_ids, 12, call.agent_ids)
    updates = [e for e in answers if isinstance(e, ForwardUpdates)]
    asyncio.run(actor.deliver_events(list(updates)))
    scheduler = actor.scheduler
    assert isinstance(scheduler, LaunchOnce)
    assert scheduler.seen == [("t", TaskState.TASK_GONE, Reason.REASON_RECONCILIATION)]
    # Heard of: not reconciled again with the leader after.
    calls.clear()
    asyncio.run(actor._follow(MasterHandle(leader(store, now=20), 20)))  # type: ignore[arg-type]
    assert not [call for call in calls if isinstance(call, Reconcile)]
