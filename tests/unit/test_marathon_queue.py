"""Why an app waits (Marathon's `processedOffersSummary` and
`lastUnusedOffers`) and deployment rollbacks, on the plain state machines
(`OfferStats`, `ServiceState`) with the time as an argument."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from support import services
from support.services import Offers

from pyactors import Resources
from pyactors.core.tasks import Source, TaskState, TaskStatus
from pyactors.errors import UnknownDeploymentError
from pyactors.frameworks.services.marathon import shapes
from pyactors.frameworks.services.offer_stats import (
    LAST_OFFERS_LIMIT,
    REASONS,
    OfferStats,
    insufficient,
)
from pyactors.frameworks.services.state import ServiceState

offer = Offers("cpus:2;mem:512;ports:[31000-31010]")
app = functools.partial(services.app, instances=1)


def steps(summary: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    assert [s["reason"] for s in summary] == list(REASONS)
    return {s["reason"]: (s["declined"], s["processed"]) for s in summary}


def test_the_summary_counts_each_unused_offer_under_its_first_reason_in_marathons_order() -> None:
    stats = OfferStats()
    stats.processed("/web", offer("a1"), ["InsufficientMemory", "UnfulfilledConstraint"], 10.0)
    stats.processed("/web", offer("a2"), ["InsufficientCpus"], 11.0)
    stats.processed("/web", offer("a1"), ["InsufficientCpus", "InsufficientPorts"], 12.0)
    stats.processed("/web", offer("a3"), None, 13.0)
    attempt = stats.of("/web")
    summary = shapes.offers_summary(attempt)
    assert summary["processedOffersCount"] == 4 and summary["unusedOffersCount"] == 3
    assert summary["lastUnusedOfferAt"] == "1970-01-01T00:00:12.000Z"
    assert summary["lastUsedOfferAt"] == "1970-01-01T00:00:13.000Z"
    launch = steps(summary["rejectSummaryLaunchAttempt"])
    assert launch["UnfulfilledRole"] == (0, 4)
    assert launch["UnfulfilledConstraint"] == (1, 4)
    assert launch["InsufficientCpus"] == (2, 3)
    assert launch["InsufficientMemory"] == (0, 1)
    assert launch["DeclinedScarceResources"] == (0, 1)
    # The last offers: one per agent (a1's latest replaced its first).
    last = steps(summary["rejectSummaryLastOffers"])
    assert last["UnfulfilledConstraint"] == (0, 2) and last["InsufficientCpus"] == (2, 2)
    assert [(u.offer.agent_id, u.reasons) for u in attempt.last_offers.values()] == [
        ("a2", ("InsufficientCpus",)),
        ("a1", ("InsufficientCpus", "InsufficientPorts")),
    ]


def test_an_attempt_is_forgotten_when_its_app_stops_waiting_and_stays_bounded() -> None:
    stats = OfferStats()
    for n in range(LAST_OFFERS_LIMIT + 5):
        stats.processed("/web", offer(f"agent-{n}"), ["InsufficientCpus"], float(n))
    stats.processed("/db", offer(), None, 1.0)
    kept = stats.of("/web").last_offers
    assert len(kept) == LAST_OFFERS_LIMIT and "agent-0" not in kept and "agent-104" in kept
    stats.keep({"/db"})
    assert stats.of("/web").processed == 0 and stats.of("/db").processed == 1
    summary = shapes.offers_summary(stats.of("/web"))
    assert "lastUnusedOfferAt" not in summary and summary["unusedOffersCount"] == 0


def test_a_reason_marathon_does_not_have_is_refused_and_counts_nothing() -> None:
    stats = OfferStats()
    for reasons in ([], ["TooBusy"], ["InsufficientCpus", "TooBusy"]):
        with pytest.raises(ValueError, match="reasons"):
            stats.processed("/web", offer(), reasons, 1.0)
    assert stats.of("/web").processed == 0


def test_insufficient_names_each_scalar_the_offer_lacks() -> None:
    needed = Resources.parse("cpus:2;mem:128;disk:10;gpus:1")
    assert insufficient(needed, Resources.parse("cpus:1;mem:512;disk:5")) == [
        "InsufficientCpus",
        "InsufficientDisk",
        "InsufficientGpus",
    ]
    assert insufficient(needed, Resources.parse("cpus:4;mem:512;disk:10;gpus:1")) == []


def test_the_state_records_why_each_offer_did_not_fit_until_the_app_launches() -> None:
    state = ServiceState()
    state.deploy(app(id="/big", cpus=8), 0.0)
    state.deploy(app(id="/picky", constraints=[["rack", "IS", "r9"]]), 0.0)
    state.deploy(app(id="/ported", requirePorts=True, portDefinitions=[{"port": 80}]), 0.0)
    state.offers([offer("a1", rack="r1"), offer("a2", rack="r2")], 1.0)
    big, picky, ported = (state.offer_stats.of(a) for a in ("/big", "/picky", "/ported"))
    assert (big.processed, big.unused, big.rejected) == (2, 2, {"InsufficientCpus": 2})
    assert picky.rejected == {"UnfulfilledConstraint": 2}
    assert ported.rejected == {"InsufficientPorts": 2}
    item = shapes.queue_item(
        state.apps["/big"], state.app_status("/big"), big, 1.0, embed_offers=True
    )
    [last, *_] = item["lastUnusedOffers"]
    assert last["reason"] == ["InsufficientCpus"] and last["timestamp"].endswith("Z")
    assert last["offer"]["agentId"] == "a1" and last["offer"]["attributes"] == [
        {"name": "rack", "text": "r1"}
    ]
    cpus = [r for r in last["offer"]["resources"] if r["name"] == "cpus"]
    assert cpus == [{"name": "cpus", "role": "*", "scalar": 2.0}]
    assert "lastUnusedOffers" not in shapes.queue_item(
        state.apps["/big"], state.app_status("/big"), big, 1.0
    )
    # The rack it wants comes: /picky launches, and its attempt is over.
    answers = state.offers([offer("a9", rack="r9")], 2.0)
    assert [p.app.id for a in answers for p in a.launches] == ["/picky"]
    assert state.offer_stats.of("/picky").processed == 0
    assert state.offer_stats.of("/big").processed == 3


def test_an_offer_that_launched_some_of_the_instances_counts_as_used() -> None:
    state = ServiceState()
    state.deploy(app(instances=3, cpus=1), 0.0)
    [answer] = state.offers([offer("a1", "cpus:1.5;mem:512;ports:[31000-31010]")], 1.0)
    assert len(answer.launches) == 1 and state.apps["/web"].to_launch == 2
    attempt = state.offer_stats.of("/web")
    assert (attempt.processed, attempt.unused, attempt.last_used_at) == (1, 0, 1.0)
    state.offers([offer("a2", "cpus:0.5;mem:512;ports:[31000-31010]")], 2.0)
    assert (attempt.processed, attempt.unused, attempt.rejected) == (
        2,
        1,
        {"InsufficientCpus": 1},
    )


def test_an_app_in_its_backoff_is_given_no_offers_and_counts_none() -> None:
    state = ServiceState()
    state.deploy(app(), 0.0)
    [answer] = state.offers([offer()], 1.0)
    [plan] = answer.launches
    failed = TaskStatus(plan.task_id, TaskState.TASK_FAILED, Source.SOURCE_AGENT, 2.0)
    state.status(failed, 2.0)
    assert state.apps["/web"].delay_until > 2.5
    state.offers([offer()], 2.5)
    assert state.offer_stats.of("/web").processed == 0


def rollout(state: ServiceState, now: float) -> None:
    """Offers enough for every app, every launched task running and every
    kill done, until nothing changes."""
    for _ in range(10):
        answers = state.offers([offer("a1", "cpus:16;mem:8192;ports:[31000-31100]")], now)
        started = [plan.task_id for answer in answers for plan in answer.launches]
        killed = state.take_kills()
        for task_id, task_state in [(t, TaskState.TASK_RUNNING) for t in started] + [
            (t, TaskState.TASK_KILLED) for t in killed
        ]:
            state.status(TaskStatus(task_id, task_state, Source.SOURCE_AGENT, now), now)
        if not started and not killed:
            return


def test_a_rollback_restores_the_version_and_count_the_app_had() -> None:
    state = ServiceState()
    state.deploy(app(instances=2), 0.0)
    rollout(state, 1.0)
    first = state.apps["/web"].version
    update = state.update(app(instances=3, cmd="serve --new"), 2.0)
    back = state.cancel_deployment(update, rollback=True, now=3.0)
    assert back is not None and back != update
    record = state.apps["/web"]
    assert record.deployment is not None and record.deployment.id == back
    assert (record.app.cmd, record.app.instances) == ("serve", 2)
    assert record.version != first and record.history[first].cmd == "serve"
    rollout(state, 4.0)
    assert record.deployment is None

    scaled = state.scale("/web", 5, 5.0)
    back = state.cancel_deployment(scaled, rollback=True, now=6.0)
    # Two still run, none launched yet: the rollback is done at once.
    assert back is not None and back != scaled
    assert state.apps["/web"].app.instances == 2 and state.apps["/web"].deployment is None


def test_a_rollback_of_a_removal_brings_the_app_back_and_of_a_creation_removes_it() -> None:
    state = ServiceState()
    state.deploy(app(instances=2), 0.0)
    rollout(state, 1.0)
    removal = state.remove("/web", 2.0)
    state.cancel_deployment(removal, rollback=True, now=3.0)
    record = state.apps["/web"]
    assert not record.removing and record.app.instances == 2
    created = state.deploy(app(id="/new", cpus=64), 4.0)
    # Nothing of it ever ran: the removal that rolls it back is done at once.
    removed = state.cancel_deployment(created, rollback=True, now=5.0)
    assert removed is not None and removed != created and "/new" not in state.apps


def test_a_forced_cancel_keeps_the_app_as_it_is_and_unlocks_it() -> None:
    state = ServiceState()
    update = state.deploy(app(cpus=64), 0.0)
    assert state.cancel_deployment(update, rollback=False, now=1.0) is None
    assert state.apps["/web"].deployment is None and state.apps["/web"].app.cpus == 64
    with pytest.raises(UnknownDeploymentError):
        state.cancel_deployment(update, rollback=True, now=2.0)
    assert state.apps["/web"].deployment is None and not state.apps["/web"].removing
