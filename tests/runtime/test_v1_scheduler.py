"""Mesos's v1 scheduler API on a real cluster, spoken raw: SUBSCRIBE's
RecordIO stream and every call on its own request, the events each one
causes, the refusals (4xx with Mesos's messages, nothing changed), a second
subscription replacing the first, `/version` and the `.json` names."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from support.http import get
from support.runtime import small_cluster, wait_for

from pyactors.api.v1.recordio import Decoder
from pyactors.runtime.cluster import Cluster

JSON = "application/json"
CPUS_MEM = [
    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
    {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}},
]


class Stream:
    """A SUBSCRIBE's response, its events decoded as they arrive."""

    def __init__(self, url: str, body: dict[str, Any], headers: dict[str, str] | None = None):
        parts = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
        self.connection.request(
            "POST",
            "/api/v1/scheduler",
            json.dumps(body),
            {"Content-Type": JSON, "Accept": JSON, **(headers or {})},
        )
        self.response = self.connection.getresponse()
        self.events: list[dict[str, Any]] = []
        self.ended = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        if self.response.status == 200:
            self._reader.start()

    @property
    def stream_id(self) -> str:
        return str(self.response.getheader("Mesos-Stream-Id"))

    def _read(self) -> None:
        decoder = Decoder()
        try:
            while chunk := self.response.read1(65536):
                self.events += [json.loads(record) for record in decoder.decode(chunk)]
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass
        self.ended = True

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e["type"] == kind]

    def updates(self, task_id: str) -> list[dict[str, Any]]:
        statuses = [e["update"]["status"] for e in self.of("UPDATE")]
        return [s for s in statuses if s["task_id"]["value"] == task_id]

    def close(self) -> None:
        self.connection.close()


def post(
    url: str, body: Any, stream_id: str | None = None, content_type: str = JSON
) -> tuple[int, Any]:
    headers = {"Content-Type": content_type}
    if stream_id is not None:
        headers["Mesos-Stream-Id"] = stream_id
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url + "/api/v1/scheduler", data, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    return status, json.loads(payload) if payload else None


def subscribe_body(name: str, **info: Any) -> dict[str, Any]:
    framework_info = {"user": "", "name": name, **info}
    body: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info}}
    if "id" in info:
        body["framework_id"] = info["id"]
    return body


