"""The master's state machine driven through whole scenarios (no Ray)."""

from __future__ import annotations

import pytest

from pyactors import Resources
from pyactors.api import state_json
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Create, Destroy, Launch, Reserve, TaskInfo, Unreserve
from pyactors.core.protocol import (
    AcknowledgeToAgent,
    AgentLost,
    DestroyVolumes,
    ErrorEvent,
    ForwardUpdates,
    FrameworkMessages,
    KillTasks,
    LaunchTasks,
    MessageToTask,
    Rescind,
    ResendUpdates,
    SendOffers,
    TaskReport,
)
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.errors import (
    FencedError,
    InvalidArgumentError,
    UnknownAgentError,
    UnknownFrameworkError,
)
from pyactors.master.outbox import coalesce
from pyactors.master.registry import MemoryRegistry, MemoryStore
from pyactors.master.registry_records import MaintenanceEntry
from pyactors.master.state import MasterConfig, MasterState


def task(task_id: str, resources: str = "cpus:1;mem:128") -> TaskInfo:
    return TaskInfo(task_id, task_id, Resources.parse(resources), command="sleep 1")


def cluster(agents: int = 2) -> tuple[MasterState, str]:
    master = MasterState(MasterConfig(offer_timeout=30, agent_timeout=10))
    for i in range(agents):
        master.register_agent(
            f"agent-{i}", f"host-{i}", Resources.parse("cpus:4;mem:1024"), {}, now=0
        )
    framework_id, _ = master.subscribe("pi", ["science"], now=0)
    return master, framework_id


def of(effects: list[object], kind: type) -> list:
    return [e for e in effects if isinstance(e, kind)]


def agent_update(task_id: str, state: TaskState, at: float) -> TaskStatus:
    return TaskStatus(task_id, state, Source.SOURCE_AGENT, at, agent_id="agent-0")


def test_one_offer_batch_per_framework_per_cycle() -> None:
    master, framework_id = cluster(agents=3)
    (batch,) = of(master.allocate(now=1), SendOffers)
    assert batch.framework_id == framework_id
    assert sorted(o.agent_id for o in batch.offers) == ["agent-0", "agent-1", "agent-2"]
    assert {o.hostname for o in batch.offers} == {"host-0", "host-1", "host-2"}


def test_launch_run_finish_acknowledge() -> None:
    master, fw = cluster(agents=1)
    (batch,) = of(master.allocate(now=1), SendOffers)
    offer = batch.offers[0]
    effects = master.accept(fw, [offer.id], [Launch([task("t1")])], refuse_seconds=0, now=2)
    (launch,) = of(effects, LaunchTasks)
    assert (launch.agent_id, [t.task_id for t in launch.tasks]) == ("agent-0", ["t1"])
    assert master.tasks["t1"].state is TaskState.TASK_STAGING
    # The unused part went back: the next cycle offers it again.
    (again,) = of(master.allocate(now=3), SendOffers)
    assert str(again.offers[0].resources) == "cpus:3;mem:896"
    running = agent_update("t1", TaskState.TASK_RUNNING, 4)
    (forward,) = of(master.status_updates("agent-0", [running]), ForwardUpdates)
    assert forward.statuses == [running]
    assert master.acknowledge(fw, [("t1", running.uuid or "")]) == [
        AcknowledgeToAgent("agent-0", [("t1", running.uuid or "")])
    ]
    finished = agent_update("t1", TaskState.TASK_FINISHED, 5)
    master.status_updates("agent-0", [finished])
    assert master.tasks["t1"].state is TaskState.TASK_FINISHED
    # Its resources are free again (the outstanding offer still holds the rest).
    snapshot = master.allocator.snapshot()
    assert snapshot["agents"]["agent-0"]["available"] == "cpus:1;mem:128"


def test_bad_accepts_give_task_error_and_change_nothing_else() -> None:
    master, fw = cluster(agents=2)
    (batch,) = of(master.allocate(now=1), SendOffers)
    ids = [o.id for o in batch.offers]
    effects = master.accept(fw, ids, [Launch([task("t")])], refuse_seconds=0, now=2)
    (error,) = of(effects, ErrorEvent)
    assert "more than one agent" in error.message
    (forward,) = of(effects, ForwardUpdates)
    assert [(s.state, s.reason) for s in forward.statuses] == [
        (TaskState.TASK_ERROR, Reason.REASON_INVALID_OFFERS)
    ]
    assert master.tasks == {}
    assert len(master.offers) == 0
    # Both offers' resources returned to the allocator.
    assert len(of(master.allocate(now=3), SendOffers)[0].offers) == 2


