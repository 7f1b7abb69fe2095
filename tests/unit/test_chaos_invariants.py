"""The chaos harness's invariants over a ledger, and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from pyactors.tools.chaos import report
from pyactors.tools.chaos.invariants import (
    batch_figures,
    broken,
    dependents_skipped,
    job_figures,
    percentiles,
    run_twice,
    schedule_times,
)
from pyactors.tools.chaos.ledger import JobRun, Start


def launch(task: str, agent: str = "agent-a") -> dict[str, Any]:
    return {"event": "launch", "task": task, "agent": agent}


def update(
    task: str, state: str, uuid: str | None, incarnation: int = 1, reason: str | None = None
) -> dict[str, Any]:
    return {
        "event": "update",
        "task": task,
        "state": state,
        "uuid": uuid,
        "incarnation": incarnation,
        "reason": reason,
    }


def test_each_task_is_finished_expected_unexpected_or_lost() -> None:
    records = [
        launch("done.1"),
        update("done.1", "TASK_RUNNING", "u1"),
        update("done.1", "TASK_FINISHED", "u2"),
        launch("killed.1"),
        update("killed.1", "TASK_FAILED", "u3"),
        launch("gone.1", "agent-removed"),
        update("gone.1", "TASK_RUNNING", "u4"),
        update("gone.1", "TASK_UNREACHABLE", "u5"),
        launch("crashed.1"),
        update("crashed.1", "TASK_LOST", "u6"),
        launch("silent.1"),
        update("silent.1", "TASK_RUNNING", "u7"),
        launch("forgotten.1"),
        update("forgotten.1", "TASK_RUNNING", "u8"),
        update("forgotten.1", "TASK_LOST", None, reason="REASON_RECONCILIATION"),
        launch("stranded.1", "agent-killed"),
        update("stranded.1", "TASK_UNREACHABLE", "u9"),
    ]
    started = {"done.1", "killed.1", "gone.1", "crashed.1", "silent.1", "forgotten.1"}
    figures = batch_figures(records, {"killed.1"}, {"agent-removed"}, started)
    assert figures.launched == 7 and figures.finished == 1
    assert figures.killed_by_faults == ["killed.1"]
    assert figures.unreachable_by_faults == ["gone.1"]
    assert figures.failed_unexpectedly == ["crashed.1 TASK_LOST"]
    assert figures.lost == [
        "forgotten.1 (the master answered TASK_LOST)",
        "silent.1 (last TASK_RUNNING)",
        "stranded.1 (unreachable on agent-killed, never back)",
    ]
    assert figures.duplicate_updates == []


def test_a_task_whose_end_only_a_reconciliation_answer_told_finished() -> None:
    records = [
        launch("t.1"),
        update("t.1", "TASK_RUNNING", "u1"),
        update("t.1", "TASK_FINISHED", None, incarnation=2, reason="REASON_RECONCILIATION"),
    ]
    figures = batch_figures(records, set(), set(), {"t.1"})
    assert (figures.finished, figures.lost) == (1, [])


def test_a_launch_that_never_started_and_the_master_does_not_know_was_dropped() -> None:
    records = [
        launch("dropped.1"),
        update("dropped.1", "TASK_LOST", None, reason="REASON_RECONCILIATION"),
        launch("started.1"),
        update("started.1", "TASK_LOST", None, reason="REASON_RECONCILIATION"),
        launch("unanswered.1"),
    ]
    records += [
        launch("refused.1"),
        update("refused.1", "TASK_ERROR", None, reason="REASON_INVALID_OFFERS"),
        launch("far.1", "agent-removed"),
        update("far.1", "TASK_RUNNING", "u1"),
        update("far.1", "TASK_UNREACHABLE", None, reason="REASON_AGENT_DISCONNECTED"),
    ]
    figures = batch_figures(records, set(), {"agent-removed"}, {"started.1", "far.1"})
    assert figures.dropped_in_flight == ["dropped.1", "refused.1"]
    assert figures.unreachable_by_faults == ["far.1"]
    assert figures.lost == [
        "started.1 (the master answered TASK_LOST)",
        "unanswered.1 (last no update)",
    ]


def test_a_task_killed_by_a_fault_that_still_finished_counts_as_finished() -> None:
    records = [launch("t.1"), update("t.1", "TASK_FINISHED", "u1")]
    assert batch_figures(records, {"t.1"}, set(), {"t.1"}).finished == 1


def test_duplicates_within_an_incarnation_and_second_terminal_updates_count() -> None:
    records = [
        launch("t.1"),
        update("t.1", "TASK_RUNNING", "u1"),
        update("t.1", "TASK_RUNNING", "u1"),
        # Resent to the framework's next incarnation: allowed (at least once).
        update("t.1", "TASK_RUNNING", "u1", incarnation=2),
        update("t.1", "TASK_FINISHED", "u2", incarnation=2),
        update("t.1", "TASK_FAILED", "u3", incarnation=2),
        # Reconciliation answers repeat states freely.
        update("t.1", "TASK_FINISHED", None, incarnation=2, reason="REASON_RECONCILIATION"),
    ]
    figures = batch_figures(records, set(), set(), {"t.1"})
    assert figures.duplicate_updates == [
        "t.1 TASK_RUNNING uuid u1",
        "t.1 second terminal update TASK_FAILED",
    ]
    assert figures.redelivered_after_failover == 1
    assert figures.finished == 1


def test_a_task_started_in_two_processes_ran_twice() -> None:
    starts = [Start("a", 10, 1.0), Start("b", 11, 1.0), Start("a", 12, 2.0), Start("b", 11, 3.0)]
    assert run_twice(starts) == ["a (pids [10, 12])"]


def test_job_runs_are_placed_by_their_scheduled_time_and_checked_against_the_schedule() -> None:
    expected = schedule_times(100.0, 5.0, 116.0)
    assert expected == [100.0, 105.0, 110.0, 115.0]
    runs = [
        JobRun("tick", "tick-0", 100.0, 1, 100.2),
        JobRun("tick", "tick-1", None, 2, 105.3),  # placed by the history
        JobRun("tick", "tick-1b", 105.0, 3, 106.0),  # the same time again
        JobRun("tick", "tick-9", None, 4, 120.0),  # unknown to the history
        JobRun("child", "child-0", None, 5, 100.5),
    ]
    figures = job_figures(runs, "tick", {"tick-1": 105.0}, expected)
    assert figures.runs == 4
    assert figures.doubled == [105.0]
    assert figures.skipped == [110.0, 115.0]
    assert figures.unplaced == ["tick-9"]


def test_a_launch_failed_by_its_agent_killed_meanwhile_is_not_unexpected() -> None:
    failed = "REASON_CONTAINER_LAUNCH_FAILED"
    records = [
        {**launch("cut.1"), "t": 100.0},
        {**update("cut.1", "TASK_FAILED", "u1", reason=failed), "t": 162.0},
        # Its agent killed long before its launch: no excuse.
        {**launch("later.1"), "t": 500.0},
        {**update("later.1", "TASK_FAILED", "u2", reason=failed), "t": 560.0},
        # It started: whatever failed it, the kill did not stop its launch.
        {**launch("ran.1"), "t": 100.0},
        {**update("ran.1", "TASK_FAILED", "u3", reason=failed), "t": 162.0},
    ]
    kills = {"agent-a": [100.2]}
    figures = batch_figures(records, set(), set(), {"ran.1"}, kills)
    assert figures.launch_failed_by_faults == ["cut.1"]
    assert figures.failed_unexpectedly == ["later.1 TASK_FAILED", "ran.1 TASK_FAILED"]
    assert batch_figures(records, set(), set(), {"ran.1"}).launch_failed_by_faults == []


def test_a_run_again_after_its_node_was_removed_is_not_doubled() -> None:
    runs = [
        # Ran on agent-a, whose node was removed before its end was heard.
        JobRun("tick", "tick-0", 100.0, 1, 100.2, "agent-a"),
        JobRun("tick", "tick-0", 100.0, 2, 131.0, "agent-b"),
        # Both on live agents: doubled.
        JobRun("tick", "tick-1", 105.0, 3, 105.1, "agent-b"),
        JobRun("tick", "tick-1", 105.0, 4, 106.0, "agent-c"),
        # On agent-a after its node was removed: not explained by it.
        JobRun("tick", "tick-2", 110.0, 5, 110.1, "agent-b"),
        JobRun("tick", "tick-2", 110.0, 6, 125.0, "agent-a"),
    ]
    figures = job_figures(runs, "tick", {}, [100.0, 105.0, 110.0], {"agent-a": 100.9})
    assert figures.rerun_after_node_loss == [100.0]
    assert figures.doubled == [105.0, 110.0]
    assert figures.skipped == []


def test_a_parent_run_without_a_child_run_after_it_skipped_its_dependent() -> None:
    runs = [
        JobRun("tick", "tick-1", 100.0, 1, 100.1),
        JobRun("child", "child-1", 100.2, 2, 100.3),
        JobRun("tick", "tick-2", 105.0, 3, 105.1),
        JobRun("tick", "tick-3", 110.0, 4, 110.1),  # after the window
    ]
    assert dependents_skipped(runs, "tick", "child", [100.0, 105.0]) == 1
    assert dependents_skipped(runs, "tick", "child", [100.0]) == 0


def test_percentiles_are_nearest_rank() -> None:
    assert percentiles([]) == {"count": 0, "p50": None, "p99": None, "max": None}
    stats = percentiles([float(v) for v in range(1, 101)])
    assert (stats["count"], stats["p50"], stats["p99"], stats["max"]) == (100, 50.0, 99.0, 100.0)
    assert percentiles([3.0])["p99"] == 3.0


def test_broken_names_every_invariant_that_does_not_hold() -> None:
    holding = {
        "tasks_lost": 0,
        "tasks_run_twice": 0,
        "duplicate_updates": 0,
        "jobs_skipped": 0,
        "jobs_doubled": 0,
        "services_restored": True,
    }
    assert broken(holding) == []
    assert broken({**holding, "tasks_lost": 2, "services_restored": False}) == [
        "tasks_lost = 2",
        "services_restored is False",
    ]


def test_the_report_renders_its_tables_and_plot(tmp_path: Path) -> None:
    figures = {
        "seed": 5,
        "minutes": 1,
        "faults": {"leader_kill": 2},
        "recovery": {"leader_kill": percentiles([1.5, 2.5])},
        "tasks_launched": 10,
        "tasks_lost": 1,
        "services_restored": True,
        "broken": ["tasks_lost = 1"],
    }
    console = Console(record=True, width=120)
    for table in report.tables(figures):
        console.print(table)
    text = console.export_text()
    assert "tasks_lost" in text and "BROKEN" in text and "leader_kill" in text
    assert "1.50" in text and "2.50" in text
    report.write_json(figures, tmp_path / "chaos.json")
    assert '"seed": 5' in (tmp_path / "chaos.json").read_text()
    path = tmp_path / "out" / "chaos.png"
    report.plot({"done": [1.0, 2.0, 4.0]}, [(1.5, "leader_kill")], "title", path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
