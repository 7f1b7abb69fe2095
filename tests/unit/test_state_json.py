"""The HTTP API's JSON shapes and metrics, from a master state driven
directly (no Ray, no HTTP)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from pyactors import Resources
from pyactors.api import state_json as sj
from pyactors.api.metrics import MasterMetrics, Reading
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import SendOffers
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.errors import InvalidArgumentError, UnknownAgentError, UnknownTaskError
from pyactors.master.state import MasterConfig, MasterState

ABOUT = sj.About(id="m1", version="0.1.0", start_time=100.0, clock_offset=1000.0, now=160.0)


def running_master() -> tuple[MasterState, str]:
    """Two agents; one framework in role `web` ran t1 (finished and
    acknowledged), runs t2 and holds an offer."""
    master = MasterState(MasterConfig())
    for i in range(2):
        master.register_agent(
            f"agent-{i}",
            f"host-{i}",
            Resources.parse("cpus:4;mem:1024;ports:[31000-31009]"),
            {},
            now=0,
        )
    fw, _ = master.subscribe("web-fw", ["web"], now=0)
    master.set_weight("web", 2.0)
    master.set_quota("web", "cpus:1", "cpus:8;gpus:0")
    (batch,) = [e for e in master.allocate(now=1) if isinstance(e, SendOffers)]
    first, second = sorted(batch.offers, key=lambda o: o.agent_id)
    tasks = [
        TaskInfo(t, t, Resources.parse("cpus:1;mem:128"), command="true") for t in ("t1", "t2")
    ]
    master.accept(fw, [first.id], [Launch(tasks)], refuse_seconds=0, now=2)
    master.decline(fw, [second.id], refuse_seconds=0, now=2)
    for task_id, state in (("t1", TaskState.TASK_RUNNING), ("t2", TaskState.TASK_RUNNING)):
        master.status_updates(
            "agent-0", [TaskStatus(task_id, state, Source.SOURCE_AGENT, 3, agent_id="agent-0")]
        )
    done = TaskStatus("t1", TaskState.TASK_FINISHED, Source.SOURCE_AGENT, 4, agent_id="agent-0")
    master.status_updates("agent-0", [done])
    assert done.uuid is not None
    master.acknowledge(fw, [("t1", done.uuid)])
    master.allocate(now=5)  # offers what is left
    return master, fw


def test_resources_model_is_mesos_shaped() -> None:
    model = sj.resources_model(Resources.parse("cpus:2;cpus(web):1;ports:[1-2,5-9];zones:{b,a}"))
    assert model == {
        "cpus": 3.0,
        "gpus": 0.0,
        "mem": 0.0,
        "disk": 0.0,
        "ports": "[1-2, 5-9]",
        "zones": "{a,b}",
    }
    assert sj.resources_model(None) == {"cpus": 0.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0}


def test_state_has_slaves_frameworks_tasks_and_roles() -> None:
    master, fw = running_master()
    state = sj.state(master, ABOUT)
    orjson.dumps(state)  # every value encodes
    assert state["id"] == "m1" and state["activated_slaves"] == 2
    slaves = {s["id"]: s for s in state["slaves"]}
    assert slaves["agent-0"]["resources"]["cpus"] == 4.0
    assert slaves["agent-0"]["resources"]["ports"] == "[31000-31009]"
    assert slaves["agent-0"]["used_resources"]["cpus"] == 1.0  # t2 only
    assert slaves["agent-0"]["offered_resources"]["cpus"] == 3.0
    assert slaves["agent-1"]["offered_resources"]["cpus"] == 4.0
    assert slaves["agent-0"]["registered_time"] == 1000.0
    (framework,) = state["frameworks"]
    assert framework["id"] == fw and framework["roles"] == ["web"]
    assert [t["id"] for t in framework["tasks"]] == ["t2"]
    assert [t["id"] for t in framework["completed_tasks"]] == ["t1"]
    t2 = framework["tasks"][0]
    assert t2["slave_id"] == "agent-0" and t2["state"] == "TASK_RUNNING"
    assert t2["resources"]["mem"] == 128.0
    assert t2["statuses"][0]["timestamp"] == 1003.0
    assert framework["used_resources"]["cpus"] == 1.0
    assert len(framework["offers"]) == 2
    (role,) = [r for r in state["roles"] if r["name"] == "web"]
    assert role["weight"] == 2.0 and role["frameworks"] == [fw]
    assert role["quota"]["guarantee"] == {"cpus": 1.0}
    # Quota text cannot say "no GPUs" (zeros are absent from resources).
    assert role["quota"]["limit"] == {"cpus": 8.0}
    assert role["allocated"]["cpus"] == 1.0 and role["offered"]["cpus"] == 7.0


def test_summary_counts_tasks_per_agent_and_framework() -> None:
    master, fw = running_master()
    summary = sj.state_summary(master, ABOUT)
    agent = next(s for s in summary["slaves"] if s["id"] == "agent-0")
    assert agent["TASK_RUNNING"] == 1 and agent["TASK_FINISHED"] == 1
    assert agent["framework_ids"] == [fw]
    (framework,) = summary["frameworks"]
    assert framework["TASK_RUNNING"] == 1 and framework["slave_ids"] == ["agent-0"]
    assert "tasks" not in framework


def test_tasks_filter_page_and_order() -> None:
    master, fw = running_master()
    ids = lambda shaped: [t["id"] for t in shaped["tasks"]]  # noqa: E731
    assert ids(sj.tasks(master, ABOUT, order="asc")) == ["t1", "t2"]
    assert ids(sj.tasks(master, ABOUT)) == ["t2", "t1"]
    assert ids(sj.tasks(master, ABOUT, limit=1, offset=1, order="asc")) == ["t2"]
    assert ids(sj.tasks(master, ABOUT, framework_id="nobody")) == []
    assert ids(sj.tasks(master, ABOUT, framework_id=fw, task_id="t1")) == ["t1"]
    assert ids(sj.tasks(master, ABOUT, task_state="TASK_FINISHED")) == ["t1"]
    assert ids(sj.tasks(master, ABOUT, task_state="TASK_RUNNING", limit=5)) == ["t2"]
    with pytest.raises(InvalidArgumentError, match="no task state 'finished'"):
        sj.tasks(master, ABOUT, task_state="finished")
    with pytest.raises(InvalidArgumentError):
        sj.tasks(master, ABOUT, order="sideways")
    with pytest.raises(InvalidArgumentError):
        sj.tasks(master, ABOUT, limit=-1)


def test_metrics_use_mesos_names_and_move_with_work() -> None:
    master, _ = running_master()
    metrics = sj.metrics(master, ABOUT)
    assert metrics["master/tasks_running"] == 1.0
    assert metrics["master/tasks_finished"] == 1.0
    assert metrics["master/tasks_launched"] == 2.0
    assert metrics["master/cpus_total"] == 8.0
    assert metrics["master/cpus_used"] == 1.0
    assert metrics["master/cpus_percent"] == 1.0 / 8.0
    assert metrics["master/mem_total"] == 2048.0
    assert metrics["master/slaves_active"] == 2.0
    assert metrics["master/frameworks_active"] == 1.0
    assert metrics["master/offers_declined"] == 1.0
    assert metrics["allocator/mesos/allocation_runs"] == 2.0
    assert metrics["master/uptime_secs"] == 60.0
    assert "allocator/mesos/allocation_run_ms" in metrics


def test_prometheus_exposition() -> None:
    master, fw = running_master()

    async def read() -> Reading:
        return Reading(sj.metrics(master, ABOUT), master.allocator.shares())

    metrics = MasterMetrics(read)
    metrics.observe_cycle(0.002)
    text = asyncio.run(metrics.exposition()).decode()
    assert "pyactors_master_tasks_running 1.0" in text
    assert "pyactors_master_tasks_finished_total 1.0" in text
    assert "pyactors_master_cpus_total 8.0" in text
    assert "pyactors_allocator_allocation_run_seconds_count 1.0" in text
    assert f'pyactors_framework_share{{framework="{fw}",role="web"}}' in text


def test_operator_calls_check_before_changing() -> None:
    master, fw = running_master()
    before = sj.state(master, ABOUT)
    with pytest.raises(InvalidArgumentError):
        master.reserve("agent-1", Resources.parse("cpus:1"))  # no role
    with pytest.raises(UnknownAgentError):
        master.reserve("agent-9", Resources.parse("cpus(web):1"))
    with pytest.raises(InvalidArgumentError):
        master.reserve("agent-1", Resources.parse("cpus(web):1"))  # offered, not available
    with pytest.raises(InvalidArgumentError):
        master.unreserve("agent-1", Resources.parse("cpus(web):1"))  # nothing reserved
    with pytest.raises(UnknownTaskError):
        master.operator_kill("t9", None, now=6)
    with pytest.raises(InvalidArgumentError):
        master.operator_kill("t1", fw, now=6)  # finished
    with pytest.raises(InvalidArgumentError):
        master.set_weights([("a", 1.0), ("b", -1.0)])
    assert "a" not in master.weights
    assert sj.state(master, ABOUT) == before


def test_operator_reserve_and_unreserve_available_resources() -> None:
    master = MasterState(MasterConfig())
    master.register_agent("agent-0", "h", Resources.parse("cpus:4;mem:1024"), {}, now=0)
    master.reserve("agent-0", Resources.parse("cpus(web):1;mem(web):64"))
    agent = sj.slaves(master, ABOUT)["slaves"][0]
    assert agent["reserved_resources"] == {
        "web": {"cpus": 1.0, "gpus": 0.0, "mem": 64.0, "disk": 0.0}
    }
    assert agent["unreserved_resources"]["cpus"] == 3.0
    assert master.reservations["agent-0"] == Resources.parse("cpus(web):1;mem(web):64")
    master.unreserve("agent-0", Resources.parse("cpus(web):1;mem(web):64"))
    assert str(master.agents["agent-0"].total) == "cpus:4;mem:1024"
    assert "agent-0" not in master.reservations


def test_operator_volumes_are_created_from_available_reserved_disk_and_destroyed() -> None:
    master = MasterState(MasterConfig())
    master.register_agent("agent-0", "h", Resources.parse("cpus:4;mem:1024;disk:1000"), {}, 0)
    master.reserve("agent-0", Resources.parse("disk(db):500"))
    volume = Resources.parse("disk(db)[pg]:200")
    with pytest.raises(InvalidArgumentError):
        master.create_volumes("agent-0", Resources.parse("disk(db)[pg]:600"))  # too big
    master.create_volumes("agent-0", volume)
    assert str(master.agents["agent-0"].total) == (
        "cpus:4;disk:500;disk(db):300;disk(db)[pg]:200;mem:1024"
    )
    assert master.reservations["agent-0"] == Resources.parse("disk(db):300;disk(db)[pg]:200")
    with pytest.raises(InvalidArgumentError):
        master.unreserve("agent-0", Resources.parse("disk(db):500"))  # holds the volume
    master.destroy_volumes("agent-0", volume)
    master.unreserve("agent-0", Resources.parse("disk(db):500"))
    assert str(master.agents["agent-0"].total) == "cpus:4;disk:1000;mem:1024"
