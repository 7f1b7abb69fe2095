"""The OpenAPI description of Mesos's maintenance endpoints
(`pyactors.api.maintenance_routes`): their schemas (maintenance.proto's
Schedule and ClusterStatus, mesos.proto's MachineID), operations and ACLs,
joined into `pyactors.api.openapi`'s document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Schema = dict[str, Any]

_STRING: Schema = {"type": "string"}
_MACHINE_ID: Schema = {
    "type": "object",
    "properties": {"hostname": _STRING, "ip": _STRING},
    "additionalProperties": False,
}
_NANOSECONDS: Schema = {
    "type": "object",
    "required": ["nanoseconds"],
    "properties": {"nanoseconds": {"type": "integer"}},
    "additionalProperties": False,
}
SCHEDULE: Schema = {
    "type": "object",
    "properties": {
        "windows": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["machine_ids", "unavailability"],
                "properties": {
                    "machine_ids": {"type": "array", "items": _MACHINE_ID},
                    "unavailability": {
                        "type": "object",
                        "required": ["start"],
                        "properties": {"start": _NANOSECONDS, "duration": _NANOSECONDS},
                        "additionalProperties": False,
                    },
                },
                "additionalProperties": False,
            },
        }
    },
    "additionalProperties": False,
}
MACHINES: Schema = {"type": "array", "items": _MACHINE_ID}
CLUSTER_STATUS: Schema = {
    "type": "object",
    "properties": {
        "draining_machines": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "statuses"],
                "properties": {
                    "id": _MACHINE_ID,
                    "statuses": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["status", "framework_id", "timestamp"],
                            "properties": {
                                "status": {"enum": ["UNKNOWN", "ACCEPT", "DECLINE"]},
                                "framework_id": {
                                    "type": "object",
                                    "required": ["value"],
                                    "properties": {"value": _STRING},
                                },
                                "timestamp": _NANOSECONDS,
                            },
                        },
                    },
                },
            },
        },
        "down_machines": MACHINES,
    },
}

# The ACL guarding each operation (`x-acl`).
ACLS: dict[tuple[str, str], str] = {
    ("get", "/master/maintenance/schedule"): "filtered by get_maintenance_schedules (the machine)",
    ("post", "/master/maintenance/schedule"): "update_maintenance_schedules (each machine)",
    ("get", "/master/maintenance/status"): "filtered by get_maintenance_statuses (the machine)",
    ("post", "/master/machine/down"): "start_maintenances (each machine)",
    ("post", "/master/machine/up"): "stop_maintenances (each machine)",
}


def paths(
    read: Callable[[str, Schema], Schema],
    json: Callable[[Schema], Schema],
    errors: Callable[..., dict[str, Schema]],
) -> dict[str, Schema]:
    """The operations, built with the document's own helpers."""

    def done(summary: str, body: Schema) -> Schema:
        # Answered 200 without a body, as Mesos answers it.
        return {
            "post": {
                "summary": summary,
                "requestBody": {"required": True, **json(body)},
                "responses": {"200": {"description": "Done (no body)"}, **errors(400, 503)},
            }
        }

    return {
        "/master/maintenance/schedule": {
            **read("Mesos's maintenance schedule (the machines the caller may see)", SCHEDULE),
            **done(
                "Replace the maintenance schedule whole: machines new to it are DRAINING, "
                "those left out UP; a DOWN machine must stay (400 with Mesos's message)",
                SCHEDULE,
            ),
        },
        "/master/maintenance/status": read(
            "DRAINING machines with the frameworks' answers to inverse offers, DOWN machines",
            CLUSTER_STATUS,
        ),
        "/master/machine/down": done(
            "Bring DRAINING machines DOWN: their agents are removed (tasks TASK_LOST) and "
            "refused until the machines are up",
            MACHINES,
        ),
        "/master/machine/up": done(
            "Bring DOWN machines UP: out of the schedule, their agents may register again",
            MACHINES,
        ),
    }
