"""The operator API's event stream from a master state driven directly (no
Ray, no HTTP): what each change tells subscribers, in Mesos's order, what a
view ACL hides, and when a stream ends."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from pyactors import Resources
from pyactors.api.access import Viewer
from pyactors.api.state_json import About
from pyactors.api.v1 import operator_events
from pyactors.api.v1.operator_events import OperatorEvents, StreamClosed, Subscriber
from pyactors.api.v1.recordio import Decoder
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import SendOffers
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.master.state import MasterConfig, MasterState
from pyactors.security.acls import Acls

ABOUT = About(id="m1", version="0.1.0", clock_offset=1000.0)


def events_of(subscriber: Subscriber) -> list[dict[str, Any]]:
    decoded = Decoder().decode(b"".join(subscriber.pending))
    subscriber.pending.clear()
    return [orjson.loads(record) for record in decoded]


def kinds(subscriber: Subscriber) -> list[str]:
    return [e["type"] for e in events_of(subscriber)]


def add_agent(master: MasterState, agent_id: str, now: float = 0) -> None:
    master.register_agent(agent_id, agent_id, Resources.parse("cpus:4;mem:1024"), {}, now=now)


def launch(master: MasterState, framework_id: str, task_id: str, now: float) -> None:
    (batch,) = [e for e in master.allocate(now=now) if isinstance(e, SendOffers)]
    offer = batch.offers[0]
    task = TaskInfo(task_id, task_id, Resources.parse("cpus:1;mem:64"), command="true")
    master.accept(framework_id, [offer.id], [Launch([task])], refuse_seconds=0, now=now)


def update(master: MasterState, task_id: str, state: TaskState, now: float) -> None:
    (record,) = [r for r in master.tasks.values() if r.task.task_id == task_id]
    status = TaskStatus(task_id, state, Source.SOURCE_AGENT, now, agent_id=record.agent_id)
    master.status_updates(record.agent_id, [status])


def test_a_task_and_its_framework_and_agent_from_start_to_end() -> None:
    master = MasterState(MasterConfig())
    hub = OperatorEvents(lambda: ABOUT)
    subscriber = hub.subscribe(master, Viewer(master.config.acls, None))
    assert not subscriber.pending

    add_agent(master, "a1")
    hub.observe(master)
    (added,) = events_of(subscriber)
    assert added["type"] == "AGENT_ADDED"
    assert added["agent_added"]["agent"]["agent_info"]["id"] == {"value": "a1"}

    fw, _ = master.subscribe("fw", ["r"], now=1)
    hub.observe(master)
    (framework,) = events_of(subscriber)
    assert framework["type"] == "FRAMEWORK_ADDED"
    info = framework["framework_added"]["framework"]["framework_info"]
    assert info["id"] == {"value": fw} and info["name"] == "fw"

    launch(master, fw, "t1", now=2)
    hub.observe(master)
    (task,) = events_of(subscriber)
    assert task["type"] == "TASK_ADDED"
    assert task["task_added"]["task"]["task_id"] == {"value": "t1"}
    assert task["task_added"]["task"]["state"] == "TASK_STAGING"

    hub.observe(master)  # nothing changed: nothing told
    assert not subscriber.pending

    update(master, "t1", TaskState.TASK_RUNNING, now=3)
    update(master, "t1", TaskState.TASK_FINISHED, now=4)
    hub.observe(master)
    (updated,) = events_of(subscriber)  # the latest state, as Mesos's master sees it
    assert updated["type"] == "TASK_UPDATED"
    body = updated["task_updated"]
    assert body["framework_id"] == {"value": fw} and body["state"] == "TASK_FINISHED"
    assert body["status"]["task_id"] == {"value": "t1"}
    assert body["status"]["timestamp"] == 1004.0

    master.disconnect(fw, now=5)
    hub.observe(master)
    (disconnected,) = events_of(subscriber)
    assert disconnected["type"] == "FRAMEWORK_UPDATED"
    assert disconnected["framework_updated"]["framework"]["connected"] is False

    master.teardown(fw, now=6)
    master.agent_lost("a1", now=6)
    hub.observe(master)
    removed = events_of(subscriber)
    assert [e["type"] for e in removed] == ["FRAMEWORK_REMOVED", "AGENT_REMOVED"]
    assert removed[0]["framework_removed"]["framework_info"]["id"] == {"value": fw}
    assert removed[1]["agent_removed"]["agent_id"] == {"value": "a1"}

    add_agent(master, "a1", now=7)  # back from unreachable
    hub.observe(master)
    assert kinds(subscriber) == ["AGENT_ADDED"]


def test_teardown_tells_the_tasks_killed_before_the_framework_removed() -> None:
    master = MasterState(MasterConfig())
    add_agent(master, "a1")
    fw, _ = master.subscribe("fw", ["r"], now=1)
    launch(master, fw, "t1", now=2)
    hub = OperatorEvents(lambda: ABOUT)
    subscriber = hub.subscribe(master, Viewer(master.config.acls, None))
    master.teardown(fw, now=3)
    hub.observe(master)
    told = events_of(subscriber)
    assert [e["type"] for e in told] == ["TASK_UPDATED", "FRAMEWORK_REMOVED"]
    assert told[0]["task_updated"]["state"] == "TASK_KILLED"


def test_view_acls_hide_other_frameworks_and_their_tasks() -> None:
    acls = Acls.load(
        {
            "view_frameworks": [
                {"principals": {"values": ["ops"]}, "roles": {"values": ["mine"]}},
                {"principals": {"values": ["ops"]}, "roles": {"type": "NONE"}},
            ],
            "view_tasks": [
                {"principals": {"values": ["ops"]}, "roles": {"values": ["mine"]}},
                {"principals": {"values": ["ops"]}, "roles": {"type": "NONE"}},
            ],
        }
    )
    master = MasterState(MasterConfig(acls=acls))
    hub = OperatorEvents(lambda: ABOUT)
    ops = hub.subscribe(master, Viewer(acls, "ops"))
    admin = hub.subscribe(master, Viewer(acls, "admin"))
    add_agent(master, "a1")
    add_agent(master, "a2")
    names = {master.subscribe(name, [name], now=1)[0]: name for name in ("mine", "theirs")}
    hub.observe(master)
    assert kinds(admin) == ["AGENT_ADDED"] * 2 + ["FRAMEWORK_ADDED"] * 2
    told = events_of(ops)
    assert [e["type"] for e in told] == ["AGENT_ADDED"] * 2 + ["FRAMEWORK_ADDED"]
    assert told[2]["framework_added"]["framework"]["framework_info"]["name"] == "mine"
    batches = [e for e in master.allocate(now=2) if isinstance(e, SendOffers)]
    assert {names[b.framework_id] for b in batches} == {"mine", "theirs"}
    for batch in batches:
        task_id = f"{names[batch.framework_id]}-task"
        task = TaskInfo(task_id, task_id, Resources.parse("cpus:1"), command="true")
        master.accept(batch.framework_id, [batch.offers[0].id], [Launch([task])], 0, now=2)
    hub.observe(master)
    assert sorted(e["task_added"]["task"]["task_id"]["value"] for e in events_of(admin)) == [
        "mine-task",
        "theirs-task",
    ]
    assert [e["task_added"]["task"]["task_id"]["value"] for e in events_of(ops)] == ["mine-task"]


def test_streams_end_with_the_term_and_when_too_far_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    master = MasterState(MasterConfig())
    hub = OperatorEvents(lambda: ABOUT)
    subscriber = hub.subscribe(master, Viewer(master.config.acls, None))
    hub.observe(None)  # stepped down
    assert subscriber.closed is not None and hub.subscribers == []
    with pytest.raises(StreamClosed):
        asyncio.run(subscriber.next(1.0))

    monkeypatch.setattr(operator_events, "MAX_PENDING", 2)
    slow = hub.subscribe(master, Viewer(master.config.acls, None))
    for agent_id in ("a1", "a2", "a3"):
        add_agent(master, agent_id)
    hub.observe(master)
    assert slow.closed is not None and hub.subscribers == []


def test_next_waits_for_records_and_times_out_empty() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        subscriber = Subscriber(Viewer(Acls(), None))
        empty = await subscriber.next(0.01)
        asyncio.get_running_loop().call_later(0.01, subscriber.push, b"1\nx")
        return empty, await subscriber.next(30.0)

    assert asyncio.run(scenario()) == ([], [b"1\nx"])
