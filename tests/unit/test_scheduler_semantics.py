"""The framework actor's and the master actor's parts of Mesos's scheduler
semantics, without Ray (fake actor handles record what is sent): duplicates
are acknowledged only as the scheduler acknowledged them, reconciliation
answers reach the scheduler, and a replaced scheduler's calls are refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pyactors.core.protocol import Acknowledge, Call, ErrorEvent, ForwardUpdates, Kill
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.ha.leader import MasterLocation
from pyactors.master.actor import MasterActor
from pyactors.master.records import MasterConfig
from pyactors.runtime.handles import FrameworkRef
from pyactors.runtime.wire import unpack
from pyactors.scheduler.api import Driver, FrameworkActor, Scheduler


class _Method:
    def __init__(self, sent: list[tuple[str, tuple[Any, ...]]], name: str) -> None:
        self.sent, self.name = sent, name

    def remote(self, *args: Any) -> asyncio.Future[None]:
        self.sent.append((self.name, args))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class FakeHandle:
    """Stands for an actor's handle: records every message sent to it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, method: str) -> _Method:
        return _Method(self.sent, method)

    def events(self) -> list[Any]:
        """What deliver_events carried, packed as the wire packs it."""
        return [
            e
            for name, (events, *_) in self.sent
            if name == "deliver_events"
            for e in unpack(events)
        ]


class Recorder(Scheduler):
    auto_acknowledge = False

    def __init__(self) -> None:
        self.seen: list[TaskStatus] = []

    def update(self, driver: Driver, status: TaskStatus) -> None:
        self.seen.append(status)


def framework(scheduler: type[Scheduler]) -> tuple[FrameworkActor, list[Call]]:
    """A framework actor subscribed as "fw", and the calls it sends."""
    sent: list[Call] = []
    actor = FrameworkActor(
        scheduler, (), MasterLocation(), "fw", ["r"], 0.0, [], sink=lambda _, c: sent.extend(c)
    )
    host = FrameworkRef(FakeHandle())
    actor.driver = Driver(None, "fw", host, actor.sink)  # type: ignore[arg-type]
    return actor, sent


def running(uuid: str | None = "u1", reason: Reason | None = None) -> TaskStatus:
    return TaskStatus(
        "t", TaskState.TASK_RUNNING, Source.SOURCE_EXECUTOR, 1, "a", reason=reason, uuid=uuid
    )


def deliver(actor: FrameworkActor, *statuses: TaskStatus) -> None:
    asyncio.run(actor.deliver_events([ForwardUpdates("fw", list(statuses))]))


def test_a_duplicate_the_scheduler_did_not_acknowledge_is_not_acknowledged_for_it() -> None:
    actor, sent = framework(Recorder)
    deliver(actor, running())
    deliver(actor, running())
    assert sent == []
    assert len(actor.scheduler.seen) == 1  # type: ignore[attr-defined]
    driver = actor.driver
    assert driver is not None
    driver.acknowledge(running())
    assert sent == [Acknowledge([("t", "u1")])]
    # Its acknowledgement was lost on the way: the resend is acknowledged again.
    deliver(actor, running())
    assert sent == [Acknowledge([("t", "u1")])] * 2
    assert len(actor.scheduler.seen) == 1  # type: ignore[attr-defined]


def test_auto_acknowledge_acknowledges_every_copy() -> None:
    actor, sent = framework(Scheduler)
    deliver(actor, running(), running())
    assert sent == [Acknowledge([("t", "u1"), ("t", "u1")])]


def test_a_batch_of_updates_is_acknowledged_in_one_call_after_its_callbacks() -> None:
    class Killer(Scheduler):
        def update(self, driver: Driver, status: TaskStatus) -> None:
            driver.kill(status.task_id)

    actor, sent = framework(Killer)
    first, second = running("u1"), running("u2")
    deliver(actor, first, second, running("u2"))
    assert sent == [Kill("t"), Kill("t"), Acknowledge([("t", "u1"), ("t", "u2"), ("t", "u2")])]


def test_updates_delivered_before_a_callback_raised_are_still_acknowledged() -> None:
    class Failing(Recorder):
        auto_acknowledge = True

        def update(self, driver: Driver, status: TaskStatus) -> None:
            super().update(driver, status)
            if status.uuid == "u2":
                raise ValueError("the scheduler's bug")

    actor, sent = framework(Failing)
    with pytest.raises(ValueError):
        deliver(actor, running("u1"), running("u2"), running("u3"))
    assert [s.uuid for s in actor.scheduler.seen] == ["u1", "u2"]  # type: ignore[attr-defined]
    assert sent == [Acknowledge([("t", "u1")])]


def test_reconciliation_answers_reach_the_scheduler_even_when_they_repeat() -> None:
    actor, sent = framework(Recorder)
    answer = running(uuid=None, reason=Reason.REASON_RECONCILIATION)
    deliver(actor, running(), answer, answer)
    assert actor.scheduler.seen == [running(), answer, answer]  # type: ignore[attr-defined]
    # They carry no uuid: nothing to acknowledge.
    assert sent == []


def master_with_failed_over_framework() -> tuple[MasterActor, str, FakeHandle, FakeHandle]:
    """A master whose framework failed over from `old` to `new`."""
    master = MasterActor(MasterConfig(), http_port=None)
    old, new = FakeHandle(), FakeHandle()

    async def subscribe_twice() -> str:
        await master.leadership.start()
        framework_id = await master.subscribe(FrameworkRef(old), "fw", ["r"], None, [], 60.0)
        await master.subscribe(FrameworkRef(new), "fw", ["r"], framework_id, [], 60.0)
        return framework_id

    framework_id = asyncio.run(subscribe_twice())
    return master, framework_id, old, new


def test_a_replaced_schedulers_calls_are_refused_and_answered_to_it() -> None:
    master, framework_id, old, new = master_with_failed_over_framework()
    (failed_over,) = old.events()
    assert "failed over" in failed_over.message
    asyncio.run(master.calls_batch(old, [(framework_id, [Kill("t")])]))
    (_, refused) = old.events()
    assert isinstance(refused, ErrorEvent)
    assert refused.message.startswith("kill: not carried out: framework failed over")
    # Nothing was carried out: the kill of an unknown task would be answered.
    assert new.events() == []
    asyncio.run(master.calls_batch(new, [(framework_id, [Kill("t")])]))
    (answer,) = new.events()
    assert isinstance(answer, ForwardUpdates)
    assert answer.statuses[0].state is TaskState.TASK_UNKNOWN


def test_calls_of_a_framework_not_subscribed_with_this_master_are_dropped() -> None:
    master, framework_id, old, new = master_with_failed_over_framework()
    # As when the framework's actor was found dead, or before it subscribes
    # with a newly elected master.
    del master.frameworks[framework_id]
    for host in (old, new):
        asyncio.run(master.calls_batch(host, [(framework_id, [Kill("t")])]))
    assert new.events() == []
    assert len(old.events()) == 1  # "failed over", when it was replaced
