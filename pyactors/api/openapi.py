"""The HTTP API's OpenAPI 3 description, served at `/openapi.json`.

It is written here, beside the handlers' module rather than generated from
it, so that it states the contract (shapes, status codes, errors) the tests
check the server against: schemathesis calls every operation with generated
input and validates each answer against this document, and a test checks
that every route the server has is described.
"""

from __future__ import annotations

from typing import Any

from pyactors.api import openapi_maintenance
from pyactors.api.auth import Authenticator
from pyactors.api.v1 import operator as v1_operator
from pyactors.core.tasks import TaskState
from pyactors.core.version import VERSION

Schema = dict[str, Any]

_NUMBER: Schema = {"type": "number"}
_STRING: Schema = {"type": "string"}
_NAMED_AMOUNTS: Schema = {"type": "object", "additionalProperties": _NUMBER}
# Mesos's resource model: scalars by name (cpus, mem, disk, gpus always),
# ranges as text ("[31000-32000]").
_RESOURCES: Schema = {
    "type": "object",
    "required": ["cpus", "mem", "disk", "gpus"],
    "additionalProperties": {"oneOf": [_NUMBER, _STRING]},
}
# Resource text ("cpus(web):1;mem(web):64") or Mesos's list of resource objects.
_RESOURCE_INPUT: Schema = {
    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]
}
_ID: Schema = {"type": "string", "minLength": 1}

_ERROR: Schema = {
    "type": "object",
    "required": ["code", "error", "message"],
    "properties": {
        "code": {"type": "integer"},
        "error": _STRING,
        "message": _STRING,
    },
}

_STATUS: Schema = {
    "type": "object",
    "required": ["task_id", "state", "timestamp"],
    "properties": {"task_id": _STRING, "state": _STRING, "timestamp": _NUMBER},
}

_TASK: Schema = {
    "type": "object",
    "required": ["id", "name", "framework_id", "slave_id", "state", "role", "resources"],
    "properties": {
        "id": _STRING,
        "name": _STRING,
        "framework_id": _STRING,
        "slave_id": _STRING,
        "state": {"type": "string", "pattern": "^TASK_"},
        "role": _STRING,
        "resources": _RESOURCES,
        "statuses": {"type": "array", "items": _STATUS},
        "labels": {"type": "array", "items": {"type": "object"}},
        "launched_time": _NUMBER,
    },
}

_DRAIN_INFO: Schema = {
    "type": "object",
    "required": ["state", "config"],
    "properties": {
        "state": {"enum": ["DRAINING", "DRAINED"]},
        "config": {
            "type": "object",
            "properties": {"max_grace_period": {"type": ["number", "null"]}},
        },
    },
}

_AGENT: Schema = {
    "type": "object",
    "required": ["id", "hostname", "active", "deactivated", "reachable", "resources"],
    "properties": {
        "id": _STRING,
        "hostname": _STRING,
        "active": {"type": "boolean"},
        "deactivated": {"type": "boolean"},
        "reachable": {"type": "boolean"},
        "attributes": {"type": "object", "additionalProperties": _STRING},
        "resources": _RESOURCES,
        "used_resources": _RESOURCES,
        "offered_resources": _RESOURCES,
        "reserved_resources": {"type": "object", "additionalProperties": _RESOURCES},
        "unreserved_resources": _RESOURCES,
        "drain_info": _DRAIN_INFO,
    },
}

_FRAMEWORK: Schema = {
    "type": "object",
    "required": ["id", "name", "roles", "active", "connected", "tasks", "completed_tasks"],
    "properties": {
        "id": _STRING,
        "name": _STRING,
        # Only when set: who registered it, the OS user its tasks run as.
        "principal": _STRING,
        "user": _STRING,
        "roles": {"type": "array", "items": _STRING},
        "active": {"type": "boolean"},
        "connected": {"type": "boolean"},
        "failover_timeout": _NUMBER,
        "webui_url": _STRING,
        "used_resources": _RESOURCES,
        "offered_resources": _RESOURCES,
        "tasks": {"type": "array", "items": _TASK},
        "unreachable_tasks": {"type": "array", "items": _TASK},
        "completed_tasks": {"type": "array", "items": _TASK},
        "offers": {"type": "array", "items": {"type": "object"}},
    },
}

