"""What the master sends a framework (`pyactors.core.protocol`'s
`FrameworkEvent`s) as v1 scheduler `Event`s (scheduler.proto, JSON): one
OFFERS per batch of offers, one RESCIND per offer, one UPDATE per status,
one MESSAGE per message, FAILURE for a lost agent, ERROR, HEARTBEAT;
INVERSE_OFFERS per batch of inverse offers, one RESCIND_INVERSE_OFFER per
inverse offer. Offers and inverse offers from machines scheduled for
maintenance carry Mesos's `unavailability` (nanoseconds since the epoch).

An update carries its uuid (base64) only if an agent made it: one the
master made (a reconciliation answer, TASK_LOST or TASK_UNREACHABLE for a
lost agent, TASK_ERROR for a refused task) has none, as in Mesos, so a
client acknowledges only what an agent waits on. Times are the statuses'
monotonic seconds moved to the wall clock (`clock_offset`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, assert_never

from pyactors.api.v1 import mesos_json as mj
from pyactors.core.offer import InverseOfferInfo, OfferInfo, Unavailability
from pyactors.core.protocol import (
    AgentLost,
    ErrorEvent,
    ForwardUpdates,
    FrameworkEvent,
    FrameworkMessages,
    Heartbeat,
    Rescind,
    RescindInverseOffers,
    SendInverseOffers,
    SendOffers,
)
from pyactors.core.tasks import Source, TaskStatus

HEARTBEAT: dict[str, Any] = {"type": "HEARTBEAT"}


def subscribed(
    framework_id: str, heartbeat_interval: float, master_info: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "SUBSCRIBED",
        "subscribed": {
            "framework_id": mj.id_json(framework_id),
            "heartbeat_interval_seconds": heartbeat_interval,
            "master_info": master_info,
        },
    }


def error(message: str) -> dict[str, Any]:
    return {"type": "ERROR", "error": {"message": message}}


def operation_error(operation_id: str, message: str) -> dict[str, Any]:
    """A dropped operation's status, as Mesos's master sends it: no agent,
    no uuid (nothing to acknowledge)."""
    status = {"operation_id": {"value": operation_id}, "state": "OPERATION_ERROR"}
    return {
        "type": "UPDATE_OPERATION_STATUS",
        "update_operation_status": {"status": {**status, "message": message}},
    }


def update(status: TaskStatus, clock_offset: float) -> dict[str, Any]:
    wall = dataclasses.replace(status, timestamp=status.timestamp + clock_offset)
    from_agent = status.uuid is not None and status.source is not Source.SOURCE_MASTER
    return {"type": "UPDATE", "update": {"status": mj.status_to_v1(wall, with_uuid=from_agent)}}


def unavailability(window: Unavailability) -> dict[str, Any]:
    """Mesos's `Unavailability` JSON."""
    body: dict[str, Any] = {"start": {"nanoseconds": round(window.start * 1e9)}}
    if window.duration is not None:
        body["duration"] = {"nanoseconds": round(window.duration * 1e9)}
    return body


def _with_unavailability(shaped: dict[str, Any], offer: OfferInfo) -> dict[str, Any]:
    if offer.unavailability is not None:
        shaped["unavailability"] = unavailability(offer.unavailability)
    return shaped


def inverse_offer(offer: InverseOfferInfo) -> dict[str, Any]:
    """Mesos's `InverseOffer` (no resources: the whole agent, as Mesos's
    allocator asks for it)."""
    return {
        "id": mj.id_json(offer.id),
        "framework_id": mj.id_json(offer.framework_id),
        "agent_id": mj.id_json(offer.agent_id),
        "unavailability": unavailability(offer.unavailability),
    }


def events(event: FrameworkEvent, refined: bool, clock_offset: float) -> list[dict[str, Any]]:
    """The v1 events for one master event, in order. `refined`: the
    framework reads reservations as `reservations[]`."""
    match event:
        case SendOffers(_, offers):
            shaped = [_with_unavailability(mj.offer_to_v1(o, refined), o) for o in offers]
            return [{"type": "OFFERS", "offers": {"offers": shaped}}] if shaped else []
        case Rescind(_, offer_ids):
            return [
                {"type": "RESCIND", "rescind": {"offer_id": mj.id_json(offer_id)}}
                for offer_id in offer_ids
            ]
        case SendInverseOffers(_, inverse_offers):
            shaped = [inverse_offer(o) for o in inverse_offers]
            return [{"type": "INVERSE_OFFERS", "inverse_offers": {"inverse_offers": shaped}}]
        case RescindInverseOffers(_, inverse_offer_ids):
            return [
                {
                    "type": "RESCIND_INVERSE_OFFER",
                    "rescind_inverse_offer": {"inverse_offer_id": mj.id_json(offer_id)},
                }
                for offer_id in inverse_offer_ids
            ]
        case ForwardUpdates(_, statuses):
            return [update(status, clock_offset) for status in statuses]
        case FrameworkMessages(_, messages):
            return [
                {
                    "type": "MESSAGE",
                    "message": {
                        "agent_id": mj.id_json(agent_id),
                        "executor_id": mj.id_json(task_id),
                        "data": mj.bytes_to_v1(data),
                    },
                }
                for agent_id, task_id, data in messages
            ]
        case AgentLost(_, agent_id):
            return [{"type": "FAILURE", "failure": {"agent_id": mj.id_json(agent_id)}}]
        case ErrorEvent(_, message):
            return [error(message)]
        case Heartbeat():
            return [HEARTBEAT]
        case _:
            assert_never(event)
