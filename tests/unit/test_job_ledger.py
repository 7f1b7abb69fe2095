"""The jobs' run ledger without Ray: the stores (files in a work dir, and a
real ZooKeeper), their fencing, and what a restarted jobs framework does
with the runs its predecessor left in flight, time as an argument; then the
scheduler's write-ahead order, through a real `Driver` whose batches are
recorded instead of sent."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any, cast

import orjson
import pytest

from pyactors import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch
from pyactors.core.protocol import Accept, Call, Decline, Kill, Reconcile
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.errors import FencedError, InvalidArgumentError, RegistryError
from pyactors.frameworks.jobs.audit import audit
from pyactors.frameworks.jobs.book import NEVER_LAUNCHED, UNREACHABLE_GRACE, JobBook, ledger_key
from pyactors.frameworks.jobs.definitions import parse_job
from pyactors.frameworks.jobs.scheduler import JobScheduler
from pyactors.frameworks.jobs.store import (
    FileJobStore,
    JobChange,
    JobStore,
    Stored,
    ZooKeeperJobStore,
    read_ledger,
)
from pyactors.scheduler.api import Driver

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
START = "2027-01-15T08:00:00Z"


def every(seconds: int, name: str = "tick", **fields: Any) -> dict[str, Any]:
    return {"name": name, "command": "true", "schedule": f"R/{START}/PT{seconds}S", **fields}


def changes(book: JobBook) -> dict[str, JobChange]:
    return {name: (book.record(name), book.ledger(name)) for name in book.take_changed()}


def restarted(store: JobStore) -> JobBook:
    """What a new framework instance starts from: it claims the store."""
    stored = store.claim()
    return JobBook.restore(stored.records, stored.ledgers)


def states(book: JobBook, name: str) -> list[str]:
    return [run["state"] for run in book.history(name)]


def answer(book: JobBook, task_id: str, state: TaskState, now: float) -> list[str]:
    """The master's answer to a reconciliation."""
    return book.task_update(task_id, state, "", now, unseen=state in NEVER_LAUNCHED)


# ------------------------------------------------------------------ stores