_ROLE: Schema = {
    "type": "object",
    "required": ["name", "weight", "frameworks", "quota"],
    "properties": {
        "name": _STRING,
        "weight": _NUMBER,
        "frameworks": {"type": "array", "items": _STRING},
        "allocated": _RESOURCES,
        "offered": _RESOURCES,
        "reserved": _RESOURCES,
        "share": _NUMBER,
        "quota": {
            "type": "object",
            "required": ["guarantee", "limit"],
            "properties": {
                "guarantee": _NAMED_AMOUNTS,
                "limit": {"oneOf": [_NAMED_AMOUNTS, {"type": "null"}]},
            },
        },
    },
}

_SLAVES: Schema = {
    "type": "object",
    "required": ["slaves", "recovered_slaves"],
    "properties": {
        "slaves": {"type": "array", "items": _AGENT},
        "recovered_slaves": {"type": "array", "items": {"type": "object"}},
    },
}
_FRAMEWORKS: Schema = {
    "type": "object",
    "required": ["frameworks"],
    "properties": {"frameworks": {"type": "array", "items": _FRAMEWORK}},
}
_ROLES: Schema = {
    "type": "object",
    "required": ["roles"],
    "properties": {"roles": {"type": "array", "items": _ROLE}},
}
_STATE: Schema = {
    "type": "object",
    "required": [
        "version",
        "id",
        "leader",
        "slaves",
        "frameworks",
        "roles",
        "weights",
        "activated_slaves",
        "deactivated_slaves",
        "unreachable_slaves",
    ],
    "properties": {
        "version": _STRING,
        "id": _STRING,
        "leader": _STRING,
        "slaves": {"type": "array", "items": _AGENT},
        "frameworks": {"type": "array", "items": _FRAMEWORK},
        "roles": {"type": "array", "items": _ROLE},
        "weights": _NAMED_AMOUNTS,
        "activated_slaves": {"type": "integer"},
        "deactivated_slaves": {"type": "integer"},
        "unreachable_slaves": {"type": "integer"},
        "outstanding_offers": {"type": "integer"},
    },
}
_SUMMARY: Schema = {
    "type": "object",
    "required": ["hostname", "slaves", "frameworks"],
    "properties": {
        "slaves": {"type": "array", "items": {"type": "object"}},
        "frameworks": {"type": "array", "items": {"type": "object"}},
    },
}
_TASKS: Schema = {
    "type": "object",
    "required": ["tasks"],
    "properties": {"tasks": {"type": "array", "items": _TASK}},
}
_QUOTAS: Schema = {
    "type": "object",
    "required": ["infos"],
    "properties": {
        "infos": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["role", "guarantee", "limit"],
                "properties": {
                    "role": _STRING,
                    "guarantee": _STRING,
                    "limit": {"type": ["string", "null"]},
                },
            },
        }
    },
}
_WEIGHTS: Schema = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["role", "weight"],
        "properties": {"role": _STRING, "weight": _NUMBER},
    },
}
_MAINTENANCE: Schema = {
    "type": "object",
    "required": ["agents"],
    "properties": {
        "agents": {
            "type": "array",
            "items": {
                "allOf": [
                    _DRAIN_INFO,
                    {"type": "object", "required": ["agent_id"], "properties": {"agent_id": _ID}},
                ]
            },
        }
    },
}

_SHARES: Schema = {
    "type": "object",
    "required": ["interval_seconds", "window_seconds", "times", "series"],
    "properties": {
        "interval_seconds": _NUMBER,
        "window_seconds": _NUMBER,
        "times": {"type": "array", "items": _NUMBER},
        "series": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["framework_id", "name", "role", "shares"],
                "properties": {
                    "framework_id": _STRING,
                    "name": _STRING,
                    "role": _STRING,
                    "shares": {"type": "array", "items": {"type": ["number", "null"]}},
                },
            },
        },
    },
}


