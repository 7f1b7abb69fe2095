"""What RESERVE, UNRESERVE, CREATE and DESTROY made of an agent's resources,
as layers the registry stores and a new leader lays over the agent's report.

Two layers, because an agent reports its static reservations itself:
- `dynamic`: the reservations made beyond what the agent reports, with the
  volumes made of them (laid over by taking their unreserved quantities);
- `static_volumes`: volumes made of the agent's own static reservations
  (laid over by taking that reserved disk, which the agent reports again).
Where a volume could come from either (the same role, no principal), the
two are the same resources and either layer gives the same total.
"""

from __future__ import annotations

from pyactors._core import Resources
from pyactors.core.operations import unreserved_form


def split(reported: Resources, total: Resources) -> tuple[Resources, Resources]:
    """The agent's `(dynamic, static_volumes)` layers: what turns the
    `reported` resources into `total`. Raises ResourceError when `total`
    is not `reported` changed by those operations."""
    made = total.reserved()
    own = reported.reserved()
    volumes = _volumes(made) - _volumes(own)
    # With every volume back to plain reserved disk, what is beyond the
    # agent's own reservations is the dynamic layer's base.
    dynamic_base = made - volumes + _plain(volumes) - own
    static_volumes = Resources()
    for item in volumes.to_json():
        volume = Resources.from_json([item])
        if dynamic_base.contains(_plain(volume)):
            dynamic_base = dynamic_base - _plain(volume)
        else:
            static_volumes = static_volumes + volume
    dynamic = made - static_volumes + _plain(static_volumes) - own
    return dynamic, static_volumes


def lay_over(reported: Resources, dynamic: Resources, static_volumes: Resources) -> Resources:
    """The agent's resources with its stored layers laid over; ResourceError
    when the report holds too little for them."""
    total = reported
    if dynamic:
        total = total - unreserved_form(dynamic) + dynamic
    if static_volumes:
        total = total - _plain(static_volumes) + static_volumes
    return total


def _volumes(resources: Resources) -> Resources:
    return Resources.from_json([item for item in resources.to_json() if "disk" in item])


def _plain(volumes: Resources) -> Resources:
    """The reserved disk the volumes were made of."""
    return Resources.from_json(
        [{k: v for k, v in item.items() if k != "disk"} for item in volumes.to_json()]
    )