class Framework:
    """One subscription and the calls made on it."""

    def __init__(self, url: str, name: str, **info: Any) -> None:
        self.url = url
        self.stream = Stream(url, subscribe_body(name, **info))
        assert self.stream.response.status == 200
        subscribed = wait_for(lambda: self.stream.of("SUBSCRIBED"), what="SUBSCRIBED")
        self.id: str = subscribed[0]["subscribed"]["framework_id"]["value"]
        self.acknowledged: set[str] = set()
        # Offers this test accepted or declined.
        self.used: set[str] = set()

    def call(self, kind: str, **body: Any) -> tuple[int, Any]:
        full = {"type": kind, "framework_id": {"value": self.id}, **body}
        return post(self.url, full, self.stream.stream_id)

    def accepted(self, kind: str, **body: Any) -> None:
        status, answer = self.call(kind, **body)
        assert status == 202, (kind, answer)

    def offers(self) -> list[dict[str, Any]]:
        return [o for e in self.stream.of("OFFERS") for o in e["offers"]["offers"]]

    def unused(self) -> list[dict[str, Any]]:
        """The offers received and not yet accepted, declined or rescinded."""
        rescinded = {e["rescind"]["offer_id"]["value"] for e in self.stream.of("RESCIND")}
        gone = self.used | rescinded
        return [o for o in self.offers() if o["id"]["value"] not in gone]

    def offer(self) -> dict[str, Any]:
        """An unused offer, once there is one. Not necessarily one made after
        the last call: the master offers an ended task's resources again at
        its next cycle, often before the test looks, and an offer already
        held is only rescinded (and made again) after `offer_timeout`."""
        return wait_for(self.unused, what="an unused offer")[0]  # type: ignore[no-any-return]

    def decline_unused(self, refuse_seconds: float) -> None:
        offers = self.unused()
        if offers:
            ids = [o["id"] for o in offers]
            filters = {"refuse_seconds": refuse_seconds}
            self.accepted("DECLINE", decline={"offer_ids": ids, "filters": filters})
            self.used.update(o["value"] for o in ids)

    def launch(self, task_id: str, command: str) -> dict[str, Any]:
        offer = self.offer()
        task = {
            "task_id": {"value": task_id},
            "agent_id": offer["agent_id"],
            "name": task_id,
            "resources": CPUS_MEM,
            "command": {"value": command},
        }
        operations = [{"type": "LAUNCH", "launch": {"task_infos": [task]}}]
        self.accepted(
            "ACCEPT",
            accept={
                "offer_ids": [offer["id"]],
                "operations": operations,
                "filters": {"refuse_seconds": 0.1},
            },
        )
        self.used.add(offer["id"]["value"])
        return offer

    def reached(self, task_id: str, state: str) -> dict[str, Any]:
        """The task's latest update in `state`, once there; every update
        that carries a uuid is acknowledged meanwhile, as clients do (the
        agent sends a task's next update only then)."""

        def arrived() -> list[dict[str, Any]]:
            for status in self.stream.updates(task_id):
                if "uuid" in status and status["uuid"] not in self.acknowledged:
                    self.acknowledged.add(status["uuid"])
                    self.acknowledge(status)
            return [s for s in self.stream.updates(task_id) if s["state"] == state]

        return wait_for(  # type: ignore[no-any-return]
            arrived, what=f"{task_id} {state}", seen=lambda: self.stream.updates(task_id)
        )[-1]

    def acknowledge(self, status: dict[str, Any]) -> None:
        self.accepted(
            "ACKNOWLEDGE",
            acknowledge={
                "agent_id": status["agent_id"],
                "task_id": status["task_id"],
                "uuid": status["uuid"],
            },
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from small_cluster(tmp_path_factory, framework_heartbeat_interval=1.0)


@pytest.fixture
def frameworks() -> Iterator[list[Framework]]:
    made: list[Framework] = []
    yield made
    for framework in made:
        framework.call("TEARDOWN")
        framework.stream.close()


def framework_state(url: str, framework_id: str) -> dict[str, Any] | None:
    found = get(url, "/master/frameworks")["frameworks"]
    return next((f for f in found if f["id"] == framework_id), None)


def test_version_and_the_json_names(url: str) -> None:
    version = get(url, "/version")
    assert version["version"] == "1.11.0"
    assert {"build_date", "build_time", "build_user", "git_sha"} <= set(version)
    for path in ("/master/state", "/state", "/master/tasks", "/tasks"):
        assert get(url, path + ".json").keys() == get(url, path).keys()


def test_subscribe_streams_subscribed_a_heartbeat_and_offers(
    url: str, frameworks: list[Framework]
) -> None:
    framework = Framework(url, "raw", failover_timeout=0, webui_url="http://127.0.0.1:9/ui")
    frameworks.append(framework)
    response = framework.stream.response
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Content-Type").startswith(JSON)
    assert framework.stream.stream_id
    first, second = framework.stream.events[:2]
    subscribed = first["subscribed"]
    assert subscribed["heartbeat_interval_seconds"] == 1.0
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    assert subscribed["master_info"]["address"]["port"] == port
    assert subscribed["master_info"]["address"]["ip"] == host
    assert subscribed["master_info"]["version"] == "1.11.0"
    assert second == {"type": "HEARTBEAT"}
    offer = framework.offer()
    assert offer["framework_id"] == {"value": framework.id}
    assert {r["name"] for r in offer["resources"]} >= {"cpus", "mem"}
    assert all(r["allocation_info"] == {"role": "*"} for r in offer["resources"])
    # A framework like any other: the state shows it, heartbeats keep coming.
    record = framework_state(url, framework.id)
    assert record is not None and record["name"] == "raw" and record["active"]
    assert record["webui_url"] == "http://127.0.0.1:9/ui"
    beats = len(framework.stream.of("HEARTBEAT"))
    wait_for(lambda: len(framework.stream.of("HEARTBEAT")) > beats + 1, what="heartbeats")


def test_each_call_answers_202_and_acts(url: str, frameworks: list[Framework]) -> None:
    framework = Framework(url, "calls")
    frameworks.append(framework)
    framework.launch("done", "echo hi")
    finished = framework.reached("done", "TASK_FINISHED")
    assert len(base64.b64decode(finished["uuid"])) == 16
    assert finished["source"] == "SOURCE_EXECUTOR"
    # Acknowledged again, or a uuid nobody sent: still 202, nothing happens.
    framework.acknowledge(finished)
    framework.acknowledge({**finished, "uuid": base64.b64encode(bytes(16)).decode()})
    framework.acknowledge({**finished, "task_id": {"value": "no-such-task"}})

    framework.launch("long", "sleep 600")
    framework.reached("long", "TASK_RUNNING")
    # KILL names the task alone: the master finds its agent.
    framework.accepted("KILL", kill={"task_id": {"value": "long"}})
    framework.reached("long", "TASK_KILLED")

    # Reconciliation: explicit (known, unknown) and implicit; no uuid.
    framework.accepted(
        "RECONCILE",
        reconcile={"tasks": [{"task_id": {"value": "long"}}, {"task_id": {"value": "ghost"}}]},
    )
    ghost = framework.reached("ghost", "TASK_UNKNOWN")
    assert "uuid" not in ghost and ghost["reason"] == "REASON_RECONCILIATION"
    answers = [s for s in framework.stream.updates("long") if s["state"] == "TASK_KILLED"]
    wait_for(lambda: len([s for s in framework.stream.updates("long")]) > len(answers))
    framework.launch("other", "sleep 600")
    framework.reached("other", "TASK_RUNNING")
    before = len(framework.stream.updates("other"))
    framework.accepted("RECONCILE", reconcile={"tasks": []})
    wait_for(lambda: len(framework.stream.updates("other")) > before, what="implicit answer")
    assert "uuid" not in framework.stream.updates("other")[-1]

    # MESSAGE to the task, SHUTDOWN of its executor (the task itself).
    agent = framework.stream.updates("other")[-1]["agent_id"]
    data = base64.b64encode(b"hello").decode()
    framework.accepted(
        "MESSAGE",
        message={"agent_id": agent, "executor_id": {"value": "other"}, "data": data},
    )
    framework.accepted("SHUTDOWN", shutdown={"agent_id": agent, "executor_id": {"value": "other"}})
    framework.reached("other", "TASK_KILLED")

    # DECLINE with a filter, SUPPRESS and REVIVE with roles, REQUEST. The
    # offers held are declined for an hour (an offer made before SUPPRESS
    # took effect too): only REVIVE, which clears the filters, brings more.
    framework.offer()
    framework.decline_unused(3600)
    framework.accepted("SUPPRESS", suppress={"roles": ["*"]})

    def no_offers() -> bool:
        framework.decline_unused(3600)
        return not (framework_state(url, framework.id) or {}).get("offers")

    wait_for(no_offers, what="no outstanding offers")
    seen = len(framework.offers())
    framework.accepted("REVIVE", revive={"roles": ["*"]})
    wait_for(lambda: len(framework.offers()) > seen, what="offers after REVIVE")
    framework.accepted("REQUEST", request={"requests": []})
    framework.accepted("ACCEPT_INVERSE_OFFERS", accept_inverse_offers={"inverse_offer_ids": []})
    assert not framework.stream.of("ERROR")

    # TEARDOWN: the stream ends, the framework is gone.
    framework.accepted("TEARDOWN")
    wait_for(lambda: framework.stream.ended, what="the stream to end")
    assert framework_state(url, framework.id) is None
    frameworks.remove(framework)


def test_launch_group_and_reservations(url: str, frameworks: list[Framework]) -> None:
    framework = Framework(url, "groups")
    frameworks.append(framework)
    offer = framework.offer()
    group = [
        {
            "task_id": {"value": f"g{i}"},
            "name": "g",
            "resources": CPUS_MEM,
            "command": {"value": "true"},
        }
        for i in range(2)
    ]
    reserved = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "role": "*"},
    ]
    framework.accepted(
        "ACCEPT",
        accept={
            "offer_ids": [offer["id"]],
            "operations": [
                {
                    "type": "LAUNCH_GROUP",
                    "launch_group": {
                        "executor": {"type": "DEFAULT"},
                        "task_group": {"tasks": group},
                    },
                },
                {"type": "RESERVE", "reserve": {"resources": reserved}},
            ],
        },
    )
    framework.reached("g0", "TASK_FINISHED")
    framework.reached("g1", "TASK_FINISHED")


