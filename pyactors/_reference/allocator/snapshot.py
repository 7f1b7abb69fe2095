"""The allocator's state as plain sorted data: the document both
implementations' `snapshot()` return."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyactors._reference.allocator.state import AllocatorState


def snapshot(state: AllocatorState) -> dict[str, Any]:
    """Everything the allocator knows, as plain sorted data. Both
    implementations produce the same document for the same history."""
    totals = state._totals
    agents = {}
    for agent_id in sorted(state._agents):
        agent = state._agents[agent_id]
        by_framework: dict[str, dict[str, str]] = {}
        for (framework_id, role), bundle in sorted(agent.allocated.items()):
            by_framework.setdefault(framework_id, {})[role] = str(bundle)
        agents[agent_id] = {
            "total": str(agent.total),
            "available": str(agent.available),
            "allocated": by_framework,
            "active": agent.active,
            "attributes": dict(sorted(agent.attributes.items())),
            "unavailability": None
            if agent.unavailability is None
            else {"start": agent.unavailability[0], "duration": agent.unavailability[1]},
            "registered_at": agent.registered_at,
        }
    frameworks = {}
    for framework_id in sorted(state._frameworks):
        framework = state._frameworks[framework_id]
        allocated = {
            role: _floats(state._allocations.get((framework_id, role), {}))
            for role in sorted(framework.roles)
        }
        frameworks[framework_id] = {
            "roles": list(framework.roles),
            "active": framework.active,
            "suppressed_roles": sorted(framework.suppressed),
            "capabilities": sorted(framework.capabilities),
            "allocated": allocated,
            "shares": {
                role: state._share(state._allocations.get((framework_id, role), {}), 1.0, totals)
                for role in sorted(framework.roles)
            },
            "filters": sorted(
                (
                    {
                        "agent": agent_id,
                        "role": f.role,
                        "resources": str(f.resources),
                        "expires": f.expires,
                    }
                    for agent_id, filters in framework.filters.items()
                    for f in filters
                ),
                key=lambda d: (d["agent"], d["role"], d["resources"], d["expires"]),
            ),
            "registered_at": framework.registered_at,
        }
    roles = {}
    for role in sorted(state._known_roles()):
        quota = state._quotas.get(role)
        roles[role] = {
            "weight": state._weights.get(role, 1.0),
            "guarantee": _floats(quota.guarantee) if quota else {},
            "limit": {n: m / 1000 for n, m in sorted(quota.limit.items())}
            if quota and quota.limit is not None
            else None,
            "allocated": _floats(state._subtree(state._role_allocations, role)),
            "consumed_quota": _floats(state._consumed(role)),
            "share": state._share(
                state._subtree(state._role_allocations, role), state._weight(role), totals
            ),
            "frameworks": sorted(f for f, fw in state._frameworks.items() if role in fw.roles),
        }
    return {
        "sorter": state._sorter,
        "total": _floats(totals),
        "allocated": _floats(state._subtree(state._role_allocations, None)),
        "agents": agents,
        "frameworks": frameworks,
        "roles": roles,
    }


def _floats(quantities: Mapping[str, int]) -> dict[str, float]:
    return {name: quantities[name] / 1000 for name in sorted(quantities) if quantities[name]}
