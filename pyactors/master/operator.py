"""The operator's calls on the master (the HTTP API's and the cluster
handle's): role weights and quotas, dynamic reservations and persistent
volumes on an agent's available resources, maintenance (draining an agent
and reactivating it), and killing a task.

Each call takes the caller's principal (None: an unauthenticated caller)
and checks the call's ACL (`pyactors.security.acls`) before anything
changes: kill_tasks (object: the task's framework's principal),
update_weights and update_quotas (the role), reserve_resources,
unreserve_resources, create_volumes and destroy_volumes (each role the
resources are reserved for), drain_agents (the agent; reactivating too).

Each call is checked whole before anything changes, and what it sets is
stored in the registry before it is applied: a new leader restores it
(`restore`), and a failed write ends this leader's term.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from pyactors._core import Resources
from pyactors.core.allocator import Allocator
from pyactors.core.operations import (
    Create,
    Destroy,
    Unreserve,
    reservation_roles,
    unreserved_form,
)
from pyactors.core.protocol import Effect, KillTasks
from pyactors.core.quota import quota_quantities
from pyactors.core.tasks import Reason, TaskState
from pyactors.errors import InvalidArgumentError, InvalidRecordError, UnknownTaskError
from pyactors.master.agent_store import AgentStore
from pyactors.master.offers import Offering
from pyactors.master.records import AgentRecord, FrameworkRecord, known_agent, known_framework
from pyactors.master.registry import Registry, RegistrySnapshot
from pyactors.master.registry_records import (
    Key,
    Kind,
    MaintenanceEntry,
    QuotaEntry,
    WeightEntry,
)
from pyactors.master.task_book import TaskBook
from pyactors.security.acls import Acls


class Operator:
    def __init__(
        self,
        registry: Registry,
        allocator: Allocator,
        agents: Mapping[str, AgentRecord],
        frameworks: Mapping[str, FrameworkRecord],
        tasks: TaskBook,
        offering: Offering,
        store: AgentStore,
        acls: Acls,
    ) -> None:
        self.registry = registry
        self.acls = acls
        self.allocator = allocator
        self.agents = agents
        self.frameworks = frameworks
        self.tasks = tasks
        self.offering = offering
        self.store = store
        self.weights: dict[str, float] = {}
        self.quotas: dict[str, QuotaEntry] = {}
        # Agents under maintenance: no offers, their tasks killed.
        self.maintenance: dict[str, MaintenanceEntry] = {}

    def restore(self, snapshot: RegistrySnapshot) -> None:
        """A new leader takes the stored weights, quotas and maintenance
        (agents under maintenance are drained again as they come back)."""
        for role, weight in snapshot.weights.items():
            self.allocator.set_weight(role, weight)
        for quota in snapshot.quotas.values():
            self.allocator.set_quota(quota.role, quota.guarantee, quota.limit)
        self.weights, self.quotas = dict(snapshot.weights), dict(snapshot.quotas)
        self.maintenance = dict(snapshot.maintenance)

    # ------------------------------------------------------------ weights, quota

    def set_weight(self, role: str, weight: float) -> None:
        """Stored, then applied; checked first by the allocator's own rules
        (on a scratch allocator), so the registry never holds a weight the
        allocator refuses."""
        Allocator().set_weight(role, weight)
        self.registry.put(WeightEntry(role, weight))
        self.allocator.set_weight(role, weight)
        self.weights[role] = weight

    def set_weights(
        self, weights: Sequence[tuple[str, float]], principal: str | None = None
    ) -> None:
        """Several roles' weights, all checked before any is stored."""
        for role, _ in weights:
            self.acls.check("update_weights", principal, role)
        scratch = Allocator()
        for role, weight in weights:
            scratch.set_weight(role, weight)
        for role, weight in weights:
            self.set_weight(role, weight)

    def set_quota(
        self, role: str, guarantee: str, limit: str | None = None, principal: str | None = None
    ) -> None:
        """A role's quota as resource text, stored, then applied; an empty
        guarantee without a limit removes it (and its record)."""
        self.acls.check("update_quotas", principal, role)
        Allocator().set_quota(role, guarantee, limit)
        removes = not any(quota_quantities(guarantee, "guarantee").values()) and limit is None
        if removes:
            if role in self.quotas:
                self.registry.remove(Key(Kind.QUOTA, role))
            self.quotas.pop(role, None)
        else:
            entry = QuotaEntry(role, guarantee, limit)
            self.registry.put(entry)
            self.quotas[role] = entry
        self.allocator.set_quota(role, guarantee, limit)

    # ------------------------------------------------------------ tasks

    def kill(
        self, task_id: str, framework_id: str | None, now: float, principal: str | None = None
    ) -> list[Effect]:
        """Kill a live task (its framework named or not); an unknown task,
        or one of another framework, is refused."""
        record = self.tasks.find(task_id)
        if framework_id is not None:
            known_framework(self.frameworks, framework_id)
        if record is None or framework_id not in (None, record.framework_id):
            raise UnknownTaskError(
                f"unknown task '{task_id}'" + (f" of '{framework_id}'" if framework_id else "")
            )
        if record.state.is_terminal:
            raise InvalidArgumentError(f"task '{task_id}' is already {record.state.value}")
        if record.state is TaskState.TASK_UNREACHABLE:
            raise InvalidArgumentError(f"task '{task_id}' is on an unreachable agent")
        owner = self.frameworks.get(record.framework_id)
        self.acls.check("kill_tasks", principal, None if owner is None else owner.principal)
        return self.tasks.kill(record.framework_id, task_id, now)

    # ------------------------------------------------------------ reservations, volumes

    def reserve(self, agent_id: str, resources: Resources, principal: str | None = None) -> None:
        """RESERVE: part of what the agent has available (neither offered
        nor allocated) becomes reserved as `resources` says (e.g.
        "cpus(web):1"). Checked whole first; the agent's total follows and
        the reservation is stored."""
        agent = self._operable(agent_id, resources, "reserve")
        self._check_roles("reserve_resources", principal, resources)
        self._convert(agent, unreserved_form(resources), resources)

    def unreserve(self, agent_id: str, resources: Resources, principal: str | None = None) -> None:
        """UNRESERVE of available dynamically reserved resources (not
        volumes, not the agent's static reservations)."""
        agent = self._operable(agent_id, resources, "unreserve")
        self._check_roles("unreserve_resources", principal, resources)
        if any("disk" in item for item in resources.to_json()):
            raise InvalidArgumentError(f"unreserve: {resources} holds volumes: destroy them first")
        dynamic = self.store.reservations.get(agent_id) or Resources()
        if not resources <= dynamic:
            raise InvalidArgumentError(
                f"unreserve: {resources} is not among agent '{agent_id}'s dynamic "
                f"reservations ({dynamic or 'none'})"
            )
        self._convert(agent, *Unreserve(resources).conversion())

    def create_volumes(
        self, agent_id: str, volumes: Resources, principal: str | None = None
    ) -> None:
        """CREATE of persistent volumes (reserved disk with a volume id)
        from the agent's available reserved disk."""
        agent = self._operable(agent_id, volumes, "create volumes")
        self._check_roles("create_volumes", principal, volumes)
        self._convert(agent, *Create(volumes).conversion())

    def destroy_volumes(
        self, agent_id: str, volumes: Resources, principal: str | None = None
    ) -> None:
        """DESTROY of persistent volumes no task uses."""
        agent = self._operable(agent_id, volumes, "destroy volumes")
        self._check_roles("destroy_volumes", principal, volumes)
        self._convert(agent, *Destroy(volumes).conversion())

    def _check_roles(self, action: str, principal: str | None, resources: Resources) -> None:
        for role in reservation_roles(resources):
            self.acls.check(action, principal, role)

    def _operable(self, agent_id: str, resources: Resources, what: str) -> AgentRecord:
        agent = known_agent(self.agents, agent_id)
        if not agent.reachable:
            raise InvalidArgumentError(f"{what}: agent '{agent_id}' is unreachable")
        if not resources:
            raise InvalidArgumentError(f"{what}: no resources given")
        if resources.reserved() != resources:
            raise InvalidArgumentError(
                f"{what}: every resource must name its role, got {resources}"
            )
        return agent

    def _convert(self, agent: AgentRecord, consumed: Resources, converted: Resources) -> None:
        # The allocator checks that `consumed` is available and changes
        # nothing if not; a failed registry write ends this master's term.
        self.allocator.update_available(agent.agent_id, consumed, converted)
        agent.total = agent.total - consumed + converted
        self.store.store_reservations(agent.agent_id, agent.total)

    # ------------------------------------------------------------ maintenance

    def drain_agent(
        self, agent_id: str, grace_period: float | None, principal: str | None = None
    ) -> list[Effect]:
        """Maintenance starts (Mesos's DRAIN_AGENT): the agent makes no more
        offers, its outstanding offers are rescinded and its live tasks are
        killed with `grace_period` seconds between SIGTERM and SIGKILL (None:
        the agent's default). Stored first, so that a new leader, or the
        agent coming back from unreachable, keeps it drained. Draining again
        kills what is still live with the new grace period."""
        agent = known_agent(self.agents, agent_id)
        self.acls.check("drain_agents", principal, agent_id)
        try:
            entry = MaintenanceEntry(agent_id, grace_period)
        except InvalidRecordError as error:
            raise InvalidArgumentError(str(error)) from None
        self.registry.put(entry)
        self.maintenance[agent_id] = entry
        return self.drain(agent) if agent.reachable else []

    def reactivate_agent(self, agent_id: str, principal: str | None = None) -> None:
        """Maintenance ends (Mesos's REACTIVATE_AGENT): the agent offers again.
        The ACL drain_agents guards it too."""
        agent = known_agent(self.agents, agent_id)
        self.acls.check("drain_agents", principal, agent_id)
        if agent_id not in self.maintenance:
            raise InvalidArgumentError(f"agent '{agent_id}' is not under maintenance")
        self.registry.remove(Key(Kind.MAINTENANCE, agent_id))
        del self.maintenance[agent_id]
        if agent.reachable:
            self.allocator.activate_agent(agent_id)

    def drain(self, agent: AgentRecord) -> list[Effect]:
        """Carry out the agent's maintenance: no offers, its tasks killed."""
        self.allocator.deactivate_agent(agent.agent_id)
        effects = self.offering.rescind(self.offering.book.take_agent(agent.agent_id))
        grace = self.maintenance[agent.agent_id].grace_period
        kills: dict[str, list[str]] = defaultdict(list)
        for record in self.tasks.on_agent(agent.agent_id):
            kills[record.framework_id].append(record.task.task_id)
        return effects + [
            KillTasks(agent.agent_id, f, ids, grace, Reason.REASON_AGENT_DRAINING)
            for f, ids in kills.items()
        ]