def test_unanswered_offers_are_rescinded() -> None:
    master, _ = cluster(agents=1)
    (batch,) = of(master.allocate(now=1), SendOffers)
    master.heartbeat("agent-0", now=19)
    assert master.expire(now=20) == []
    master.heartbeat("agent-0", now=30)
    (rescind,) = of(master.expire(now=31), Rescind)
    assert rescind.offer_ids == [batch.offers[0].id]
    assert len(of(master.allocate(now=32), SendOffers)) == 1


def test_silent_agent_becomes_unreachable_and_returns_with_its_tasks() -> None:
    master, fw = cluster(agents=1)
    (batch,) = of(master.allocate(now=1), SendOffers)
    master.accept(fw, [batch.offers[0].id], [Launch([task("a"), task("b")])], 0, now=1)
    master.heartbeat("agent-0", now=5)
    assert master.expire(now=14) == []
    (lost,) = of(master.expire(now=16), ForwardUpdates)
    assert {s.state for s in lost.statuses} == {TaskState.TASK_UNREACHABLE}
    assert master.allocator.snapshot()["agents"] == {}
    with pytest.raises(UnknownAgentError):
        master.heartbeat("agent-0", now=17)
    running = TaskStatus("a", TaskState.TASK_RUNNING, Source.SOURCE_EXECUTOR, 3, agent_id="agent-0")
    effects = master.register_agent(
        "agent-0",
        "host-0",
        Resources.parse("cpus:4;mem:1024"),
        {},
        now=20,
        tasks=[TaskReport(fw, "science", task("a"), running)],
    )
    (back,) = of(effects, ForwardUpdates)
    assert {s.task_id: s.state for s in back.statuses} == {
        "a": TaskState.TASK_RUNNING,
        "b": TaskState.TASK_GONE,
    }
    assert master.allocator.snapshot()["agents"]["agent-0"]["available"] == "cpus:3;mem:896"
    # The master's GONE is not acknowledged: the task is completed at once,
    # and its id taken no more.
    assert "b" not in master.tasks and master.completed["b"].state is TaskState.TASK_GONE


def test_kill_reconcile_and_stale_updates() -> None:
    master, fw = cluster(agents=1)
    (batch,) = of(master.allocate(now=1), SendOffers)
    master.accept(fw, [batch.offers[0].id], [Launch([task("t")])], 0, now=1)
    assert master.kill(fw, "t", now=2) == [KillTasks("agent-0", fw, ["t"])]
    (unknown,) = of(master.kill(fw, "nope", now=2), ForwardUpdates)
    assert unknown.statuses[0].state is TaskState.TASK_UNKNOWN
    (answer,) = of(master.reconcile(fw, [], now=3), ForwardUpdates)
    assert [(s.task_id, s.state, s.uuid) for s in answer.statuses] == [
        ("t", TaskState.TASK_STAGING, None)
    ]
    # An update for a task the master does not know is acknowledged, not forwarded.
    ghost = agent_update("ghost", TaskState.TASK_RUNNING, 3)
    effects = master.status_updates("agent-0", [ghost])
    assert of(effects, ForwardUpdates) == []
    assert of(effects, AcknowledgeToAgent) == [
        AcknowledgeToAgent("agent-0", [("ghost", ghost.uuid or "")])
    ]


def test_failover_reconnects_with_the_same_id() -> None:
    master, fw = cluster(agents=1)
    master.disconnect(fw, now=1)
    assert master.allocate(now=2) == []
    same, _ = master.subscribe("pi", ["science"], now=3, framework_id=fw)
    assert same == fw
    assert len(of(master.allocate(now=4), SendOffers)) == 1


