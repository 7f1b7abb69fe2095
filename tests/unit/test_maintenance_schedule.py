"""The maintenance schedule, machine modes and inverse offers as state
machines (`pyactors.master.maintenance`), without a master."""

from __future__ import annotations

import pytest

from pyactors.master.maintenance import (
    InverseOffers,
    InverseOfferStatus,
    MachineId,
    MaintenanceError,
    Mode,
    Schedule,
    Unavailability,
    machine_ids_from_json,
    windows_from_json,
)

A = MachineId("host-a", "10.0.0.1")
B = MachineId("host-b")
START = 1_700_000_000 * 10**9
HOUR = 3600 * 10**9


def schedule_json(*windows: tuple[list[MachineId], int | None]) -> dict[str, object]:
    return {
        "windows": [
            {
                "machine_ids": [m.to_json() for m in machines],
                "unavailability": {"start": {"nanoseconds": START}}
                | ({} if duration is None else {"duration": {"nanoseconds": duration}}),
            }
            for machines, duration in windows
        ]
    }


def test_a_schedule_reads_back_as_mesos_writes_it() -> None:
    body = schedule_json(([A], HOUR), ([B], None))
    schedule = Schedule().updated(windows_from_json(body))
    assert schedule.to_json() == body
    assert schedule.mode(A) is Mode.DRAINING and schedule.mode(B) is Mode.DRAINING
    assert schedule.mode(MachineId("elsewhere")) is Mode.UP
    assert schedule.unavailability(A) == Unavailability(START, HOUR)
    assert Schedule().to_json() == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (schedule_json(([], HOUR)), "List of machines in the maintenance window is empty"),
        (schedule_json(([A], -1)), "Unavailability 'duration' is negative"),
        (
            schedule_json(([A], HOUR), ([A], None)),
            'Machine \'{"hostname":"host-a","ip":"10.0.0.1"}\' appears more than once in the '
            "schedule",
        ),
        (schedule_json(([MachineId()], HOUR)), "Both 'hostname' and 'ip' for a machine are empty"),
        (schedule_json(([MachineId(ip="10.0.0")], HOUR)), "Failed to parse IP address '10.0.0'"),
    ],
)
def test_a_bad_schedule_is_refused_with_mesos_message(body: object, message: str) -> None:
    before = Schedule().updated(windows_from_json(schedule_json(([B], HOUR))))
    with pytest.raises(MaintenanceError) as refused:
        before.updated(windows_from_json(body))
    assert str(refused.value) == message
    assert before.mode(B) is Mode.DRAINING


@pytest.mark.parametrize(
    "body",
    [
        {"windows": [], "extra": 1},
        {"windows": [{"machine_ids": [], "unavailability": {"start": {}}, "why": "x"}]},
        {"windows": [{"machine_ids": [{"hostname": "a", "rack": "r"}]}]},
        {"windows": [{"machine_ids": [], "unavailability": {"start": {"nanoseconds": 1.5}}}]},
        {"windows": "all"},
        [],
    ],
)
def test_unknown_fields_and_wrong_shapes_are_refused(body: object) -> None:
    with pytest.raises(MaintenanceError, match="Failed to parse"):
        windows_from_json(body)


def test_machines_go_down_and_up_only_from_the_right_mode() -> None:
    schedule = Schedule().updated(windows_from_json(schedule_json(([A, B], HOUR))))
    with pytest.raises(MaintenanceError, match="not in DOWN mode and cannot be brought up"):
        schedule.stopped((A,))
    with pytest.raises(MaintenanceError, match="is not part of a maintenance schedule"):
        schedule.started((MachineId("other"),))
    with pytest.raises(MaintenanceError, match="List of machines is empty"):
        schedule.started(())
    down = schedule.started((A,))
    assert down.mode(A) is Mode.DOWN and down.mode(B) is Mode.DRAINING
    assert set(down.draining()) == {B}
    with pytest.raises(MaintenanceError, match="not in DRAINING mode and cannot be brought down"):
        down.started((A,))
    with pytest.raises(MaintenanceError, match="is deactivated and cannot be removed"):
        down.updated(windows_from_json(schedule_json(([B], HOUR))))
    # Rescheduling keeps the DOWN machine down with its new unavailability.
    moved = down.updated(windows_from_json(schedule_json(([A], None))))
    assert moved.mode(A) is Mode.DOWN and moved.mode(B) is Mode.UP
    up = down.stopped((A,))
    assert up.mode(A) is Mode.UP and up.mode(B) is Mode.DRAINING
    assert up.to_json() == schedule_json(([B], HOUR))
    assert Schedule.from_record(down.record()) == down


