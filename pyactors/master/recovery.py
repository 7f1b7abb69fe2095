"""A new leader's wait for the agents of the registry.

A new leader starts from an empty state and restores what the registry
holds (`MasterState.recover`): frameworks come back disconnected, and the
admitted agents have `agent_reregister_timeout` to come back with their
tasks. Meanwhile a framework reconciling a task this leader has not heard
of, on an agent still awaited, gets its answer once that agent is back or
the deadline passes (then the missing agents are unreachable).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from pyactors.master.records import FrameworkRecord
from pyactors.master.registry_records import AgentEntry, FrameworkEntry


class Recovery:
    def __init__(self) -> None:
        # Admitted agents not back yet, until the deadline.
        self.agents: dict[str, AgentEntry] = {}
        self.deadline: float | None = None
        # Reconciliation answers waiting for an agent: (framework, task id).
        self.awaiting: dict[str, list[tuple[str, str]]] = defaultdict(list)

    def begin(self, admitted: Mapping[str, AgentEntry], deadline: float) -> None:
        self.agents = dict(admitted)
        if self.agents:
            self.deadline = deadline

    def awaits(self, agent_id: str | None) -> bool:
        return agent_id is not None and agent_id in self.agents

    def defer(self, agent_id: str, framework_id: str, task_id: str) -> None:
        """Answer reconciliation of this task once the agent is heard of."""
        self.awaiting[agent_id].append((framework_id, task_id))

    def back(self, agent_id: str) -> None:
        self.agents.pop(agent_id, None)

    def deferred(self, agent_id: str) -> list[tuple[str, str]]:
        """The reconciliations waiting for the agent, (framework, task id):
        it is back, or will not be."""
        return self.awaiting.pop(agent_id, [])

    def missing(self, now: float) -> dict[str, AgentEntry]:
        """Once the deadline has passed, the agents that did not come back
        (once: the wait is over)."""
        if self.deadline is None or now < self.deadline:
            return {}
        missing, self.agents, self.deadline = self.agents, {}, None
        return missing


def recovered_frameworks(
    entries: Iterable[FrameworkEntry], now: float, grace: float
) -> dict[str, FrameworkRecord]:
    """Stored frameworks as a new leader keeps them: disconnected until they
    subscribe again, failing over from `now`, and kept at least `grace`."""
    return {
        entry.framework_id: FrameworkRecord(
            entry.framework_id,
            entry.name,
            list(entry.roles),
            frozenset(entry.capabilities),
            entry.failover_timeout,
            entry.registered_at,
            connected=False,
            disconnected_at=now,
            recovery_grace=grace,
            principal=entry.principal,
            user=entry.user,
        )
        for entry in entries
    }