def test_failover_timeout_tears_the_framework_down() -> None:
    master = MasterState(MasterConfig(offer_timeout=300, agent_timeout=300))
    master.register_agent("agent-0", "host-0", Resources.parse("cpus:4;mem:1024"), {}, now=0)
    fw, _ = master.subscribe("pi", ["science"], now=0, failover_timeout=10)
    (batch,) = of(master.allocate(now=1), SendOffers)
    master.accept(fw, [batch.offers[0].id], [Launch([task("t")])], 0, now=1)
    master.disconnect(fw, now=2)
    assert master.expire(now=11.9) == []
    # Reconnecting within the timeout keeps everything.
    master.subscribe("pi", ["science"], now=5, framework_id=fw, failover_timeout=10)
    master.disconnect(fw, now=6)
    assert master.expire(now=15) == []
    assert master.expire(now=16) == [KillTasks("agent-0", fw, ["t"])]
    assert fw not in master.frameworks
    assert master.allocator.snapshot()["agents"]["agent-0"]["available"] == "cpus:4;mem:1024"
    # The kill's terminal update is acknowledged for the agent, not forwarded.
    killed = agent_update("t", TaskState.TASK_KILLED, 17)
    assert master.status_updates("agent-0", [killed]) == [
        AcknowledgeToAgent("agent-0", [("t", killed.uuid or "")])
    ]


def launched(master: MasterState, fw: str, *task_ids: str, now: float = 1) -> str:
    (batch,) = of(master.allocate(now=now), SendOffers)
    offer = batch.offers[0]
    master.accept(fw, [offer.id], [Launch([task(t) for t in task_ids])], 0, now=now)
    return offer.agent_id


def test_acknowledgements_are_batched_per_agent_and_validated_whole() -> None:
    master, fw = cluster(agents=1)
    launched(master, fw, "a", "b")
    ups = [agent_update(t, TaskState.TASK_RUNNING, 2) for t in ("a", "b")]
    master.status_updates("agent-0", ups)
    acks = [(u.task_id, u.uuid or "") for u in ups]
    with pytest.raises(InvalidArgumentError, match="'ghost' is not a task"):
        master.acknowledge(fw, [*acks, ("ghost", "x")])
    assert master.acknowledge(fw, acks) == [AcknowledgeToAgent("agent-0", acks)]


def test_acknowledged_terminal_tasks_move_to_a_bounded_history() -> None:
    master = MasterState(MasterConfig(max_completed_tasks=2))
    master.register_agent("agent-0", "h", Resources.parse("cpus:4;mem:1024"), {}, now=0)
    fw, _ = master.subscribe("pi", ["r"], now=0)
    launched(master, fw, "a", "b", "c")
    for i, t in enumerate(("a", "b", "c")):
        done = agent_update(t, TaskState.TASK_FINISHED, 2 + i)
        master.status_updates("agent-0", [done])
        assert t in master.tasks
        master.acknowledge(fw, [(t, done.uuid or "")])
        assert t not in master.tasks
    assert list(master.completed) == ["b", "c"]
    (summary,) = state_json.cluster_state(master)["frameworks"]
    assert [t["id"] for t in summary["completed_tasks"]] == ["b", "c"]
    (reconciled,) = of(master.reconcile(fw, ["c"], now=9), ForwardUpdates)
    assert reconciled.statuses[0].state is TaskState.TASK_FINISHED


def test_a_disconnected_framework_gets_its_updates_after_failing_over() -> None:
    master, fw = cluster(agents=1)
    launched(master, fw, "a")
    master.disconnect(fw, now=2)
    running = agent_update("a", TaskState.TASK_RUNNING, 3)
    # Recorded, not forwarded, not acknowledged: the agent keeps it.
    assert master.status_updates("agent-0", [running]) == []
    assert master.tasks["a"].state is TaskState.TASK_RUNNING
    _, effects = master.subscribe("pi", ["science"], now=4, framework_id=fw)
    assert effects == [ResendUpdates("agent-0", ["a"])]
    (forward,) = of(master.status_updates("agent-0", [running]), ForwardUpdates)
    assert forward.statuses == [running]


def test_a_torn_down_framework_cannot_come_back() -> None:
    master, fw = cluster(agents=1)
    master.teardown(fw, 1)
    with pytest.raises(UnknownFrameworkError, match="torn down"):
        master.subscribe("pi", ["science"], now=1, framework_id=fw)
    # An id the master never saw is admitted (after a master failover).
    again, _ = master.subscribe("pi", ["science"], now=1, framework_id="framework-77")
    assert again == "framework-77"


