"""The chaos harness's mixed workload on a running cluster: the batch
framework (`ChaosBatch`), the HTTP service behind HAProxy (probed every
0.5 s through the load balancer), the repeating job with its dependent,
and a gang submitted every 20 s. Each can be started again after its
framework's actor is killed."""

from __future__ import annotations

import contextlib
import math
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyactors.frameworks.gang.plan import GangJob
from pyactors.frameworks.gang.scheduler import Gang
from pyactors.frameworks.jobs.client import Jobs
from pyactors.runtime.cluster import Cluster, Framework
from pyactors.tools.chaos.ledger import JOB_RUNS, STARTS, STOP, start_command
from pyactors.tools.chaos.workload import (
    CHILD_JOB,
    TICK_JOB,
    WEB_APP,
    ChaosBatch,
    child_job,
    tick_job,
    web_app,
)

BATCH = "chaos-batch"
GANG = "chaos-gang"
# Long enough that a killed framework is always taken over, never torn down.
FAILOVER_TIMEOUT = 600.0
BATCH_CONCURRENCY = 4
JOB_PERIOD = 5
GANG_EVERY = 20.0
GANG_SIZE = 2
# Every run of the run kept: a run's scheduled time is read from it.
HISTORY_LIMIT = 2000
INSTANCES = 2


class Prober(threading.Thread):
    """Asks the service through HAProxy every 0.5 s: (epoch, answered)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True, name="chaos-prober")
        self.url = url
        self.answers: list[tuple[float, bool]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    ok = response.status == 200
            except (urllib.error.URLError, OSError):
                ok = False
            self.answers.append((time.time(), ok))
            self.stopping.wait(0.5)

    def served_since(self, since: float) -> bool:
        return any(ok and at > since for at, ok in self.answers)

    def failed_since(self, since: float) -> bool:
        return any(not ok and at > since for at, ok in self.answers)


class Workload:
    def __init__(self, cluster: Cluster, run_dir: Path, seed: int) -> None:
        self.cluster = cluster
        self.run_dir = run_dir
        self.seed = seed
        self.starts = str(run_dir / STARTS)
        self.job_runs = str(run_dir / JOB_RUNS)
        self.batch: Framework | None = None
        self.gang: Framework | None = None
        self.services: Any = None
        self.jobs: Jobs | None = None
        self.prober: Prober | None = None
        self.job_start = 0.0
        self.gangs_submitted: list[str] = []
        self.scheduled_of: dict[str, float] = {}
        self.settling = False
        self._next_gang = 0.0
        self._next_history = 0.0

    def start(self) -> None:
        self.start_batch()
        self.services = self.cluster.services()
        self.services.deploy(web_app(self.starts, INSTANCES))
        self.services.wait(WEB_APP, healthy=INSTANCES, timeout=600)
        self.prober = Prober(self.services.endpoint(WEB_APP))
        self.prober.start()
        self.jobs = self.cluster.jobs(history_limit=HISTORY_LIMIT)
        self.job_start = float(math.ceil(time.time() + 3))
        start_iso = datetime.fromtimestamp(self.job_start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.jobs.add(tick_job(self.job_runs, start_iso, JOB_PERIOD))
        self.jobs.add(child_job(self.job_runs))
        self.gang = self.cluster.run_framework(
            Gang, [], name=GANG, failover_timeout=FAILOVER_TIMEOUT
        )

    def start_batch(self, framework_id: str | None = None) -> None:
        self.batch = self.cluster.run_framework(
            ChaosBatch,
            str(self.run_dir),
            BATCH_CONCURRENCY,
            self.seed,
            name=BATCH,
            failover_timeout=FAILOVER_TIMEOUT,
            framework_id=framework_id,
        )

    def restart_services(self) -> None:
        self.services = self.cluster.services()

    def restart_jobs(self) -> None:
        self.jobs = self.cluster.jobs(history_limit=HISTORY_LIMIT)

    def tend(self) -> None:
        """The workload's chores between faults: a gang now and then, and
        the job's run ids with their scheduled times (read often, as the
        history keeps only the latest runs)."""
        now = time.monotonic()
        if not self.settling and now >= self._next_gang and self.gang is not None:
            name = f"g{len(self.gangs_submitted):04d}"
            command = f"{start_command(self.starts)}; sleep 2"
            with contextlib.suppress(Exception):
                job = GangJob(name, GANG_SIZE, command, "cpus:0.2;mem:16", retries=5)
                self.gang.call("submit", job)
                self.gangs_submitted.append(name)
            self._next_gang = now + GANG_EVERY
        if now >= self._next_history:
            self.read_history()
            self._next_history = now + 3.0

    def read_history(self) -> None:
        if self.jobs is None:
            return
        with contextlib.suppress(Exception):
            for run in self.jobs.history(TICK_JOB):
                if run.get("scheduled") is not None:
                    self.scheduled_of[str(run["id"])] = float(run["scheduled"])

    def job_history(self) -> list[dict[str, Any]]:
        """The repeating job's runs as its framework records them (none if
        it does not answer)."""
        if self.jobs is None:
            return []
        try:
            return self.jobs.history(TICK_JOB)
        except Exception:
            return []

    def stop_launching(self) -> None:
        self.settling = True
        (self.run_dir / STOP).touch()

    def remove_jobs(self) -> None:
        if self.jobs is None:
            return
        for name in (CHILD_JOB, TICK_JOB):
            with contextlib.suppress(Exception):
                self.jobs.remove(name)

    def gangs(self) -> list[dict[str, Any]]:
        if self.gang is None:
            return []
        found: list[dict[str, Any]] = self.gang.call("gangs")
        return found

    def service_healthy(self) -> bool:
        try:
            status = self.services.app(WEB_APP)
        except Exception:
            return False
        return int(status.get("tasksHealthy", 0)) >= INSTANCES

    def close(self) -> None:
        if self.prober is not None:
            self.prober.stopping.set()
            self.prober.join(timeout=5)
