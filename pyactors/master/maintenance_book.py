"""The master's maintenance primitives (Mesos's /maintenance/schedule,
/machine/down, /machine/up and inverse offers): the `Schedule` and the
`InverseOffers` of `pyactors.master.maintenance`, the master's agents on
the scheduled machines, and the effects each change has.

The schedule is stored in the registry before it is taken (a failed write
ends the leader's term); inverse offers and the frameworks' answers are
not stored (Mesos clears them on failover too: a new leader sends new
ones). Each operator call checks its ACL for every machine it changes
(update_maintenance_schedules: those it schedules or takes out;
start_maintenances, stop_maintenances: those it names; the reads
get_maintenance_schedules and get_maintenance_statuses leave out the
machines the caller may not see), the object being the machine's hostname
(its IP when it names none).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping

from pyactors.core import offer
from pyactors.core.offer import InverseOfferInfo
from pyactors.core.protocol import (
    Effect,
    KillTasks,
    RescindInverseOffers,
    SendInverseOffers,
    SendOffers,
)
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.master.maintenance import (
    Answer,
    InverseOffer,
    InverseOffers,
    InverseOfferStatus,
    MachineId,
    Mode,
    Schedule,
    Unavailability,
    Window,
)
from pyactors.master.offers import Offering
from pyactors.master.records import AgentRecord, FrameworkRecord
from pyactors.master.registry import Registry, RegistrySnapshot
from pyactors.master.registry_records import MaintenanceScheduleEntry
from pyactors.master.task_book import TaskBook
from pyactors.security.acls import Acls


def machine_object(machine: MachineId) -> str:
    """What the maintenance ACLs' `machines` entities name."""
    return machine.hostname or machine.ip


def offered_unavailability(unavailability: Unavailability) -> offer.Unavailability:
    """The nanoseconds Mesos's JSON carries, as a Python scheduler reads them."""
    duration = unavailability.duration
    return offer.Unavailability(
        unavailability.start / 1e9, None if duration is None else duration / 1e9
    )


