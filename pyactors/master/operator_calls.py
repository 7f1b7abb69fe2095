"""The operator's calls on `MasterState`, a base class of it: each is
carried out by its `Operator`.

Each takes the caller's `principal` (None: an unauthenticated caller) and
checks its ACL before anything changes (AuthorizationError naming the
ACL): kill_tasks, update_weights, update_quotas, reserve_resources,
unreserve_resources, create_volumes, destroy_volumes, drain_agents
(reactivating too).
"""

from __future__ import annotations

from collections.abc import Sequence

from pyactors._core import Resources
from pyactors.core.protocol import Effect
from pyactors.master.operator import Operator


class OperatorCalls:
    # The master's, set in its construction.
    operator: Operator

    def operator_kill(
        self, task_id: str, framework_id: str | None, now: float, principal: str | None = None
    ) -> list[Effect]:
        """The operator kills a live task (its framework named or not)."""
        return self.operator.kill(task_id, framework_id, now, principal)

    def set_weight(self, role: str, weight: float, principal: str | None = None) -> None:
        self.operator.set_weights([(role, weight)], principal)

    def set_weights(
        self, weights: Sequence[tuple[str, float]], principal: str | None = None
    ) -> None:
        self.operator.set_weights(weights, principal)

    def set_quota(
        self, role: str, guarantee: str, limit: str | None = None, principal: str | None = None
    ) -> None:
        self.operator.set_quota(role, guarantee, limit, principal)

    def reserve(self, agent_id: str, resources: Resources, principal: str | None = None) -> None:
        self.operator.reserve(agent_id, resources, principal)

    def unreserve(self, agent_id: str, resources: Resources, principal: str | None = None) -> None:
        self.operator.unreserve(agent_id, resources, principal)

    def create_volumes(
        self, agent_id: str, volumes: Resources, principal: str | None = None
    ) -> None:
        self.operator.create_volumes(agent_id, volumes, principal)

    def destroy_volumes(
        self, agent_id: str, volumes: Resources, principal: str | None = None
    ) -> None:
        self.operator.destroy_volumes(agent_id, volumes, principal)

    def drain_agent(
        self, agent_id: str, grace_period: float | None, principal: str | None = None
    ) -> list[Effect]:
        return self.operator.drain_agent(agent_id, grace_period, principal)

    def reactivate_agent(self, agent_id: str, principal: str | None = None) -> None:
        self.operator.reactivate_agent(agent_id, principal)