def test_update_framework_is_all_or_nothing() -> None:
    master, fw = cluster(agents=1)
    launched(master, fw, "a")
    with pytest.raises(InvalidArgumentError):
        master.update_framework(fw, roles=["other"], failover_timeout=5)
    assert master.frameworks[fw].roles == ["science"]
    assert master.frameworks[fw].failover_timeout == 0
    master.update_framework(fw, roles=["science", "other"], name="pi2")
    assert (master.frameworks[fw].roles, master.frameworks[fw].name) == (
        ["science", "other"],
        "pi2",
    )


def test_agent_lost_marks_unreachable_at_once() -> None:
    master, fw = cluster(agents=1)
    launched(master, fw, "a")
    (forward,) = of(master.agent_lost("agent-0", now=2), ForwardUpdates)
    assert [s.state for s in forward.statuses] == [TaskState.TASK_UNREACHABLE]
    assert master.agent_lost("agent-0", now=3) == []


def test_coalesce_merges_per_receiver_in_order() -> None:
    effects = coalesce(
        [
            AcknowledgeToAgent("a1", [("t1", "u1")]),
            ErrorEvent("f", "x"),
            AcknowledgeToAgent("a1", [("t2", "u2")]),
            KillTasks("a1", "f", ["t3"]),
            KillTasks("a1", "f", ["t4"]),
            AcknowledgeToAgent("a2", [("t5", "u5")]),
        ]
    )
    assert effects == [
        AcknowledgeToAgent("a1", [("t1", "u1"), ("t2", "u2")]),
        ErrorEvent("f", "x"),
        KillTasks("a1", "f", ["t3", "t4"]),
        AcknowledgeToAgent("a2", [("t5", "u5")]),
    ]


def test_fresh_framework_ids_skip_ids_already_admitted() -> None:
    master = MasterState()
    master.subscribe("old", ["r"], now=0, framework_id="framework-1")
    fresh, _ = master.subscribe("new", ["r"], now=0)
    assert fresh == "framework-2"


def test_messages_between_schedulers_and_live_tasks() -> None:
    master, fw = cluster(agents=1)
    launched(master, fw, "a")
    assert master.message_to_task(fw, "agent-0", "a", b"hi") == [
        MessageToTask("agent-0", "a", b"hi")
    ]
    with pytest.raises(InvalidArgumentError, match="no live task 'b'"):
        master.message_to_task(fw, "agent-0", "b", b"hi")
    with pytest.raises(InvalidArgumentError, match="at most"):
        master.message_to_task(fw, "agent-0", "a", b"x" * (2 << 20))
    assert master.messages_from_tasks("agent-0", [("a", b"up"), ("ghost", b"?")]) == [
        FrameworkMessages(fw, [("agent-0", "a", b"up")])
    ]
    master.disconnect(fw, now=3)
    assert master.messages_from_tasks("agent-0", [("a", b"up")]) == []


def test_a_lost_agent_is_announced_to_connected_frameworks() -> None:
    master, fw = cluster(agents=1)
    other, _ = master.subscribe("other", ["x"], now=0)
    master.disconnect(other, now=1)
    assert of(master.agent_lost("agent-0", now=2), AgentLost) == [AgentLost(fw, "agent-0")]


def offer_of(master: MasterState, fw: str, now: float) -> OfferInfo:
    (batch,) = [b for b in of(master.allocate(now=now), SendOffers) if b.framework_id == fw]
    (offer,) = batch.offers
    return offer


def reservation_cluster() -> tuple[MasterState, str, str]:
    master = MasterState()
    master.register_agent("agent-0", "h", Resources.parse("cpus:4;mem:1024;disk:1000"), {}, now=0)
    eng, _ = master.subscribe("eng", ["eng"], now=0)
    ops, _ = master.subscribe("ops", ["ops"], now=0)
    return master, eng, ops


