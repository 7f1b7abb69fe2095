"""The HTTP state rendered off the master's loop (`pyactors.api.state_view`):
the same bytes as rendering the state itself, of the state at the moment
the view was taken, whatever the master does meanwhile (no Ray, no HTTP)."""

from __future__ import annotations

import asyncio
import sys
import threading

import orjson
import pytest

from pyactors import Resources
from pyactors.api import state_json as sj
from pyactors.api import state_view
from pyactors.api.access import Viewer
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.protocol import SendOffers
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.master.state import MasterConfig, MasterState
from pyactors.security.acls import Acls

ABOUT = sj.About(id="m1", version="0.1.0", start_time=100.0, clock_offset=1000.0, now=160.0)
EVERYONE = Viewer(Acls(), None)
SHAPES: list[tuple[state_view.Shape, bool]] = [
    (sj.state, True),
    (sj.state_summary, False),
    (sj.frameworks, False),
    (sj.slaves, False),
    (lambda state, about: sj.roles(state), True),
    (sj.maintenance, False),
]


def busy_master() -> tuple[MasterState, dict[str, str]]:
    """Three agents (one drained); two frameworks with running, finished
    and acknowledged tasks, and offers outstanding. Returns the master and
    which framework runs each task."""
    master = MasterState(MasterConfig())
    for i in range(3):
        master.register_agent(
            f"agent-{i}", f"host-{i}", Resources.parse("cpus:8;mem:4096;ports:[31000-31009]"), {}, 0
        )
    for name in ("web", "batch"):
        master.subscribe(name, [name], now=0)
    master.drain_agent("agent-2", 5.0)
    owners: dict[str, str] = {}
    for effect in master.allocate(now=1):
        assert isinstance(effect, SendOffers)
        for n, offer in enumerate(effect.offers):
            ids = [f"{effect.framework_id}-{offer.agent_id}-{k}" for k in range(3)]
            tasks = [TaskInfo(t, t, Resources.parse("cpus:1;mem:64"), command="true") for t in ids]
            master.accept(effect.framework_id, [offer.id], [Launch(tasks)], 0, now=1)
            owners.update(dict.fromkeys(ids, effect.framework_id))
            for t in ids:
                update(master, t, offer.agent_id, TaskState.TASK_RUNNING, 2)
            if n == 0:
                done = update(master, ids[0], offer.agent_id, TaskState.TASK_FINISHED, 3)
                assert done.uuid is not None
                master.acknowledge(effect.framework_id, [(ids[0], done.uuid)])
    master.allocate(now=4)
    return master, owners


def update(
    master: MasterState, task_id: str, agent_id: str, state: TaskState, at: float
) -> TaskStatus:
    status = TaskStatus(task_id, state, Source.SOURCE_EXECUTOR, at, agent_id=agent_id)
    master.status_updates(agent_id, [status])
    return status


@pytest.mark.parametrize("shape, allocator", SHAPES)
def test_a_view_renders_the_same_bytes_as_the_state(
    shape: state_view.Shape, allocator: bool
) -> None:
    master, _ = busy_master()
    direct = orjson.dumps(shape(master, ABOUT))
    view = state_view.take(master, allocator)
    assert state_view.encode(shape, EVERYONE, view, ABOUT) == direct


def test_a_view_is_the_state_when_it_was_taken() -> None:
    master, owners = busy_master()
    before = orjson.dumps(sj.state(master, ABOUT))
    view = state_view.take(master, allocator=True)
    # The master goes on: a task ends, one is killed, an agent leaves,
    # another comes, a framework is torn down, a weight changes.
    running = [t for t, r in master.tasks.items() if r.state is TaskState.TASK_RUNNING]
    agent_of = {t: master.tasks[t].agent_id for t in running}
    update(master, running[0], agent_of[running[0]], TaskState.TASK_FAILED, 10)
    master.kill(owners[running[1]], running[1], now=10)
    master.agent_lost("agent-1", now=10)
    master.register_agent("agent-9", "host-9", Resources.parse("cpus:1;mem:1"), {}, 10)
    master.teardown(owners[running[-1]], now=11)
    master.set_weight("web", 3.0)
    master.allocate(now=12)
    assert orjson.dumps(sj.state(master, ABOUT)) != before
    assert state_view.encode(sj.state, EVERYONE, view, ABOUT) == before


