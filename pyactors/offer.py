"""The value an allocation cycle produces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Offer:
    """Resources of one agent offered to one framework in one of its roles.

    `resources` is a `pyactors.Resources` from the Rust allocator and a
    `PyResources` from the reference one; both print the same canonical text.
    """

    framework_id: str
    agent_id: str
    role: str
    resources: Any
