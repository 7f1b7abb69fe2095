"""Maintenance through the master's state machine (no Ray): schedules
stored first and kept by a new leader, offers carrying unavailability,
inverse offers to the frameworks on draining agents and their answers in
the maintenance status, machines brought down and up."""

from __future__ import annotations

import pytest

from pyactors import Resources
from pyactors.core.offer import Unavailability
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import (
    AgentLost,
    ForwardUpdates,
    KillTasks,
    Rescind,
    RescindInverseOffers,
    SendInverseOffers,
    SendOffers,
)
from pyactors.core.tasks import Reason, TaskState
from pyactors.errors import AuthorizationError, FencedError
from pyactors.master.maintenance import MachineId, MaintenanceError, windows_from_json
from pyactors.master.registry import MemoryRegistry, MemoryStore
from pyactors.master.state import MasterConfig, MasterState
from pyactors.security.acls import Acls

START = 1_700_000_000 * 10**9
HOUR = 3600 * 10**9
HOST_0 = MachineId("host-0")


def of(effects: list[object], kind: type) -> list:
    return [e for e in effects if isinstance(e, kind)]


def schedule(*machines: MachineId, duration: int | None = HOUR) -> dict[str, object]:
    unavailability: dict[str, object] = {"start": {"nanoseconds": START}}
    if duration is not None:
        unavailability["duration"] = {"nanoseconds": duration}
    return {
        "windows": [
            {"machine_ids": [m.to_json() for m in machines], "unavailability": unavailability}
        ]
    }


def cluster(store: MemoryStore | None = None, acls: Acls | None = None) -> MasterState:
    master = MasterState(
        MasterConfig(offer_timeout=30, acls=acls or Acls()), MemoryRegistry(store or MemoryStore())
    )
    master.recover(now=0)
    for i in range(2):
        master.register_agent(
            f"agent-{i}", f"host-{i}", Resources.parse("cpus:4;mem:1024"), {}, now=0
        )
    return master


def running_task(master: MasterState, framework_id: str, now: float) -> None:
    (batch,) = of(master.allocate(now=now), SendOffers)
    offer = next(o for o in batch.offers if o.agent_id == "agent-0")
    task = TaskInfo("t-1", "t-1", Resources.parse("cpus:1;mem:64"), command="sleep 100")
    master.accept(framework_id, [offer.id], [Launch([task])], 0.0, now=now)
    others = [o.id for o in batch.offers if o.agent_id != "agent-0"]
    master.decline(framework_id, others, 0.0, now=now)


