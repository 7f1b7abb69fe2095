"""`ServiceScheduler`: the service framework as a `pyactors.Scheduler`.

A thin shell over `ServiceState`, built only on the public Scheduler and
Driver API (a reference example of a custom scheduler). Each callback hands
the event to the state machine with the time, then carries out what it
decided: accepts (reserve, create, launch) and declines, kills, suppressing
offers when nothing is to be launched and reviving when something is, the
load balancer's frontends, and the state saved for a failover. A timer
(`Scheduler.tick`) lets time pass without events: backoffs expire,
unreachable instances time out.

The client (`Cluster.services()`) calls the public methods below through
`Framework.call`: one actor call per client operation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Launch
from pyactors.core.tasks import TaskStatus
from pyactors.frameworks.services import health
from pyactors.frameworks.services.balancer import Balancer
from pyactors.frameworks.services.health import Probe
from pyactors.frameworks.services.launch import task_info
from pyactors.frameworks.services.marathon.events import health_event, status_events
from pyactors.frameworks.services.marathon.server import MarathonServer
from pyactors.frameworks.services.state import ServiceState
from pyactors.frameworks.services.store import StateStore, open_store
from pyactors.scheduler.api import Driver, Scheduler
from pyactors.security.credentials import Credentials

logger = logging.getLogger(__name__)


class ServiceScheduler(Scheduler):
    tick_interval = 0.5

    def __init__(
        self,
        work_dir: str,
        zk: str | None = None,
        role: str = "services",
        haproxy: str = "haproxy",
        bind_host: str = "127.0.0.1",
        seed: int = 0,
        marathon_host: str = "127.0.0.1",
        marathon_port: int = 0,
        credentials: Credentials | None = None,
    ) -> None:
        self.state = ServiceState(role=role, seed=seed)
        self.store: StateStore = open_store(zk, work_dir)
        saved = self.store.load()
        self.framework_id: str | None = None
        if saved is not None:
            self.state.restore(saved["state"])
            self.framework_id = saved["frameworkId"]
        self.balancer = Balancer(f"{work_dir}/services/haproxy", bind_host, haproxy)
        self.driver: Driver | None = None
        self.suppressed = False
        self.counters = {"offers_received": 0, "offers_declined": 0, "tasks_launched": 0}
        self._saved: bytes | None = None
        # Health and readiness probes under way (see `health.py`).
        self._probes: set[asyncio.Task[None]] = set()
        self.marathon = MarathonServer(self, marathon_host, marathon_port, credentials)
        self.webui_url = self.marathon.url

    # Scheduler callbacks.

    def subscribed(self, driver: Driver, framework_id: str, master_info: dict[str, Any]) -> None:
        self.driver = driver
        self.marathon.start()
        if self.framework_id not in (None, framework_id):
            self.state.forget_tasks(time.time())
        self.framework_id = framework_id
        # Adopt what a previous incarnation launched: the master answers
        # with each task's state (or that it is gone, and it is replaced).
        live = self.state.live_tasks()
        if live:
            driver.reconcile(list(live), live)
        # Whatever the master remembers of an earlier subscription, say now
        # whether offers are wanted.
        self._act(driver, resync=True)

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        self.counters["offers_received"] += len(offers)
        for answer in self.state.offers(offers, time.time()):
            operations = list(answer.operations)
            if answer.launches:
                operations.append(Launch([task_info(plan) for plan in answer.launches]))
                self.counters["tasks_launched"] += len(answer.launches)
            if operations:
                driver.accept([answer.offer_id], operations, answer.refuse_seconds)
            else:
                driver.decline([answer.offer_id], answer.refuse_seconds)
                self.counters["offers_declined"] += 1
        self._act(driver)

    def update(self, driver: Driver, status: TaskStatus) -> None:
        now = time.time()
        instance = self.state.instance(status.task_id)
        was_healthy = None if instance is None else instance.healthy
        self.state.status(status, now)
        for event in status_events(status, instance, was_healthy, now):
            self.marathon.bus.publish(event)
        self._act(driver)

    def tick(self, driver: Driver) -> None:
        """Time passes: backoffs expire, unreachable instances time out,
        health and readiness checks fall due."""
        now = time.time()
        self.state.tick(now)
        # Ticks run on the actor's event loop, beside the Marathon server.
        loop = asyncio.get_running_loop()
        for probe in self.state.due_probes(now):
            running = loop.create_task(self._probe(probe))
            self._probes.add(running)
            running.add_done_callback(self._probes.discard)
        self._act(driver)

    def error(self, driver: Driver, message: str) -> None:
        # An operation the master dropped (its task, if any, comes back as
        # TASK_ERROR and is replaced like a failure).
        logger.warning("service framework: %s", message)

    # The client's calls.

    def deploy(self, definition: Mapping[str, Any] | str) -> str:
        return self._change(lambda now: self.state.deploy(definition, now))

    def update_app(self, definition: Mapping[str, Any] | str) -> str:
        return self._change(lambda now: self.state.update(definition, now))

    def scale(self, app_id: str, instances: int) -> str:
        return self._change(lambda now: self.state.scale(app_id, instances, now))

    def restart(self, app_id: str) -> str:
        return self._change(lambda now: self.state.restart(app_id, now))

    def remove(self, app_id: str) -> str:
        return self._change(lambda now: self.state.remove(app_id, now))

    def kill_tasks(self, task_ids: list[str], scale: bool) -> str | None:
        """Kill these tasks (replaced, unless `scale` lowers their apps'
        counts: the scale deployment's id is returned)."""
        deployment: str | None = None

        def change(now: float) -> str:
            nonlocal deployment
            deployment = self.state.kill_tasks(task_ids, scale, now)
            return ""

        self._change(change)
        return deployment

    def reset_delay(self, app_id: str) -> None:
        def change(now: float) -> str:
            self.state.reset_delay(app_id)
            return ""

        self._change(change)

    def cancel_deployment(self, deployment_id: str, rollback: bool) -> str | None:
        """Stop following a deployment; with `rollback`, a new one restores
        its app as it was (its id is returned)."""
        rolled_back: str | None = None

        def change(now: float) -> str:
            nonlocal rolled_back
            rolled_back = self.state.cancel_deployment(deployment_id, rollback, now)
            return ""

        self._change(change)
        return rolled_back

    def marathon_url(self) -> str:
        """Where Marathon's REST API answers."""
        return self.marathon.url

    def app(self, app_id: str) -> dict[str, Any]:
        return self.state.app_status(app_id)

    def apps(self) -> list[dict[str, Any]]:
        return self.state.apps_status()

    def metrics(self) -> dict[str, Any]:
        """Offers received and declined, tasks launched, whether offers are
        suppressed now."""
        return {**self.counters, "suppressed": self.suppressed}

    def service_port(self, app_id: str) -> int:
        return self.state.service_port(app_id)

    def stopping(self) -> None:
        """Stop HAProxy: it would outlive the actor."""
        for probe in self._probes:
            probe.cancel()
        self.balancer.stop()
        self.marathon.stop()
        self.store.close()

    # Carrying out decisions.

    async def _probe(self, probe: Probe) -> None:
        result = await health.run(probe)
        now = time.time()
        instance = self.state.instance(probe.task_id)
        was_healthy = None if instance is None else instance.healthy
        # Most results change nothing: act (and save) only on those that do.
        if not self.state.probe_result(probe, result, now) or self.driver is None:
            return
        if instance is not None and instance.healthy not in (None, was_healthy):
            self.marathon.bus.publish(health_event(instance, bool(instance.healthy), now))
        with self.driver.batch():
            self._act(self.driver)

    def _change(self, change: Callable[[float], str]) -> str:
        result: str = change(time.time())
        if self.driver is not None:
            with self.driver.batch():
                self._act(self.driver)
        else:
            self.marathon.api.publish_changes()
        return result

    def _act(self, driver: Driver, resync: bool = False) -> None:
        now = time.time()
        for task_id in self.state.take_kills():
            driver.kill(task_id, self.state.kill_grace(task_id))
        wants = self.state.wants_offers(now)
        grew = self.state.take_demand_grew()
        if wants and (self.suppressed or grew or resync):
            # Revive also clears the long filters of offers declined earlier.
            driver.revive()
            self.suppressed = False
        elif not wants and (resync or not self.suppressed):
            driver.suppress()
            self.suppressed = True
        self.balancer.update(self.state.frontends())
        self.marathon.api.publish_changes()
        self._save()

    def _save(self) -> None:
        data = {"frameworkId": self.framework_id, "state": self.state.to_json()}
        raw = orjson.dumps(data)
        if raw != self._saved:
            self.store.save(data)
            self._saved = raw
