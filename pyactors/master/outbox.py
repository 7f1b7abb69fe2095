"""How the master's effects leave it: merged per receiver and kind
(`coalesce`), then grouped per receiving actor (`Outbox`), so that every
actor gets one message per batch whatever the number of agents or
frameworks it hosts.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Generic, TypeVar

from pyactors.core.protocol import AcknowledgeToAgent, Effect, ForwardUpdates, KillTasks
from pyactors.core.tasks import Reason

Host = TypeVar("Host", bound=Hashable)
Message = TypeVar("Message")


def coalesce(effects: Sequence[Effect]) -> list[Effect]:
    """Merge the effects of several calls handled together into one message
    per receiver and kind, keeping each receiver's order: acknowledgements
    per agent, updates per framework, kills per agent."""
    merged: list[Effect] = []
    acks: dict[str, AcknowledgeToAgent] = {}
    updates: dict[str, ForwardUpdates] = {}
    kills: dict[tuple[str, str, float | None, Reason | None], KillTasks] = {}
    for effect in effects:
        if isinstance(effect, AcknowledgeToAgent):
            if effect.agent_id in acks:
                acks[effect.agent_id].acknowledgements.extend(effect.acknowledgements)
                continue
            effect = acks[effect.agent_id] = AcknowledgeToAgent(
                effect.agent_id, list(effect.acknowledgements)
            )
        elif isinstance(effect, ForwardUpdates):
            if effect.framework_id in updates:
                updates[effect.framework_id].statuses.extend(effect.statuses)
                continue
            effect = updates[effect.framework_id] = ForwardUpdates(
                effect.framework_id, list(effect.statuses)
            )
        elif isinstance(effect, KillTasks):
            key = (effect.agent_id, effect.framework_id, effect.grace, effect.reason)
            if key in kills:
                kills[key].task_ids.extend(effect.task_ids)
                continue
            effect = kills[key] = KillTasks(
                effect.agent_id,
                effect.framework_id,
                list(effect.task_ids),
                effect.grace,
                effect.reason,
            )
        merged.append(effect)
    return merged


class Outbox(Generic[Host, Message]):
    """Messages grouped by the actor hosting their receiver (several agents
    or frameworks may share one), in order: one call per actor."""

    def __init__(self, hosts: Mapping[str, Host]) -> None:
        self.hosts = hosts
        self.batches: dict[Host, list[Message]] = {}
        self.receivers: dict[Host, set[str]] = {}

    def post(self, receiver: str, message: Message) -> None:
        """Dropped when no actor is known to host `receiver` (it registered
        with another leader, or its actor died)."""
        host = self.hosts.get(receiver)
        if host is None:
            return
        batch = self.batches.get(host)
        if batch is None:
            self.batches[host], self.receivers[host] = [message], {receiver}
        else:
            batch.append(message)
            self.receivers[host].add(receiver)
