"""Argument checks of the reference allocator's calls, with the Rust
bindings' error types and messages, and the checks an operation's conversion
must pass."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pyactors._reference.allocator.records import Agent
from pyactors._reference.resources import PyResources, Resource, validate_role
from pyactors.errors import InvalidArgumentError, ResourceError


def as_resources(value: Any, what: str) -> PyResources:
    if isinstance(value, PyResources):
        return value
    if isinstance(value, str):
        return PyResources.parse(value)
    if isinstance(value, Mapping):
        return PyResources.from_dict(dict(value))
    if hasattr(value, "to_json"):  # the Rust Resources
        return PyResources.parse(str(value))
    raise TypeError(f"{what} must be Resources, text or a dict, not {type(value).__name__}")


def check_time(value: float, what: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value):
        raise InvalidArgumentError(f"{what} must be a finite number of seconds, got {value!r}")
    return float(value)


def check_id(value: Any, what: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    if not value or len(value.encode()) > 256:
        raise InvalidArgumentError(
            f"{what} must be a non-empty string of at most 256 bytes, got '{value}'"
        )


def check_roles(roles: Any) -> list[str]:
    if isinstance(roles, str) or not isinstance(roles, Sequence):
        raise TypeError("roles must be a list of role names")
    if not roles:
        raise InvalidArgumentError("roles must be a non-empty list of role names, got []")
    seen: list[str] = []
    for role in roles:
        if not isinstance(role, str):
            raise TypeError(f"role must be a string, not {type(role).__name__}")
        validate_role(role)
        if role in seen:
            raise InvalidArgumentError(f"role '{role}' is listed twice")
        seen.append(role)
    return seen


def check_capabilities(capabilities: Any) -> frozenset[str]:
    if isinstance(capabilities, str):
        raise TypeError("capabilities must be a collection of names, not a string")
    caps = frozenset(capabilities)
    for cap in caps:
        if not isinstance(cap, str):
            raise TypeError(f"capability must be a string, not {type(cap).__name__}")
        if not cap:
            raise InvalidArgumentError("capability must be a non-empty string")
    return caps


def check_attributes(attributes: Mapping[str, str] | None) -> dict[str, str]:
    attrs = dict(attributes or {})
    for key, value in attrs.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"attributes must map strings to strings, got {key!r}: {value!r}")
    return attrs


def _stripped(bundle: PyResources) -> PyResources:
    """The bundle without reservations and volume ids: what an operation keeps."""
    try:
        return PyResources.from_entries(Resource(e.name, None, None, None, e.value) for e in bundle)
    except ResourceError as err:
        raise ResourceError(f"{err} in '{bundle}' without its reservations and volumes") from None


def check_conversion(consumed: PyResources, converted: PyResources) -> None:
    before, after = _stripped(consumed), _stripped(converted)
    if before != after:
        raise InvalidArgumentError(
            f"cannot convert '{consumed}' into '{converted}': an operation changes only "
            f"reservations and volumes, and '{before}' is not '{after}'"
        )


def check_volumes(agent: Agent, consumed: PyResources, converted: PyResources) -> None:
    """Two volumes with one id on an agent would merge into one."""
    released = {entry.volume for entry in consumed if entry.volume is not None}
    existing = {entry.volume for entry in agent.total if entry.volume is not None}
    for entry in converted:
        if entry.volume in existing and entry.volume not in released:
            raise InvalidArgumentError(
                f"volume '{entry.volume}' already exists on agent '{agent.agent_id}'"
            )