def test_task_json_made_off_the_loop_is_kept_for_the_next_request() -> None:
    master, _ = busy_master()
    for record in master.tasks.values():
        record.rendered = None
    state_view.encode(sj.frameworks, EVERYONE, state_view.take(master, False), ABOUT)
    made = {t: r.rendered for t, r in master.tasks.items()}
    assert all(made.values())
    changed = next(t for t, r in master.tasks.items() if r.state is TaskState.TASK_RUNNING)
    update(master, changed, master.tasks[changed].agent_id, TaskState.TASK_FINISHED, 20)
    state_view.encode(sj.frameworks, EVERYONE, state_view.take(master, False), ABOUT)
    for task_id, record in master.tasks.items():
        assert (record.rendered is made[task_id]) == (task_id != changed)


def test_a_view_is_filtered_by_the_callers_acls() -> None:
    master, _ = busy_master()
    acls = Acls.load(
        {
            "permissive": False,
            "view_frameworks": [{"principals": {"values": ["ops"]}, "roles": {"values": ["web"]}}],
            "view_tasks": [{"principals": {"values": ["ops"]}, "roles": {"values": ["web"]}}],
        }
    )
    viewer = Viewer(acls, "ops")
    direct = orjson.dumps(sj.state(viewer.state(master), ABOUT))
    view = state_view.take(master, allocator=True)
    body = state_view.encode(sj.state, viewer, view, ABOUT)
    assert body == direct
    frameworks = orjson.loads(body)["frameworks"]
    assert [f["name"] for f in frameworks] == ["web"]


def test_rendered_runs_in_another_thread() -> None:
    master, _ = busy_master()
    threads: list[int] = []

    def shape(state: MasterState, about: sj.About) -> object:
        threads.append(threading.get_ident())
        return sj.state_summary(state, about)

    async def request() -> bytes:
        return await state_view.rendered(master, shape, EVERYONE, ABOUT, allocator=False)

    body = asyncio.run(request())
    assert body == orjson.dumps(sj.state_summary(master, ABOUT))
    assert threads != [threading.get_ident()]


def test_metrics_counted_off_the_loop_are_the_states() -> None:
    master, _ = busy_master()
    threads: list[int] = []

    async def request() -> dict[str, float]:
        threads.append(threading.get_ident())
        return await state_view.metrics(master, ABOUT)

    assert asyncio.run(request()) == sj.metrics(master, ABOUT)


def python_calls_taking_a_view(master: MasterState) -> int:
    """How many Python functions run while a view is taken (C code, such
    as the copies of a record's fields, runs none)."""
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        state_view.take(master, allocator=False)
    finally:
        sys.setprofile(None)
    return calls


def test_the_loops_share_of_a_view_does_not_grow_with_agents_and_tasks() -> None:
    small, _ = busy_master()
    large, _ = busy_master()
    for i in range(3, 300):
        large.register_agent(f"agent-{i}", f"host-{i}", Resources.parse("cpus:1;mem:64"), {}, 5)
    for effect in large.allocate(now=6):
        assert isinstance(effect, SendOffers)
        for offer in effect.offers:
            task = TaskInfo(
                f"more-{offer.id}", "t", Resources.parse("cpus:1;mem:64"), command="true"
            )
            large.accept(effect.framework_id, [offer.id], [Launch([task])], 0, now=6)
    assert len(large.agents) == 100 * len(small.agents)
    assert len(large.tasks) > 20 * len(small.tasks)
    assert python_calls_taking_a_view(large) == python_calls_taking_a_view(small)


def test_a_state_read_after_one_agent_changed_makes_only_its_resources_again() -> None:
    master, _ = busy_master()
    for i in range(3, 50):
        master.register_agent(f"agent-{i}", f"host-{i}", Resources.parse("cpus:2;mem:256"), {}, 5)
    state_view.encode(sj.state, EVERYONE, state_view.take(master, True), ABOUT)
    # Every agent heard from again; one of them given a reservation.
    for agent_id in master.agents:
        master.heartbeat(agent_id, now=6)
    master.reserve("agent-2", Resources.parse("cpus(web):1"))
    made = sj.agent_resources.cache_info().misses
    body = state_view.encode(sj.state, EVERYONE, state_view.take(master, True), ABOUT)
    assert sj.agent_resources.cache_info().misses == made + 1
    assert body == orjson.dumps(sj.state(master, ABOUT))
    shown = {a["id"]: a for a in orjson.loads(body)["slaves"]}
    assert shown["agent-2"]["reserved_resources"]["web"]["cpus"] == 1.0
    assert {a["last_seen_time"] for a in shown.values()} == {6 + ABOUT.clock_offset}
