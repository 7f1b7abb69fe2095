"""Gangs the cluster cannot hold, without Ray: reported unplaceable with the
reason (when no member fits in any offer, or held offers are let go),
passed by the gangs behind them, and placed when an agent that can take
them offers."""

from __future__ import annotations

import itertools

from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import LaunchGroup
from pyactors.frameworks.decisions import Decisions
from pyactors.frameworks.gang.plan import GangJob, GangPlanner, GangState

_ids = itertools.count()


def offer(agent: str, resources: str = "cpus:2;mem:1024") -> OfferInfo:
    return OfferInfo(f"o{next(_ids)}", "f", agent, "*", Resources.parse(resources))


def launched(decisions: Decisions) -> list[str]:
    return [
        t.task_id
        for a in decisions.accepts
        for op in a.operations
        if isinstance(op, LaunchGroup)
        for t in op.tasks
    ]


def let_go(planner: GangPlanner, now: float) -> float:
    """Tick past the hold deadline and the backoff after it; the time then."""
    assert planner.hold_deadline is not None
    planner.tick(planner.hold_deadline)
    return max(planner.backoff_until, now) + 0.01


def test_a_member_larger_than_any_agent_is_unplaceable_and_the_next_gang_goes_first() -> None:
    planner = GangPlanner(hold_timeout=1.0)
    planner.submit(GangJob("huge", 2, "true", "cpus:4;mem:128"), 0.0)
    planner.submit(GangJob("small", 2, "true", "cpus:1;mem:128"), 0.0)
    # Not one member of it fits in what is offered, nor in anything offered
    # before: it is judged at once, and the gang behind it no longer waits.
    decisions = planner.offers([offer("a"), offer("b")], 0.0)
    assert launched(decisions) == ["small-a0-0", "small-a0-1"]
    reason = planner.gangs["huge"].unplaceable
    assert reason is not None and "a member needs cpus:4;mem:128" in reason, reason
    assert "2 agent(s)" in reason and "[cpus:2;mem:1024]" in reason
    assert planner.pending() == ["huge"]
    (report,) = [g for g in planner.report() if g["name"] == "huge"]
    assert report["state"] == "PENDING" and report["unplaceable"] == reason
    now = 1.0
    # The cluster grows: an agent that can take it offers, and it starts.
    decisions = planner.offers([offer("c", "cpus:8;mem:4096")], now + 1)
    assert planner.gangs["huge"].unplaceable is None
    assert launched(decisions) == ["huge-a0-0", "huge-a0-1"]
    assert planner.gangs["huge"].state is GangState.RUNNING


def test_more_members_than_all_agents_hold_together_is_unplaceable() -> None:
    planner = GangPlanner(hold_timeout=1.0)
    planner.submit(GangJob("wide", 10, "true", "cpus:1;mem:128"), 0.0)
    planner.offers([offer("a"), offer("b")], 0.0)
    now = let_go(planner, 0.0)
    reason = planner.gangs["wide"].unplaceable
    assert reason == (
        "10 members of cpus:1;mem:128 do not fit in the 2 agent(s) that offered: "
        "room for 4 (a: 2, b: 2)"
    )
    # More offers of the same agents change nothing.
    planner.offers([offer("a"), offer("b")], now)
    assert planner.gangs["wide"].unplaceable == reason
    # Agents that together hold it: the reason is gone, the gang gathers them.
    decisions = planner.offers([offer("c", "cpus:3;mem:1024"), offer("d", "cpus:3;mem:1024")], now)
    assert planner.gangs["wide"].unplaceable is None
    assert len(launched(decisions)) == 10


def test_a_lost_agent_no_longer_counts() -> None:
    planner = GangPlanner(hold_timeout=1.0)
    planner.submit(GangJob("pair", 2, "true", "cpus:2;mem:128"), 0.0)
    planner.offers([offer("a", "cpus:2;mem:1024")], 0.0)
    # One member's room only so far, and offers of a second agent that
    # will be lost make two.
    now = let_go(planner, 0.0)
    assert planner.gangs["pair"].unplaceable is not None
    planner.offers([offer("b", "cpus:2;mem:1024")], now)
    assert planner.gangs["pair"].unplaceable is None
    assert planner.capacity() == {"a/*": ["cpus:2;mem:1024"], "b/*": ["cpus:2;mem:1024"]}
    planner.rescind(next(iter(planner.held())))
    planner.agent_lost("b")
    assert planner.capacity() == {"a/*": ["cpus:2;mem:1024"]}
    reason = planner.gangs["pair"].unplaceable
    assert reason is not None and "room for 1 (a: 1)" in reason, reason


def test_capacity_keeps_totals_none_of_which_contains_another() -> None:
    planner = GangPlanner()
    planner.submit(GangJob("g", 1, "true", "cpus:8;mem:128"), 0.0)
    planner.offers([offer("a", "cpus:4;mem:256")], 0.0)
    planner.forget_offers()
    planner.offers([offer("a", "cpus:1;mem:2048")], 0.0)
    planner.forget_offers()
    planner.offers([offer("a", "cpus:1;mem:128")], 0.0)
    assert sorted(planner.capacity()["a/*"]) == ["cpus:1;mem:2048", "cpus:4;mem:256"]
