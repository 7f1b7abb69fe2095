"""The registry's records and their one durable form.

Each record is a JSON object encoded with orjson:
`{"schema_version": N, "kind": "...", <the record's fields>}`. This module
is the only place that knows that shape. `SCHEMA_VERSION` is what this
pyactors writes; it reads every version up to it and refuses newer ones
with `SchemaVersionError` rather than guessing at fields it does not know.
A version bump adds its reader here, so a record written by one release is
read by the next.

Records check themselves when built, so a caller's bad input and a corrupt
stored record are caught by the same rules: the first raises
`InvalidRecordError`, the second `CorruptRecordError`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar

import orjson

from pyactors._core import Resources
from pyactors.core.quota import quota_quantities
from pyactors.errors import (
    CorruptRecordError,
    InvalidArgumentError,
    InvalidRecordError,
    ResourceError,
    SchemaVersionError,
)
from pyactors.master.maintenance import MaintenanceError, Schedule

SCHEMA_VERSION = 1


class Kind(StrEnum):
    AGENT = "agent"
    FRAMEWORK = "framework"
    WEIGHT = "weight"
    QUOTA = "quota"
    MAINTENANCE = "maintenance"
    MAINTENANCE_SCHEDULE = "maintenance_schedule"
    RESERVATIONS = "reservations"
    COMPLETED_FRAMEWORK = "completed_framework"


@dataclass(frozen=True)
class Key:
    """Names one record: its kind and its id (agent, framework or role)."""

    kind: Kind
    id: str


@dataclass(frozen=True)
class AgentEntry:
    """An admitted agent."""

    agent_id: str
    hostname: str
    resources: str
    attributes: Mapping[str, str]

    kind: ClassVar[Kind] = Kind.AGENT

    def __post_init__(self) -> None:
        _text(self.agent_id, "agent_id", empty=False)
        _text(self.hostname, "agent hostname", empty=False)
        _resources(self.resources, f"agent '{self.agent_id}' resources")
        if not isinstance(self.attributes, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.attributes.items()
        ):
            raise InvalidRecordError(
                f"agent '{self.agent_id}' attributes must map strings to strings"
            )
        object.__setattr__(self, "attributes", dict(self.attributes))

    @property
    def key(self) -> Key:
        return Key(self.kind, self.agent_id)


@dataclass(frozen=True)
class FrameworkEntry:
    """A registered framework; `roles` keep their order, `capabilities` are a set.
    `principal` (never its secret) is who registered it, `user` the OS user
    its tasks run as by default."""

    framework_id: str
    name: str
    roles: Sequence[str]
    capabilities: Collection[str]
    failover_timeout: float
    registered_at: float
    principal: str | None = None
    user: str | None = None

    kind: ClassVar[Kind] = Kind.FRAMEWORK

    def __post_init__(self) -> None:
        _text(self.framework_id, "framework_id", empty=False)
        _text(self.name, "framework name", empty=True)
        roles = _strings(self.roles, f"framework '{self.framework_id}' roles")
        if len(set(roles)) != len(roles):
            raise InvalidRecordError(f"framework '{self.framework_id}' repeats a role: {roles}")
        capabilities = _strings(self.capabilities, f"framework '{self.framework_id}' capabilities")
        object.__setattr__(self, "roles", roles)
        object.__setattr__(self, "capabilities", frozenset(capabilities))
        timeout = _number(self.failover_timeout, "failover_timeout")
        if timeout < 0:
            raise InvalidRecordError(f"failover_timeout must be >= 0, got {timeout}")
        object.__setattr__(self, "failover_timeout", timeout)
        object.__setattr__(self, "registered_at", _number(self.registered_at, "registered_at"))
        if self.principal is not None:
            _text(self.principal, f"framework '{self.framework_id}' principal", empty=False)
        if self.user is not None:
            _text(self.user, f"framework '{self.framework_id}' user", empty=False)

    @property
    def key(self) -> Key:
        return Key(self.kind, self.framework_id)


@dataclass(frozen=True)
class WeightEntry:
    role: str
    weight: float

    kind: ClassVar[Kind] = Kind.WEIGHT

    def __post_init__(self) -> None:
        _text(self.role, "role", empty=False)
        weight = _number(self.weight, f"role '{self.role}' weight")
        if weight <= 0:
            raise InvalidRecordError(f"role '{self.role}' weight must be > 0, got {weight}")
        object.__setattr__(self, "weight", weight)

    @property
    def key(self) -> Key:
        return Key(self.kind, self.role)


@dataclass(frozen=True)
class QuotaEntry:
    """A role's quota as Mesos resource text; `limit=None` means no limit."""

    role: str
    guarantee: str
    limit: str | None

    kind: ClassVar[Kind] = Kind.QUOTA

    def __post_init__(self) -> None:
        _text(self.role, "role", empty=False)
        for what, value in (("guarantee", self.guarantee), ("limit", self.limit)):
            if what == "limit" and value is None:
                continue
            _text(value, f"role '{self.role}' quota {what}", empty=True)
            try:
                quota_quantities(value, what)
            except (InvalidArgumentError, ResourceError) as e:
                raise InvalidRecordError(f"role '{self.role}' quota: {e}") from e

    @property
    def key(self) -> Key:
        return Key(self.kind, self.role)


