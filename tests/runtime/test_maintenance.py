"""Mesos's maintenance primitives on a real cluster: the operator schedules
the agents' machine, a Python framework, a raw v1 HTTP framework and a
pymesos framework running tasks there get inverse offers (and offers
carrying the unavailability), their answers (ACCEPT, DECLINE) reach the
maintenance status, bringing the
machine down removes its agents (their tasks TASK_LOST, for a
partition-aware framework too, as Mesos's master removes an agent), and
bringing it up lets them register again."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.http import get, request
from support.pymesos.processes import Process, address, registered
from support.runtime import Launcher, ha_cluster, leading, small_cluster, wait_for
from test_v1_scheduler import Framework

from pyactors.core.offer import InverseOfferInfo
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster
from pyactors.scheduler.api import Driver

START = 1_700_000_000 * 10**9
HOUR = 3600 * 10**9


class Evacuating(Launcher):
    """Runs a long task; accepts every inverse offer it gets."""

    def __init__(self) -> None:
        super().__init__([("py-task", "sleep 600", "cpus:0.1;mem:16")])
        self.inverse: list[InverseOfferInfo] = []

    def inverse_offers(self, driver: Driver, inverse_offers: list[InverseOfferInfo]) -> None:
        self.inverse += inverse_offers
        driver.accept_inverse_offers([o.id for o in inverse_offers], refuse_seconds=3600)

    def seen(self) -> dict[str, Any]:
        return {**super().seen(), "inverse": self.inverse}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from small_cluster(tmp_path_factory, framework_heartbeat_interval=1.0)


def operator(url: str, kind: str, **body: Any) -> tuple[int, Any]:
    return request(url, "/api/v1", {"type": kind, **body})


def test_a_scheduled_machine_drains_goes_down_and_comes_back(
    cluster: Cluster, url: str, processes: list[Process]
) -> None:
    agents = get(url, "/master/slaves")["slaves"]
    (hostname,) = {a["hostname"] for a in agents}
    machine = {"hostname": hostname}
    python = cluster.run_framework(Evacuating, name="evacuating")
    wait_for(lambda: "TASK_RUNNING" in python.call("states", "py-task"), what="py-task running")
    argv = [sys.executable, "-m", "support.pymesos.maintenance_framework", address(cluster)]
    pymesos = Process(argv)
    processes.append(pymesos)
    pymesos_id = registered(pymesos)
    wait_for(
        lambda: [u for u in pymesos.updates("pymesos-task") if u["state"] == "TASK_RUNNING"],
        what="pymesos-task running",
    )
    # Partition-aware: it still hears TASK_LOST, as from Mesos's master.
    raw = Framework(url, "raw", capabilities=[{"type": "PARTITION_AWARE"}])
    try:
        raw.launch("raw-task", "sleep 600")
        raw.reached("raw-task", "TASK_RUNNING")

        # Refused whole with Mesos's message; nothing scheduled.
        twice = {"windows": [{"machine_ids": [machine, machine], "unavailability": {}}]}
        status, body = request(url, "/master/maintenance/schedule", twice)
        assert status == 400, body
        assert get(url, "/master/maintenance/schedule") == {}
        schedule = {
            "windows": [
                {
                    "machine_ids": [machine],
                    "unavailability": {
                        "start": {"nanoseconds": START},
                        "duration": {"nanoseconds": HOUR},
                    },
                }
            ]
        }
        status, body = request(url, "/master/maintenance/schedule", schedule)
        assert status == 200, body
        assert get(url, "/master/maintenance/schedule") == schedule
        status, body = operator(url, "GET_MAINTENANCE_SCHEDULE")
        assert body["get_maintenance_schedule"]["schedule"] == schedule

        # The Python and pymesos frameworks are asked back their agents and
        # accept.
        asked = wait_for(lambda: python.call("seen")["inverse"], what="a Python inverse offer")
        assert asked[0].unavailability.start == START / 1e9
        inverse_pymesos = wait_for(
            lambda: pymesos.events("inverse_offers"), what="a pymesos inverse offer"
        )
        assert inverse_pymesos[0]["starts"][0] == START
        # The v1 framework sees the unavailability on its offers and
        # declines the inverse offer.
        events = wait_for(lambda: raw.stream.of("INVERSE_OFFERS"), what="INVERSE_OFFERS")
        inverse = events[0]["inverse_offers"]["inverse_offers"][0]
        assert inverse["unavailability"] == schedule["windows"][0]["unavailability"]
        assert inverse["framework_id"] == {"value": raw.id}
        raw.accepted(
            "DECLINE_INVERSE_OFFERS",
            decline_inverse_offers={
                "inverse_offer_ids": [inverse["id"]],
                "filters": {"refuse_seconds": 3600},
            },
        )
        marked = wait_for(
            lambda: [o for o in raw.offers() if "unavailability" in o], what="an offer"
        )
        assert marked[0]["unavailability"] == inverse["unavailability"]

        def answers() -> dict[str, str]:
            status = get(url, "/master/maintenance/status")
            (draining,) = status["draining_machines"]
            assert draining["id"] == machine
            return {s["framework_id"]["value"]: s["status"] for s in draining["statuses"]}

        wait_for(lambda: len(answers()) == 3, what="every answer", seen=answers)
        assert answers() == {python.id: "ACCEPT", raw.id: "DECLINE", pymesos_id: "ACCEPT"}
        status, body = operator(url, "GET_MAINTENANCE_STATUS")
        assert body["get_maintenance_status"]["status"] == get(url, "/master/maintenance/status")

        # Down: the agents leave, their tasks are lost to both frameworks.
        status, body = request(url, "/master/machine/up", [machine])
        assert status == 400 and "not in DOWN mode" in body["message"], body
        status, body = request(url, "/master/machine/down", [machine])
        assert status == 200, body
        assert get(url, "/master/maintenance/status") == {"down_machines": [machine]}
        assert get(url, "/master/slaves")["slaves"] == []
        lost = raw.reached("raw-task", "TASK_LOST")
        assert lost["reason"] == "REASON_AGENT_REMOVED"
        assert lost["message"] == f"Agent {hostname} removed: Operator initiated 'Machine DOWN'"
        wait_for(lambda: "TASK_LOST" in python.call("states", "py-task"), what="py-task lost")
        wait_for(
            lambda: [u for u in pymesos.updates("pymesos-task") if u["state"] == "TASK_LOST"],
            what="pymesos-task lost",
        )
        status, body = request(url, "/master/maintenance/schedule", {})
        assert status == 400 and "is deactivated and cannot be removed" in body["message"]

        # Up (through the v1 call): out of the schedule, the agents are back.
        status, body = operator(url, "STOP_MAINTENANCE", stop_maintenance={"machines": [machine]})
        assert status == 200, body
        assert get(url, "/master/maintenance/schedule") == {}
        wait_for(
            lambda: len(get(url, "/master/slaves")["slaves"]) == len(agents),
            what="the agents registered again",
        )
    finally:
        pymesos.tell(do="stop")
        raw.call("TEARDOWN")
        raw.stream.close()
        cluster.teardown(python)


def scheduled(*hostnames: str) -> dict[str, Any]:
    unavailability = {"start": {"nanoseconds": START}}
    return {
        "windows": [
            {"machine_ids": [{"hostname": h}], "unavailability": unavailability} for h in hostnames
        ]
    }


@pytest.mark.timeout(600)
def test_a_new_leader_keeps_the_schedule_and_the_machines_down(
    zookeeper: Any, tmp_path: Path
) -> None:
    ha = ha_cluster(zookeeper, tmp_path)
    try:
        (first,) = wait_for(lambda: leading(ha), what="a leader")
        (agent,) = get(ha.url, "/master/slaves")["slaves"]
        schedule = scheduled(agent["hostname"], "elsewhere")
        status, body = request(ha.url, "/master/maintenance/schedule", schedule)
        assert status == 200, body
        status, body = request(ha.url, "/master/machine/down", [{"hostname": "elsewhere"}])
        assert status == 200, body
        ray_calls.stop(first)
        wait_for(
            lambda: [m for m in leading(ha) if m._actor_id != first._actor_id],
            what="a new leader",
        )
        assert get(ha.url, "/master/maintenance/schedule") == schedule
        assert get(ha.url, "/master/maintenance/status") == {
            "draining_machines": [{"id": {"hostname": agent["hostname"]}, "statuses": []}],
            "down_machines": [{"hostname": "elsewhere"}],
        }
    finally:
        ha.shutdown()
