"""The chaos workload's ledger files, written by real shell commands, and
the batch framework's book rebuilt from them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pyactors.tools.chaos.ledger import (
    append_record,
    job_command,
    read_job_runs,
    read_records,
    read_starts,
    start_command,
)
from pyactors.tools.chaos.workload import BatchBook


def test_records_are_read_back_and_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    assert read_records(path) == []
    append_record(path, {"event": "launch", "task": "b00000.1"})
    append_record(path, {"event": "update", "task": "b00000.1"})
    with path.open("ab") as torn:
        torn.write(b'{"event": "upd')
    assert [r["event"] for r in read_records(path)] == ["launch", "update"]


def test_a_task_command_appends_its_id_and_pid(tmp_path: Path) -> None:
    starts = tmp_path / "it's here.log"
    command = f"{start_command(starts)}; echo done"
    for task in ("b00001.1", "b00001.1"):
        done = subprocess.run(
            ["/bin/sh", "-c", command], env={"MESOS_TASK_ID": task}, capture_output=True
        )
        assert done.returncode == 0, done.stderr
    first, second = read_starts(starts)
    assert first.task_id == second.task_id == "b00001.1"
    assert first.pid != second.pid and first.at <= second.at


def test_a_job_command_appends_its_run_with_or_without_the_scheduled_time_and_agent(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "jobs.log"
    env = {"PYACTORS_JOB_NAME": "tick", "PYACTORS_JOB_RUN_ID": "tick-3"}
    subprocess.run(["/bin/sh", "-c", job_command(runs)], env=env, check=True)
    env["PYACTORS_JOB_SCHEDULED"] = "1700000005250"
    subprocess.run(["/bin/sh", "-c", job_command(runs)], env=env, check=True)
    env["MESOS_SANDBOX"] = str(tmp_path / "work" / "agent-7" / "frameworks" / "f" / "tasks" / "t")
    subprocess.run(["/bin/sh", "-c", job_command(runs)], env=env, check=True)
    without, with_time, on_agent = read_job_runs(runs)
    assert (without.job, without.run_id, without.scheduled) == ("tick", "tick-3", None)
    assert with_time.scheduled == 1700000005.25
    assert (without.agent, with_time.agent, on_agent.agent) == (None, None, "agent-7")


def test_the_batch_book_owes_failed_work_again_and_not_finished_work() -> None:
    book = BatchBook()
    first, second = book.next_task(), book.next_task()
    assert (first, second) == ("b00000.1", "b00001.1")
    book.launched(first, "agent-a")
    book.launched(second, "agent-b")
    assert not book.updated(first, "TASK_RUNNING")
    assert not book.updated(first, "TASK_FINISHED")
    assert book.updated(second, "TASK_UNREACHABLE")
    # A resent terminal update of a task no longer live owes nothing more.
    assert not book.updated(second, "TASK_LOST")
    assert book.next_task() == "b00001.2"
    assert book.next_task() == "b00002.1"


def test_the_book_is_rebuilt_from_the_records_a_killed_actor_left() -> None:
    records = [
        {"event": "launch", "task": "b00000.1", "agent": "a"},
        {"event": "launch", "task": "b00001.1", "agent": "b"},
        {"event": "update", "task": "b00000.1", "state": "TASK_FAILED"},
        {"event": "launch", "task": "b00000.2", "agent": "a"},
        {"event": "update", "task": "b00001.1", "state": "TASK_KILLED"},
    ]
    book = BatchBook.replay(records)
    assert book.live == {"b00000.2": "a"}
    assert book.next_task() == "b00001.2"
    assert book.next_task() == "b00002.1"