@dataclass(frozen=True)
class MaintenanceEntry:
    """An agent under maintenance (drained): no offers from it, its tasks
    killed with `grace_period` seconds between SIGTERM and SIGKILL (None:
    the agent's own default)."""

    agent_id: str
    grace_period: float | None = None

    kind: ClassVar[Kind] = Kind.MAINTENANCE

    def __post_init__(self) -> None:
        _text(self.agent_id, "agent_id", empty=False)
        if self.grace_period is not None:
            grace = _number(self.grace_period, "maintenance grace_period")
            if grace < 0:
                raise InvalidRecordError(f"maintenance grace_period must be >= 0, got {grace}")
            object.__setattr__(self, "grace_period", grace)

    @property
    def key(self) -> Key:
        return Key(self.kind, self.agent_id)


@dataclass(frozen=True)
class MaintenanceScheduleEntry:
    """Mesos's maintenance schedule and the machines brought DOWN (one
    record: the schedule is replaced whole), in Mesos's Schedule JSON with
    `down_machines` (`pyactors.master.maintenance.Schedule.record`)."""

    schedule: Mapping[str, Any]

    kind: ClassVar[Kind] = Kind.MAINTENANCE_SCHEDULE

    def __post_init__(self) -> None:
        try:
            Schedule.from_record(self.schedule)
        except MaintenanceError as e:
            raise InvalidRecordError(f"maintenance schedule: {e}") from e

    @property
    def key(self) -> Key:
        return Key(self.kind, "schedule")

    def read(self) -> Schedule:
        return Schedule.from_record(self.schedule)


@dataclass(frozen=True)
class ReservationEntry:
    """The dynamic reservations made on one agent (with the volumes made of
    them), and the volumes made of its static reservations
    (`static_volumes`), each as reserved resource text
    (`pyactors.master.reservation_layers`)."""

    agent_id: str
    resources: Sequence[str]
    static_volumes: Sequence[str] | None = None

    kind: ClassVar[Kind] = Kind.RESERVATIONS

    def __post_init__(self) -> None:
        _text(self.agent_id, "agent_id", empty=False)
        texts = _strings(self.resources, f"agent '{self.agent_id}' reservations")
        volumes = _strings(self.static_volumes or (), f"agent '{self.agent_id}' static volumes")
        if not texts and not volumes:
            raise InvalidRecordError(
                f"agent '{self.agent_id}' reservations are empty: remove the record instead"
            )
        for text in (*texts, *volumes):
            parsed = _resources(text, f"agent '{self.agent_id}' reservation")
            if parsed.is_empty() or not parsed.unreserved().is_empty():
                raise InvalidRecordError(
                    f"agent '{self.agent_id}' reservation '{text}' must be reserved resources"
                )
        for text in volumes:
            if not all("disk" in item for item in Resources.parse(text).to_json()):
                raise InvalidRecordError(
                    f"agent '{self.agent_id}' static volumes '{text}' must be persistent volumes"
                )
        object.__setattr__(self, "resources", texts)
        # Left out when there are none, so the record reads as it did before.
        object.__setattr__(self, "static_volumes", volumes or None)

    @property
    def key(self) -> Key:
        return Key(self.kind, self.agent_id)