_CHUNK: Schema = {
    "type": "object",
    "required": ["data", "offset", "next_offset"],
    "properties": {
        "data": _STRING,
        "offset": {"type": "integer", "minimum": 0},
        "next_offset": {"type": "integer", "minimum": 0},
    },
}
_STATISTICS: Schema = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["executor_id", "framework_id", "slave_id", "statistics"],
        "properties": {
            "executor_id": _STRING,
            "framework_id": _STRING,
            "slave_id": _STRING,
            "statistics": _NAMED_AMOUNTS,
        },
    },
}


_CHUNK_ANSWER: Schema = {
    "description": "The chunk (as text/plain with format=text)",
    "content": {
        "application/json": {"schema": _CHUNK},
        "text/plain": {"schema": _STRING},
    },
}


def _json(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Schema]:
    """The refusals an operation may answer, each with the error body."""
    described = {
        400: "Malformed or refused input; nothing changed.",
        404: "No such agent, framework, task or quota; nothing changed.",
        503: "This master does not lead and knows no leader (a standby that knows "
        "one answers 307 to it).",
    }
    return {str(code): {"description": described[code], **_json(_ERROR)} for code in codes}


def _read(summary: str, schema: Schema, params: list[Schema] | None = None) -> Schema:
    operation: Schema = {
        "summary": summary,
        "responses": {"200": {"description": "OK", **_json(schema)}, **_errors(503)},
    }
    if params:
        operation["parameters"] = params
        operation["responses"].update(_errors(400))
    return {"get": operation}


def _change(
    summary: str, body: Schema, answer: Schema, *codes: int, method: str = "post"
) -> Schema:
    return {
        method: {
            "summary": summary,
            "requestBody": {"required": True, **_json(body)},
            "responses": {
                "200": {"description": "Done", **_json(answer)},
                **_errors(400, *codes, 503),
            },
        }
    }


def _body(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_AGENT_RESOURCES = _body(["agent_id", "resources"], agent_id=_ID, resources=_RESOURCE_INPUT)
_AGENT_VOLUMES = _body(["agent_id", "volumes"], agent_id=_ID, volumes=_RESOURCE_INPUT)
_QUOTA_AMOUNT: Schema = {
    "oneOf": [_STRING, {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}}]
}


# Mesos's v1 operator API (`pyactors.api.v1.operator`): SUBSCRIBE, a stream,
# is said in words, so that a client generating calls from this document
# never opens one that does not end.
_V1_OPERATOR: Schema = {
    "post": {
        "summary": "Mesos's v1 operator API: a Call in, its Response out",
        "description": "A JSON Call of include/mesos/v1/master/master.proto, e.g. "
        '{"type": "GET_STATE"}; reads answer {"type": T, "get_...": {...}}. '
        "SUBSCRIBE answers 200 with a chunked RecordIO stream (<length>\\n<json>) of "
        "Events: SUBSCRIBED with the state, HEARTBEAT every 15 s, TASK_ADDED, "
        "TASK_UPDATED, AGENT_ADDED, AGENT_REMOVED, FRAMEWORK_ADDED, FRAMEWORK_UPDATED, "
        "FRAMEWORK_REMOVED.",
        "requestBody": {
            "required": True,
            **_json(_body(["type"], type={"enum": sorted(v1_operator.CALLS)})),
        },
        "responses": {
            "200": {"description": "A read's Response (JSON), or a change made (no body)"},
            "202": {"description": "A reservation or volume operation applied (no body)"},
            "406": {"description": "An Accept that does not allow JSON", **_json(_ERROR)},
            "501": {"description": "A call of Mesos's this master does not serve", **_json(_ERROR)},
            **_errors(400, 503),
        },
    }
}

