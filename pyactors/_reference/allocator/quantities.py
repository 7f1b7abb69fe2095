"""Scalar quantities (name -> millis) and role paths: the arithmetic the
allocator's books and its cycle are kept in."""

from __future__ import annotations

from collections.abc import Mapping

from pyactors._reference.resources import PyResources

Quantities = dict[str, int]  # scalar name -> millis; absent means zero


def scalar_quantities(resources: PyResources) -> Quantities:
    """Per scalar name, the sum over its keys (every role)."""
    return dict(resources.totals_millis())


def add_quantities(a: Quantities, b: Mapping[str, int]) -> None:
    """a += b per name, in place."""
    for name, millis in b.items():
        a[name] = a.get(name, 0) + millis


def subtract_quantities(a: Mapping[str, int], b: Mapping[str, int]) -> Quantities:
    """a - b per name, clamped at zero, zeros dropped."""
    out = {}
    for name, millis in a.items():
        left = millis - b.get(name, 0)
        if left > 0:
            out[name] = left
    return out


def self_and_ancestors(role: str) -> list[str]:
    """The role and its ancestors, nearest first: a/b/c, a/b, a."""
    parts = role.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]
