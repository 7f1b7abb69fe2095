"""The jobs framework (what Chronos and Metronome do): a `Scheduler` that
runs a `JobBook` (its handle on the driver's side, `Cluster.jobs()`, is
`client.Jobs`).

The scheduler's timer (`tick_interval`) starts due runs; each waiting run
is launched as a command task on the first offer that holds its
resources. While nothing waits the framework suppresses its offers, and
revives them when a run falls due.

Exactly once: every change is written to the store (`store.open_store`:
ZooKeeper, else the work dir) before it has effects outside: a launch is
in the ledger, with its task id and agent, before the accept leaves; an
outcome is stored before its update is acknowledged (a failed write leaves
the update unacknowledged, so it comes again). A new instance claims the
store first (fencing the one it replaces), subscribes with the stored
framework id (so the master hands it the running tasks) and reconciles
the runs in flight: running ones are awaited, ended ones recorded, and
those the master never saw are launched again as the same run.

The framework answers Chronos's and Metronome's REST APIs on its own HTTP
server (`chronos.server`, advertised as its `webui_url`), from the same
book and through the same calls as its client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.tasks import Reason, TaskStatus
from pyactors.errors import FencedError, InvalidArgumentError, RegistryError
from pyactors.frameworks.jobs.book import NEVER_LAUNCHED, JobBook, Run
from pyactors.frameworks.jobs.chronos.server import ChronosServer
from pyactors.frameworks.jobs.definitions import parse_job
from pyactors.frameworks.jobs.store import JobChange, open_store
from pyactors.scheduler.api import Driver, Scheduler
from pyactors.security.credentials import Credentials

log = logging.getLogger(__name__)

# Seconds between reconciliations of the runs in flight (besides one on
# each subscription).
RECONCILE_INTERVAL = 30.0

# How long the master keeps the jobs framework's tasks for a successor after
# its actor dies (Chronos's default too).
FAILOVER_TIMEOUT = 7 * 24 * 3600.0


class JobScheduler(Scheduler):
    tick_interval = 0.1

    def __init__(
        self,
        zk: str | None = None,
        zk_session_timeout: float = 10.0,
        work_dir: str | None = None,
        history_limit: int = 100,
        chronos_host: str = "127.0.0.1",
        chronos_port: int = 0,
        credentials: Credentials | None = None,
    ) -> None:
        if zk is None and work_dir is None:
            raise InvalidArgumentError(
                "the jobs framework needs zk or a work_dir to keep its jobs and ledger in"
            )
        self.store = open_store(zk, work_dir or "", zk_session_timeout)
        stored = self.store.claim()
        self.framework_id = self.stored_framework_id = stored.framework_id
        self.book = JobBook.restore(stored.records, stored.ledgers, history_limit)
        self.suppressed = False
        self.driver: Driver | None = None
        # Replaced by a newer instance: this one no longer acts.
        self.fenced = False
        self.reconciled_at = 0.0
        # Tasks of ended runs, killed once their end is stored.
        self.kills: list[str] = []
        # Whether the last write failed (said once, not at every retry).
        self.store_failing = False
        # REVIVE calls made (Metronome's mesos.calls.revive counter).
        self.revive_calls = 0
        # Bound now: a port in use fails the start, and the address is known
        # before the first subscription carries it to the master.
        self.chronos = ChronosServer(self, chronos_host, chronos_port, credentials)
        self.webui_url = self.chronos.url

    # ------------------------------------------------------------ callbacks

    def subscribed(self, driver: Driver, framework_id: str, master_info: dict[str, Any]) -> None:
        # A new master knows nothing of an earlier suppress.
        self.driver, self.suppressed = driver, False
        self.framework_id = framework_id
        self.chronos.start()
        self._store()
        # What the previous instance (or this one, before a new leader)
        # launched: each answer says whether it runs, ended or never was.
        self._reconcile(driver, time.time())
        self._settle(driver)

    def stopping(self) -> None:
        self.chronos.stop()
        self.store.close()

    def tick(self, driver: Driver) -> None:
        if self.fenced:
            return
        now = time.time()
        self.kills += self.book.tick(now)
        if now - self.reconciled_at >= RECONCILE_INTERVAL:
            # A launch whose accept died with its master, say, is answered
            # by nobody unless asked.
            self._reconcile(driver, now)
        self._settle(driver)

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        if self.fenced:
            driver.decline([offer.id for offer in offers])
            return
        waiting = self.book.waiting()
        now = time.time()
        accepts: list[tuple[OfferInfo, list[tuple[Run, TaskInfo]]]] = []
        for offer in offers:
            left, launches = offer.resources, []
            for run in list(waiting):
                definition = self.book.jobs[run.job].definition
                needs = definition.resources()
                if needs <= left:
                    task_id = self.book.launched(run, now, offer.agent_id)
                    env = {
                        **dict(definition.env),
                        "PYACTORS_JOB_NAME": run.job,
                        "PYACTORS_JOB_RUN_ID": run.id,
                        "PYACTORS_JOB_SCHEDULED": run.key,
                    }
                    task = TaskInfo(task_id, run.job, needs, command=definition.command, env=env)
                    launches.append((run, task))
                    left = left - needs
                    waiting.remove(run)
            accepts.append((offer, launches))
        # Write-ahead: a launch the ledger does not hold is never sent.
        stored = self._store()
        for offer, launches in accepts:
            if launches and stored:
                tasks = [task for _, task in launches]
                driver.accept([offer.id], [Launch(tasks)], refuse_seconds=0)
            else:
                driver.decline([offer.id], refuse_seconds=1)
        if not stored:
            # Launched in this book, never sent: the master's answers put
            # them back in the queue.
            unsent = {task.task_id: offer.agent_id for offer, ls in accepts for _, task in ls}
            if unsent:
                driver.reconcile(list(unsent), unsent)
        self._settle(driver)

    def update(self, driver: Driver, status: TaskStatus) -> None:
        if self.fenced:
            return
        self.kills += self.book.task_update(
            status.task_id, status.state, status.message, time.time(), _unseen(status)
        )
        # The update is acknowledged when this returns: only once stored (a
        # reconciliation answer needs no acknowledgement).
        if not self._store() and status.uuid is not None:
            raise RegistryError(f"the jobs framework could not store {status.task_id}'s update")
        self._settle(driver)

    # ------------------------------------------- calls from `Jobs` (the driver)

    def add(self, definition: Mapping[str, Any] | str) -> str:
        job = parse_job(definition)
        self.book.add(job, time.time())
        self._after_call([])
        return job.name

    def run(self, name: str) -> str:
        run, kills = self.book.run_now(name, time.time())
        self._after_call(kills)
        return run.id

    def remove(self, name: str) -> None:
        self._after_call(self.book.remove(name, time.time()))

    def kill(self, name: str, run_id: str | None = None) -> None:
        """End the job's active runs (or only `run_id`) as KILLED; their
        tasks are killed once that is stored."""
        self._after_call(self.book.kill(name, time.time(), run_id))

    def chronos_url(self) -> str:
        """Where Chronos's and Metronome's REST APIs answer."""
        return self.chronos.url

    def history(self, name: str) -> list[dict[str, Any]]:
        return self.book.history(name)

    def job(self, name: str) -> dict[str, Any]:
        return self.book.describe(name)

    def jobs(self) -> list[dict[str, Any]]:
        return [self.book.describe(name) for name in self.book.names()]

    def ledger(self) -> dict[str, list[dict[str, Any]]]:
        """Every job's runs, as the ledger holds them (job -> runs, oldest
        first)."""
        return {name: self.book.history(name) for name in self.book.names()}

    # --------------------------------------------------------------- helpers

    def _after_call(self, kills: list[str]) -> None:
        self.kills += kills
        if not self._store():
            if self.fenced:
                raise FencedError("this jobs framework was replaced by a newer instance")
            raise RegistryError(
                "the jobs framework could not store the change yet: it holds it and "
                "writes it once its store answers again"
            )
        if self.driver is not None:
            # One message to the master, from a client call or an API request.
            with self.driver.batch():
                self._settle(self.driver)

    def _reconcile(self, driver: Driver, now: float) -> None:
        self.reconciled_at = now
        in_flight = self.book.in_flight()
        if in_flight:
            agents = {task: agent for task, agent in in_flight.items() if agent is not None}
            driver.reconcile(list(in_flight), agents)

    def _settle(self, driver: Driver) -> None:
        """Store what changed, then kill what the stored runs no longer
        want; offers only while runs wait for them."""
        if self._store():
            for task_id in self.kills:
                driver.kill(task_id)
            self.kills = []
        waiting = bool(self.book.waiting())
        if waiting and self.suppressed:
            driver.revive()
            self.revive_calls += 1
            self.suppressed = False
        elif not waiting and not self.suppressed:
            driver.suppress()
            self.suppressed = True

    def _store(self) -> bool:
        """Write what changed (and the framework id); whether all of it is
        stored. A failed write is tried again with the next change; a
        fenced one stops this instance for good."""
        if self.fenced:
            return False
        changed = self.book.take_changed()
        if not changed and self.framework_id == self.stored_framework_id:
            return True
        changes: dict[str, JobChange] = {
            name: (self.book.record(name), self.book.ledger(name)) for name in sorted(changed)
        }
        try:
            self.store.commit(self.framework_id, changes)
        except FencedError:
            log.error("the jobs framework was replaced by a newer instance: it stops acting")
            self.fenced = True
            return False
        except RegistryError as error:
            if not self.store_failing:
                log.warning("the jobs framework cannot store its jobs (trying again): %s", error)
            self.store_failing = True
            self.book.changed_again(changed)
            return False
        if self.store_failing:
            log.warning("the jobs framework stores its jobs again")
        self.store_failing = False
        self.stored_framework_id = self.framework_id
        return True


def _unseen(status: TaskStatus) -> bool:
    """Whether the update says the master never saw the task's launch."""
    if status.reason is Reason.REASON_RECONCILIATION:
        return status.state in NEVER_LAUNCHED
    # The accept's offers were gone (rescinded, or made by an earlier leader).
    return status.reason is Reason.REASON_INVALID_OFFERS