def test_an_operation_asking_for_feedback_is_dropped_with_operation_error(
    url: str, frameworks: list[Framework]
) -> None:
    framework = Framework(url, "feedback", role="fb")
    frameworks.append(framework)
    offer = framework.offer()
    before = {a["id"]: a["reserved_resources"] for a in get(url, "/master/slaves")["slaves"]}
    cpus = {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}}
    reserve = {
        "type": "RESERVE",
        "id": {"value": "reserve-1"},
        "reserve": {"resources": [{**cpus, "reservations": [{"type": "DYNAMIC", "role": "fb"}]}]},
    }
    framework.accepted(
        "ACCEPT",
        accept={"offer_ids": [offer["id"]], "operations": [reserve], "filters": {}},
    )
    (event,) = wait_for(lambda: framework.stream.of("UPDATE_OPERATION_STATUS"), what="the drop")
    status = event["update_operation_status"]["status"]
    assert status["operation_id"] == {"value": "reserve-1"}
    assert status["state"] == "OPERATION_ERROR" and "uuid" not in status
    assert "RESOURCE_PROVIDER" in status["message"]
    # Nothing was reserved.
    after = {a["id"]: a["reserved_resources"] for a in get(url, "/master/slaves")["slaves"]}
    assert after == before


def test_bad_calls_are_refused_and_change_nothing(url: str, frameworks: list[Framework]) -> None:
    framework = Framework(url, "refusals")
    frameworks.append(framework)
    framework.offer()

    def changeable() -> Any:
        state = get(url, "/master/state")
        return sorted((f["id"], f["active"], len(f["tasks"])) for f in state["frameworks"])

    before = changeable()
    kill = {
        "type": "KILL",
        "framework_id": {"value": framework.id},
        "kill": {"task_id": {"value": "x"}},
    }
    refusals = [
        (post(url, kill), 400, "All non-subscribe calls should include the 'Mesos-Stream-Id'"),
        (post(url, kill, "wrong"), 400, "didn't match the stream ID"),
        (
            post(url, {**kill, "framework_id": {"value": "never-subscribed"}}, "x"),
            400,
            "Framework cannot be found",
        ),
        (post(url, {**kill, "type": "FLY"}, framework.stream.stream_id), 400, "'FLY'"),
        (
            post(url, b"{not json", framework.stream.stream_id),
            400,
            "Failed to parse body into JSON",
        ),
        (
            post(
                url,
                {"type": "KILL", "framework_id": {"value": framework.id}},
                framework.stream.stream_id,
            ),
            400,
            "Expecting 'kill' to be present",
        ),
        (
            post(url, b"\x08\x01", framework.stream.stream_id, "application/x-protobuf"),
            415,
            "send application/json",
        ),
        (post(url, subscribe_body("x"), "some-stream"), 400, "should not include"),
    ]
    for (status, answer), expected, message in refusals:
        assert status == expected, answer
        assert message in answer["message"], answer
    assert changeable() == before
    assert not framework.stream.ended


