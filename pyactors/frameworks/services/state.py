"""The service framework's decisions, as a plain state machine.

Given client calls (deploy, scale, restart, update, remove), offers, status
updates and the time (`now`, wall-clock seconds: it is also what `app()`
shows), it decides what to launch, kill, reserve and destroy. The scheduler
shell (`scheduler.py`) carries the decisions out; nothing here calls Ray.

Convergence, after every event, per app (Marathon's rules):

- Instances run the app's current `version`; a deploy, restart or update
  makes a new version and starts a deployment, which ends once every
  instance runs it and is healthy (RUNNING, and passing its health checks
  if it has any).
- Without old-version instances: missing ones are launched, extra ones
  killed (not-yet-healthy first, then by `killSelection`).
- With old-version instances (a rolling restart or update): unhealthy old
  ones are killed; healthy old ones only while the healthy count stays at
  least ceil(instances x minimumHealthCapacity); new ones are launched while
  the live count stays at most instances + floor(instances x
  maximumOverCapacity). When both bounds leave no room (1.0 and 0), one
  instance below full health is allowed, or nothing could move.
- An instance that ends without being asked to (failed, killed from
  outside, killed by the agent for failing its health check, lost) is
  replaced, after Marathon's launch backoff: `backoffSeconds` x
  `backoffFactor`^(failures in a row - 1), at most `maxLaunchDelaySeconds`.
  The count resets when an instance becomes healthy, when an instance that
  failed had run for `backoff_reset_seconds`, and on a new version.
- An unreachable instance is replaced after its app's
  `unreachableStrategy.inactiveAfterSeconds` and forgotten after
  `expungeAfterSeconds` (neither with "disabled").
- Resident apps (persistent volumes): each instance slot reserves its
  resources and creates its volumes on an agent (RESERVE + CREATE + LAUNCH
  in one accept), and its replacements launch there again, on the reserved
  resources with the same volumes. Removing the app destroys the volumes
  and unreserves (DESTROY + UNRESERVE) once their instances have ended.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pyactors._core import Resources
from pyactors.core.offer import OfferInfo
from pyactors.core.operations import Create, Destroy, Operation, Reserve, Unreserve, unreserved_form
from pyactors.core.tasks import TaskState, TaskStatus
from pyactors.errors import (
    DuplicateError,
    InvalidArgumentError,
    UnknownAppError,
    UnknownDeploymentError,
    UnknownTaskError,
)
from pyactors.frameworks.services import health
from pyactors.frameworks.services.app_definition import AppDefinition, normalize_app_id
from pyactors.frameworks.services.app_reader import parse_app
from pyactors.frameworks.services.constraints import Placement, meets_constraints
from pyactors.frameworks.services.health import Probe, ProbeResult
from pyactors.frameworks.services.model import (
    AppRecord,
    Deployment,
    Frontend,
    Instance,
    LaunchPlan,
    Resident,
    Volume,
    iso,
    volume_resources,
)
from pyactors.frameworks.services.offer_stats import (
    INSUFFICIENT_PORTS,
    UNFULFILLED_CONSTRAINT,
    UNFULFILLED_ROLE,
    OfferStats,
    insufficient,
)
from pyactors.frameworks.services.placement import (
    app_frontends,
    assign_service_ports,
    keep_service_ports,
    reserved_for,
    select_app_ports,
    task_environment,
)
from pyactors.frameworks.services.status import app_status

_LIVE = frozenset(
    {
        TaskState.TASK_STAGING,
        TaskState.TASK_STARTING,
        TaskState.TASK_RUNNING,
        TaskState.TASK_KILLING,
        TaskState.TASK_UNREACHABLE,
    }
)

# How long an unneeded offer is refused (Marathon's --decline_offer_duration).
DECLINE_SECONDS = 120.0


@dataclass
class OfferAnswer:
    """What to do with one offer: accept it with `operations` (each Launch
    carries the plans in `launches`), or decline it for `refuse_seconds`."""

    offer_id: str
    operations: list[Operation] = field(default_factory=list)
    launches: list[LaunchPlan] = field(default_factory=list)
    refuse_seconds: float = DECLINE_SECONDS


class ServiceState:
    def __init__(
        self,
        role: str = "services",
        seed: int = 0,
        decline_seconds: float = DECLINE_SECONDS,
        backoff_reset_seconds: float = 10.0,
    ) -> None:
        self.role = role
        self.decline_seconds = decline_seconds
        self.backoff_reset_seconds = backoff_reset_seconds
        self.apps: dict[str, AppRecord] = {}
        self._rng = random.Random(seed)
        self._serial = 0
        # Kills decided and not yet sent.
        self._kills: list[str] = []
        self._demand = 0
        self._demand_grew = False
        # Why each app waiting to launch did not use the offers it was given.
        self.offer_stats = OfferStats()

    # Client calls: each returns the deployment id.

    def deploy(self, definition: Mapping[str, Any] | str | AppDefinition, now: float) -> str:
        """Start a new app; DuplicateError if one has its id."""
        app = _parsed(definition)
        if app.id in self.apps:
            removing = " and is being removed" if self.apps[app.id].removing else ""
            raise DuplicateError(f"app {app.id} exists{removing}: update it instead")
        app = self._service_ports(app, None)
        record = AppRecord(app, self._version(now))
        record.remember(app)
        self.apps[app.id] = record
        return self._start_deployment(record, "deploy", now)

    def update(self, definition: Mapping[str, Any] | str | AppDefinition, now: float) -> str:
        """Replace an app's definition (a rolling update), or deploy it if new."""
        app = _parsed(definition)
        record = self.apps.get(app.id)
        if record is None or record.removing:
            if record is not None:
                raise InvalidArgumentError(f"app {app.id} is being removed")
            return self.deploy(app, now)
        if record.app.is_resident != app.is_resident:
            raise InvalidArgumentError(
                f"app {app.id}: persistent volumes cannot be added or removed by an update"
            )
        before = (record.version, record.app.instances)
        record.app = self._service_ports(app, record.app)
        record.version = self._version(now)
        record.remember(record.app)
        record.failures, record.delay_until = 0, 0.0
        return self._start_deployment(record, "update", now, before)

    def scale(self, app_id: str, instances: int, now: float) -> str:
        if isinstance(instances, bool) or not isinstance(instances, int) or instances < 0:
            raise InvalidArgumentError(f"instances must be a count >= 0, got {instances!r}")
        record = self._record(app_id)
        before = (record.version, record.app.instances)
        record.app = replace(record.app, instances=instances)
        return self._start_deployment(record, "scale", now, before)

    def restart(self, app_id: str, now: float) -> str:
        record = self._record(app_id)
        before = (record.version, record.app.instances)
        record.version = self._version(now)
        record.remember(record.app)
        record.failures, record.delay_until = 0, 0.0
        return self._start_deployment(record, "restart", now, before)

    def remove(self, app_id: str, now: float) -> str:
        record = self._record(app_id)
        before = (record.version, record.app.instances)
        record.removing = True
        record.app = replace(record.app, instances=0)
        return self._start_deployment(record, "remove", now, before)

    def kill_tasks(self, task_ids: Iterable[str], scale: bool, now: float) -> str | None:
        """Kill these instances (Marathon's task kill): they are replaced,
        unless `scale`, which lowers their apps' counts by as many (a scale
        deployment; its id is returned, with several apps the last one).
        UnknownTaskError (nothing killed) if one is no live instance."""
        chosen = []
        for task_id in dict.fromkeys(task_ids):
            instance = self._instance(task_id)
            if instance is None or instance.terminal or instance.kill_requested:
                raise UnknownTaskError(f"no live task {task_id!r} of any app")
            if self.apps[instance.app_id].removing:
                raise UnknownTaskError(f"task {task_id!r}: its app is being removed")
            chosen.append(instance)
        for instance in chosen:
            self._kill(instance)
        deployment = None
        if scale:
            for app_id in dict.fromkeys(i.app_id for i in chosen):
                record = self.apps[app_id]
                killed = sum(1 for i in chosen if i.app_id == app_id)
                before = (record.version, record.app.instances)
                record.app = replace(record.app, instances=max(0, before[1] - killed))
                deployment = self._start_deployment(record, "scale", now, before)
        self.converge(now)
        return deployment

    def reset_delay(self, app_id: str) -> None:
        """Launch again without waiting out the backoff (Marathon's
        DELETE /v2/queue/{app}/delay)."""
        record = self._record(app_id)
        record.failures, record.delay_until = 0, 0.0

    def cancel_deployment(self, deployment_id: str, rollback: bool, now: float) -> str | None:
        """Stop following a deployment. Without `rollback` its app keeps
        the definition it was going to (no longer locked); with it, a new
        deployment restores the version and count the app had before (or
        removes the app it created): its id is returned. UnknownDeploymentError
        if no deployment has that id."""
        found = [(r, d) for r, d in self.deployments() if d.id == deployment_id]
        if not found:
            raise UnknownDeploymentError(f"no deployment {deployment_id!r} is under way")
        [(record, deployment)] = found
        record.deployment = None
        if not rollback or deployment.original_version is None:
            return self.remove(record.app.id, now) if rollback else None
        record.removing = False
        instances = deployment.original_instances
        instances = record.app.instances if instances is None else instances
        if deployment.original_version == record.version:
            return self.scale(record.app.id, instances, now)
        original = record.history.get(deployment.original_version, record.app)
        return self.update(replace(original, instances=instances), now)

    def deployments(self) -> list[tuple[AppRecord, Deployment]]:
        """Every deployment under way, with its app."""
        return [
            (r, r.deployment)
            for r in sorted(self.apps.values(), key=lambda r: r.app.id)
            if r.deployment is not None
        ]

    def instance(self, task_id: str) -> Instance | None:
        """The instance with this task id, if an app has it."""
        return self._instance(task_id)

    def record(self, app_id: str) -> AppRecord:
        """The app's record (UnknownAppError if there is none)."""
        return self._record(app_id)

    # Events.

    def status(self, status: TaskStatus, now: float) -> None:
        """A task's update (unknown tasks are killed: leftovers of removed apps)."""
        instance = self._instance(status.task_id)
        if instance is None:
            if status.state in _LIVE:
                self._kills.append(status.task_id)
            return
        record = self.apps[instance.app_id]
        state = status.state
        if state is TaskState.TASK_UNKNOWN:
            state = TaskState.TASK_LOST
        if state is TaskState.TASK_UNREACHABLE:
            if instance.unreachable_since is None:
                instance.unreachable_since = now
            instance.state = state
        elif state.is_terminal:
            self._ended(record, instance, state, status.message, now)
        else:
            instance.unreachable_since = None
            definition = self._definition(record, instance)
            if state is TaskState.TASK_RUNNING and instance.started_at is None:
                instance.started_at = now
                health.watch(definition, instance, now)
            instance.state = state
            if status.healthy is not None:
                health.record_agent(definition, instance, status.healthy, status.message, now)
            self._judge_health(record, instance)
        self.converge(now)

    def due_probes(self, now: float) -> list[Probe]:
        """The health and readiness probes to run now (see `health.py`)."""
        return [
            probe
            for record in self.apps.values()
            for i in record.instances.values()
            if not i.terminal
            for probe in health.due(
                self._definition(record, i),
                i,
                record.deployment is not None and i.version == record.version,
                now,
            )
        ]

    def probe_result(self, probe: Probe, result: ProbeResult, now: float) -> bool:
        """A probe's result; a task that failed a check too often is killed
        (and replaced, as a failure). Whether that changed anything beyond
        the check's own record (health, readiness, a kill)."""
        instance = self._instance(probe.task_id)
        if instance is None or instance.terminal:
            return False
        record = self.apps[instance.app_id]
        definition = self._definition(record, instance)
        was = (instance.healthy, health.ready(definition, instance))
        killed = health.record(definition, instance, probe, result, now)
        if killed:
            self._kills.append(instance.task_id)
            health.stop(instance)
        self._judge_health(record, instance)
        self.converge(now)
        return killed or was != (instance.healthy, health.ready(definition, instance))

    def offers(self, offers: Sequence[OfferInfo], now: float) -> list[OfferAnswer]:
        """One answer per offer: launches (and reservations) for the apps
        that need instances and may launch now, declines for the rest."""
        self.converge(now)
        answers = []
        for offer in offers:
            answer = OfferAnswer(offer.id, refuse_seconds=self._refuse_seconds(now))
            left = offer.resources
            for record in self.apps.values():
                left = self._release(record, offer, left, answer)
                left = self._relaunch_residents(record, offer, left, answer, now)
                waiting = record.to_launch > 0 and now >= record.delay_until
                launched, unfit = False, None
                while record.to_launch > 0 and now >= record.delay_until:
                    placed = self._place(record, offer, left, answer, now)
                    if isinstance(placed, list):
                        unfit = None if launched else placed
                        break
                    left, launched = placed, True
                    record.to_launch -= 1
                if waiting:
                    self.offer_stats.processed(record.app.id, offer, unfit, now)
            answers.append(answer)
        self.converge(now)
        return answers

    def forget_tasks(self, now: float) -> None:
        """The framework registered under a new id: the tasks it knew were
        another framework's (torn down with it), so every instance is
        relaunched, without backoff."""
        for record in self.apps.values():
            record.instances.clear()
        self.converge(now)

    def tick(self, now: float) -> None:
        """Time passing: unreachable instances time out."""
        self.converge(now)

    def converge(self, now: float) -> None:
        """Decide kills and how many instances each app still needs."""
        demand = 0
        for record in list(self.apps.values()):
            self._converge_app(record, now)
            demand += record.to_launch + len(self._idle_residents(record))
        self._demand_grew = self._demand_grew or demand > self._demand
        self._demand = demand
        self.offer_stats.keep({a for a, r in self.apps.items() if r.to_launch > 0})
        for app_id in [a for a, r in self.apps.items() if r.removing and self._gone(r)]:
            del self.apps[app_id]

    # What the shell reads after each event.

    def take_kills(self) -> list[str]:
        kills, self._kills = list(dict.fromkeys(self._kills)), []
        return kills

    def kill_grace(self, task_id: str) -> float | None:
        """The `taskKillGracePeriodSeconds` the task was launched with (the
        version it runs, as its kill policy says; None: none given, or no
        app's task)."""
        instance = self._instance(task_id)
        if instance is None:
            return None
        return self._definition(self.apps[instance.app_id], instance).taskKillGracePeriodSeconds

    def wants_offers(self, now: float) -> bool:
        """Whether some app may launch (or release volumes) now."""
        return any(
            (r.to_launch > 0 and now >= r.delay_until)
            or self._idle_residents(r)
            or self._releasable(r)
            for r in self.apps.values()
        )

    def take_demand_grew(self) -> bool:
        """Whether more instances became needed since last asked (offers
        refused earlier may fit now: the shell revives)."""
        grew, self._demand_grew = self._demand_grew, False
        return grew

    def live_tasks(self) -> dict[str, str]:
        """Task id -> agent id of every instance not known to have ended."""
        return {
            i.task_id: i.agent_id
            for r in self.apps.values()
            for i in r.instances.values()
            if not i.terminal
        }

    def frontends(self) -> list[Frontend]:
        """Each service port and the endpoints serving it: instances of the
        current or an old version that are healthy (or running, for an app
        without health checks)."""
        return [
            frontend
            for record in sorted(self.apps.values(), key=lambda r: r.app.id)
            for frontend in app_frontends(
                record.app,
                [(i.host, i.ports) for i in record.instances.values() if self._healthy(record, i)],
            )
        ]

    def service_port(self, app_id: str) -> int:
        record = self._record(app_id)
        ports = [d.port for d in record.app.portDefinitions if d.port]
        if not ports:
            raise InvalidArgumentError(f"app {record.app.id} has no service port")
        return ports[0]

    def app_status(self, app_id: str) -> dict[str, Any]:
        """The app as Marathon's /v2/apps/<id> shows it."""
        return app_status(self._record(app_id))

    def apps_status(self) -> list[dict[str, Any]]:
        return [app_status(r) for r in sorted(self.apps.values(), key=lambda r: r.app.id)]

    # Persistence.

    def to_json(self) -> dict[str, Any]:
        version, internal, gauss = self._rng.getstate()
        return {
            "serial": self._serial,
            # Task ids come from it: a restarted framework must not repeat them.
            "rng": [version, list(internal), gauss],
            "apps": [r.to_json() for r in self.apps.values()],
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Take back what `to_json` saved (a restarted framework)."""
        self._serial = int(data["serial"])
        version, internal, gauss = data["rng"]
        self._rng.setstate((version, tuple(internal), gauss))
        self.apps = {}
        for raw in data["apps"]:
            record = AppRecord.from_json(raw)
            self.apps[record.app.id] = record

    # Convergence.

    def _converge_app(self, record: AppRecord, now: float) -> None:
        app = record.app
        strategy = app.unreachableStrategy
        for instance in list(record.instances.values()):
            since = instance.unreachable_since
            if since is None or strategy is None:
                continue
            if now - since >= strategy.expungeAfterSeconds:
                # Forgotten: if it comes back, it is an unknown task (killed).
                del record.instances[instance.task_id]
            elif now - since >= strategy.inactiveAfterSeconds and not instance.kill_requested:
                self._kill(instance)
        alive = [i for i in record.instances.values() if not i.terminal and not self._inactive(i)]
        active = [i for i in alive if not i.kill_requested]
        new = [i for i in active if i.version == record.version]
        old = [i for i in active if i.version != record.version]
        target = app.instances
        if record.removing:
            for instance in active:
                self._kill(instance)
            record.to_launch = 0
        elif not old:
            for instance in self._kill_order(record, new)[: max(0, len(new) - target)]:
                self._kill(instance)
            record.to_launch = max(0, target - len(new))
        else:
            minimum = math.ceil(target * app.upgradeStrategy.minimumHealthCapacity)
            maximum = target + math.floor(target * app.upgradeStrategy.maximumOverCapacity)
            if maximum <= target and minimum >= target:
                minimum = target - 1
            for instance in old:
                if not self._healthy(record, instance):
                    self._kill(instance)
            healthy = sum(1 for i in active if self._counted(record, i))
            for instance in self._kill_order(record, [i for i in old if not i.kill_requested]):
                if healthy - 1 < minimum:
                    break
                self._kill(instance)
                healthy -= 1
            for instance in self._kill_order(record, new)[: max(0, len(new) - target)]:
                self._kill(instance)
            record.to_launch = max(0, min(target - len(new), maximum - len(alive)))
        if app.is_resident:
            # Replacements go to the slots' agents; new slots only up to the count.
            idle = len(self._idle_residents(record))
            record.to_launch = max(0, min(record.to_launch - idle, target - len(record.residents)))
        if record.deployment is not None and self._converged(record):
            record.deployment = None

    def _converged(self, record: AppRecord) -> bool:
        alive = [i for i in record.instances.values() if not i.terminal]
        if record.removing:
            return not alive
        return (
            len(alive) == record.app.instances
            and all(i.version == record.version for i in alive)
            and all(self._counted(record, i) for i in alive)
        )

    def _kill_order(self, record: AppRecord, instances: Iterable[Instance]) -> list[Instance]:
        """Which to kill first: not yet healthy ones, then by killSelection."""
        youngest_first = record.app.killSelection == "YOUNGEST_FIRST"
        return sorted(
            instances,
            key=lambda i: (
                self._healthy(record, i),
                -i.launched_at if youngest_first else i.launched_at,
                i.task_id,
            ),
        )

    def _definition(self, record: AppRecord, instance: Instance) -> AppDefinition:
        """The definition the instance was launched with (its checks and ports)."""
        return record.history.get(instance.version, record.app)

    def _judge_health(self, record: AppRecord, instance: Instance) -> None:
        was = instance.healthy
        instance.healthy = health.healthy(self._definition(record, instance), instance)
        if instance.healthy is True and was is not True:
            record.failures, record.delay_until = 0, 0.0

    def _counted(self, record: AppRecord, instance: Instance) -> bool:
        """Healthy, and ready if a deployment of its version is under way."""
        if not self._healthy(record, instance):
            return False
        deploying = record.deployment is not None and instance.version == record.version
        return not deploying or health.ready(self._definition(record, instance), instance)

    def _healthy(self, record: AppRecord, instance: Instance) -> bool:
        if instance.state is not TaskState.TASK_RUNNING or instance.kill_requested:
            return False
        return instance.healthy is True or not record.app.healthChecks

    def _inactive(self, instance: Instance) -> bool:
        """Unreachable, and replaced (its kill is requested)."""
        return instance.unreachable_since is not None and instance.kill_requested

    def _kill(self, instance: Instance) -> None:
        instance.kill_requested = True
        self._kills.append(instance.task_id)

    def _ended(
        self, record: AppRecord, instance: Instance, state: TaskState, message: str, now: float
    ) -> None:
        instance.state = state
        del record.instances[instance.task_id]
        if instance.kill_requested or record.removing:
            return
        ran = None if instance.started_at is None else now - instance.started_at
        if ran is not None and ran >= self.backoff_reset_seconds:
            record.failures = 0
        record.failures += 1
        record.delay_until = now + record.app.launch_delay(record.failures)
        record.last_failure = {
            "appId": record.app.id,
            "taskId": instance.task_id,
            "agentId": instance.agent_id,
            "host": instance.host,
            "state": state.value,
            "message": message,
            "timestamp": iso(now),
            "version": instance.version,
        }

    # Offers.

    def _refuse_seconds(self, now: float) -> float:
        waits = [
            r.delay_until - now
            for r in self.apps.values()
            if r.to_launch > 0 and r.delay_until > now
        ]
        return max(0.5, min([self.decline_seconds, *waits]))

    def _place(
        self, record: AppRecord, offer: OfferInfo, left: Resources, answer: OfferAnswer, now: float
    ) -> Resources | list[str]:
        """Launch one instance from what is left of the offer; what is left
        after it, or why it does not fit there (`offer_stats.REASONS`)."""
        app = record.app
        # A resident instance counts where its slot is, once.
        placed: list[Placement] = [
            (i.host, i.attributes)
            for i in record.instances.values()
            if not i.terminal and i.slot is None
        ]
        placed += [(r.host, r.attributes) for r in record.residents.values()]
        if not meets_constraints(app.constraints, offer.hostname, offer.attributes, placed):
            return [UNFULFILLED_CONSTRAINT, *insufficient(app.resources(), left)]
        resident = None
        needed = app.resources()
        operations: list[Operation] = []
        if app.is_resident:
            resident = self._new_resident(record, offer)
            needed = unreserved_form(resident.reserved)
            operations = [
                Reserve(resident.reserved),
                Create(volume_resources(resident.volumes)),
            ]
        if not needed <= left:
            return insufficient(needed, left) or [UNFULFILLED_ROLE]
        ports = select_app_ports(app, left - needed, self._rng)
        if ports is None:
            return [INSUFFICIENT_PORTS]
        resources = needed
        if resident is not None:
            record.residents[resident.slot] = resident
            resources = resident.task_resources()
        answer.operations += operations
        self._launch(record, offer, resources + ports.resources, ports.ports, answer, now, resident)
        return left - needed - ports.resources

    def _relaunch_residents(
        self, record: AppRecord, offer: OfferInfo, left: Resources, answer: OfferAnswer, now: float
    ) -> Resources:
        """Slots on this agent with no live instance: launch on their
        reservation, with their volumes."""
        if record.removing or now < record.delay_until:
            return left
        for resident in self._idle_residents(record):
            if resident.agent_id != offer.agent_id:
                continue
            resources = resident.task_resources()
            if not resources <= left:
                continue
            ports = select_app_ports(record.app, left - resources, self._rng)
            if ports is None:
                continue
            self._launch(
                record, offer, resources + ports.resources, ports.ports, answer, now, resident
            )
            left = left - resources - ports.resources
        return left

    def _release(
        self, record: AppRecord, offer: OfferInfo, left: Resources, answer: OfferAnswer
    ) -> Resources:
        """A removed app's slots on this agent, once their instances ended:
        DESTROY the volumes, UNRESERVE the rest."""
        for resident in self._releasable(record):
            if resident.agent_id != offer.agent_id:
                continue
            volumes = volume_resources(resident.volumes)
            held = resident.task_resources()
            if not held <= left:
                continue
            answer.operations += [Destroy(volumes), Unreserve(resident.reserved)]
            del record.residents[resident.slot]
            left = left - held
        return left

    def _releasable(self, record: AppRecord) -> list[Resident]:
        if not record.removing or any(not i.terminal for i in record.instances.values()):
            return []
        return list(record.residents.values())

    def _idle_residents(self, record: AppRecord) -> list[Resident]:
        if record.removing:
            return []
        busy = {
            i.slot for i in record.instances.values() if not i.terminal and not i.kill_requested
        }
        slots = sorted(record.residents.values(), key=lambda r: r.slot)
        idle = [r for r in slots if r.slot not in busy]
        live = len(busy)
        return idle[: max(0, record.app.instances - live)]

    def _gone(self, record: AppRecord) -> bool:
        return not record.instances and not record.residents

    def _new_resident(self, record: AppRecord, offer: OfferInfo) -> Resident:
        app = record.app
        slot = self._task_id_prefix(app.id) + "." + self._hex()
        volumes = [
            Volume(
                v.containerPath,
                f"{slot}.v{index}",
                Resources.parse(f"disk({self.role})[{slot}.v{index}]:{v.size}"),
            )
            for index, v in enumerate(app.volumes)
        ]
        plain_disk, _ = Create(volume_resources(volumes)).conversion()
        reserved = reserved_for(app.resources(), self.role) + plain_disk
        return Resident(
            slot, offer.agent_id, offer.hostname, dict(offer.attributes), reserved, volumes
        )

    def _launch(
        self,
        record: AppRecord,
        offer: OfferInfo,
        resources: Resources,
        ports: tuple[int, ...],
        answer: OfferAnswer,
        now: float,
        resident: Resident | None,
    ) -> None:
        app = record.app
        prefix = resident.slot if resident is not None else self._task_id_prefix(app.id)
        task_id = f"{prefix}.{self._hex()}"
        env = task_environment(app, offer.hostname, ports, record.version)
        volumes = (
            ()
            if resident is None
            else tuple((v.container_path, v.persistence_id) for v in resident.volumes)
        )
        answer.launches.append(
            LaunchPlan(task_id, app, offer.agent_id, offer.hostname, ports, resources, env, volumes)
        )
        record.instances[task_id] = Instance(
            task_id,
            app.id,
            record.version,
            offer.agent_id,
            offer.hostname,
            dict(offer.attributes),
            ports,
            launched_at=now,
            slot=None if resident is None else resident.slot,
        )

    # Helpers.

    def _record(self, app_id: str) -> AppRecord:
        try:
            key = normalize_app_id(app_id)
        except (ValueError, AttributeError):
            raise UnknownAppError(f"no app {app_id!r}: app ids are paths such as /web") from None
        record = self.apps.get(key)
        if record is None or record.removing:
            raise UnknownAppError(f"no app {key} (apps: {', '.join(sorted(self.apps)) or 'none'})")
        return record

    def _instance(self, task_id: str) -> Instance | None:
        for record in self.apps.values():
            instance = record.instances.get(task_id)
            if instance is not None:
                return instance
        return None

    def _service_ports(self, app: AppDefinition, previous: AppDefinition | None) -> AppDefinition:
        in_use = {
            d.port for r in self.apps.values() if r.app.id != app.id for d in r.app.portDefinitions
        }
        return assign_service_ports(keep_service_ports(app, previous), in_use - {0})

    def _start_deployment(
        self, record: AppRecord, kind: str, now: float, before: tuple[str, int] | None = None
    ) -> str:
        """`before`: the version and count the app had (None: a new app)."""
        original = before or (None, None)
        deployment = Deployment(self._uuid(), record.app.id, kind, record.version, now, *original)
        record.deployment = deployment
        self.converge(now)
        return deployment.id

    def _version(self, now: float) -> str:
        """A new version: as Marathon's, the time it was made (one
        millisecond later than the last if the clock has not moved on)."""
        self._serial = max(self._serial + 1, int(now * 1000))
        return str(iso(self._serial / 1000))

    def _hex(self) -> str:
        return f"{self._rng.getrandbits(64):016x}"

    def _uuid(self) -> str:
        bits = f"{self._rng.getrandbits(128):032x}"
        return f"{bits[:8]}-{bits[8:12]}-{bits[12:16]}-{bits[16:20]}-{bits[20:]}"

    @staticmethod
    def _task_id_prefix(app_id: str) -> str:
        return app_id.strip("/").replace("/", "_")


def _parsed(definition: Mapping[str, Any] | str | AppDefinition) -> AppDefinition:
    return definition if isinstance(definition, AppDefinition) else parse_app(definition)
