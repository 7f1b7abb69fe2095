"""How the master's effects leave it: merged per receiver and kind
(`coalesce`), then grouped per receiving actor (`Outbox`), so that every
actor gets one message per batch whatever the number of agents or
frameworks it hosts.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Generic, TypeVar

from pyactors.core.protocol import (
    AcknowledgeToAgent,
    Effect,
    ForwardUpdates,
    KillTasks,
    SendOffers,
)

Host = TypeVar("Host", bound=Hashable)
Message = TypeVar("Message")


def coalesce(effects: Sequence[Effect]) -> list[Effect]:
    """Merge the effects of several calls handled together into one message
    per receiver and kind, keeping each receiver's order: acknowledgements
    per agent, updates per framework, kills per agent. The callers' lists
    are never extended: an effect is copied when a second one of its
    receiver and kind comes (most have none, at one task per agent)."""
    merged: list[Effect] = []
    places: dict[tuple[Hashable, ...], int] = {}
    copied: set[int] = set()
    for effect in effects:
        key = _merge_key(effect)
        if key is None:
            merged.append(effect)
            continue
        place = places.get(key)
        if place is None:
            places[key] = len(merged)
            merged.append(effect)
            continue
        name = _MERGED_LIST[type(effect)]
        if place not in copied:
            copied.add(place)
            merged[place] = _with_own_list(merged[place])
        getattr(merged[place], name).extend(getattr(effect, name))
    return merged


# The list that merging extends, per kind of effect merged.
_MERGED_LIST: dict[type, str] = {
    AcknowledgeToAgent: "acknowledgements",
    ForwardUpdates: "statuses",
    KillTasks: "task_ids",
}


def _with_own_list(effect: Effect) -> Effect:
    """A copy of a merged effect whose list merging may extend."""
    match effect:
        case AcknowledgeToAgent(agent_id, acknowledgements):
            return AcknowledgeToAgent(agent_id, list(acknowledgements))
        case ForwardUpdates(framework_id, statuses):
            return ForwardUpdates(framework_id, list(statuses))
        case KillTasks(agent_id, framework_id, task_ids, grace, reason):
            return KillTasks(agent_id, framework_id, list(task_ids), grace, reason)
    return effect


def _merge_key(effect: Effect) -> tuple[Hashable, ...] | None:
    """The receiver and kind an effect merges by (None: it is not merged);
    kills also by their grace period and reason."""
    if isinstance(effect, AcknowledgeToAgent):
        return (AcknowledgeToAgent, effect.agent_id)
    if isinstance(effect, ForwardUpdates):
        return (ForwardUpdates, effect.framework_id)
    if isinstance(effect, KillTasks):
        return (KillTasks, effect.agent_id, effect.framework_id, effect.grace, effect.reason)
    return None


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


def in_chunks(effects: Sequence[Effect], offers: int) -> Iterator[list[Effect]]:
    """A cycle's effects in order, cut after each framework's offers once a
    chunk holds `offers` or more, each chunk to be sent on its own. After a
    pause the master frees thousands of slots at once: sent as one message
    per actor, every launch of them waits for the master to make all the
    offers, the frameworks to answer all of them and the master to carry
    out every accept; in chunks, the frameworks answer the first ones while
    the master makes the next."""
    chunk: list[Effect] = []
    offered = 0
    for effect in effects:
        chunk.append(effect)
        if isinstance(effect, SendOffers):
            offered += len(effect.offers)
            if offered >= offers:
                yield chunk
                chunk, offered = [], 0
    if chunk:
        yield chunk
