"""The value an allocation cycle produces."""

from __future__ import annotations

from typing import Any, NamedTuple


class Offer(NamedTuple):
    """Resources of one agent offered to one framework in one of its roles.

    `resources` is a `pyactors.Resources` from the Rust allocator and a
    `PyResources` from the reference one; both print the same canonical text.
    A named tuple because a cycle at 10,000 agents builds 10,000 of them:
    construction is several times cheaper than a frozen dataclass's.
    """

    framework_id: str
    agent_id: str
    role: str
    resources: Any