_V1_SCHEDULER: Schema = {
    "post": {
        "summary": "Mesos's v1 scheduler API: frameworks such as pymesos's",
        "description": "A JSON Call of include/mesos/v1/scheduler/scheduler.proto. SUBSCRIBE "
        "answers 200 with a chunked RecordIO stream of Events and a Mesos-Stream-Id header "
        "(SUBSCRIBED, HEARTBEAT, OFFERS, RESCIND, UPDATE, MESSAGE, FAILURE, ERROR); every "
        "other call names its framework, carries that header and answers 202.",
        "requestBody": {"required": True, **_json(_body(["type"], type=_STRING))},
        "responses": {
            "200": {"description": "SUBSCRIBE's event stream (RecordIO of JSON Events)"},
            "202": {"description": "A call accepted; its effects come on the stream"},
            "403": {"description": "The framework is not subscribed (over HTTP)", **_json(_ERROR)},
            "406": {"description": "An Accept that does not allow JSON", **_json(_ERROR)},
            "501": {"description": "An UNKNOWN call", **_json(_ERROR)},
            **_errors(400, 503),
        },
    }
}


# Reads an ACL may refuse whole (access_sandboxes; view_frameworks of every
# framework for Prometheus's series); other reads are filtered.
_AUTHORIZED_READS = frozenset({"/tasks/{task_id}/logs/{name}", "/files/read", "/metrics"})