def test_machine_ids_match_agents_by_hostname_or_ip() -> None:
    assert machine_ids_from_json([{"hostname": "h"}, {"ip": "10.1.1.1"}]) == (
        MachineId("h"),
        MachineId(ip="10.1.1.1"),
    )
    assert MachineId("h", "10.1.1.1").holds("h")
    assert MachineId(ip="10.1.1.1").holds("10.1.1.1")
    assert not MachineId("h").holds("g")
    with pytest.raises(MaintenanceError, match="expecting a JSON array"):
        machine_ids_from_json({"hostname": "h"})


UNAVAILABLE = Unavailability(START, HOUR)


def test_each_holder_gets_one_inverse_offer_until_it_answers() -> None:
    book = InverseOffers("m-1")
    draining = {"agent-1": ("host-a", UNAVAILABLE)}
    made = book.make(draining, {"agent-1": {"fw-1", "fw-2"}}, now=0.0)
    assert [(o.framework_id, o.agent_id) for o in made] == [
        ("fw-1", "agent-1"),
        ("fw-2", "agent-1"),
    ]
    assert len({o.id for o in made}) == 2 and all(o.id.startswith("m-1-I") for o in made)
    assert book.make(draining, {"agent-1": {"fw-1", "fw-2"}}, now=1.0) == []
    first, second = made
    # Another framework's id, or an unknown one, is ignored.
    assert book.answer("fw-2", [first.id, "nope"], InverseOfferStatus.ACCEPT, None, 2.0) == []
    assert book.answer("fw-1", [first.id], InverseOfferStatus.ACCEPT, 10.0, 2.0) == [first]
    assert book.answer("fw-2", [second.id], InverseOfferStatus.DECLINE, 0.0, 3.0) == [second]
    assert [(a.framework_id, a.status, a.at) for a in book.statuses("agent-1")] == [
        ("fw-1", InverseOfferStatus.ACCEPT, 2.0),
        ("fw-2", InverseOfferStatus.DECLINE, 3.0),
    ]
    # fw-1 filters the agent for 10 s; fw-2 asked for no filter.
    again = book.make(draining, {"agent-1": {"fw-1", "fw-2"}}, now=4.0)
    assert [o.framework_id for o in again] == ["fw-2"]
    assert [o.framework_id for o in book.make(draining, {"agent-1": {"fw-1"}}, now=12.0)] == [
        "fw-1"
    ]


def test_ending_an_agent_or_framework_withdraws_its_inverse_offers() -> None:
    book = InverseOffers()
    draining = {"agent-1": ("h", UNAVAILABLE), "agent-2": ("h", UNAVAILABLE)}
    holders = {"agent-1": {"fw-1"}, "agent-2": {"fw-1", "fw-2"}}
    made = book.make(draining, holders, now=0.0)
    assert len(made) == 3
    book.answer("fw-1", [made[0].id], InverseOfferStatus.DECLINE, 100.0, 1.0)
    assert [o.agent_id for o in book.end_agent("agent-1")] == []
    assert book.statuses("agent-1") == []
    # The filter went with the agent's unavailability: asked again at once.
    assert [o.agent_id for o in book.make(draining, holders, now=2.0)] == ["agent-1"]
    assert {o.agent_id for o in book.end_framework("fw-1")} == {"agent-1", "agent-2"}
    assert [o.framework_id for o in book.outstanding.values()] == ["fw-2"]
    assert [o.framework_id for o in book.expired(now=70.0, timeout=60.0)] == ["fw-2"]
    assert book.outstanding == {}
    with pytest.raises(ValueError, match="ACCEPT or DECLINE"):
        book.answer("fw-1", [], InverseOfferStatus.UNKNOWN, None, 0.0)
