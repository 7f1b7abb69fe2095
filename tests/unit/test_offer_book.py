"""Offer bookkeeping and accept validation (no Ray needed)."""

from __future__ import annotations

from pyactors import Resources
from pyactors.core.operations import Launch, LaunchGroup, TaskInfo
from pyactors.core.tasks import Reason
from pyactors.master.offer_book import OfferBook


def task(task_id: str, resources: str = "cpus:1;mem:128") -> TaskInfo:
    return TaskInfo(task_id, task_id, Resources.parse(resources), command="true")


def book_with_offers() -> tuple[OfferBook, list[str]]:
    book = OfferBook()
    ids = [
        book.add("fw", "agent-1", "r", Resources.parse("cpus:2;mem:512"), now=0).id,
        book.add("fw", "agent-1", "r", Resources.parse("cpus:1;mem:256"), now=0).id,
        book.add("fw", "agent-2", "r", Resources.parse("cpus:4;mem:1024"), now=0).id,
        book.add("other", "agent-2", "r", Resources.parse("cpus:1;mem:64"), now=0).id,
    ]
    return book, ids


def test_accept_launches_what_fits_and_returns_the_rest() -> None:
    book, ids = book_with_offers()
    plan = book.accept("fw", ids[:2], [Launch([task("a"), task("b", "cpus:3;mem:256")])], [])
    assert plan.error is None
    assert [t.task_id for t in plan.launch] == ["a"]
    (refusal,) = plan.refused
    assert refusal.task.task_id == "b"
    assert refusal.reason is Reason.REASON_TASK_INVALID
    assert "only cpus:2;mem:640 is left" in refusal.message
    assert [(a, r, str(res)) for a, r, res in plan.unused] == [("agent-1", "r", "cpus:2;mem:640")]
    assert book.get(ids[0]) is None and book.get(ids[1]) is None
    assert len(book) == 2


def test_invalid_offers_refuse_every_task_and_return_the_valid_offers() -> None:
    for bad in (["missing"], [0, 2], [3], [0, 0]):
        book, ids = book_with_offers()
        offer_ids = [ids[i] if isinstance(i, int) else i for i in bad]
        plan = book.accept("fw", offer_ids, [Launch([task("a")])], [])
        assert plan.error, bad
        assert plan.launch == []
        assert [r.reason for r in plan.refused] == [Reason.REASON_INVALID_OFFERS]
        mine = {ids[i] for i in bad if isinstance(i, int) and i != 3}
        assert sum(len(str(res)) > 0 for _, _, res in plan.unused) == len(mine)
        for offer_id in mine:
            assert book.get(offer_id) is None
        # The other framework's offer is untouched.
        assert book.get(ids[3]) is not None


def test_task_ids_must_be_unique_and_safe() -> None:
    book, ids = book_with_offers()
    tasks = [task("known"), task("dup"), task("dup"), task("../etc"), task("ok")]
    plan = book.accept("fw", [ids[2]], [Launch(tasks)], known_task_ids=["known"])
    assert [t.task_id for t in plan.launch] == ["dup", "ok"]
    messages = {r.task.task_id: r.message for r in plan.refused}
    assert "already in use" in messages["known"]
    assert "invalid task id" in messages["../etc"]


def test_launch_group_is_all_or_nothing() -> None:
    book, ids = book_with_offers()
    group = LaunchGroup([task("g1", "cpus:2"), task("g2", "cpus:3")])
    plan = book.accept("fw", [ids[2]], [group, Launch([task("solo")])], [])
    assert plan.groups == []
    assert {r.task.task_id for r in plan.refused} == {"g1", "g2"}
    assert [t.task_id for t in plan.launch] == ["solo"]
    book, ids = book_with_offers()
    plan = book.accept(
        "fw", [ids[2]], [LaunchGroup([task("g1", "cpus:2"), task("g2", "cpus:2")])], []
    )
    assert [[t.task_id for t in g] for g in plan.groups] == [["g1", "g2"]]
    assert [str(res) for _, _, res in plan.unused] == ["mem:1024"]


def test_two_tasks_cannot_share_a_port() -> None:
    book = OfferBook()
    offer = book.add("fw", "a", "r", Resources.parse("cpus:2;mem:256;ports:[31000-31009]"), now=0)
    plan = book.accept(
        "fw",
        [offer.id],
        [
            Launch(
                [task("x", "cpus:1;ports:[31000-31000]"), task("y", "cpus:1;ports:[31000-31000]")]
            )
        ],
        [],
    )
    assert [t.task_id for t in plan.launch] == ["x"]
    assert plan.refused[0].task.task_id == "y"


def test_expiry_decline_and_removal() -> None:
    book = OfferBook()
    old = book.add("fw", "a", "r", Resources.parse("cpus:1"), now=0)
    new = book.add("fw", "b", "r", Resources.parse("cpus:1"), now=8)
    assert book.take_expired(now=10, timeout=10) == [old]
    assert book.decline("someone-else", [new.id]) == []
    assert book.decline("fw", [new.id, "gone"]) == [new]
    book.add("fw", "a", "r", Resources.parse("cpus:1"), now=0)
    book.add("fw2", "a", "r", Resources.parse("cpus:1"), now=0)
    assert len(book.take_agent("a")) == 2
    assert len(book) == 0


def test_a_group_cannot_repeat_a_task_id() -> None:
    book, ids = book_with_offers()
    plan = book.accept("fw", [ids[2]], [LaunchGroup([task("g"), task("g")])], [])
    assert plan.groups == []
    assert [r.task.task_id for r in plan.refused] == ["g", "g"]
    assert any("already in use" in r.message for r in plan.refused)
