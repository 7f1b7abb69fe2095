"""Scalar quantities as resources hold them: integer millis, their bounds, and
a caller's float read as millis.

Three decimals held exactly (0.1 + 0.2 is 0.3). The Rust core and the
reference bundles (`pyactors._reference.resources`) keep the same bounds and
the same error messages.
"""

from __future__ import annotations

import math

from pyactors.errors import ResourceError

__all__ = ["MAX_MILLIS", "MAX_UNITS", "scalar_from_float"]

# The largest scalar one entry may hold, in millis (1e12 units). Sums are held
# to it as well, so every bundle prints to text that parses back (pickling
# relies on that).
MAX_MILLIS = 10**15
MAX_UNITS = MAX_MILLIS // 1000


def scalar_from_float(value: float, shown: str) -> int:
    """Millis from a float given by a caller; `shown` is how the caller writes it."""
    if not math.isfinite(value):
        raise ResourceError(f"invalid scalar {shown}")
    if value < 0:
        raise ResourceError(f"negative quantity {shown}")
    scaled = value * 1000 + 0.5
    # floor(scaled) > MAX_MILLIS, asked before floor() so that a product that
    # overflowed to infinity is too large rather than an OverflowError.
    if scaled >= MAX_MILLIS + 1:
        raise ResourceError(f"quantity {shown} above the maximum {MAX_UNITS}")
    return math.floor(scaled)
