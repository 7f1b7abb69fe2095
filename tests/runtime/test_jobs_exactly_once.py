"""Exactly-once jobs on a real cluster: the jobs framework's actor is killed
while runs are under way and started again. Its successor takes the same
framework over, adopts the running runs (the same tasks finish, each
recorded once), catches up the occurrences it missed, and the dependent
of a run that finished meanwhile runs once. Counted from the agents' side
too: every task appends its job and scheduled time to a file as it starts.
With the ledger in ZooKeeper and in the work dir."""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.runtime import dead, small_cluster, wait_for

from pyactors.errors import FencedError
from pyactors.frameworks.jobs.audit import audit
from pyactors.frameworks.jobs.book import ledger_key
from pyactors.frameworks.jobs.scheduler import FAILOVER_TIMEOUT, JobScheduler
from pyactors.frameworks.jobs.store import read_ledger, read_store
from pyactors.runtime import ray_calls
from pyactors.runtime.cluster import Cluster

PERIOD = 2


@pytest.fixture(params=["zookeeper", "work-dir"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    options: dict[str, Any] = {}
    if request.param == "zookeeper":
        server = request.getfixturevalue("zookeeper")
        options["zk"] = f"zk://{server.hosts}/exactly-once-{uuid.uuid4().hex[:8]}"
    yield from small_cluster(tmp_path_factory, **options)


def soon(seconds: float) -> str:
    return datetime.fromtimestamp(int(time.time() + seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_of(jobs: Any, name: str, run_id: str) -> dict[str, Any]:
    (run,) = [r for r in jobs.history(name) if r["id"] == run_id]
    return run


def in_state(jobs: Any, name: str, state: str) -> list[dict[str, Any]]:
    return [r for r in jobs.history(name) if r["state"] == state]


def started(lines: Path) -> Counter[tuple[str, str]]:
    """How many task processes started per (job, ledger key)."""
    if not lines.exists():
        return Counter()
    pairs = [line.split(" ", 1) for line in lines.read_text().splitlines()]
    return Counter((name, key) for name, key in pairs)


@pytest.mark.timeout(600)
def test_a_killed_jobs_framework_adopts_its_runs_and_runs_nothing_twice(
    cluster: Cluster, tmp_path: Path
) -> None:
    lines, release = tmp_path / "started.txt", tmp_path / "release"
    note = f'echo "$PYACTORS_JOB_NAME $PYACTORS_JOB_SCHEDULED" >> {lines}'
    jobs = cluster.jobs()
    common = {"mem": 16, "retries": 0}
    held = f"{note}; while [ ! -e {release} ]; do sleep 0.1; done"
    jobs.add({"name": "held", "command": held, **common})
    jobs.add({"name": "after", "command": note, "parents": ["held"], **common})
    jobs.add(
        {
            "name": "every",
            "command": f"{note}; sleep 1",
            "schedule": f"R/{soon(2)}/PT{PERIOD}S",
            # Catch up whatever the restart misses; overlap freely.
            "epsilon": "PT120S",
            "concurrencyPolicy": "ALLOW",
            **common,
        }
    )
    run_id = jobs.run("held")
    before = wait_for(
        lambda: (run := run_of(jobs, "held", run_id))["state"] == "RUNNING" and run,
        what="the held run running",
        seen=lambda: run_of(jobs, "held", run_id),
    )
    wait_for(lambda: len(in_state(jobs, "every", "SUCCESS")) >= 2, what="two scheduled runs")
    wait_for(
        lambda: any(r["state"] == "RUNNING" for r in jobs.history("every")),
        what="a scheduled run under way",
        seen=lambda: jobs.history("every"),
    )
    framework_id, handle = jobs.framework_id, jobs.framework.handle
    ray_calls.stop(handle)  # a crash: no shutdown, nothing said to the master
    killed_at = time.time()
    wait_for(lambda: dead(handle), what="the jobs framework's actor gone")
    # Down across occurrences, so that some are missed and caught up.
    wait_for(lambda: time.time() > killed_at + 2 * PERIOD, what="two periods down")

    restarted_at = time.time()
    successor = cluster.jobs()
    assert successor.framework_id == framework_id
    assert successor.framework.handle != handle
    release.touch()
    after = wait_for(
        lambda: (run := run_of(successor, "held", run_id))["state"] == "SUCCESS" and run,
        what="the adopted run finished",
        seen=lambda: run_of(successor, "held", run_id),
    )
    assert (after["task_id"], after["attempts"]) == (before["task_id"], 1)
    wait_for(
        lambda: any(
            r["state"] == "SUCCESS" and r["started"] > restarted_at
            for r in successor.history("every")
        ),
        what="a scheduled run started after the restart finished",
        seen=lambda: successor.history("every"),
    )
    wait_for(lambda: in_state(successor, "after", "SUCCESS"), what="the dependent run")
    # No more occurrences; the runs under way finish.
    shown = successor.job("every")
    definition = {k: v for k, v in shown.items() if k not in ("nextRun", "activeRuns")}
    successor.add({**definition, "disabled": True})
    wait_for(
        lambda: not any(job["activeRuns"] for job in successor.jobs()),
        what="every run ended",
        seen=successor.jobs,
    )
    ledger = successor.ledger()
    assert read_ledger(cluster.location.zk, cluster.work_dir) == {
        name: sorted(runs, key=lambda run: run["scheduled"]) for name, runs in ledger.items()
    }
    counted = started(lines)

    # Each run recorded once, launched once, started once; nothing started
    # that the ledger does not hold.
    runs = [run for name in ("held", "after", "every") for run in ledger[name]]
    assert [(r["state"], r["attempts"]) for r in runs] == [("SUCCESS", 1)] * len(runs), runs
    assert counted == Counter((r["job"], ledger_key(r["scheduled"])) for r in runs)
    assert len(ledger["held"]) == len(ledger["after"]) == 1
    assert ledger["after"][0]["cause"] == run_id
    # Every occurrence from the first to the last, once: none skipped, the
    # ones due while the framework was down caught up after it.
    scheduled = sorted(r["scheduled"] for r in ledger["every"])
    assert all(b - a == PERIOD for a, b in itertools.pairwise(scheduled)), scheduled
    missed = [r for r in ledger["every"] if killed_at < r["scheduled"] < restarted_at]
    assert missed and all(r["started"] > restarted_at for r in missed), (killed_at, missed)
    # What a chaos run checks, from the store alone.
    totals = audit(read_store(cluster.location.zk, cluster.work_dir), counted)["totals"]
    wrong = ("doubled", "lost", "skipped_missed", "skipped_deadline", "skipped_overlap")
    assert {key: totals[key] for key in wrong} == dict.fromkeys(wrong, 0), totals


@pytest.mark.timeout(300)
def test_a_replaced_instance_still_running_can_change_nothing(cluster: Cluster) -> None:
    jobs = cluster.jobs()
    jobs.add({"name": "kept", "command": "true", "mem": 16})
    # A second instance of the same framework while the first still runs
    # (a partitioned one, say): the newer claims the store and the master
    # hands it the framework.
    newer = cluster.run_framework(
        JobScheduler,
        cluster.location.zk,
        cluster.location.session_timeout,
        cluster.work_dir,
        name="jobs",
        framework_id=jobs.framework_id,
        failover_timeout=FAILOVER_TIMEOUT,
    )
    assert newer.id == jobs.framework_id
    with pytest.raises(FencedError):
        jobs.add({"name": "stale", "command": "true", "mem": 16})
    with pytest.raises(FencedError):
        jobs.run("kept")
    assert newer.call("history", "kept") == [] and newer.call("job", "kept")["name"] == "kept"
    stored = read_ledger(cluster.location.zk, cluster.work_dir)
    assert stored == {"kept": []}
    assert "stale" not in [job["name"] for job in newer.call("jobs")]