def _paths() -> dict[str, Schema]:
    paths: dict[str, Schema] = {}
    for name, summary, schema in (
        ("state", "Everything: agents, frameworks with their tasks, roles", _STATE),
        ("state-summary", "Agents and frameworks with task counts", _SUMMARY),
        ("frameworks", "The frameworks with their tasks and offers", _FRAMEWORKS),
        ("slaves", "The agents with used, offered and reserved resources", _SLAVES),
        ("roles", "Every known role: weight, quota, frameworks, resources", _ROLES),
    ):
        paths[f"/master/{name}"] = paths[f"/{name}"] = _read(summary, schema)
    tasks = _read(
        "Live and completed tasks, newest first by default",
        _TASKS,
        [
            _query("framework_id", _STRING, "Only this framework's tasks."),
            _query("task_id", _STRING, "Only this task."),
            _query("state", {"enum": [s.value for s in TaskState]}, "Only tasks in this state."),
            _query("limit", {"type": "integer", "minimum": 0}, "At most this many (100)."),
            _query("offset", {"type": "integer", "minimum": 0}, "Skip this many first."),
            _query("order", {"enum": ["asc", "des"]}, "By launch time (des)."),
        ],
    )
    paths["/master/tasks"] = paths["/tasks"] = tasks
    # The names Mesos's older tools use (`pyactors.api.v1.compat`).
    for path in ("/master/state", "/state", "/master/tasks", "/tasks"):
        paths[f"{path}.json"] = paths[path]
    redirect = {
        "get": {
            "summary": "Where the leading master serves",
            "responses": {
                "307": {
                    "description": "The leader's base address, in Location",
                    "headers": {"Location": {"schema": _STRING}},
                },
                **_errors(503),
            },
        }
    }
    paths["/master/redirect"] = paths["/redirect"] = redirect
    health = {
        "get": {
            "summary": "200 while this master leads",
            "responses": {"200": {"description": "Leading"}, **_errors(503)},
        }
    }
    paths["/health"] = paths["/master/health"] = health
    paths["/metrics/snapshot"] = _read(
        "Mesos's metrics by name (master/*, allocator/mesos/*)", _NAMED_AMOUNTS
    )
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus text exposition (pyactors_* families)",
            "responses": {
                "200": {"description": "OK", "content": {"text/plain": {"schema": _STRING}}},
                **_errors(503),
            },
        }
    }
    paths["/master/quota"] = {
        **_read("The quotas set", _QUOTAS),
        **_change(
            "Set a role's quota (guarantee and optional limit)",
            _body(["role"], role=_ID, guarantee=_QUOTA_AMOUNT, limit=_QUOTA_AMOUNT),
            _body(["role"], role=_STRING),
        ),
    }
    paths["/master/quota/{role}"] = {
        "delete": {
            "summary": "Remove a role's quota",
            "parameters": [{"name": "role", "in": "path", "required": True, "schema": _ID}],
            "responses": {
                "200": {"description": "Removed", **_json(_body(["role"], role=_STRING))},
                **_errors(404, 503),
            },
        }
    }
    weights_body: Schema = {
        "oneOf": [
            {
                "type": "array",
                "minItems": 1,
                "items": _body(["role", "weight"], role=_ID, weight=_NUMBER),
            },
            _body(["role", "weight"], role=_ID, weight=_NUMBER),
        ]
    }
    paths["/master/weights"] = {
        **_read("The weights set (other roles weigh 1)", _WEIGHTS),
        **_change("Set roles' weights, all or none", weights_body, _WEIGHTS),
        **_change("Set roles' weights, all or none", weights_body, _WEIGHTS, method="put"),
    }
    framework_id = _body(["framework_id"], framework_id=_ID)
    paths["/master/teardown"] = _change(
        "Remove a framework: its tasks killed, its offers rescinded",
        framework_id,
        framework_id,
        404,
    )
    paths["/master/kill"] = _change(
        "Kill a live task",
        _body(["task_id"], task_id=_ID, framework_id=_ID),
        _body(["task_id"], task_id=_STRING),
        404,
    )
    for path, summary, body in (
        ("reserve", "Reserve an agent's available resources for a role", _AGENT_RESOURCES),
        ("unreserve", "Unreserve available dynamically reserved resources", _AGENT_RESOURCES),
        ("create-volumes", "Create persistent volumes from reserved disk", _AGENT_VOLUMES),
        ("destroy-volumes", "Destroy persistent volumes no task uses", _AGENT_VOLUMES),
    ):
        paths[f"/master/{path}"] = _change(summary, body, {"type": "object"}, 404)
    paths["/master/maintenance"] = _read("The agents under maintenance", _MAINTENANCE)
    paths["/master/maintenance/drain"] = _change(
        "Drain an agent: no more offers, its tasks killed with the grace period",
        _body(
            ["agent_id"],
            agent_id=_ID,
            grace_period_seconds={"type": ["number", "null"], "minimum": 0},
        ),
        {"type": "object"},
        404,
    )
    paths["/master/maintenance/reactivate"] = _change(
        "End an agent's maintenance: it offers again",
        _body(["agent_id"], agent_id=_ID),
        {"type": "object"},
        404,
    )
    paths.update(openapi_maintenance.paths(_read, _json, _errors))
    # Sandbox files, read by the task's agent.
    chunk_query = [
        _query("offset", {"type": "integer", "minimum": -1}, "Byte to start at (-1: the size)."),
        _query("length", {"type": "integer", "minimum": 0}, "At most this many bytes."),
        _query("format", {"enum": ["json", "text"]}, "text: the bytes as text/plain."),
    ]
    file_errors = {
        **_errors(400, 404, 503),
        "404": {
            "description": "No such task or file, or its sandbox was collected",
            **_json(_ERROR),
        },
    }
    paths["/tasks/{task_id}/logs/{name}"] = {
        "get": {
            "summary": "A chunk of a task's stdout or stderr, from its agent",
            "parameters": [
                {"name": "task_id", "in": "path", "required": True, "schema": _ID},
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "schema": {"enum": ["stdout", "stderr"]},
                },
                *chunk_query,
            ],
            "responses": {"200": _CHUNK_ANSWER, **file_errors},
        }
    }
    paths["/files/read"] = {
        "get": {
            "summary": "A chunk of any file of a task's sandbox (Mesos's /files/read)",
            "parameters": [
                {
                    "name": "path",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^/?[^/]+/.+"},
                    "description": "TASK_ID/FILE, inside the task's sandbox.",
                },
                *chunk_query,
            ],
            "responses": {"200": _CHUNK_ANSWER, **file_errors},
        }
    }
    statistics = _read("The running tasks' CPU times, memory and limits", _STATISTICS)
    paths["/monitor/statistics"] = paths["/monitor/statistics.json"] = statistics
    # The web UI (pyactors.api.webui) and the share history its chart draws.
    paths["/master/shares"] = _read(
        "Each framework's dominant share per role, sampled over the last minutes", _SHARES
    )
    paths["/"] = {
        "get": {
            "summary": "The web UI's page",
            "responses": {
                "200": {"description": "The page", "content": {"text/html": {"schema": _STRING}}},
                **_errors(503),
            },
        }
    }
    paths["/webui/{name}"] = {
        "get": {
            "summary": "The web UI's scripts, styles and icon",
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": _ID}],
            "responses": {
                "200": {
                    "description": "The file",
                    "content": {
                        kind: {"schema": _STRING}
                        for kind in ("text/javascript", "text/css", "text/html", "image/svg+xml")
                    },
                },
                "304": {"description": "Not modified (If-None-Match names its ETag)"},
                **_errors(404),
            },
        }
    }
    paths["/auth/token"] = {
        "post": {
            "summary": "A bearer token for the caller's principal (HTTP Basic only)",
            "responses": {
                "200": {
                    "description": "The token, and when it expires (epoch seconds)",
                    **_json(
                        _body(
                            ["principal", "token", "expires"],
                            principal=_STRING,
                            token=_STRING,
                            expires={"type": "integer"},
                        )
                    ),
                },
                "400": {
                    "description": "This master requires no credentials",
                    **_json(_ERROR),
                },
            },
        }
    }
    paths["/api/v1"] = _V1_OPERATOR
    paths["/api/v1/scheduler"] = _V1_SCHEDULER
    paths["/version"] = {
        "get": {
            "summary": "Mesos's /version: the Mesos version spoken (1.11.0) and this build",
            "responses": {
                "200": {
                    "description": "OK",
                    **_json(_body(["version"], version=_STRING, git_sha=_STRING)),
                }
            },
        }
    }
    paths["/openapi.json"] = {
        "get": {
            "summary": "This document",
            "responses": {"200": {"description": "OK", **_json({"type": "object"})}},
        }
    }
    return paths


