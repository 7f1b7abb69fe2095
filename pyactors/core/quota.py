"""Quota arguments as both allocators take them: scalar name -> millis.

A quota is a quantity per scalar name, not a bundle of resources: a limit of
`{"gpus": 0}` means "no GPUs", which a `Resources` bundle (where zero is
absent) cannot say. So quotas accept a mapping (zeros kept) as well as
resource text or a `Resources` (unreserved scalars only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pyactors._core import Resources
from pyactors.core.scalars import scalar_from_float
from pyactors.errors import InvalidArgumentError

QuotaArgument = str | Mapping[str, float] | Any


def quota_quantities(value: QuotaArgument | None, what: str) -> dict[str, int]:
    """Normalise a guarantee or limit; None is the empty quantity set."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        out: dict[str, int] = {}
        for name, amount in value.items():
            if not isinstance(name, str) or not name:
                raise InvalidArgumentError(f"quota {what}: names must be strings, got {name!r}")
            if (
                not isinstance(amount, int | float)
                or isinstance(amount, bool)
                or not math.isfinite(amount)
                or amount < 0
            ):
                raise InvalidArgumentError(
                    f"quota {what}: {name} must be a non-negative number, got {amount!r}"
                )
            out[name] = scalar_from_float(float(amount), f"{name}:{amount}")
        return out
    if isinstance(value, str) or hasattr(value, "to_json"):
        bundle = Resources.parse(str(value))
    else:
        raise TypeError(
            f"quota {what} must be resource text, Resources or a mapping, "
            f"not {type(value).__name__}"
        )
    if bundle.reserved() or bundle != bundle.scalars():
        raise InvalidArgumentError(
            f"quota {what} must be unreserved scalar quantities, got {bundle}"
        )
    # The core reports units: millis / 1000 as a float, from which every
    # quantity it can hold (below 2**53 millis) rounds back exactly.
    return {name: round(units * 1000) for name, units in bundle.totals().items()}