class MaintenanceBook:
    def __init__(
        self,
        registry: Registry,
        agents: Mapping[str, AgentRecord],
        frameworks: Mapping[str, FrameworkRecord],
        tasks: TaskBook,
        offering: Offering,
        acls: Acls,
        prefix: str,
    ) -> None:
        self.registry = registry
        self.agents = agents
        self.frameworks = frameworks
        self.tasks = tasks
        self.offering = offering
        self.acls = acls
        self.schedule = Schedule()
        self.inverse = InverseOffers(prefix)

    def restore(self, snapshot: RegistrySnapshot) -> None:
        """A new leader takes the stored schedule and DOWN machines."""
        if snapshot.maintenance_schedule is not None:
            self.schedule = snapshot.maintenance_schedule.read()

    # ------------------------------------------------------------ reads

    def machine_of(self, agent: AgentRecord) -> MachineId | None:
        return self.schedule.machine_of(agent.hostname)

    def refuses(self, hostname: str) -> bool:
        """Agents may not register while their machine is DOWN."""
        machine = self.schedule.machine_of(hostname)
        return machine is not None and self.schedule.mode(machine) is Mode.DOWN

    def unavailability(self, hostname: str) -> offer.Unavailability | None:
        """What an offer from an agent of this hostname carries."""
        machine = self.schedule.machine_of(hostname)
        found = None if machine is None else self.schedule.unavailability(machine)
        return None if found is None else offered_unavailability(found)

    def agents_on(self, machine: MachineId) -> list[AgentRecord]:
        return [a for a in self.agents.values() if machine.holds(a.hostname)]

    def visible(self, action: str, principal: str | None, machine: MachineId) -> bool:
        return self.acls.allows(action, principal, machine_object(machine))

    def schedule_json(self, principal: str | None) -> dict[str, object]:
        """GET_MAINTENANCE_SCHEDULE: the machines the caller may see."""
        windows = []
        for window in self.schedule.windows:
            seen = tuple(
                m
                for m in window.machine_ids
                if self.visible("get_maintenance_schedules", principal, m)
            )
            if seen:
                windows.append(Window(seen, window.unavailability))
        return Schedule(tuple(windows)).to_json()

    def status_json(self, principal: str | None, wall_offset: float) -> dict[str, object]:
        """GET_MAINTENANCE_STATUS (Mesos's ClusterStatus): DRAINING machines
        with the latest answers of the frameworks on their agents, DOWN
        machines. `wall_offset` moves the master's clock to the epoch."""
        draining, down = [], []
        for machine, _ in self.schedule.machines():
            if not self.visible("get_maintenance_statuses", principal, machine):
                continue
            if self.schedule.mode(machine) is Mode.DOWN:
                down.append(machine.to_json())
                continue
            answers = [
                _answer_json(answer, wall_offset)
                for agent in self.agents_on(machine)
                for answer in self.inverse.statuses(agent.agent_id)
            ]
            draining.append({"id": machine.to_json(), "statuses": answers})
        body: dict[str, object] = {}
        if draining:
            body["draining_machines"] = draining
        if down:
            body["down_machines"] = down
        return body

    # ------------------------------------------------------------ operator

    def update_schedule(self, windows: tuple[Window, ...], principal: str | None) -> list[Effect]:
        """UPDATE_MAINTENANCE_SCHEDULE: checked whole, stored, taken (`_take`)."""
        updated = self.schedule.updated(windows)
        # Mesos checks the machines of the new schedule; those it takes out
        # change too, so they are checked as well.
        touched = {m for m, _ in updated.machines()} | {m for m, _ in self.schedule.machines()}
        for machine in sorted(touched):
            self._check("update_maintenance_schedules", principal, machine)
        return self._take(updated)

    def start(self, machines: tuple[MachineId, ...], principal: str | None) -> list[AgentRecord]:
        """START_MAINTENANCE (/machine/down): the machines are DOWN (stored);
        returns their agents, which the master removes (rescinding their
        offers and inverse offers as it does)."""
        started = self.schedule.started(machines)
        for machine in machines:
            self._check("start_maintenances", principal, machine)
        self._store(started)
        return [a for m in machines for a in self.agents_on(m)]

    def stop(self, machines: tuple[MachineId, ...], principal: str | None) -> list[Effect]:
        """STOP_MAINTENANCE (/machine/up): the machines are UP, out of the
        schedule; their agents may register again."""
        stopped = self.schedule.stopped(machines)
        for machine in machines:
            self._check("stop_maintenances", principal, machine)
        return self._take(stopped)

    def _check(self, action: str, principal: str | None, machine: MachineId) -> None:
        self.acls.check(action, principal, machine_object(machine))

    def _store(self, schedule: Schedule) -> list[str]:
        """Store the schedule, then take it; the agents whose mode or
        unavailability it changed."""
        self.registry.put(MaintenanceScheduleEntry(schedule.record()))
        before = self.schedule
        self.schedule = schedule
        return [
            agent.agent_id
            for agent in self.agents.values()
            if _window(before, agent) != _window(schedule, agent)
        ]

    def _take(self, schedule: Schedule) -> list[Effect]:
        """Store and take the schedule. As Mesos's master does, the
        outstanding offers and inverse offers of agents whose unavailability
        changed or ended are rescinded: the next ones tell the new one."""
        changed = self._store(schedule)
        stale = [offer for a in changed for offer in self.offering.book.take_agent(a)]
        ended = [inverse for a in changed for inverse in self.inverse.end_agent(a)]
        return self.offering.rescind(stale) + _rescinds(ended)

    def removal(self, agent: AgentRecord, now: float) -> tuple[list[Effect], list[TaskStatus]]:
        """What removing an agent of a DOWN machine does to its live tasks:
        the kills its agent is sent (Mesos's ShutdownMessage) and the
        TASK_LOST updates their frameworks get. Every framework's, as Mesos's
        master removes the agent (`Master::_removeSlave`: TASK_LOST,
        REASON_SLAVE_REMOVED, partition-aware or not); TASK_GONE_BY_OPERATOR
        is only MARK_AGENT_GONE's (`Master::__removeSlave`)."""
        kills: dict[str, list[str]] = defaultdict(list)
        lost = []
        for record in self.tasks.on_agent(agent.agent_id):
            kills[record.framework_id].append(record.task.task_id)
            lost.append(
                TaskStatus(
                    record.task.task_id,
                    TaskState.TASK_LOST,
                    Source.SOURCE_MASTER,
                    now,
                    agent_id=agent.agent_id,
                    reason=Reason.REASON_AGENT_REMOVED,
                    message=f"Agent {agent.hostname} removed: Operator initiated 'Machine DOWN'",
                    uuid=None,
                )
            )
        effects: list[Effect] = [
            KillTasks(agent.agent_id, f, ids, None, Reason.REASON_AGENT_REMOVED)
            for f, ids in kills.items()
        ]
        return effects if agent.reachable else [], lost

    def with_unavailability(self, effects: list[Effect]) -> list[Effect]:
        """Offers from agents of scheduled machines carry the machine's
        unavailability, as Mesos's master sets it on each offer."""
        if not self.schedule.windows:
            return effects
        marked: list[Effect] = []
        for effect in effects:
            if isinstance(effect, SendOffers):
                effect = SendOffers(
                    effect.framework_id,
                    [
                        dataclasses.replace(o, unavailability=self.unavailability(o.hostname))
                        for o in effect.offers
                    ],
                )
            marked.append(effect)
        return marked

    # ------------------------------------------------------------ inverse offers

    def make(self, now: float) -> list[Effect]:
        """One allocation cycle's inverse offers: each connected framework
        holding resources (offered or allocated) on an agent of a DRAINING
        machine gets one for it, unless one is outstanding or filtered."""
        draining = self.schedule.draining()
        if not draining:
            return []
        on_draining: dict[str, tuple[str, Unavailability]] = {}
        for agent in self.agents.values():
            machine = self.machine_of(agent)
            if agent.reachable and agent.disconnected_at is None and machine in draining:
                on_draining[agent.agent_id] = (agent.hostname, draining[machine])
        holders: dict[str, set[str]] = defaultdict(set)
        # One pass over the live tasks, not one per draining agent.
        for record in self.tasks.live.values():
            if record.agent_id in on_draining and not record.state.is_terminal:
                holders[record.agent_id].add(record.framework_id)
        for held in self.offering.book:
            if held.agent_id in on_draining:
                holders[held.agent_id].add(held.framework_id)
        for framework_ids in holders.values():
            framework_ids.intersection_update(
                f for f, record in self.frameworks.items() if record.connected
            )
        made: dict[str, list[InverseOfferInfo]] = defaultdict(list)
        for inverse in self.inverse.make(on_draining, holders, now):
            made[inverse.framework_id].append(_info(inverse))
        return [SendInverseOffers(f, offers) for f, offers in made.items()]

    def answer(
        self,
        framework_id: str,
        inverse_offer_ids: list[str],
        accept: bool,
        refuse_seconds: float | None,
        now: float,
    ) -> list[Effect]:
        status = InverseOfferStatus.ACCEPT if accept else InverseOfferStatus.DECLINE
        self.inverse.answer(framework_id, inverse_offer_ids, status, refuse_seconds, now)
        return []

    def expire(self, now: float, timeout: float) -> list[Effect]:
        return _rescinds(self.inverse.expired(now, timeout))

    def agent_gone(self, agent_id: str) -> list[Effect]:
        return _rescinds(self.inverse.end_agent(agent_id))

    def framework_gone(self, framework_id: str) -> None:
        """Disconnected or removed: nobody to tell; new ones when it is back."""
        self.inverse.end_framework(framework_id)


def _window(schedule: Schedule, agent: AgentRecord) -> tuple[Mode, Unavailability | None]:
    machine = schedule.machine_of(agent.hostname)
    if machine is None:
        return Mode.UP, None
    return schedule.mode(machine), schedule.unavailability(machine)


def _info(inverse: InverseOffer) -> InverseOfferInfo:
    return InverseOfferInfo(
        inverse.id,
        inverse.framework_id,
        inverse.agent_id,
        inverse.hostname,
        offered_unavailability(inverse.unavailability),
    )


def _rescinds(ended: Iterable[InverseOffer]) -> list[Effect]:
    by_framework: dict[str, list[str]] = defaultdict(list)
    for inverse in ended:
        by_framework[inverse.framework_id].append(inverse.id)
    return [RescindInverseOffers(f, ids) for f, ids in by_framework.items()]


def _answer_json(answer: Answer, wall_offset: float) -> dict[str, object]:
    return {
        "status": answer.status.value,
        "framework_id": {"value": answer.framework_id},
        "timestamp": {"nanoseconds": int((answer.at + wall_offset) * 1e9)},
    }