def test_a_second_subscription_replaces_the_first(url: str, frameworks: list[Framework]) -> None:
    first = Framework(url, "failing-over", failover_timeout=60)
    first.launch("kept", "sleep 600")
    first.reached("kept", "TASK_RUNNING")
    second = Framework(url, "failing-over", failover_timeout=60, id={"value": first.id})
    frameworks.append(second)
    assert second.id == first.id
    wait_for(lambda: first.stream.ended, what="the first stream to end")
    assert first.stream.of("ERROR")
    status, answer = first.call("REVIVE")
    assert status == 400 and "didn't match the stream ID" in answer["message"]
    # The task's updates go to the new stream, and it still answers for it.
    second.accepted("KILL", kill={"task_id": {"value": "kept"}})
    second.reached("kept", "TASK_KILLED")


def test_a_client_that_goes_away_disconnects_its_framework(url: str) -> None:
    framework = Framework(url, "leaving", failover_timeout=60)
    framework.stream.close()

    def inactive() -> bool:
        record = framework_state(url, framework.id)
        return record is not None and not record["active"]

    wait_for(inactive, what="the framework disconnected")
    comeback = Framework(url, "leaving", failover_timeout=60, id={"value": framework.id})
    assert (framework_state(url, framework.id) or {}).get("active")
    comeback.accepted("TEARDOWN")
    wait_for(lambda: framework_state(url, framework.id) is None)