@dataclass(frozen=True)
class CompletedFrameworkEntry:
    """A torn-down framework (Mesos's completed frameworks): its id is never
    admitted again, by this leader or the next."""

    framework_id: str
    removed_at: float

    kind: ClassVar[Kind] = Kind.COMPLETED_FRAMEWORK

    def __post_init__(self) -> None:
        _text(self.framework_id, "framework_id", empty=False)
        object.__setattr__(self, "removed_at", _number(self.removed_at, "removed_at"))

    @property
    def key(self) -> Key:
        return Key(self.kind, self.framework_id)


Entry = (
    AgentEntry
    | FrameworkEntry
    | WeightEntry
    | QuotaEntry
    | MaintenanceEntry
    | MaintenanceScheduleEntry
    | ReservationEntry
    | CompletedFrameworkEntry
)
ENTRY_TYPES = (
    AgentEntry,
    FrameworkEntry,
    WeightEntry,
    QuotaEntry,
    MaintenanceEntry,
    MaintenanceScheduleEntry,
    ReservationEntry,
    CompletedFrameworkEntry,
)
_BY_KIND: dict[str, type[Entry]] = {cls.kind.value: cls for cls in ENTRY_TYPES}


def encode(entry: Entry) -> bytes:
    body: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "kind": entry.kind.value}
    for field in fields(entry):
        value = getattr(entry, field.name)
        # An optional field left at None is not written: a record without
        # it reads the same, here and in a pyactors that predates the field.
        if value is None and field.default is None:
            continue
        body[field.name] = sorted(value) if isinstance(value, frozenset) else value
    # A copy: orjson's bytes keep the kilobyte its writer started with, and
    # an in-memory registry holds one record per agent.
    return bytes(memoryview(orjson.dumps(body)))


def decode(data: bytes, where: str) -> Entry:
    """Read one stored record; `where` names it in errors."""
    body = load_versioned(data, where)
    cls = _BY_KIND.get(body.pop("kind", None))
    if cls is None:
        raise CorruptRecordError(f"{where}: not a registry record (kind missing or unknown)")
    names = {field.name for field in fields(cls)}
    required = {field.name for field in fields(cls) if field.default is MISSING}
    if not required <= set(body) <= names:
        raise CorruptRecordError(
            f"{where}: a {cls.kind.value} record has fields {sorted(names)}, got {sorted(body)}"
        )
    try:
        return cls(**body)
    except InvalidRecordError as e:
        raise CorruptRecordError(f"{where}: {e}") from e


def load_versioned(data: bytes, where: str) -> dict[str, Any]:
    """A stored JSON object whose schema version this pyactors reads, without
    its `schema_version` field."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise CorruptRecordError(f"{where}: not JSON ({e})") from e
    if not isinstance(body, dict):
        raise CorruptRecordError(f"{where}: not a JSON object")
    version = body.pop("schema_version", None)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CorruptRecordError(f"{where}: no valid schema_version")
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where} was written with schema version {version}; this pyactors reads "
            f"up to {SCHEMA_VERSION}: upgrade it"
        )
    return body


# ------------------------------------------------------------------ checks


def _text(value: object, what: str, *, empty: bool) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise InvalidRecordError(f"{what} must be a {'' if empty else 'non-empty '}string")
    return value


def _strings(value: object, what: str) -> tuple[str, ...]:
    # A bare string is iterable too; taking its characters as items is a bug.
    if isinstance(value, str) or not isinstance(value, Collection):
        raise InvalidRecordError(f"{what} must be a collection of strings, got {value!r}")
    items = tuple(value)
    if not all(isinstance(item, str) and item for item in items):
        raise InvalidRecordError(f"{what} must be non-empty strings, got {items!r}")
    return items


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRecordError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _resources(value: object, what: str) -> Resources:
    text = _text(value, what, empty=True)
    try:
        return Resources.parse(text)
    except ResourceError as e:
        raise InvalidRecordError(f"{what}: {e}") from e
