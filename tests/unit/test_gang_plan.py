"""The gang planner without Ray: all or nothing, held offers let go on time,
competing gangs both get through, failures restart the whole gang."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyactors import DuplicateError, InvalidArgumentError, Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, LaunchGroup, TaskInfo
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.frameworks.decisions import Accept, Decisions
from pyactors.frameworks.gang.plan import GangJob, GangPlanner, GangState

_ids = itertools.count()


def tasks_of(accept: Accept) -> list[TaskInfo]:
    return [t for op in accept.operations if isinstance(op, Launch | LaunchGroup) for t in op.tasks]


def offer(agent: str, resources: str = "cpus:2;mem:1024", framework: str = "f") -> OfferInfo:
    return OfferInfo(f"o{next(_ids)}", framework, agent, "*", Resources.parse(resources))


def status(task_id: str, state: TaskState, message: str = "") -> TaskStatus:
    return TaskStatus(task_id, state, Source.SOURCE_AGENT, 0.0, agent_id="a", message=message)


def launched(decisions: Decisions) -> list[tuple[str, list[str]]]:
    """(first offer id, task ids) of each LAUNCH_GROUP."""
    return [(a.offer_ids[0], [t.task_id for t in tasks_of(a)]) for a in decisions.accepts]


def job(name: str = "g", size: int = 3, **options: object) -> GangJob:
    return GangJob(name, size, "true", "cpus:1;mem:128", **options)  # type: ignore[arg-type]


def test_a_gang_that_fits_on_one_agent_is_one_launch_group() -> None:
    planner = GangPlanner()
    planner.submit(job(size=2), 0.0)
    small, big = offer("a", "cpus:1;mem:512"), offer("b", "cpus:4;mem:1024")
    decisions = planner.offers([small, big], 0.0)
    assert launched(decisions) == [(big.id, ["g-a0-0", "g-a0-1"])]
    assert all(isinstance(op, LaunchGroup) for a in decisions.accepts for op in a.operations)
    # The small offer cannot take a member of anything pending: let go.
    assert decisions.declines == [([small.id], 5.0)]
    assert decisions.suppress
    member = planner.gangs["g"].job.member(0, 1)
    assert member.env["GANG_RANK"] == "1" and member.env["GANG_SIZE"] == "2"


def test_a_gang_is_gathered_from_several_agents_then_launched_together() -> None:
    planner = GangPlanner(hold_timeout=10.0)
    planner.submit(job(size=3), 0.0)
    first = offer("a")
    assert planner.offers([first], 0.0).accepts == []
    assert list(planner.held()) == [first.id]
    second = offer("b")
    decisions = planner.offers([second], 1.0)
    groups = launched(decisions)
    assert sorted(len(ids) for _, ids in groups) == [1, 2]
    assert sorted(t for _, ids in groups for t in ids) == ["g-a0-0", "g-a0-1", "g-a0-2"]
    assert planner.held() == {}
    assert planner.gangs["g"].state is GangState.RUNNING


def test_held_offers_are_released_after_the_hold_timeout_then_backed_off() -> None:
    planner = GangPlanner(hold_timeout=2.0, seed=1)
    planner.submit(job(size=3), 0.0)
    held = offer("a")
    planner.offers([held], 0.0)
    assert planner.hold_deadline is not None and 1.0 <= planner.hold_deadline <= 3.0
    assert planner.tick(planner.hold_deadline - 0.01).declines == []
    released = planner.tick(planner.hold_deadline)
    [(ids, backoff)] = released.declines
    assert ids == [held.id] and 1.0 <= backoff <= 3.0
    assert planner.held() == {} and planner.gangs["g"].releases == 1
    # While backing off it takes nothing, and says for how long.
    during = planner.offers([offer("b")], planner.backoff_until - 0.5)
    assert during.declines[0][1] == pytest.approx(0.5)
    assert planner.held() == {}


def test_offers_of_a_previous_master_are_forgotten_not_declined() -> None:
    planner = GangPlanner()
    planner.submit(job(size=3), 0.0)
    planner.offers([offer("a")], 0.0)
    planner.forget_offers()
    assert planner.held() == {} and planner.hold_deadline is None
    assert planner.tick(10.0).declines == []


def test_backoff_doubles_with_releases_in_a_row_up_to_the_cap() -> None:
    planner = GangPlanner(hold_timeout=1.0, seed=3, max_backoff_factor=4)
    planner.submit(job(size=9), 0.0)
    now, backoffs = 0.0, []
    for _ in range(5):
        now = max(now, planner.backoff_until)
        planner.offers([offer("a")], now)
        assert planner.hold_deadline is not None
        now = planner.hold_deadline
        backoffs.append(planner.tick(now).declines[0][1])
    factors = [1, 2, 4, 4, 4]
    assert all(0.5 * f <= b <= 1.5 * f for b, f in zip(backoffs, factors, strict=True))


class TwoAgentMaster:
    """Just enough of a master for two gang planners sharing agents x and y
    (cpus:2 each): a free agent is offered to one framework not filtering
    it; declined, it is filtered for that framework for the refusal; used,
    it is busy for 2 s."""

    def __init__(self, planners: dict[str, GangPlanner]) -> None:
        self.planners = planners
        self.free = {"x": "A", "y": "B"}  # agent -> who is offered it first
        self.busy_until: dict[str, float] = {}
        self.filters: dict[tuple[str, str], float] = {}
        self.offer_agent: dict[str, str] = {}
        self.launched: dict[str, float] = {}

    def step(self, now: float) -> None:
        for agent, until in list(self.busy_until.items()):
            if now >= until:
                del self.busy_until[agent]
                self.free[agent] = "A"
        for agent, first in list(self.free.items()):
            for name in (first, "B" if first == "A" else "A"):
                if self.filters.get((name, agent), -1.0) <= now:
                    made = offer(agent, framework=name)
                    self.offer_agent[made.id] = agent
                    del self.free[agent]
                    self.handle(name, self.planners[name].offers([made], now), now)
                    break
        for name, planner in self.planners.items():
            self.handle(name, planner.tick(now), now)

    def handle(self, name: str, decisions: Decisions, now: float) -> None:
        for offer_ids, refuse in decisions.declines:
            for offer_id in offer_ids:
                agent = self.offer_agent[offer_id]
                self.filters[(name, agent)] = now + refuse
                self.free[agent] = "B" if name == "A" else "A"
        for accept in decisions.accepts:
            self.launched.setdefault(name, now)
            for offer_id in accept.offer_ids:
                self.busy_until[self.offer_agent[offer_id]] = now + 2.0


@pytest.mark.parametrize("seeds", [("A", "B"), (1, 2), ("0:f-1", "0:f-2")])
def test_two_gangs_each_holding_half_both_finish(seeds: tuple[object, object]) -> None:
    planners = {
        name: GangPlanner(1.0, seed=seed)  # type: ignore[arg-type]
        for name, seed in zip("AB", seeds, strict=True)
    }
    for name, planner in planners.items():
        planner.submit(job(name, size=3), 0.0)
    master = TwoAgentMaster(planners)
    now = 0.0
    while len(master.launched) < 2 and now < 300:
        master.step(now)
        now = round(now + 0.1, 1)
    assert set(master.launched) == {"A", "B"}, f"stuck at {now}"
    assert sum(g.releases for p in planners.values() for g in p.gangs.values()) >= 1


def test_a_failed_member_kills_the_rest_and_restarts_the_whole_gang() -> None:
    planner = GangPlanner()
    planner.submit(job(size=3, retries=1), 0.0)
    planner.offers([offer("a", "cpus:3;mem:1024")], 0.0)
    for rank in range(3):
        planner.update(status(f"g-a0-{rank}", TaskState.TASK_RUNNING), 1.0)
    planner.update(status("g-a0-2", TaskState.TASK_FINISHED), 1.5)
    decisions = planner.update(status("g-a0-1", TaskState.TASK_FAILED, "exit 1"), 2.0)
    assert decisions.kills == ["g-a0-0"]
    gang = planner.gangs["g"]
    assert gang.state is GangState.PENDING and planner.pending() == ["g"]
    assert gang.failures == ["attempt 0: g-a0-1 TASK_FAILED: exit 1"]
    # The killed member's update changes nothing more.
    assert planner.update(status("g-a0-0", TaskState.TASK_KILLED), 2.1).kills == []
    relaunch = planner.offers([offer("a", "cpus:3;mem:1024")], 3.0)
    assert sorted(t for _, ids in launched(relaunch) for t in ids) == [
        "g-a1-0",
        "g-a1-1",
        "g-a1-2",
    ]
    planner.update(status("g-a1-0", TaskState.TASK_LOST), 4.0)
    assert planner.gangs["g"].state is GangState.FAILED and planner.done()
    assert planner.update(status("g-a1-1", TaskState.TASK_RUNNING), 4.1).kills == []


def test_a_gang_finishes_when_every_member_has() -> None:
    planner = GangPlanner()
    planner.submit(job(size=2), 0.0)
    planner.offers([offer("a")], 0.0)
    planner.update(status("g-a0-0", TaskState.TASK_FINISHED), 1.0)
    assert [g["state"] for g in planner.report()] == ["RUNNING"]
    planner.update(status("g-a0-1", TaskState.TASK_FINISHED), 2.0)
    assert [g["state"] for g in planner.report()] == ["FINISHED"] and planner.done()
    assert planner.report()[0]["finished_at"] == 2.0


def test_demand_suppresses_when_idle_and_revives_on_submit_or_retry() -> None:
    planner = GangPlanner()
    idle = planner.offers([offer("a")], 0.0)
    assert idle.suppress and idle.declines[0][1] == 5.0
    assert planner.submit(job(size=1, retries=1), 1.0).revive
    launch = planner.offers([offer("a")], 1.0)
    assert launch.suppress and len(launch.accepts) == 1
    assert planner.update(status("g-a0-0", TaskState.TASK_FAILED), 2.0).revive


def test_bad_gangs_are_refused_with_every_problem_named() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        GangJob("../x", 0, "", "cpus:1", retries=-1)
    text = str(caught.value)
    assert "name" in text and "size" in text and "command" in text and "retries" in text
    with pytest.raises(InvalidArgumentError, match="resources"):
        GangJob("x", 1, "true", "")
    planner = GangPlanner()
    planner.submit(job(), 0.0)
    with pytest.raises(DuplicateError):
        planner.submit(job(), 0.0)
    with pytest.raises(InvalidArgumentError):
        planner.submit({"name": "y"}, 0.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        GangPlanner(hold_timeout=0)


# ------------------------------------------------------------------ properties

_step: st.SearchStrategy[tuple[str, list[tuple[str, int]]]] = st.one_of(
    st.tuples(
        st.just("offers"),
        st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 4)), min_size=1, max_size=4),
    ),
    st.tuples(st.just("tick"), st.just([])),
    st.tuples(st.just("rescind"), st.just([])),
    st.tuples(st.just("fail"), st.just([])),
    st.tuples(st.just("submit"), st.just([])),
)


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    steps=st.lists(st.tuples(_step, st.floats(0.0, 1.5)), min_size=3, max_size=40),
    seed=st.integers(0, 1000),
)
def test_gangs_never_launch_partially_and_holds_end_on_time(
    sizes: list[int], steps: list[tuple[tuple[str, list[tuple[str, int]]], float]], seed: int
) -> None:
    planner = GangPlanner(hold_timeout=1.0, seed=seed)
    submitted = 0

    def submit(now: float) -> None:
        nonlocal submitted
        if submitted < len(sizes):
            planner.submit(job(f"g{submitted}", sizes[submitted], retries=1), now)
            submitted += 1

    now = 0.0
    submit(now)
    offered: dict[str, OfferInfo] = {}
    gone: set[str] = set()  # accepted, declined or rescinded
    for (kind, payload), advance in steps:
        if kind != "rescind":
            # A rescind carries no time: the planner would not see it pass.
            now += advance
        if kind == "offers":
            new = [offer(agent, f"cpus:{cpus};mem:1024") for agent, cpus in payload]
            offered.update({o.id: o for o in new})
            decisions = planner.offers(new, now)
        elif kind == "tick":
            decisions = planner.tick(now)
        elif kind == "rescind":
            for offer_id in list(planner.held())[:1]:
                planner.rescind(offer_id)
                gone.add(offer_id)
            decisions = Decisions()
        elif kind == "fail":
            running = [
                m.task_id
                for g in planner.gangs.values()
                if g.state is GangState.RUNNING
                for m in g.attempts[-1].members
            ]
            if running:
                decisions = planner.update(status(running[0], TaskState.TASK_FAILED), now)
            else:
                decisions = planner.tick(now)
        else:
            submit(now)
            decisions = planner.tick(now)
        # All or nothing: every gang launched in this step has all its members.
        per_gang: Counter[str] = Counter()
        for accept in decisions.accepts:
            agents = {offered[i].agent_id for i in accept.offer_ids}
            assert len(agents) == 1
            room = sum(offered[i].resources.scalar("cpus") for i in accept.offer_ids)
            members = tasks_of(accept)
            assert len(members) <= room
            for member in members:
                per_gang[member.task_id.rsplit("-", 1)[0]] += 1
        for attempt_id, count in per_gang.items():
            name, attempt = attempt_id.rsplit("-a", 1)
            assert count == planner.gangs[name].job.size
            assert len(planner.gangs[name].attempts) == int(attempt) + 1
        # Every offer is used, let go or held; never twice.
        for offer_ids in [a.offer_ids for a in decisions.accepts] + [
            ids for ids, _ in decisions.declines
        ]:
            assert not gone & set(offer_ids) and not set(offer_ids) & set(planner.held())
            gone.update(offer_ids)
        assert set(offered) == gone | set(planner.held())
        # Nothing is held past the longest hold once the clock has moved.
        for since in planner.held().values():
            assert now - since < planner.longest_hold
