"""The jobs framework's state machine, driven without Ray, time as an
argument: due runs, epsilon, retries, concurrency policies, dependencies,
cycles, restore."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyactors.core.tasks import TaskState
from pyactors.errors import JobDefinitionError, UnknownJobError
from pyactors.frameworks.jobs.book import ACTIVE, JobBook
from pyactors.frameworks.jobs.definitions import parse_job

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
START = "2027-01-15T08:00:00Z"


def book_with(*definitions: dict[str, Any], now: float = T0) -> JobBook:
    book = JobBook()
    for definition in definitions:
        book.add(parse_job(definition), now)
    return book


def every(seconds: int, **fields: Any) -> dict[str, Any]:
    return {"name": "tick", "command": "true", "schedule": f"R/{START}/PT{seconds}S", **fields}


def launch_all(book: JobBook, now: float) -> list[str]:
    return [book.launched(run, now) for run in book.waiting()]


def finish(
    book: JobBook, task_id: str, now: float, state: TaskState = TaskState.TASK_FINISHED
) -> list[str]:
    book.task_update(task_id, TaskState.TASK_RUNNING, "", now)
    message = "" if state is TaskState.TASK_FINISHED else "exit 1"
    return book.task_update(task_id, state, message, now)


def states(book: JobBook, name: str) -> list[str]:
    return [run["state"] for run in book.history(name)]


def test_a_scheduled_run_is_due_at_its_time_and_recorded() -> None:
    book = book_with(every(10))
    book.tick(T0 - 1)
    assert book.waiting() == []
    book.tick(T0)
    [task_id] = launch_all(book, T0 + 0.2)
    assert task_id == "tick-1.1"
    finish(book, task_id, T0 + 1)
    [run] = book.history("tick")
    assert run["state"] == "SUCCESS" and run["scheduled"] == T0
    assert (run["started"], run["finished"], run["attempts"]) == (T0 + 1, T0 + 1, 1)
    assert book.describe("tick")["nextRun"] == T0 + 10


def scheduled_times(book: JobBook, name: str) -> list[float]:
    return [run["scheduled"] for run in book.history(name) if run["trigger"] == "schedule"]


def test_every_missed_occurrence_runs_or_is_recorded_skipped() -> None:
    book = book_with(every(10, epsilon="PT30S"))
    book.tick(T0 + 25)  # T0, T0+10, T0+20 missed, all within epsilon
    [run] = book.waiting()
    assert run.scheduled == T0 and run.deadline == T0 + 30
    # FORBID (Chronos's default): the later two would overlap the first.
    assert states(book, "tick") == ["QUEUED", "SKIPPED", "SKIPPED"]
    assert all("FORBID" in r["message"] for r in book.history("tick")[1:])
    launch_all(book, T0 + 25)
    book.tick(T0 + 95)  # T0+30..T0+60 more than 30 s late; the rest overlap
    assert scheduled_times(book, "tick") == [T0 + 10 * k for k in range(10)]
    messages = [r["message"] for r in book.history("tick")[3:]]
    assert all("missed by" in m for m in messages[:4]), messages
    assert all("FORBID" in m for m in messages[4:]), messages
    late = book_with(every(10, epsilon="PT30S", concurrencyPolicy="ALLOW"))
    late.tick(T0 + 45)  # T0, T0+10 too late; T0+20..T0+40 run
    assert states(late, "tick") == ["SKIPPED", "SKIPPED", "QUEUED", "QUEUED", "QUEUED"]
    launch_all(late, T0 + 46)
    late.tick(T0 + 200)  # T0+50..T0+160 too late, T0+170..T0+200 due
    late.tick(T0 + 230.5)  # T0+200 is past its deadline, never launched
    history = late.history("tick")
    assert scheduled_times(late, "tick") == [T0 + 10 * k for k in range(24)]
    assert [r["state"] for r in history[17:21]] == ["SKIPPED"] * 4
    assert "deadline" in history[20]["message"]
    assert late.describe("tick")["nextRun"] == T0 + 240
    slow = book_with(every(100, epsilon="PT30S"))
    slow.tick(T0 + 40)  # T0 is 40 s late
    [skipped] = slow.history("tick")
    assert skipped["state"] == "SKIPPED" and "missed by 40.0 s" in skipped["message"]
    assert slow.describe("tick")["nextRun"] == T0 + 100


def test_a_long_outage_is_recorded_without_a_run_per_occurrence() -> None:
    book = book_with(every(1, epsilon="PT5S"))
    book.tick(T0 + 5000)  # 5,001 occurrences, the last one 0 s late
    history = book.history("tick")
    assert len(history) == 100  # the history limit
    gap = history[-2]
    assert (gap["state"], gap["scheduled"]) == ("SKIPPED", T0 + 100)
    assert gap["message"] == f"missed, with every occurrence after it up to {T0 + 5000}"
    assert [run.scheduled for run in book.waiting()] == [T0 + 5000]
    assert book.describe("tick")["nextRun"] == T0 + 5001


def test_a_job_added_just_after_its_start_still_runs() -> None:
    book = book_with(every(3600), now=T0 + 20)
    book.tick(T0 + 20)
    assert [run.scheduled for run in book.waiting()] == [T0]
    later = book_with(every(3600), now=T0 + 120)
    later.tick(T0 + 120)
    assert later.waiting() == [] and later.describe("tick")["nextRun"] == T0 + 3600


def test_a_run_without_resources_before_its_deadline_is_skipped() -> None:
    book = book_with(every(600, startingDeadlineSeconds=5, epsilon="PT5M"))
    book.tick(T0)
    book.tick(T0 + 5)
    assert states(book, "tick") == ["QUEUED"]
    book.tick(T0 + 5.5)
    assert states(book, "tick") == ["SKIPPED"]
    assert "deadline" in book.history("tick")[0]["message"]


def test_failed_runs_are_retried_then_recorded_failed() -> None:
    book = book_with({"name": "flaky", "command": "false", "retries": 2})
    run, _ = book.run_now("flaky", T0)
    for attempt in range(1, 4):
        [task_id] = launch_all(book, T0 + attempt)
        assert task_id == f"{run.id}.{attempt}"
        finish(book, task_id, T0 + attempt, TaskState.TASK_FAILED)
    [record] = book.history("flaky")
    assert record["state"] == "FAILED" and record["attempts"] == 3
    assert record["message"] == "TASK_FAILED: exit 1" and record["finished"] == T0 + 3
    assert book.waiting() == []


def test_a_retry_that_succeeds() -> None:
    book = book_with({"name": "flaky", "command": "false", "retries": 1})
    book.run_now("flaky", T0)
    [first] = launch_all(book, T0)
    finish(book, first, T0 + 1, TaskState.TASK_LOST)
    [second] = launch_all(book, T0 + 2)
    finish(book, second, T0 + 3)
    assert [(r["state"], r["attempts"]) for r in book.history("flaky")] == [("SUCCESS", 2)]


def test_forbid_skips_overlapping_runs_and_allow_runs_them() -> None:
    forbid = book_with(every(2, concurrencyPolicy="FORBID"))
    forbid.tick(T0)
    [task_id] = launch_all(forbid, T0)
    forbid.tick(T0 + 2)
    forbid.tick(T0 + 4)
    assert states(forbid, "tick") == ["STARTING", "SKIPPED", "SKIPPED"]
    assert "FORBID" in forbid.history("tick")[1]["message"]
    finish(forbid, task_id, T0 + 5)
    forbid.tick(T0 + 6)
    assert states(forbid, "tick")[-1] == "QUEUED"
    allow = book_with(every(2, concurrent=True))
    allow.tick(T0)
    launch_all(allow, T0)
    allow.tick(T0 + 2)
    assert states(allow, "tick") == ["STARTING", "QUEUED"]


def test_replace_kills_the_active_run() -> None:
    book = book_with(every(2, concurrencyPolicy="REPLACE"))
    book.tick(T0)
    [task_id] = launch_all(book, T0)
    assert book.tick(T0 + 2) == [task_id]
    assert states(book, "tick") == ["KILLED", "QUEUED"]
    # The killed task's own update changes nothing.
    book.task_update(task_id, TaskState.TASK_KILLED, "", T0 + 3)
    assert states(book, "tick") == ["KILLED", "QUEUED"]


def test_a_child_runs_after_each_success_of_all_its_parents() -> None:
    book = book_with(
        {"name": "a", "command": "true"},
        {"name": "b", "command": "true"},
        {"name": "report", "command": "true", "parents": ["a", "b"]},
    )
    book.run_now("a", T0)
    [a1] = launch_all(book, T0)
    finish(book, a1, T0 + 1)
    assert book.history("report") == []
    book.run_now("b", T0 + 2)
    [b1] = launch_all(book, T0 + 2)
    finish(book, b1, T0 + 3, TaskState.TASK_FAILED)
    [b1_retry] = launch_all(book, T0 + 3)
    finish(book, b1_retry, T0 + 4)
    [child] = book.history("report")
    assert child["trigger"] == "parents" and child["state"] == "QUEUED"
    # A failed parent run triggers nothing.
    book.run_now("a", T0 + 5)
    for task_id in launch_all(book, T0 + 5):
        if task_id.startswith("a-"):
            finish(book, task_id, T0 + 6, TaskState.TASK_ERROR)
    assert book.describe("a")["activeRuns"] == ["a-2"]


def test_a_cycle_is_refused_naming_it_and_changes_nothing() -> None:
    book = book_with(
        {"name": "a", "command": "true"},
        {"name": "b", "command": "true", "parents": ["a"]},
        {"name": "c", "command": "true", "parents": ["b"]},
    )
    before = book.describe("a")
    with pytest.raises(JobDefinitionError, match=r"cycle: a -> c -> b -> a"):
        book.add(parse_job({"name": "a", "command": "true", "parents": ["c"]}), T0)
    assert book.describe("a") == before
    with pytest.raises(JobDefinitionError, match="unknown jobs \\['zz'\\]"):
        book.add(parse_job({"name": "d", "command": "true", "parents": ["zz"]}), T0)
    assert book.names() == ["a", "b", "c"]


def test_remove_kills_active_runs_and_refuses_a_parent() -> None:
    book = book_with(every(5), {"name": "child", "command": "true", "parents": ["tick"]})
    with pytest.raises(JobDefinitionError, match="parent of \\['child'\\]"):
        book.remove("tick", T0)
    book.remove("child", T0)
    book.tick(T0)
    [task_id] = launch_all(book, T0)
    assert book.remove("tick", T0 + 1) == [task_id]
    assert book.names() == []
    with pytest.raises(UnknownJobError):
        book.history("tick")
    assert book.take_changed() == {"tick", "child"}


def test_disabled_jobs_do_not_run_by_schedule_but_can_be_run() -> None:
    book = book_with(every(2, disabled=True))
    book.tick(T0)
    book.tick(T0 + 2)
    assert book.history("tick") == []
    book.run_now("tick", T0 + 3)
    assert states(book, "tick") == ["QUEUED"]


def restarted(book: JobBook) -> JobBook:
    """The book a new framework instance restores from what `book` stored."""
    records = [book.record(name) for name in book.names()]
    ledgers = {name: list(book.ledger(name).values()) for name in book.names()}
    return JobBook.restore([r for r in records if r is not None], ledgers)


def test_restore_keeps_definitions_history_and_the_runs_in_flight() -> None:
    book = book_with(
        every(10, retries=0), {"name": "child", "command": "true", "parents": ["tick"]}
    )
    book.tick(T0)
    [first] = launch_all(book, T0)
    finish(book, first, T0 + 1)
    book.tick(T0 + 10)
    [second] = [book.launched(r, T0 + 10, "agent-1") for r in book.waiting() if r.job == "tick"]
    restored = restarted(book)
    assert restored.names() == ["child", "tick"]
    assert states(restored, "tick") == ["SUCCESS", "STARTING"]
    assert states(restored, "child") == ["QUEUED"]
    assert restored.describe("tick")["nextRun"] == T0 + 20
    # Nothing is launched again: the master says what became of it.
    assert restored.in_flight() == {second: "agent-1"} and restored.waiting()[0].job == "child"
    finish(restored, second, T0 + 12)
    assert states(restored, "tick") == ["SUCCESS", "SUCCESS"]
    # One child run per parent success (FORBID: recorded skipped, the first waits).
    assert states(restored, "child") == ["QUEUED", "SKIPPED"]


def test_history_is_bounded() -> None:
    book = JobBook(history_limit=5)
    book.add(parse_job({"name": "x", "command": "true"}), T0)
    for i in range(8):
        book.run_now("x", T0 + i)
        [task_id] = launch_all(book, T0 + i)
        finish(book, task_id, T0 + i)
    assert [r["id"] for r in book.history("x")] == [f"x-{n}" for n in range(4, 9)]


operations = st.lists(
    st.tuples(
        st.sampled_from(["tick", "launch", "running", "finish", "fail", "run"]),
        st.floats(min_value=0, max_value=5),
    ),
    max_size=60,
)


@given(ops=operations, policy=st.sampled_from(["ALLOW", "FORBID", "REPLACE"]))
def test_random_histories_keep_the_invariants(ops: list[tuple[str, float]], policy: str) -> None:
    book = book_with(
        every(2, retries=1, concurrencyPolicy=policy, epsilon="PT3S"),
        {"name": "child", "command": "true", "parents": ["tick"], "retries": 0},
    )
    now = T0
    for op, step in ops:
        now += step
        if op == "tick":
            book.tick(now)
        elif op == "launch":
            launch_all(book, now)
        elif op == "run":
            book.run_now("tick", now)
        else:
            state = {
                "running": TaskState.TASK_RUNNING,
                "finish": TaskState.TASK_FINISHED,
                "fail": TaskState.TASK_FAILED,
            }[op]
            for task_id in book.active_task_ids():
                book.task_update(task_id, state, "", now)
        for name, limit in (("tick", 2), ("child", 1)):
            history = book.history(name)
            assert len({run["id"] for run in history}) == len(history)
            assert all(run["attempts"] <= limit for run in history)
            launched = [r for r in history if r["state"] in ("STARTING", "RUNNING")]
            if policy != "ALLOW" and name == "tick":
                # Only a manual run may overlap a scheduled one.
                assert len([r for r in launched if r["trigger"] == "schedule"]) <= 1
            for run in history:
                assert (run["finished"] is None) == (run["state"] in ACTIVE)
        assert set(book.active_task_ids()) == {
            run["task_id"]
            for name in book.names()
            for run in book.history(name)
            if run["state"] in ("STARTING", "RUNNING")
        }
        successes = len(runs_in_state(book, "tick", "SUCCESS"))
        assert len(book.history("child")) <= successes


def runs_in_state(book: JobBook, name: str, state: str) -> list[dict[str, Any]]:
    return [run for run in book.history(name) if run["state"] == state]