def test_reserved_resources_are_offered_to_their_role_only() -> None:
    master, eng, _ = reservation_cluster()
    offer = offer_of(master, eng, now=1)
    reserved = Resources.parse("cpus(eng,alice):2;disk(eng,alice):500")
    task = TaskInfo("t", "t", Resources.parse("cpus(eng,alice):1;mem:64"), command="true")
    effects = master.accept(eng, [offer.id], [Reserve(reserved), Launch([task])], 0, now=1)
    assert of(effects, ErrorEvent) == []
    assert [t.task_id for (launch,) in [of(effects, LaunchTasks)] for t in launch.tasks] == ["t"]
    assert str(master.agents["agent-0"].total) == (
        "cpus:2;cpus(eng,alice):2;disk:500;disk(eng,alice):500;mem:1024"
    )
    # The task ends: its reserved cpu comes back, and only eng is offered it.
    master.status_updates("agent-0", [agent_update("t", TaskState.TASK_FINISHED, 2)])
    for now in (3, 4):
        for batch in of(master.allocate(now=now), SendOffers):
            for o in batch.offers:
                reserved_part = o.resources.reserved("eng")
                assert not reserved_part or batch.framework_id == eng
                master.decline(batch.framework_id, [o.id], 0, now=now)


def test_reserve_for_another_role_is_dropped_with_an_error() -> None:
    master, eng, _ = reservation_cluster()
    offer = offer_of(master, eng, now=1)
    before = master.allocator.snapshot()["agents"]["agent-0"]["total"]
    effects = master.accept(
        eng, [offer.id], [Reserve(Resources.parse("cpus(ops,alice):1"))], 0, now=1
    )
    (error,) = of(effects, ErrorEvent)
    assert "only for the offer's role 'eng'" in error.message
    assert master.allocator.snapshot()["agents"]["agent-0"]["total"] == before
    assert str(master.agents["agent-0"].total) == "cpus:4;disk:1000;mem:1024"


def test_volumes_are_created_from_reserved_disk_and_destroyed() -> None:
    master, eng, _ = reservation_cluster()
    offer = offer_of(master, eng, now=1)
    # Reserved cpus make the reserved bundle allocatable on its own.
    reserved = Resources.parse("cpus(eng,alice):1;disk(eng,alice):500")
    master.accept(eng, [offer.id], [Reserve(reserved)], 0, now=1)
    offer = offer_of(master, eng, now=2)
    volume = Resources.parse("disk(eng,alice)[data]:200")
    assert of(master.accept(eng, [offer.id], [Create(volume)], 0, now=2), ErrorEvent) == []
    assert "disk(eng,alice)[data]:200" in str(master.agents["agent-0"].total)
    offer = offer_of(master, eng, now=3)
    assert volume <= offer.resources
    # The same volume id cannot be created twice: the whole accept is
    # refused, its task included, and nothing changes.
    again = TaskInfo("t2", "t", Resources.parse("cpus:1"), command="true")
    effects = master.accept(
        eng, [offer.id], [Destroy(volume), Create(volume), Create(volume), Launch([again])], 0, 3
    )
    assert any("not applied" in e.message for e in of(effects, ErrorEvent))
    (errors,) = of(effects, ForwardUpdates)
    assert [(s.task_id, s.state) for s in errors.statuses] == [("t2", TaskState.TASK_ERROR)]
    assert "disk(eng,alice)[data]:200" in str(master.agents["agent-0"].total)
    offer = offer_of(master, eng, now=4)
    effects = master.accept(eng, [offer.id], [Destroy(volume), Unreserve(reserved)], 0, 4)
    assert str(master.agents["agent-0"].total) == "cpus:4;disk:1000;mem:1024"
    # The agent is told to delete the volume's data.
    assert of(effects, DestroyVolumes) == [DestroyVolumes("agent-0", ["data"])]


# ------------------------------------------------------------------ recovery


def leader(store: MemoryStore, now: float, reregister: float = 10.0) -> MasterState:
    """A master elected over the shared registry store: it recovers it."""
    config = MasterConfig(offer_timeout=30, agent_timeout=10, agent_reregister_timeout=reregister)
    master = MasterState(config, MemoryRegistry(store))
    assert master.recover(now) == []
    return master


def running_report(fw: str, task_id: str, agent_id: str) -> TaskReport:
    status = TaskStatus(
        task_id, TaskState.TASK_RUNNING, Source.SOURCE_EXECUTOR, 2, agent_id=agent_id
    )
    return TaskReport(fw, "science", task(task_id), status)


