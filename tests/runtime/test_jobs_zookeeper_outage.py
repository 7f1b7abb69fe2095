"""The jobs framework keeps its store in a ZooKeeper that goes away while
jobs run and comes back: meanwhile its actor still answers (its client,
Chronos's REST API), a change it cannot store is refused at once (and held),
and once ZooKeeper is back its runs go on and everything is stored, each
scheduled time once.
Before, kazoo held the framework's loop for the whole outage.

The master keeps no state in that ZooKeeper (the cluster keeps its own in
its work dir), so only the jobs framework sees the outage."""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from support import zookeeper
from support.runtime import wait_for

from pyactors.errors import RegistryError
from pyactors.frameworks.jobs.client import Jobs
from pyactors.frameworks.jobs.scheduler import JobScheduler
from pyactors.frameworks.jobs.store import read_ledger, read_store
from pyactors.runtime.cluster import Cluster

# Longer than the outage: the session survives it (a new one would do too).
SESSION_SECONDS = 60.0
# How long a call to the framework may take while ZooKeeper is away: a
# busy machine's answer, not an outage's.
PROMPT_SECONDS = 20.0


def soon(seconds: float = 2.0) -> str:
    return datetime.fromtimestamp(int(time.time() + seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def succeeded(jobs: Jobs) -> list[dict[str, Any]]:
    return [run for run in jobs.history("every") if run["state"] == "SUCCESS"]


def timed(call: Any) -> tuple[Any, float]:
    asked = time.monotonic()
    answer = call()
    return answer, time.monotonic() - asked


@pytest.mark.timeout(600)
def test_jobs_go_on_answering_while_zookeeper_is_away_and_store_again_once_back(
    cluster: Cluster, own_zookeeper: zookeeper.ZooKeeperServer
) -> None:
    zk = f"zk://{own_zookeeper.hosts}/jobs-outage"
    framework = cluster.run_framework(
        JobScheduler, zk, SESSION_SECONDS, None, name="jobs-outage", failover_timeout=60.0
    )
    jobs = Jobs(framework)
    try:
        jobs.add(
            {
                "name": "every",
                "command": "true",
                "schedule": f"R/{soon()}/PT1S",
                "cpus": 0.1,
                "mem": 16,
            }
        )
        wait_for(lambda: len(succeeded(jobs)) >= 2, what="two runs before the outage")
        chronos = jobs.chronos_url
        own_zookeeper.stop()
        # Runs fall due meanwhile: each tick tries to store them.
        down_since = time.monotonic()
        while time.monotonic() - down_since < 5:
            _, took = timed(jobs.jobs)
            assert took < PROMPT_SECONDS, f"the framework took {took:.1f} s to answer"
            with urllib.request.urlopen(f"{chronos}/v1/scheduler/jobs", timeout=PROMPT_SECONDS):
                pass
            time.sleep(0.5)
        with pytest.raises(RegistryError, match="could not store the change yet"):
            jobs.add({"name": "later", "command": "true", "mem": 16})
        before = len(succeeded(jobs))
        own_zookeeper.start()
        wait_for(
            lambda: len(succeeded(jobs)) >= before + 3,
            what="runs going on once ZooKeeper is back",
            seen=lambda: jobs.history("every")[-5:],
        )
        seen = {run["scheduled"] for run in succeeded(jobs)}

        def stored() -> bool:
            ledger = read_ledger(zk, "", SESSION_SECONDS).get("every", [])
            return seen <= {run["scheduled"] for run in ledger if run["state"] == "SUCCESS"}

        wait_for(stored, what="every finished run stored")
        history = jobs.history("every")
        twice = [t for t, n in Counter(run["scheduled"] for run in history).items() if n > 1]
        assert twice == [], history
        # The change refused while ZooKeeper was away was held, and is stored now.
        assert "later" in [job["name"] for job in jobs.jobs()]
        records = read_store(zk, "", SESSION_SECONDS).records
        assert "later" in [record["definition"]["name"] for record in records]
    finally:
        cluster.teardown(framework)