def test_draining_agents_offer_with_unavailability_and_ask_back_what_frameworks_hold() -> None:
    master = cluster()
    holder, _ = master.subscribe("holder", ["*"], now=0)
    running_task(master, holder, now=1)
    bystander, _ = master.subscribe("bystander", ["*"], now=1)
    master.maintenance_book.update_schedule(windows_from_json(schedule(HOST_0)), None)
    effects = master.allocate(now=2)
    offered = {o.agent_id: o for b in of(effects, SendOffers) for o in b.offers}
    assert offered["agent-0"].unavailability == Unavailability(START / 1e9, 3600.0)
    assert offered["agent-1"].unavailability is None
    # The holder runs a task there (and was offered the rest); the
    # bystander, offered agent-1 only, holds nothing on agent-0.
    (inverse,) = of(effects, SendInverseOffers)
    assert inverse.framework_id == holder
    (asked,) = inverse.inverse_offers
    assert (asked.agent_id, asked.hostname) == ("agent-0", "host-0")
    assert asked.unavailability == Unavailability(START / 1e9, 3600.0)
    assert of(master.allocate(now=3), SendInverseOffers) == []  # one outstanding each
    # Offered agent-0 in turn, the bystander is asked too.
    master.decline(holder, [offered["agent-0"].id], 100.0, now=3)
    master.decline(bystander, [offered["agent-1"].id], 100.0, now=3)
    (late,) = of(master.allocate(now=3), SendInverseOffers)
    assert late.framework_id == bystander
    inverse = {holder: [asked], bystander: late.inverse_offers}
    master.answer_inverse_offers(holder, [asked.id], True, None, now=4)
    master.answer_inverse_offers(bystander, [inverse[bystander][0].id], False, 0.0, now=5)
    status = master.maintenance_book.status_json(None, wall_offset=1000.0)
    assert status == {
        "draining_machines": [
            {
                "id": {"hostname": "host-0"},
                "statuses": [
                    {
                        "status": "ACCEPT",
                        "framework_id": {"value": holder},
                        "timestamp": {"nanoseconds": 1004 * 10**9},
                    },
                    {
                        "status": "DECLINE",
                        "framework_id": {"value": bystander},
                        "timestamp": {"nanoseconds": 1005 * 10**9},
                    },
                ],
            }
        ]
    }
    # A changed unavailability rescinds the agent's outstanding offers (the
    # next ones carry the new one) and inverse offers, and clears answers.
    again = of(master.allocate(now=6), SendInverseOffers)
    assert [e.framework_id for e in again] == [bystander]  # the holder filters for 5 s
    outstanding = [o.id for o in master.offers if o.agent_id == "agent-0"]
    assert outstanding
    changed = master.maintenance_book.update_schedule(
        windows_from_json(schedule(HOST_0, duration=None)), None
    )
    assert sorted(i for r in of(changed, Rescind) for i in r.offer_ids) == sorted(outstanding)
    assert of(changed, RescindInverseOffers) == [
        RescindInverseOffers(bystander, [again[0].inverse_offers[0].id])
    ]
    reoffered = {o.agent_id: o for b in of(master.allocate(now=7), SendOffers) for o in b.offers}
    assert reoffered["agent-0"].unavailability == Unavailability(START / 1e9, None)
    assert master.maintenance_book.status_json(None, 0.0)["draining_machines"] == [
        {"id": {"hostname": "host-0"}, "statuses": []}
    ]


def test_machine_down_removes_its_agents_and_keeps_them_out_until_up() -> None:
    master = cluster()
    framework_id, _ = master.subscribe("fw", ["*"], now=0)
    running_task(master, framework_id, now=1)
    with pytest.raises(MaintenanceError, match="is not part of a maintenance schedule"):
        master.start_maintenance((HOST_0,), now=2)
    master.maintenance_book.update_schedule(windows_from_json(schedule(HOST_0)), None)
    cycle = master.allocate(now=2)
    offered = [o.id for b in of(cycle, SendOffers) for o in b.offers]
    inverse = [i.id for e in of(cycle, SendInverseOffers) for i in e.inverse_offers]
    on_agent_0 = [o.id for o in master.offers if o.agent_id == "agent-0"]
    assert offered and on_agent_0 and inverse
    effects = master.start_maintenance((HOST_0,), now=3)
    # Its offers and inverse offers are rescinded; its resources are gone.
    assert sorted(i for r in of(effects, Rescind) for i in r.offer_ids) == sorted(on_agent_0)
    assert [i for r in of(effects, RescindInverseOffers) for i in r.inverse_offer_ids] == inverse
    assert all(o.agent_id != "agent-0" for o in master.offers)
    (kill,) = of(effects, KillTasks)
    assert (kill.agent_id, kill.task_ids, kill.reason) == (
        "agent-0",
        ["t-1"],
        Reason.REASON_AGENT_REMOVED,
    )
    (lost,) = [s for f in of(effects, ForwardUpdates) for s in f.statuses]
    assert (lost.state, lost.reason, lost.uuid) == (
        TaskState.TASK_LOST,
        Reason.REASON_AGENT_REMOVED,
        None,
    )
    # Mesos's words (`Master::_removeSlave`), for every framework.
    assert lost.message == "Agent host-0 removed: Operator initiated 'Machine DOWN'"
    assert AgentLost(framework_id, "agent-0") in effects
    assert "agent-0" not in master.agents and "t-1" not in master.tasks
    assert master.maintenance_book.status_json(None, 0.0) == {
        "down_machines": [{"hostname": "host-0"}]
    }
    with pytest.raises(MaintenanceError, match="is deactivated and cannot be removed"):
        master.maintenance_book.update_schedule((), None)
    # Refused while DOWN (it keeps trying), admitted once UP.
    total = Resources.parse("cpus:4;mem:1024")
    assert master.register_agent("agent-0", "host-0", total, {}, now=4) == []
    assert "agent-0" not in master.agents
    master.maintenance_book.stop((HOST_0,), None)
    master.register_agent("agent-0", "host-0", total, {}, now=5)
    assert master.agents["agent-0"].reachable
    assert master.maintenance_book.schedule_json(None) == {}