def test_a_new_leader_recovers_the_registry_and_fences_the_old_one() -> None:
    store = MemoryStore()
    old = leader(store, now=0)
    for i in range(2):
        old.register_agent(f"agent-{i}", f"host-{i}", Resources.parse("cpus:4;mem:1024"), {}, 0)
    fw, _ = old.subscribe("pi", ["science"], now=0, failover_timeout=5)
    old.set_weight("science", 2.0)
    old.set_quota("science", "cpus:1", "cpus:6")
    new = leader(store, now=100)
    with pytest.raises(FencedError):
        old.set_weight("science", 3.0)
    (record,) = new.frameworks.values()
    assert (record.framework_id, record.connected, record.disconnected_at) == (fw, False, 100)
    assert new.recovering.keys() == {"agent-0", "agent-1"}
    roles = new.allocator.snapshot()["roles"]
    assert roles["science"]["weight"] == 2.0
    assert (roles["science"]["guarantee"], roles["science"]["limit"]) == ({"cpus": 1}, {"cpus": 6})
    # Agents come back with their tasks: records and allocations rebuilt.
    new.register_agent(
        "agent-0",
        "host-0",
        Resources.parse("cpus:4;mem:1024"),
        {},
        101,
        [running_report(fw, "a", "agent-0")],
    )
    assert new.tasks["a"].state is TaskState.TASK_RUNNING
    assert new.allocator.snapshot()["agents"]["agent-0"]["available"] == "cpus:3;mem:896"
    # The scheduler re-subscribes with its id and asks about its tasks,
    # naming where it saw them; agent-1 is still awaited.
    assert new.subscribe("pi", ["science"], 102, fw, failover_timeout=5)[0] == fw
    (answer,) = of(
        new.reconcile(fw, ["a", "b"], 102, {"a": "agent-0", "b": "agent-1"}), ForwardUpdates
    )
    assert [(s.task_id, s.state) for s in answer.statuses] == [("a", TaskState.TASK_RUNNING)]
    assert new.expire(now=109) == []
    effects = new.expire(now=110)
    (late,) = of(effects, ForwardUpdates)
    assert [(s.task_id, s.state) for s in late.statuses] == [("b", TaskState.TASK_UNREACHABLE)]
    assert of(effects, AgentLost) == [AgentLost(fw, "agent-1")]
    assert new.agents["agent-1"].reachable is False


def test_a_recovered_framework_that_does_not_come_back_is_torn_down() -> None:
    store = MemoryStore()
    old = leader(store, now=0)
    old.register_agent("agent-0", "host-0", Resources.parse("cpus:4;mem:1024"), {}, 0)
    fw, _ = old.subscribe("pi", ["science"], now=0, failover_timeout=1)
    new = leader(store, now=100, reregister=5)
    # Its own timeout is 1 s, but a live scheduler gets the agents' grace.
    assert new.expire(now=102) == []
    new.register_agent(
        "agent-0",
        "host-0",
        Resources.parse("cpus:4;mem:1024"),
        {},
        103,
        [running_report(fw, "a", "agent-0")],
    )
    effects = new.expire(now=105)
    assert of(effects, KillTasks) == [KillTasks("agent-0", fw, ["a"])]
    assert fw not in new.frameworks
    # Gone from the registry too: the next leader does not know it, and
    # kills its tasks when their agent reports them.
    third = leader(store, now=200)
    assert third.frameworks == {}
    killed = third.register_agent(
        "agent-0",
        "host-0",
        Resources.parse("cpus:4;mem:1024"),
        {},
        201,
        [running_report(fw, "a", "agent-0")],
    )
    assert killed == [KillTasks("agent-0", fw, ["a"])]
    assert "a" not in third.tasks


def test_weights_and_quotas_are_checked_before_they_are_stored() -> None:
    store = MemoryStore()
    master = leader(store, now=0)
    with pytest.raises(InvalidArgumentError):
        master.set_quota("q", "cpus:2", "cpus:1")
    with pytest.raises(InvalidArgumentError):
        master.set_weight("w", -1.0)
    master.set_quota("q", "cpus:1")
    master.set_quota("q", "")
    snapshot = MemoryRegistry(store).load()
    assert (snapshot.weights, snapshot.quotas) == ({}, {})


