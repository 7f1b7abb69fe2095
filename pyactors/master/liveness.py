"""Which agents have gone silent or stayed disconnected too long, found
without visiting the others.

The master checks on every cycle; at tens of thousands of agents a scan of
all of them per cycle would cost more than the cycle itself. So agents are
kept in the order they were last heard from (a heartbeat moves one to the
end), and disconnected agents in the order they disconnected: what is due
is a prefix of each, and `due` stops at the first agent that is not.

Times are the master's monotonic clock: `now` never decreases from one
call to the next, which is what keeps both orders sorted.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Due:
    """Agents to mark unreachable: connected ones silent past the agent
    timeout, and disconnected ones past the recovery timeout."""

    silent: list[str]
    not_recovered: list[str]


class Liveness:
    """Reachable agents by when they were last heard from, and disconnected
    ones by when they disconnected. An unreachable agent is in neither."""

    def __init__(self) -> None:
        self._heard: OrderedDict[str, float] = OrderedDict()
        self._disconnected: OrderedDict[str, float] = OrderedDict()
        # Agents `due` looked at on its last call: those it returned, plus at
        # most one per order that was not due. Tests count it.
        self.visited = 0

    def heard(self, agent_id: str, now: float) -> None:
        """The agent registered, came back or sent a heartbeat: connected,
        heard from at `now`."""
        self._disconnected.pop(agent_id, None)
        self._heard[agent_id] = now
        self._heard.move_to_end(agent_id)

    def disconnected(self, agent_id: str, now: float) -> None:
        """Its actor died on a live node: it is not expected to heartbeat,
        and has the recovery timeout from `now` to come back."""
        self._heard.pop(agent_id, None)
        if agent_id not in self._disconnected:
            self._disconnected[agent_id] = now

    def forget(self, agent_id: str) -> None:
        """Unreachable: nothing is due for it until it registers again."""
        self._heard.pop(agent_id, None)
        self._disconnected.pop(agent_id, None)

    def due(self, now: float, agent_timeout: float, recovery_timeout: float) -> Due:
        """The agents due at `now`, oldest first; they stay in their order
        until the caller forgets them (marking them unreachable)."""
        self.visited = 0
        silent = self._prefix(self._heard, lambda seen: now - seen > agent_timeout)
        not_recovered = self._prefix(
            self._disconnected, lambda since: now - since >= recovery_timeout
        )
        return Due(silent, not_recovered)

    def _prefix(self, order: OrderedDict[str, float], is_due: Callable[[float], bool]) -> list[str]:
        found = []
        for agent_id, at in order.items():
            self.visited += 1
            if not is_due(at):
                break
            found.append(agent_id)
        return found