def test_a_new_leader_keeps_the_schedule_and_down_machines() -> None:
    store = MemoryStore()
    master = cluster(store)
    master.maintenance_book.update_schedule(
        windows_from_json(schedule(HOST_0, MachineId("host-1"))), None
    )
    master.start_maintenance((MachineId("host-1"),), now=1)
    successor = cluster(store)
    with pytest.raises(FencedError):
        master.maintenance_book.stop((MachineId("host-1"),), None)
    assert successor.maintenance_book.schedule_json(None) == schedule(HOST_0, MachineId("host-1"))
    assert successor.maintenance_book.status_json(None, 0.0) == {
        "draining_machines": [{"id": {"hostname": "host-0"}, "statuses": []}],
        "down_machines": [{"hostname": "host-1"}],
    }
    assert "agent-1" not in successor.agents  # refused while DOWN


def test_maintenance_acls_name_the_machine() -> None:
    acls = Acls.load(
        {
            "update_maintenance_schedules": [
                {"principals": {"values": ["ops"]}, "machines": {"values": ["host-0"]}},
                {"principals": {"type": "ANY"}, "machines": {"type": "NONE"}},
            ],
            "get_maintenance_schedules": [
                {"principals": {"values": ["ops"]}, "machines": {"type": "ANY"}},
                {"principals": {"type": "ANY"}, "machines": {"type": "NONE"}},
            ],
        }
    )
    master = cluster(acls=acls)
    with pytest.raises(AuthorizationError, match="update_maintenance_schedules"):
        master.maintenance_book.update_schedule(windows_from_json(schedule(HOST_0)), "dev")
    with pytest.raises(AuthorizationError):
        master.maintenance_book.update_schedule(
            windows_from_json(schedule(HOST_0, MachineId("host-1"))), "ops"
        )
    assert master.maintenance_book.schedule_json("ops") == {}
    master.maintenance_book.update_schedule(windows_from_json(schedule(HOST_0)), "ops")
    assert master.maintenance_book.schedule_json("ops") == schedule(HOST_0)
    assert master.maintenance_book.schedule_json("dev") == {}


def test_a_lost_agent_rescinds_its_inverse_offers_and_only_connected_holders_are_asked() -> None:
    master = cluster()
    framework_id, _ = master.subscribe("fw", ["*"], now=0, failover_timeout=100)
    running_task(master, framework_id, now=1)
    master.maintenance_book.update_schedule(windows_from_json(schedule(HOST_0)), None)
    (inverse,) = of(master.allocate(now=2), SendInverseOffers)
    (asked,) = inverse.inverse_offers
    effects = master.agent_lost("agent-0", now=3)
    assert RescindInverseOffers(framework_id, [asked.id]) in effects
    master.register_agent("agent-0", "host-0", Resources.parse("cpus:4;mem:1024"), {}, now=4)
    master.disconnect(framework_id, now=5)
    assert of(master.allocate(now=6), SendInverseOffers) == []
    master.subscribe("fw", ["*"], now=7, framework_id=framework_id, failover_timeout=100)
    (again,) = of(master.allocate(now=8), SendInverseOffers)
    assert again.framework_id == framework_id and again.inverse_offers[0].id != asked.id