def test_reservations_are_stored_and_survive_a_new_leader() -> None:
    store = MemoryStore()
    old = leader(store, now=0)
    old.register_agent("agent-0", "h", Resources.parse("cpus:4;mem:1024;disk:1000"), {}, 0)
    eng, _ = old.subscribe("eng", ["eng"], now=0, failover_timeout=60)
    offer = offer_of(old, eng, now=1)
    reserved = Resources.parse("cpus(eng,alice):1;disk(eng,alice):500")
    volume = Resources.parse("disk(eng,alice)[data]:200")
    old.accept(eng, [offer.id], [Reserve(reserved), Create(volume)], 0, now=1)
    stored = MemoryRegistry(store).load().reservations
    assert stored == {
        "agent-0": ("cpus(eng,alice):1;disk(eng,alice):300;disk(eng,alice)[data]:200",)
    }
    new = leader(store, now=10)
    # The agent reports what it always has; the new leader lays the stored
    # reservations and volume over it.
    new.register_agent("agent-0", "h", Resources.parse("cpus:4;mem:1024;disk:1000"), {}, 11)
    assert str(new.agents["agent-0"].total) == (
        "cpus:3;cpus(eng,alice):1;disk:500;disk(eng,alice):300;disk(eng,alice)[data]:200;mem:1024"
    )
    new.subscribe("eng", ["eng"], now=11, framework_id=eng, failover_timeout=60)
    offer = offer_of(new, eng, now=12)
    assert volume <= offer.resources
    # Unreserving everything removes the record.
    new.accept(eng, [offer.id], [Destroy(volume), Unreserve(reserved)], 0, now=12)
    assert MemoryRegistry(store).load().reservations == {}


def test_shutting_an_executor_down_kills_its_task() -> None:
    master, fw = cluster(agents=1)
    launched(master, fw, "a")
    assert master.shutdown_executor(fw, "agent-0", "a", now=2) == [KillTasks("agent-0", fw, ["a"])]
    with pytest.raises(InvalidArgumentError, match=r"no executor 'a' .* on agent 'agent-1'"):
        master.shutdown_executor(fw, "agent-1", "a", now=2)


# ---------------------------------------------------------------- maintenance


def test_draining_rescinds_offers_kills_tasks_with_the_grace_and_stops_offers() -> None:
    master, fw = cluster(agents=2)
    assert launched(master, fw, "a") == "agent-0"
    master.allocate(now=2)
    on_agent_0 = [o.id for o in master.offers if o.agent_id == "agent-0"]
    assert on_agent_0
    effects = master.drain_agent("agent-0", grace_period=7.5)
    assert of(effects, KillTasks) == [
        KillTasks("agent-0", fw, ["a"], 7.5, Reason.REASON_AGENT_DRAINING)
    ]
    (rescind,) = of(effects, Rescind)
    assert rescind.offer_ids == on_agent_0
    # Only agent-1 offers from now on, even once everything is declined.
    master.decline(fw, [o.id for o in master.offers], 0, now=3)
    (again,) = of(master.allocate(now=4), SendOffers)
    assert {o.agent_id for o in again.offers} == {"agent-1"}
    master.status_updates("agent-0", [agent_update("a", TaskState.TASK_KILLED, 5)])
    master.reactivate_agent("agent-0")
    (back,) = of(master.allocate(now=6), SendOffers)
    assert {o.agent_id for o in back.offers} == {"agent-0"}


def test_maintenance_is_checked_stored_and_survives_a_new_leader() -> None:
    store = MemoryStore()
    old = leader(store, now=0)
    old.register_agent("agent-0", "h", Resources.parse("cpus:4;mem:1024"), {}, 0)
    fw, _ = old.subscribe("fw", ["science"], now=0, failover_timeout=60)
    with pytest.raises(UnknownAgentError):
        old.drain_agent("agent-9", None)
    with pytest.raises(InvalidArgumentError, match="grace_period"):
        old.drain_agent("agent-0", -1.0)
    with pytest.raises(InvalidArgumentError, match="not under maintenance"):
        old.reactivate_agent("agent-0")
    assert old.maintenance == {}
    offer = offer_of(old, fw, now=1)
    old.accept(fw, [offer.id], [Launch([task("a")])], 0, now=1)
    old.drain_agent("agent-0", None)
    # A new leader hears of the task from the agent and drains it again.
    new = leader(store, now=10)
    assert new.maintenance == {"agent-0": MaintenanceEntry("agent-0", None)}
    report = running_report(fw, "a", "agent-0")
    effects = new.register_agent(
        "agent-0", "h", Resources.parse("cpus:4;mem:1024"), {}, 11, [report]
    )
    assert of(effects, KillTasks) == [
        KillTasks("agent-0", fw, ["a"], None, Reason.REASON_AGENT_DRAINING)
    ]
    new.subscribe("fw", ["science"], now=11, framework_id=fw, failover_timeout=60)
    assert of(new.allocate(now=12), SendOffers) == []
    new.reactivate_agent("agent-0")
    assert MemoryRegistry(store).load().maintenance == {}