_GUARD_ANSWERS: dict[str, Schema] = {
    "401": {
        "description": "Credentials required (the master has some): none, or wrong ones, "
        "were given",
        "headers": {"WWW-Authenticate": {"schema": _STRING}},
        **_json(_ERROR),
    },
    "403": {
        "description": "Refused: an ACL denies it (the message names the action), or a change "
        "sent from another origin; nothing changed",
        **_json(_ERROR),
    },
    "415": {"description": "A body that is not JSON; nothing changed", **_json(_ERROR)},
    "421": {"description": "A Host this server does not answer for", **_json(_ERROR)},
}


_VIEWS = "view_frameworks (the framework's user or roles) and view_tasks (the task's user or role)"
# The ACL guarding each operation (`x-acl`, and said in its description):
# operator calls are refused whole (403), the reads named "filtered" show
# only what the caller may see.
ACLS: dict[tuple[str, str], str] = {
    ("post", "/master/quota"): "update_quotas (the role)",
    ("delete", "/master/quota/{role}"): "update_quotas (the role)",
    ("post", "/master/weights"): "update_weights (each role)",
    ("put", "/master/weights"): "update_weights (each role)",
    ("post", "/master/teardown"): "teardown_frameworks (the framework's principal)",
    ("post", "/master/kill"): "kill_tasks (the task's framework's principal)",
    ("post", "/master/reserve"): "reserve_resources (each role)",
    ("post", "/master/unreserve"): "unreserve_resources (each role)",
    ("post", "/master/create-volumes"): "create_volumes (each role)",
    ("post", "/master/destroy-volumes"): "destroy_volumes (each role)",
    ("post", "/master/maintenance/drain"): "drain_agents (the agent)",
    ("post", "/master/maintenance/reactivate"): "drain_agents (the agent)",
    **openapi_maintenance.ACLS,
    ("get", "/tasks/{task_id}/logs/{name}"): "access_sandboxes (the task's user or role)",
    ("get", "/files/read"): "access_sandboxes (the task's user or role)",
    ("get", "/metrics"): "view_frameworks of every framework (ANY)",
    **{
        ("get", path): f"filtered by {_VIEWS}"
        for name in ("state", "state-summary", "frameworks", "slaves", "roles", "tasks")
        for path in (f"/master/{name}", f"/{name}")
    },
    ("post", "/api/v1"): "each change its own, as its REST endpoint's (update_weights, "
    "update_quotas, reserve_resources, unreserve_resources, create_volumes, destroy_volumes, "
    "drain_agents, teardown_frameworks, update_maintenance_schedules, start_maintenances, "
    f"stop_maintenances); reads and SUBSCRIBE's events filtered by {_VIEWS}, maintenance "
    "reads by get_maintenance_schedules and get_maintenance_statuses",
    ("get", "/master/shares"): "filtered by view_frameworks",
    ("post", "/api/v1/scheduler"): "on its event stream, as for Python frameworks: "
    "register_frameworks (each role) refuses a SUBSCRIBE with an ERROR event; run_tasks and "
    "the reservation and volume ACLs refuse an ACCEPT's operations (TASK_ERROR, ERROR)",
    **{("get", f"{path}.json"): f"filtered by {_VIEWS}" for path in ("/master/state", "/state")},
    **{("get", f"{path}.json"): f"filtered by {_VIEWS}" for path in ("/master/tasks", "/tasks")},
    ("get", "/monitor/statistics"): f"filtered by {_VIEWS}",
    ("get", "/monitor/statistics.json"): f"filtered by {_VIEWS}",
}