@pytest.fixture(params=["files", "zookeeper"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A factory of stores over one place (each call: another instance)."""
    opened: list[JobStore] = []
    if request.param == "files":
        where = str(tmp_path / "jobs")

        def files() -> JobStore:
            opened.append(FileJobStore(where))
            return opened[-1]

        yield files
    else:
        server = request.getfixturevalue("zookeeper")
        url = f"zk://{server.hosts}/ledger-{uuid.uuid4().hex[:8]}"

        def zookeeper() -> JobStore:
            opened.append(ZooKeeperJobStore(url, 10.0))
            return opened[-1]

        yield zookeeper
    for store in opened:
        store.close()


def test_a_commit_is_read_back_whole_with_the_framework_id(store_at: Any) -> None:
    book = JobBook()
    book.add(parse_job(every(10)), T0)
    book.add(parse_job({"name": "child", "command": "true", "parents": ["tick"]}), T0)
    book.tick(T0)
    [run] = book.waiting()
    task_id = book.launched(run, T0, "agent-7")
    store = store_at()
    assert store.claim().framework_id is None
    store.commit("framework-1", changes(book))
    stored = store_at().load()
    assert stored.framework_id == "framework-1" == store_at().framework_id()
    assert sorted(r["definition"]["name"] for r in stored.records) == ["child", "tick"]
    [entry] = stored.ledgers["tick"]
    assert (entry["task_id"], entry["agent_id"], entry["state"]) == (task_id, "agent-7", "STARTING")
    assert entry["scheduled"] == T0 and ledger_key(T0) == str(int(T0 * 1000))
    # A finished parent run and the dependent run it starts: one write.
    book.task_update(task_id, TaskState.TASK_FINISHED, "", T0 + 1)
    store.commit("framework-1", changes(book))
    again = restarted(store_at())
    assert states(again, "tick") == ["SUCCESS"] and states(again, "child") == ["QUEUED"]
    assert again.in_flight() == {}


def test_a_removed_job_and_pruned_runs_leave_the_ledger(store_at: Any) -> None:
    book = JobBook(history_limit=2)
    book.add(parse_job({"name": "x", "command": "true"}), T0)
    store = store_at()
    store.claim()
    for i in range(4):
        book.run_now("x", T0 + i)
        for run in book.waiting():
            book.task_update(book.launched(run, T0 + i), TaskState.TASK_FINISHED, "", T0 + i)
        store.commit("f", changes(book))
    ledger = read_ledger_of(store_at)
    assert sorted(run["id"] for run in ledger["x"]) == ["x-3", "x-4"]
    book.remove("x", T0 + 5)
    store.commit("f", changes(book))
    assert store_at().load().records == [] and store_at().load().ledgers == {}


def read_ledger_of(store_at: Any) -> dict[str, list[dict[str, Any]]]:
    return {name: runs for name, runs in store_at().load().ledgers.items()}


def test_a_replaced_instance_cannot_write(store_at: Any) -> None:
    book = JobBook()
    book.add(parse_job(every(10)), T0)
    old = store_at()
    old.claim()
    old.commit("f", changes(book))
    new = store_at()
    new.claim()
    book.run_now("tick", T0 + 1)
    with pytest.raises(FencedError):
        old.commit("f", changes(book))
    assert store_at().load().ledgers.get("tick", []) == []
    book.changed_again(["tick"])
    new.commit("f", changes(book))
    assert len(store_at().load().ledgers["tick"]) == 1


def test_an_unclaimed_store_refuses_writes(store_at: Any) -> None:
    with pytest.raises(FencedError, match="claim"):
        store_at().commit("f", {})


def test_read_ledger_reads_the_work_dir_without_claiming(tmp_path: Path) -> None:
    book = JobBook()
    book.add(parse_job({"name": "x", "command": "true"}), T0)
    book.run_now("x", T0 + 2)
    book.run_now("x", T0 + 1)
    store = FileJobStore(str(tmp_path / "jobs"))
    store.claim()
    store.commit("f", changes(book))
    assert [r["scheduled"] for r in read_ledger(None, str(tmp_path))["x"]] == [T0 + 1, T0 + 2]
    store.commit("f", changes(book))  # still this instance's: reading fenced nothing
    assert not list((tmp_path / "jobs").glob("*.partial"))


def test_a_corrupt_state_file_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "state.json").write_bytes(b"{not json")
    with pytest.raises(RegistryError, match=r"state\.json is not JSON"):
        FileJobStore(str(tmp_path / "jobs")).claim()


def test_version_1_records_bring_their_runs_into_the_ledger(zookeeper: Any) -> None:
    url = f"zk://{zookeeper.hosts}/v1-{uuid.uuid4().hex[:8]}"
    book = JobBook()
    book.add(parse_job({"name": "old", "command": "true"}), T0)
    book.run_now("old", T0)
    record = {**(book.record("old") or {}), "runs": book.history("old"), "version": 1}
    store = ZooKeeperJobStore(url, 10.0)
    try:
        store.client.create(f"{store.path}/old", orjson.dumps(record))
        restored = restarted(store)
        assert states(restored, "old") == ["QUEUED"]
        store.commit("f", changes(restored))
        assert [r["id"] for r in store.load().ledgers["old"]] == ["old-1"]
    finally:
        store.close()


# ------------------------------------------------------- restarts, by time


def test_a_run_in_flight_is_awaited_then_recorded_once() -> None:
    book = JobBook()
    book.add(parse_job(every(10, retries=0)), T0)
    book.tick(T0)
    [run] = book.waiting()
    task_id = book.launched(run, T0, "a1")
    again = JobBook.restore([book.record("tick") or {}], {"tick": book.ledger("tick").values()})
    assert again.in_flight() == {task_id: "a1"} and again.waiting() == []
    answer(again, task_id, TaskState.TASK_RUNNING, T0 + 2)
    assert states(again, "tick") == ["RUNNING"] and again.waiting() == []
    again.tick(T0 + 5)  # nothing new is due, nothing relaunched
    again.task_update(task_id, TaskState.TASK_FINISHED, "", T0 + 6)
    again.task_update(task_id, TaskState.TASK_FINISHED, "", T0 + 7)  # resent
    [done] = again.history("tick")
    assert (done["state"], done["attempts"], done["finished"]) == ("SUCCESS", 1, T0 + 6)


@pytest.mark.parametrize(
    "state", [TaskState.TASK_UNKNOWN, TaskState.TASK_GONE, TaskState.TASK_DROPPED]
)
def test_a_launch_the_master_never_saw_runs_again_as_the_same_run(state: TaskState) -> None:
    book = JobBook()
    book.add(parse_job(every(10, retries=0)), T0)
    book.tick(T0)
    [run] = book.waiting()
    first = book.launched(run, T0, "a1")
    again = JobBook.restore([book.record("tick") or {}], {"tick": book.ledger("tick").values()})
    answer(again, first, state, T0 + 90)  # long past its starting deadline
    again.tick(T0 + 90)
    [queued] = [r for r in again.waiting() if r.scheduled == T0]
    assert queued.id == run.id and queued.relaunches == 1
    second = again.launched(queued, T0 + 91, "a2")
    assert second == f"{run.id}.2"
    # Its retries (none) are untouched: a failure now is final.
    again.task_update(second, TaskState.TASK_FAILED, "exit 1", T0 + 92)
    history = [r for r in again.history("tick") if r["scheduled"] == T0]
    assert [(r["state"], r["attempts"]) for r in history] == [("FAILED", 2)]


def test_an_attempt_whose_agent_stays_unreachable_runs_again_as_the_same_run() -> None:
    book = JobBook()
    book.add(parse_job(every(10, retries=0)), T0)
    book.tick(T0)
    [run] = book.waiting()
    first = book.launched(run, T0, "a1")
    book.task_update(first, TaskState.TASK_UNREACHABLE, "agent a1 lost", T0 + 1)
    # Stored as such: a restarted framework waits out the same grace.
    book = JobBook.restore([book.record("tick") or {}], {"tick": book.ledger("tick").values()})
    assert book.tick(T0 + UNREACHABLE_GRACE) == [] and book.in_flight() == {first: "a1"}
    assert book.tick(T0 + 1 + UNREACHABLE_GRACE) == [first]
    [queued] = [r for r in book.waiting() if r.scheduled == T0]
    assert queued.id == run.id and queued.relaunches == 1 and book.in_flight() == {}
    second = book.launched(queued, T0 + 32, "a2")
    assert second == f"{run.id}.2"
    # The lost agent comes back after all with the first attempt running.
    assert book.task_update(first, TaskState.TASK_RUNNING, "", T0 + 33) == [first]
    assert book.task_update(first, TaskState.TASK_KILLED, "", T0 + 34) == []
    book.task_update(second, TaskState.TASK_FINISHED, "", T0 + 35)
    history = [r for r in book.history("tick") if r["scheduled"] == T0]
    assert [(r["state"], r["attempts"], r["relaunches"]) for r in history] == [("SUCCESS", 2, 1)]


def test_an_attempt_whose_agent_comes_back_within_the_grace_is_kept() -> None:
    book = JobBook()
    book.add(parse_job(every(10, retries=0)), T0)
    book.tick(T0)
    first = book.launched(book.waiting()[0], T0, "a1")
    book.task_update(first, TaskState.TASK_UNREACHABLE, "", T0 + 1)
    book.task_update(first, TaskState.TASK_RUNNING, "", T0 + 10)
    assert book.tick(T0 + 5 * UNREACHABLE_GRACE) == []
    assert book.in_flight() == {first: "a1"}
    book.task_update(first, TaskState.TASK_FINISHED, "", T0 + 200)
    assert [r["state"] for r in book.history("tick") if r["scheduled"] == T0] == ["SUCCESS"]


def test_an_ordinary_loss_still_counts_as_a_failed_attempt() -> None:
    book = JobBook()
    book.add(parse_job({"name": "x", "command": "true", "retries": 0}), T0)
    book.run_now("x", T0)
    [run] = book.waiting()
    task_id = book.launched(run, T0, "a1")
    book.task_update(task_id, TaskState.TASK_LOST, "agent gone", T0 + 1)
    # Not a reconciliation answer: an update of a task that ran.
    book.task_update(task_id, TaskState.TASK_UNKNOWN, "", T0 + 1)
    assert states(book, "x") == ["FAILED"]


def test_an_occurrence_runs_at_most_once_across_restarts() -> None:
    book = JobBook()
    book.add(parse_job(every(10, epsilon="PT30S", concurrencyPolicy="ALLOW")), T0)
    book.tick(T0)
    task_id = book.launched(book.waiting()[0], T0, "a1")
    for now in (T0, T0 + 0.5, T0 + 5):
        book = JobBook.restore([book.record("tick") or {}], {"tick": book.ledger("tick").values()})
        book.tick(now)
    assert [r["scheduled"] for r in book.history("tick")] == [T0]
    assert book.in_flight() == {task_id: "a1"}


def test_runs_missed_while_down_follow_the_catch_up_policy() -> None:
    book = JobBook()
    book.add(parse_job(every(10, epsilon="PT25S", concurrencyPolicy="ALLOW")), T0)
    book.tick(T0)
    stored = ([book.record("tick") or {}], {"tick": book.ledger("tick").values()})
    # Down from T0 to T0+42: T0, queued, missed its starting deadline; T0+10
    # is 32 s late; T0+20..T0+40 run.
    again = JobBook.restore(*stored)
    again.tick(T0 + 42)
    history = again.history("tick")
    assert [(r["scheduled"] - T0, r["state"]) for r in history] == [
        (0, "SKIPPED"),
        (10, "SKIPPED"),
        (20, "QUEUED"),
        (30, "QUEUED"),
        (40, "QUEUED"),
    ]
    assert "missed by 32.0 s (25 s allowed)" in history[1]["message"]
    # Metronome's startingDeadlineSeconds replaces epsilon.
    strict = JobBook()
    strict.add(parse_job(every(10, startingDeadlineSeconds=5, concurrencyPolicy="ALLOW")), T0)
    strict.tick(T0 + 16)  # T0 16 s late, T0+10 6 s late: both skipped
    assert states(strict, "tick") == ["SKIPPED", "SKIPPED"]


def test_a_dependent_runs_once_per_parent_success_across_a_restart() -> None:
    book = JobBook()
    book.add(parse_job({"name": "parent", "command": "true", "retries": 0}), T0)
    book.add(parse_job({"name": "child", "command": "true", "parents": ["parent"]}), T0)
    book.run_now("parent", T0)
    task_id = book.launched(book.waiting()[0], T0, "a1")
    records = [book.record(name) or {} for name in book.names()]
    ledgers = {name: book.ledger(name).values() for name in book.names()}
    # The parent's update reaches the old instance and its successor alike.
    book.task_update(task_id, TaskState.TASK_FINISHED, "", T0 + 1)
    again = JobBook.restore(records, ledgers)
    answer(again, task_id, TaskState.TASK_FINISHED, T0 + 3)
    answer(again, task_id, TaskState.TASK_FINISHED, T0 + 4)
    assert states(again, "child") == ["QUEUED"] == states(book, "child")
    # A successor of the one that stored the child run starts no other.
    after = JobBook.restore(
        [again.record(n) or {} for n in again.names()],
        {n: again.ledger(n).values() for n in again.names()},
    )
    answer(after, task_id, TaskState.TASK_FINISHED, T0 + 5)
    [child] = after.history("child")
    assert (child["state"], child["cause"]) == ("QUEUED", "parent-1")


# ------------------------------------------------- the scheduler's order


class Recorded:
    """The batches a real Driver would send, kept instead."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def __call__(self, framework_id: str, batch: list[Call]) -> None:
        self.calls += batch


def driver_into(sent: Recorded) -> Driver:
    return Driver(cast(Any, None), "framework-1", cast(Any, None), sink=sent)


def offer(offer_id: str, agent_id: str) -> OfferInfo:
    return OfferInfo(offer_id, "framework-1", agent_id, "*", Resources.parse("cpus:4;mem:4096"))


def test_a_launch_is_in_the_ledger_before_the_accept_leaves(tmp_path: Path) -> None:
    jobs = JobScheduler(work_dir=str(tmp_path))
    sent = Recorded()
    driver = driver_into(sent)
    jobs.subscribed(driver, "framework-1", {})
    jobs.add({"name": "x", "command": "true"})
    run_id = jobs.run("x")
    jobs.offers(driver, [offer("o1", "a1")])
    [accept] = [c for c in sent.calls if isinstance(c, Accept)]
    [launch] = accept.operations
    assert isinstance(launch, Launch)
    [entry] = read_ledger(None, str(tmp_path))["x"]
    assert (entry["id"], entry["task_id"], entry["agent_id"]) == (run_id, f"{run_id}.1", "a1")
    assert launch.tasks[0].task_id == entry["task_id"]
    # A successor fences this one, and reconciles what it launched.
    successor = JobScheduler(work_dir=str(tmp_path))
    jobs.offers(driver, [offer("o2", "a1")])
    assert isinstance(sent.calls[-1], Decline)
    later = Recorded()
    successor.subscribed(driver_into(later), "framework-1", {})
    [reconcile] = [c for c in later.calls if isinstance(c, Reconcile)]
    assert reconcile.task_ids == [f"{run_id}.1"] and reconcile.agent_ids == {f"{run_id}.1": "a1"}
    gone = TaskStatus(
        f"{run_id}.1",
        TaskState.TASK_GONE,
        Source.SOURCE_MASTER,
        T0,
        "a1",
        Reason.REASON_RECONCILIATION,
        uuid=None,
    )
    successor.update(driver_into(later), gone)
    successor.offers(driver_into(later), [offer("o3", "a1")])
    [accept] = [c for c in later.calls if isinstance(c, Accept)]
    assert [t.task_id for op in accept.operations for t in cast(Launch, op).tasks] == [
        f"{run_id}.2"
    ]
    jobs.stopping()
    successor.stopping()


class FailingStore(FileJobStore):
    """A store whose writes fail while `failing` (ZooKeeper unreachable)."""

    failing = False

    def commit(self, framework_id: str | None, changes: dict[str, JobChange]) -> None:  # type: ignore[override]
        if self.failing:
            raise RegistryError("ZooKeeper is not reachable")
        super().commit(framework_id, changes)


def test_a_launch_that_could_not_be_stored_is_not_sent(tmp_path: Path) -> None:
    jobs = JobScheduler(work_dir=str(tmp_path))
    store = FailingStore(str(tmp_path / "jobs"))
    store.claim()
    jobs.store = store
    sent = Recorded()
    driver = driver_into(sent)
    jobs.subscribed(driver, "framework-1", {})
    jobs.add({"name": "x", "command": "true"})
    run_id = jobs.run("x")
    store.failing = True
    jobs.offers(driver, [offer("o1", "a1")])
    assert not [c for c in sent.calls if isinstance(c, Accept)]
    assert [c.offer_ids for c in sent.calls if isinstance(c, Decline)] == [["o1"]]
    [reconcile] = [c for c in sent.calls if isinstance(c, Reconcile)]
    assert reconcile.task_ids == [f"{run_id}.1"]
    # An update that cannot be stored is not acknowledged: it comes again.
    running = TaskStatus(f"{run_id}.1", TaskState.TASK_RUNNING, Source.SOURCE_AGENT, T0, "a1")
    with pytest.raises(RegistryError):
        jobs.update(driver, running)
    store.failing = False
    jobs.update(driver, running)
    [entry] = read_ledger(None, str(tmp_path))["x"]
    assert entry["state"] == "RUNNING"


def test_a_launch_refused_for_its_offers_runs_again_as_the_same_run(tmp_path: Path) -> None:
    jobs = JobScheduler(work_dir=str(tmp_path))
    sent = Recorded()
    driver = driver_into(sent)
    jobs.subscribed(driver, "framework-1", {})
    jobs.add({"name": "x", "command": "true", "retries": 0})
    run_id = jobs.run("x")
    jobs.offers(driver, [offer("o1", "a1")])
    # The offer was rescinded (or made by an earlier leader) when the accept came.
    refused = TaskStatus(
        f"{run_id}.1",
        TaskState.TASK_ERROR,
        Source.SOURCE_MASTER,
        T0,
        "a1",
        Reason.REASON_INVALID_OFFERS,
        uuid=None,
    )
    jobs.update(driver, refused)
    jobs.offers(driver, [offer("o2", "a1")])
    launched = [t.task_id for c in sent.calls if isinstance(c, Accept) for t in tasks_of(c)]
    assert launched == [f"{run_id}.1", f"{run_id}.2"]
    [entry] = read_ledger(None, str(tmp_path))["x"]
    assert (entry["state"], entry["attempts"], entry["relaunches"]) == ("STARTING", 2, 1)
    jobs.stopping()


def tasks_of(accept: Accept) -> list[Any]:
    return [task for op in accept.operations for task in cast(Launch, op).tasks]


def test_a_kill_leaves_only_once_the_run_s_end_is_stored(tmp_path: Path) -> None:
    jobs = JobScheduler(work_dir=str(tmp_path))
    store = FailingStore(str(tmp_path / "jobs"))
    store.claim()
    jobs.store = store
    sent = Recorded()
    driver = driver_into(sent)
    jobs.subscribed(driver, "framework-1", {})
    jobs.add({"name": "x", "command": "sleep 600"})
    run_id = jobs.run("x")
    jobs.offers(driver, [offer("o1", "a1")])
    store.failing = True
    with pytest.raises(RegistryError, match="holds it"):
        jobs.remove("x")
    jobs.tick(driver)
    assert not [c for c in sent.calls if isinstance(c, Kill)]
    store.failing = False
    jobs.tick(driver)
    assert [c.task_id for c in sent.calls if isinstance(c, Kill)] == [f"{run_id}.1"]
    assert read_ledger(None, str(tmp_path)) == {}


def test_the_scheduler_needs_somewhere_to_keep_its_ledger() -> None:
    with pytest.raises(InvalidArgumentError, match="zk or a work_dir"):
        JobScheduler()


# ------------------------------------------------------------ the audit


def stored_of(book: JobBook) -> Stored:
    records = [book.record(name) or {} for name in book.names()]
    return Stored("f", records, {name: list(book.ledger(name).values()) for name in book.names()})


def run_all(book: JobBook, start: float, end: float, step: float) -> None:
    """Tick every `step` s from `start` to `end`, each due run launched and
    finished at once."""
    now = start
    while now <= end:
        book.tick(now)
        for run in book.waiting():
            book.task_update(book.launched(run, now, "a1"), TaskState.TASK_FINISHED, "", now)
        now += step


def test_the_audit_finds_nothing_wrong_in_a_clean_ledger() -> None:
    book = JobBook()
    book.add(parse_job(every(10, concurrencyPolicy="ALLOW")), T0)
    book.add(parse_job({"name": "child", "command": "true", "parents": ["tick"]}), T0)
    run_all(book, T0, T0 + 50, 5)
    runs = [run for name in book.names() for run in book.history(name)]
    started = Counter((r["job"], ledger_key(r["scheduled"])) for r in runs if r["attempts"])
    found = audit(stored_of(book), started)
    assert found["totals"]["runs"] == 12
    wrong = ("doubled", "lost", "skipped_missed", "skipped_deadline", "skipped_overlap")
    assert [found["totals"][key] for key in wrong] == [0] * 5, found


def test_the_audit_counts_skipped_doubled_and_lost_runs() -> None:
    book = JobBook()
    book.add(parse_job(every(10, concurrencyPolicy="ALLOW", epsilon="PT5S")), T0)
    book.add(parse_job({"name": "child", "command": "true", "parents": ["tick"]}), T0)
    run_all(book, T0, T0 + 20, 10)
    run_all(book, T0 + 37, T0 + 37, 10)  # T0+30 missed by 7 s
    run_all(book, T0 + 40, T0 + 50, 10)
    stored = stored_of(book)
    ledger = stored.ledgers["tick"]
    [at_10] = [r for r in ledger if r["scheduled"] == T0 + 10]
    ledger.remove(at_10)  # lost
    ledger.append({**ledger[0], "id": "tick-99"})  # T0 twice
    children = stored.ledgers["child"]
    children.append({**children[0], "id": "child-99", "scheduled": children[0]["scheduled"] + 1})
    [first] = [r for r in ledger if r["id"] == "tick-1"]
    started = {("tick", ledger_key(T0 + 20)): 2}
    found = audit(stored, started)
    tick, child = found["jobs"]["tick"], found["jobs"]["child"]
    assert tick["lost"] == [f"scheduled {T0 + 10} has no run"]
    assert tick["skipped_missed"] == ["tick-4"]
    assert tick["doubled"] == [
        f"scheduled {T0} has 2 runs",
        "run tick-3 started 2 times in 1 attempts",
    ]
    assert child["doubled"] == [f"parent run {first['id']} started 2 runs"]
    assert child["lost"] == ["parent run tick-99 started no run"]  # the copy of T0's run
    assert found["totals"]["doubled"] == 3 and found["totals"]["lost"] == 2


def test_a_relaunch_is_no_double_and_a_long_outage_no_loss() -> None:
    book = JobBook()
    book.add(parse_job(every(1, epsilon="PT5S", retries=0)), T0)
    book.tick(T0)
    [run] = book.waiting()
    first = book.launched(run, T0, "a1")
    book.task_update(first, TaskState.TASK_UNKNOWN, "", T0 + 1, unseen=True)
    second = book.launched(run, T0 + 1, "a1")
    book.task_update(second, TaskState.TASK_FINISHED, "", T0 + 2)
    key = ("tick", ledger_key(T0))
    assert audit(stored_of(book), {key: 1})["totals"]["doubled"] == 0
    found = audit(stored_of(book), {key: 2})  # the unseen attempt ran after all
    assert found["jobs"]["tick"]["doubled"] == ["run tick-1 started 2 times in 2 attempts"]
    assert found["totals"]["relaunched"] == 1
    book.tick(T0 + 5000)  # a gap run covers most of the outage
    found = audit(stored_of(book))
    assert found["totals"]["lost"] == 0 and found["totals"]["skipped_missed"] == 99
