"""What the registry holds about each agent: its admission (as it reported
itself) and its dynamic reservations and persistent volumes.

Reservations made by RESERVE/CREATE (from an accept or the operator) change
the agent's total here, not on the agent: they are stored, and laid over
what the agent reports whenever it registers, with this leader or the next.
Every write is made before the change it records is used, and a failed
write ends the leader's term.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from pyactors._core import Resources
from pyactors.core.operations import unreserved_form
from pyactors.errors import ResourceError
from pyactors.master.registry import Registry
from pyactors.master.registry_records import AgentEntry, Key, Kind, ReservationEntry

log = logging.getLogger(__name__)


class AgentStore:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        # What the registry holds, as written (or loaded) by this master.
        self.admitted: dict[str, AgentEntry] = {}
        # Dynamic reservations and volumes per agent.
        self.reservations: dict[str, Resources] = {}

    def restore(
        self, admitted: Mapping[str, AgentEntry], reservations: Mapping[str, Sequence[str]]
    ) -> None:
        """Take what a new leader loaded from the registry."""
        self.admitted = dict(admitted)
        self.reservations = {
            agent_id: Resources.parse(";".join(texts)) for agent_id, texts in reservations.items()
        }

    def admit(self, entry: AgentEntry) -> None:
        """Store the agent as it registers, unless it is stored as it is."""
        if self.admitted.get(entry.agent_id) != entry:
            self.registry.put(entry)
            self.admitted[entry.agent_id] = entry

    def store_reservations(self, agent_id: str, total: Resources) -> None:
        """Record the agent's dynamic reservations and volumes: what is
        reserved now beyond what it reported (a failed write ends this
        master's term, so nothing is offered from an unstored reservation)."""
        reported = Resources.parse(self.admitted[agent_id].resources)
        try:
            dynamic = total.reserved() - reported.reserved()
        except ResourceError:
            # A volume made of a static reservation: nothing to lay over the
            # agent's own report, which keeps its static reservations.
            log.warning("agent %s: volumes on static reservations are not stored", agent_id)
            return
        if dynamic:
            self.registry.put(ReservationEntry(agent_id, [str(dynamic)]))
            self.reservations[agent_id] = dynamic
        elif self.reservations.pop(agent_id, None) is not None:
            self.registry.remove(Key(Kind.RESERVATIONS, agent_id))

    def with_reservations(self, agent_id: str, reported: Resources) -> Resources:
        """The agent's resources with its stored reservations laid over."""
        dynamic = self.reservations.get(agent_id)
        if not dynamic:
            return reported
        try:
            return reported - unreserved_form(dynamic) + dynamic
        except ResourceError:
            log.warning(
                "agent %s came back with %s, too little for its stored reservations %s: "
                "they are dropped",
                agent_id,
                reported,
                dynamic,
            )
            return reported
