"""The jobs framework (what Chronos and Metronome do): a `Scheduler` that
runs a `JobBook` (its handle on the driver's side, `Cluster.jobs()`, is
`client.Jobs`).

The scheduler's timer (`tick_interval`) starts due runs; each waiting run
is launched as a command task on the first offer that holds its
resources. While nothing waits the framework suppresses its offers, and
revives them when a run falls due. With ZooKeeper, every change to a job
is written there (`ZooKeeperJobStore`) before the callback returns, and a
new framework starts from what is stored.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch, TaskInfo
from pyactors.core.tasks import TaskStatus
from pyactors.frameworks.jobs.book import JobBook
from pyactors.frameworks.jobs.definitions import parse_job
from pyactors.frameworks.jobs.store import ZooKeeperJobStore
from pyactors.scheduler.api import Driver, Scheduler


class JobScheduler(Scheduler):
    tick_interval = 0.1

    def __init__(self, zk: str | None = None, zk_session_timeout: float = 10.0) -> None:
        self.store = None if zk is None else ZooKeeperJobStore(zk, zk_session_timeout)
        records = [] if self.store is None else self.store.load()
        self.book = JobBook.restore(records, time.time())
        self.suppressed = False
        self.driver: Driver | None = None

    # ------------------------------------------------------------ callbacks

    def subscribed(self, driver: Driver, framework_id: str, master_info: dict[str, Any]) -> None:
        # A new master knows nothing of an earlier suppress.
        self.driver, self.suppressed = driver, False
        self._settle(driver)

    def stopping(self) -> None:
        if self.store is not None:
            self.store.close()

    def tick(self, driver: Driver) -> None:
        self._kill(driver, self.book.tick(time.time()))
        self._settle(driver)

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        waiting = self.book.waiting()
        now = time.time()
        for offer in offers:
            left, tasks = offer.resources, []
            for run in list(waiting):
                definition = self.book.jobs[run.job].definition
                needs = definition.resources()
                if needs <= left:
                    task_id = self.book.launched(run, now)
                    env = {"PYACTORS_JOB_NAME": run.job, "PYACTORS_JOB_RUN_ID": run.id}
                    tasks.append(
                        TaskInfo(task_id, run.job, needs, command=definition.command, env=env)
                    )
                    left = left - needs
                    waiting.remove(run)
            if tasks:
                driver.accept([offer.id], [Launch(tasks)], refuse_seconds=0)
            else:
                driver.decline([offer.id], refuse_seconds=1)
        self._settle(driver)

    def update(self, driver: Driver, status: TaskStatus) -> None:
        kills = self.book.task_update(status.task_id, status.state, status.message, time.time())
        self._kill(driver, kills)
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

    def history(self, name: str) -> list[dict[str, Any]]:
        return self.book.history(name)

    def job(self, name: str) -> dict[str, Any]:
        return self.book.describe(name)

    def jobs(self) -> list[dict[str, Any]]:
        return [self.book.describe(name) for name in self.book.names()]

    # --------------------------------------------------------------- helpers

    def _after_call(self, kills: list[str]) -> None:
        if self.driver is None:
            self._store()
            return
        self._kill(self.driver, kills)
        self._settle(self.driver)

    def _kill(self, driver: Driver, task_ids: list[str]) -> None:
        for task_id in task_ids:
            driver.kill(task_id)

    def _settle(self, driver: Driver) -> None:
        """Store what changed; offers only while runs wait for them."""
        self._store()
        waiting = bool(self.book.waiting())
        if waiting and self.suppressed:
            driver.revive()
            self.suppressed = False
        elif not waiting and not self.suppressed:
            driver.suppress()
            self.suppressed = True

    def _store(self) -> None:
        changed = self.book.take_changed()
        if self.store is not None:
            for name in sorted(changed):
                self.store.save(name, self.book.record(name))