def _guarded(paths: dict[str, Schema], authenticated: bool) -> dict[str, Schema]:
    """Every operation with the answers of the guards and, on a master with
    credentials, of authentication (`pyactors.api.guards`,
    `pyactors.api.auth`): a public one needs no credentials."""
    for path, operations in paths.items():
        for method, operation in operations.items():
            answers = {"421": _GUARD_ANSWERS["421"]}
            if Authenticator.is_public(path):
                operation["security"] = []
            elif authenticated:
                answers["401"] = _GUARD_ANSWERS["401"]
            if method != "get" or path in _AUTHORIZED_READS:
                answers["403"] = _GUARD_ANSWERS["403"]
            if "requestBody" in operation or method != "get":
                answers["415"] = _GUARD_ANSWERS["415"]
            operation["responses"] = {**answers, **operation["responses"]}
            acl = ACLS.get((method, path))
            if acl is not None:
                operation["x-acl"] = acl
                said = operation.get("description")
                operation["description"] = f"{said + ' ' if said else ''}ACL: {acl}."
    return paths


def document(authenticated: bool = True) -> Schema:
    """The OpenAPI 3.1 document of the master's HTTP API; `authenticated`:
    the master has credentials, so that they are required (HTTP Basic or a
    bearer token) on all but the public operations."""
    described: Schema = {
        "openapi": "3.1.0",
        "info": {
            "title": "pyactors master",
            "version": VERSION,
            "description": "Mesos-shaped state, metrics and operator calls of the "
            "leading master. Errors are JSON {code, error, message}; a refused "
            "call changes nothing.",
        },
        "paths": _guarded(_paths(), authenticated),
    }
    if not authenticated:
        return described
    return {
        **described,
        "components": {
            "securitySchemes": {
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "principal:secret, from the master's credentials",
                },
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from POST /auth/token (good on the master "
                    "that issued it, for 12 hours)",
                },
            }
        },
        # Either one.
        "security": [{"basic": []}, {"bearer": []}],
    }
