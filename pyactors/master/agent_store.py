"""What the registry holds about each agent: its admission (as it reported
itself) and its dynamic reservations and persistent volumes (those made of
its static reservations too: `reservation_layers`).

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
from pyactors.errors import ResourceError
from pyactors.master import reservation_layers
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
        # Volumes made of the agent's static reservations, per agent.
        self.static_volumes: dict[str, Resources] = {}

    def restore(
        self,
        admitted: Mapping[str, AgentEntry],
        reservations: Mapping[str, Sequence[str]],
        static_volumes: Mapping[str, Sequence[str]],
    ) -> None:
        """Take what a new leader loaded from the registry."""
        self.admitted = dict(admitted)
        self.reservations = _parsed(reservations)
        self.static_volumes = _parsed(static_volumes)

    def admit(self, entry: AgentEntry) -> None:
        """Store the agent as it registers, unless it is stored as it is."""
        if self.admitted.get(entry.agent_id) != entry:
            self.registry.put(entry)
            self.admitted[entry.agent_id] = entry

    def store_reservations(self, agent_id: str, total: Resources) -> None:
        """Record the agent's dynamic reservations and volumes: what is
        reserved now beyond what it reported, and the volumes made of its
        static reservations (a failed write ends this master's term, so
        nothing is offered from an unstored reservation)."""
        reported = Resources.parse(self.admitted[agent_id].resources)
        try:
            dynamic, static_volumes = reservation_layers.split(reported, total)
        except ResourceError:
            # Only operations on the agent's own static reservations beyond
            # volumes (Mesos refuses them) lead here: nothing can express them.
            log.warning(
                "agent %s: %s cannot be stored over its report %s", agent_id, total, reported
            )
            return
        if dynamic or static_volumes:
            self.registry.put(
                ReservationEntry(
                    agent_id,
                    [str(dynamic)] if dynamic else [],
                    [str(static_volumes)] if static_volumes else None,
                )
            )
        elif agent_id in self.reservations or agent_id in self.static_volumes:
            self.registry.remove(Key(Kind.RESERVATIONS, agent_id))
        for layers, layer in ((self.reservations, dynamic), (self.static_volumes, static_volumes)):
            if layer:
                layers[agent_id] = layer
            else:
                layers.pop(agent_id, None)

    def with_reservations(self, agent_id: str, reported: Resources) -> Resources:
        """The agent's resources with its stored reservations laid over."""
        dynamic = self.reservations.get(agent_id, Resources())
        static_volumes = self.static_volumes.get(agent_id, Resources())
        try:
            return reservation_layers.lay_over(reported, dynamic, static_volumes)
        except ResourceError:
            log.warning(
                "agent %s came back with %s, too little for its stored reservations %s "
                "and volumes %s: they are dropped",
                agent_id,
                reported,
                dynamic,
                static_volumes,
            )
            return reported


def _parsed(layers: Mapping[str, Sequence[str]]) -> dict[str, Resources]:
    parsed = {agent_id: Resources.parse(";".join(texts)) for agent_id, texts in layers.items()}
    return {agent_id: layer for agent_id, layer in parsed.items() if layer}
