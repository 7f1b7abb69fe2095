"""Checking the jobs' ledger from outside the framework (a chaos run, an
operator): were runs skipped, doubled or lost? No Ray here.

`audit(stored)` reads what a store holds (`store.read_store`): each job's
record (its definition and the next occurrence it has not handled yet)
and its ledger. It counts, per job and in total:

- `skipped`: runs recorded SKIPPED, by why (`missed`: later than the job's
  tolerance; `deadline`: no resources before it; `overlap`: FORBID);
- `doubled`: scheduled times with more than one scheduled run, parent runs
  that started more than one dependent run, and (given the agents' count
  of task processes started per run) runs whose processes started more
  often than their attempts, or more than once for a run that succeeded at
  its first launch the master saw;
- `lost`: occurrences from the job's first recorded one up to its next due
  one that have no run at all, and parent successes that started no
  dependent run;
- `retried` and `relaunched`: attempts after failures, and launches the
  master never saw that ran again as the same run (neither is a double).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from pyactors.frameworks.jobs.book import SKIPPED, SUCCESS, ledger_key
from pyactors.frameworks.jobs.definitions import JobDefinition, parse_job
from pyactors.frameworks.jobs.store import Stored

# An outage longer than this many occurrences is one gap run in the ledger
# (`book.CATCH_UP_LIMIT`): the audit walks at most this many per job.
_WALK_LIMIT = 100_000


def audit(stored: Stored, started: Mapping[tuple[str, str], int] | None = None) -> dict[str, Any]:
    """What the ledger says of skipped, doubled and lost runs (see the
    module). `started`: task processes started per (job, ledger key), as
    counted on the agents' side (each task knows both from
    `PYACTORS_JOB_NAME` and `PYACTORS_JOB_SCHEDULED`)."""
    records = {record["definition"]["name"]: record for record in stored.records}
    jobs: dict[str, dict[str, Any]] = {}
    for name, record in sorted(records.items()):
        runs = sorted(stored.ledgers.get(name, []), key=lambda run: run["scheduled"])
        jobs[name] = _job_audit(record, runs, started or {})
    _dependents(records, stored.ledgers, jobs)
    totals: Counter[str] = Counter()
    for found in jobs.values():
        totals.update({key: len(value) for key, value in found.items() if isinstance(value, list)})
        totals.update({key: value for key, value in found.items() if isinstance(value, int)})
    return {"jobs": jobs, "totals": dict(totals)}


def _job_audit(
    record: dict[str, Any], runs: list[dict[str, Any]], started: Mapping[tuple[str, str], int]
) -> dict[str, Any]:
    definition = parse_job(record["definition"])
    name = definition.name
    scheduled = Counter(run["scheduled"] for run in runs if run["trigger"] == "schedule")
    doubled = [f"scheduled {at} has {n} runs" for at, n in sorted(scheduled.items()) if n > 1]
    for run in runs:
        count = started.get((name, ledger_key(run["scheduled"])), 0)
        # A relaunch follows an attempt the master never saw: at most one of
        # the two started, unless the first one ran after all.
        unseen_ok = run["attempts"] - run["relaunches"]
        if count > run["attempts"] or (run["state"] == SUCCESS and count > unseen_ok):
            doubled.append(f"run {run['id']} started {count} times in {run['attempts']} attempts")
    skipped: dict[str, list[str]] = {"missed": [], "deadline": [], "overlap": []}
    for run in runs:
        if run["state"] == SKIPPED:
            skipped[_why_skipped(run["message"])].append(run["id"])
    return {
        "runs": len(runs),
        "skipped_missed": skipped["missed"],
        "skipped_deadline": skipped["deadline"],
        "skipped_overlap": skipped["overlap"],
        "doubled": doubled,
        "lost": _lost_occurrences(record, definition, runs),
        "retried": sum(run["attempts"] - run["relaunches"] - 1 for run in runs if run["attempts"]),
        "relaunched": sum(run["relaunches"] for run in runs),
    }


def _why_skipped(message: str) -> str:
    if "deadline" in message:
        return "deadline"
    if "FORBID" in message:
        return "overlap"
    return "missed"


def _lost_occurrences(
    record: dict[str, Any], definition: JobDefinition, runs: list[dict[str, Any]]
) -> list[str]:
    """Occurrences from the first one the ledger holds up to the next due
    one that have no run (a gap run covers the occurrences it names)."""
    timetable = definition.timetable(record["added_at"])
    ours = [run for run in runs if run["trigger"] == "schedule"]
    if timetable is None or not ours:
        return []
    recorded = {ledger_key(run["scheduled"]) for run in ours}
    gaps = [
        (run["scheduled"], float(run["message"].rpartition(" ")[2]))
        for run in ours
        if run["message"].startswith("missed, with every occurrence after it up to")
    ]
    end = record["next_due"]
    lost = []
    at: float | None = ours[0]["scheduled"]
    for _ in range(_WALK_LIMIT):
        if at is None or (end is not None and at >= end):
            break
        covered = any(first <= at <= last for first, last in gaps)
        if ledger_key(at) not in recorded and not covered:
            lost.append(f"scheduled {at} has no run")
        at = timetable.next_after(at)
    return lost


def _dependents(
    records: Mapping[str, dict[str, Any]],
    ledgers: Mapping[str, list[dict[str, Any]]],
    jobs: dict[str, dict[str, Any]],
) -> None:
    """Each success of a dependent job's parent started one run of it (run,
    or recorded SKIPPED), `cause` naming the parent run. Checked for jobs
    with one parent, over the parent runs whose dependent run the ledger
    would still hold: a dependent run is scheduled when its parent run
    finishes, and the oldest runs leave the ledger first."""
    for name, record in records.items():
        parents = record["definition"].get("parents") or []
        if len(parents) != 1:
            continue
        children = ledgers.get(name, [])
        causes = Counter(run["cause"] for run in children if run.get("cause"))
        since = max([record["added_at"], min((r["scheduled"] for r in children), default=0.0)])
        for run in ledgers.get(parents[0], []):
            if run["state"] != SUCCESS:
                continue
            if causes[run["id"]] > 1:
                jobs[name]["doubled"].append(
                    f"parent run {run['id']} started {causes[run['id']]} runs"
                )
            elif causes[run["id"]] == 0 and run["finished"] >= since:
                jobs[name]["lost"].append(f"parent run {run['id']} started no run")