# ------------------------------------------------- Mesos's semantics (issue 19)


def test_a_lost_agents_held_offers_are_rescinded_before_its_tasks_and_loss() -> None:
    master, fw = cluster(agents=2)
    launched(master, fw, "a")
    (batch,) = of(master.allocate(now=2), SendOffers)
    on_agent_0 = [o.id for o in batch.offers if o.agent_id == "agent-0"]
    assert on_agent_0
    effects = master.agent_lost("agent-0", now=3)
    assert [type(e) for e in effects] == [Rescind, ForwardUpdates, AgentLost]
    assert effects[0] == Rescind(fw, on_agent_0)
    assert [o.agent_id for o in master.offers] == ["agent-1"]
    assert master.counters["offers_rescinded"] == len(on_agent_0)
    # Nothing of the lost agent went back to the allocator.
    assert "agent-0" not in master.allocator.snapshot()["agents"]


def test_a_silent_agents_held_offers_are_rescinded_when_it_times_out() -> None:
    master, fw = cluster(agents=1)
    (batch,) = of(master.allocate(now=1), SendOffers)
    (rescind,) = of(master.expire(now=11), Rescind)
    assert rescind == Rescind(fw, [o.id for o in batch.offers])


def test_a_torn_down_frameworks_tasks_are_killed_in_the_record_at_once() -> None:
    master, fw = cluster(agents=1)
    launched(master, fw, "a", "b")
    running = agent_update("a", TaskState.TASK_RUNNING, 2)
    master.status_updates("agent-0", [running])
    effects = master.teardown(fw, now=3)
    assert effects == [KillTasks("agent-0", fw, ["a", "b"])]
    for task_id in ("a", "b"):
        record = master.completed[task_id]
        assert record.state is TaskState.TASK_KILLED
        assert record.status.reason is Reason.REASON_FRAMEWORK_REMOVED
        assert (record.status.source, record.status.timestamp) == (Source.SOURCE_MASTER, 3)
        assert not record.holds
    assert master.tasks == {}
    assert master.counters["tasks_killed"] == 2
    # The agent's own TASK_KILLED is acknowledged for it and counted once.
    killed = agent_update("a", TaskState.TASK_KILLED, 4)
    assert master.status_updates("agent-0", [killed]) == [
        AcknowledgeToAgent("agent-0", [("a", killed.uuid or "")])
    ]
    assert master.counters["tasks_killed"] == 2
    assert master.completed["a"].status.reason is Reason.REASON_FRAMEWORK_REMOVED


def test_a_torn_down_frameworks_task_on_an_unreachable_agent_dies_when_it_is_back() -> None:
    master, fw = cluster(agents=1)
    launched(master, fw, "a")
    master.agent_lost("agent-0", now=2)
    # Not sent to the unreachable agent; recorded killed at once all the same.
    assert master.teardown(fw, now=3) == []
    assert master.completed["a"].state is TaskState.TASK_KILLED
    effects = master.register_agent(
        "agent-0",
        "host-0",
        Resources.parse("cpus:4;mem:1024"),
        {},
        4,
        [running_report(fw, "a", "agent-0")],
    )
    assert of(effects, KillTasks) == [KillTasks("agent-0", fw, ["a"])]
    assert master.completed["a"].state is TaskState.TASK_KILLED


def test_coalesce_keeps_a_drains_kills_apart_from_plain_ones() -> None:
    drain = Reason.REASON_AGENT_DRAINING
    effects = coalesce(
        [
            KillTasks("a1", "f", ["t1"], 1.0, drain),
            KillTasks("a1", "f", ["t2"], 1.0),
            KillTasks("a1", "f", ["t3"], 1.0, drain),
        ]
    )
    assert effects == [
        KillTasks("a1", "f", ["t1", "t3"], 1.0, drain),
        KillTasks("a1", "f", ["t2"], 1.0),
    ]
