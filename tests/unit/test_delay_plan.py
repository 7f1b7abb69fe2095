"""The delay scheduling planner without Ray: local first, elsewhere only
after the locality wait, demand reported as suppress and revive."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyactors import DuplicateError, InvalidArgumentError, Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, LaunchGroup, TaskInfo
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.frameworks.batch.delay_plan import BatchTask, DelayPlanner
from pyactors.frameworks.decisions import Accept, Decisions

_ids = itertools.count()


def tasks_of(accept: Accept) -> list[TaskInfo]:
    return [t for op in accept.operations if isinstance(op, Launch | LaunchGroup) for t in op.tasks]


def offer(agent: str, rack: str, resources: str = "cpus:1;mem:512") -> OfferInfo:
    return OfferInfo(
        f"o{next(_ids)}",
        "f",
        agent,
        "*",
        Resources.parse(resources),
        hostname=f"host-{agent}",
        attributes={"rack": rack},
    )


def task(task_id: str, rack: str | None = None) -> BatchTask:
    prefer = {} if rack is None else {"rack": rack}
    return BatchTask(task_id, "true", "cpus:1;mem:128", prefer=prefer)


def placed(decisions: Decisions) -> dict[str, str]:
    """task id -> offer id."""
    return {t.task_id: a.offer_ids[0] for a in decisions.accepts for t in tasks_of(a)}


def test_a_task_waits_for_its_preferred_agent_then_takes_any() -> None:
    planner = DelayPlanner(locality_wait=3.0)
    planner.add([task("t", "r1")], 0.0)
    remote = offer("b", "r2")
    first = planner.offers([remote], 1.0)
    assert first.accepts == [] and first.declines == [([remote.id], 0.0)]
    assert planner.tasks["t"].skipped_since == 1.0
    assert planner.offers([offer("b", "r2")], 3.9).accepts == []
    late = offer("b", "r2")
    assert placed(planner.offers([late], 4.0)) == {"t": late.id}
    assert planner.report()[0]["local"] is False


def test_a_preferred_agent_within_the_wait_wins() -> None:
    planner = DelayPlanner(locality_wait=3.0)
    planner.add([task("t", "r1")], 0.0)
    planner.offers([offer("b", "r2")], 1.0)
    local, remote = offer("a", "r1"), offer("b", "r2")
    decisions = planner.offers([remote, local], 2.0)
    assert placed(decisions) == {"t": local.id}
    assert planner.report()[0]["local"] is True and planner.report()[0]["agent_id"] == "a"


def test_local_tasks_claim_room_before_tasks_without_a_preference() -> None:
    planner = DelayPlanner(locality_wait=3.0)
    planner.add([task("anywhere"), task("local", "r1")], 0.0)
    local = offer("a", "r1")
    decisions = planner.offers([local], 0.0)
    assert placed(decisions) == {"local": local.id}
    remote = offer("b", "r2")
    assert placed(planner.offers([remote], 0.5)) == {"anywhere": remote.id}
    assert planner.tasks["anywhere"].local is None


def test_several_values_and_keys_hostname_and_agent_id() -> None:
    hosts = BatchTask("t", "true", "cpus:1", prefer={"hostname": ["host-a", "host-c"]})
    assert hosts.prefers(offer("a", "r9")) and not hosts.prefers(offer("b", "r9"))
    both = BatchTask("u", "true", "cpus:1", prefer={"agent_id": "a", "rack": "r1"})
    assert both.prefers(offer("a", "r1")) and not both.prefers(offer("a", "r2"))


def test_demand_suppress_when_nothing_is_pending_and_revive_on_add() -> None:
    planner = DelayPlanner()
    planner.add([task("t")], 0.0)
    decisions = planner.offers([offer("a", "r1", "cpus:2;mem:512")], 0.0)
    assert decisions.suppress and not decisions.revive
    assert planner.offers([offer("a", "r1")], 0.1).declines[0][1] == 5.0
    assert planner.add([task("u")], 1.0).revive
    planner.update(TaskStatus("t", TaskState.TASK_FINISHED, Source.SOURCE_AGENT, 2.0, agent_id="a"))
    assert planner.tasks["t"].state is TaskState.TASK_FINISHED and not planner.done()
    assert planner.tasks["t"].ended_at == 2.0


def test_bad_tasks_are_refused_and_change_nothing() -> None:
    with pytest.raises(InvalidArgumentError, match="task id"):
        BatchTask("../x", "true")
    with pytest.raises(InvalidArgumentError, match="prefer"):
        BatchTask("x", "true", prefer={"rack": []})
    planner = DelayPlanner()
    planner.add([task("t")], 0.0)
    with pytest.raises(DuplicateError, match="t"):
        planner.add([task("new"), task("t")], 0.0)
    assert list(planner.tasks) == ["t"]
    with pytest.raises(InvalidArgumentError):
        DelayPlanner(locality_wait=-1)


@settings(max_examples=100, deadline=None)
@given(
    wait=st.floats(0.0, 3.0),
    tasks=st.lists(st.sampled_from([None, "r1", "r2", "r3"]), min_size=1, max_size=8),
    rounds=st.lists(
        st.tuples(
            st.floats(0.0, 2.0),
            st.lists(st.tuples(st.sampled_from(["r1", "r2", "r3"]), st.integers(0, 3)), max_size=3),
        ),
        max_size=25,
    ),
)
def test_no_task_runs_off_its_preferred_agents_before_its_wait(
    wait: float, tasks: list[str | None], rounds: list[tuple[float, list[tuple[str, int]]]]
) -> None:
    planner = DelayPlanner(locality_wait=wait)
    planner.add([task(f"t{i}", rack) for i, rack in enumerate(tasks)], 0.0)
    now, launched = 0.0, set()
    for advance, made in rounds:
        now += advance
        offers = [
            offer(f"{rack}-{n}", rack, f"cpus:{cpus};mem:512")
            for n, (rack, cpus) in enumerate(made)
        ]
        by_id = {o.id: o for o in offers}
        decisions = planner.offers(offers, now)
        for accept in decisions.accepts:
            [target] = [by_id[i] for i in accept.offer_ids]
            members = tasks_of(accept)
            assert len(members) <= target.resources.scalar("cpus")
            for member in members:
                assert member.task_id not in launched
                launched.add(member.task_id)
                record = planner.tasks[member.task_id]
                if record.task.prefer and not record.task.prefers(target):
                    assert now - record.added_at >= wait
                    assert record.skipped_since is not None
                    assert now - record.skipped_since >= wait
        declined = {i for ids, _ in decisions.declines for i in ids}
        accepted = {i for a in decisions.accepts for i in a.offer_ids}
        assert declined | accepted == set(by_id) and not declined & accepted
