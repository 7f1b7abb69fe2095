"""Mesos's maintenance primitives as plain state machines (docs/maintenance.md,
src/master/maintenance.cpp, the hierarchical allocator's inverse offers).

- `Schedule`: the maintenance schedule (windows of machines, each with an
  `Unavailability`) and the machines brought DOWN. A scheduled machine is
  DRAINING until `/machine/down` (START_MAINTENANCE) makes it DOWN; a DOWN
  machine is UP again through `/machine/up` (STOP_MAINTENANCE), which takes
  it out of the schedule. UP machines are not tracked. A `Schedule` is a
  value: each change is checked whole (Mesos's messages) and returns a new
  one, which the master stores in the registry before it acts on it.
- `InverseOffers`: for each agent on a DRAINING machine, one inverse offer
  outstanding per framework holding resources there (offered or
  allocated); a framework's answer (ACCEPT or DECLINE, with a filter) is
  recorded as that agent's status for it, as the maintenance status shows.

Machines are matched to agents by hostname (pyactors' agents report no
IP address of their own): a machine id naming a hostname holds the agents
of that hostname; one naming only an IP holds agents registered under that
address as their hostname.

Time is an argument: `now` is the master's clock; unavailabilities are the
operator's wall-clock times (nanoseconds since the epoch), kept as given.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import orjson

from pyactors.errors import InvalidArgumentError

# Mesos's cap on a refused inverse offer filter, and its default length.
MAX_REFUSE_SECONDS = 365 * 24 * 3600.0
DEFAULT_REFUSE_SECONDS = 5.0


class MaintenanceError(InvalidArgumentError):
    """A maintenance call or schedule refused before anything changed (Mesos
    answers 400 with this message)."""


class Mode(StrEnum):
    """Mesos's `MachineInfo.Mode`."""

    UP = "UP"
    DRAINING = "DRAINING"
    DOWN = "DOWN"


class InverseOfferStatus(StrEnum):
    """Mesos's `allocator.InverseOfferStatus.Status`: a framework's answer to
    an inverse offer (UNKNOWN: not answered; never recorded)."""

    UNKNOWN = "UNKNOWN"
    ACCEPT = "ACCEPT"
    DECLINE = "DECLINE"


# ------------------------------------------------------------------ values


@dataclass(frozen=True, order=True)
class MachineId:
    """Mesos's `MachineID`: a hostname, an IP, or both."""

    hostname: str = ""
    ip: str = ""

    def to_json(self) -> dict[str, str]:
        # Protobuf's JSON leaves unset fields out.
        return {k: v for k, v in (("hostname", self.hostname), ("ip", self.ip)) if v}

    def described(self) -> str:
        """As Mesos's messages print one: `stringify(JSON::protobuf(id))`."""
        return orjson.dumps(self.to_json()).decode()

    def holds(self, hostname: str) -> bool:
        """Whether an agent of this hostname runs on this machine."""
        return (self.hostname or self.ip) == hostname


@dataclass(frozen=True)
class Unavailability:
    """When a machine is expected down: from `start` (nanoseconds since the
    epoch) for `duration` nanoseconds (None: indefinitely)."""

    start: int
    duration: int | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"start": {"nanoseconds": self.start}}
        if self.duration is not None:
            body["duration"] = {"nanoseconds": self.duration}
        return body

    @property
    def start_seconds(self) -> float:
        return self.start / 1e9


@dataclass(frozen=True)
class Window:
    """Machines scheduled for maintenance in the same unavailability."""

    machine_ids: tuple[MachineId, ...]
    unavailability: Unavailability

    def to_json(self) -> dict[str, Any]:
        return {
            "machine_ids": [m.to_json() for m in self.machine_ids],
            "unavailability": self.unavailability.to_json(),
        }


# ------------------------------------------------------------------ reading JSON


def _fields(value: Any, what: str, known: Set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise MaintenanceError(f"Failed to parse {what}: expecting a JSON object")
    unknown = sorted(set(value) - known)
    if unknown:
        raise MaintenanceError(f"Failed to parse {what}: unknown field '{unknown[0]}'")
    return value


def _nanoseconds(value: Any, what: str) -> int:
    body = _fields(value, what, {"nanoseconds"})
    nanos = body.get("nanoseconds")
    # Protobuf's JSON writes an int64 as a string or a number; both are read.
    if isinstance(nanos, str) and nanos.lstrip("-").isdigit():
        nanos = int(nanos)
    if isinstance(nanos, bool) or not isinstance(nanos, int):
        raise MaintenanceError(f"Failed to parse {what}: 'nanoseconds' must be an integer")
    return nanos


def machine_id_from_json(value: Any, what: str = "MachineID") -> MachineId:
    body = _fields(value, what, {"hostname", "ip"})
    for name in ("hostname", "ip"):
        if not isinstance(body.get(name, ""), str):
            raise MaintenanceError(f"Failed to parse {what}: '{name}' must be a string")
    return MachineId(body.get("hostname", ""), body.get("ip", ""))


def machine_ids_from_json(value: Any) -> tuple[MachineId, ...]:
    """A JSON array of machine ids (the body of /machine/down and /machine/up)."""
    if not isinstance(value, list):
        raise MaintenanceError("Failed to parse machines: expecting a JSON array")
    return tuple(machine_id_from_json(m, f"machines[{i}]") for i, m in enumerate(value))


def windows_from_json(value: Any) -> tuple[Window, ...]:
    """Mesos's `maintenance.Schedule` in JSON; unknown fields are refused."""
    body = _fields(value, "Schedule", {"windows"})
    raw = body.get("windows", [])
    if not isinstance(raw, list):
        raise MaintenanceError("Failed to parse Schedule: 'windows' must be an array")
    windows = []
    for index, item in enumerate(raw):
        what = f"windows[{index}]"
        window = _fields(item, what, {"machine_ids", "unavailability"})
        ids = window.get("machine_ids", [])
        if not isinstance(ids, list):
            raise MaintenanceError(f"Failed to parse {what}: 'machine_ids' must be an array")
        if "unavailability" not in window:
            raise MaintenanceError(f"Failed to parse {what}: missing 'unavailability'")
        unavailable = _fields(
            window["unavailability"], f"{what}.unavailability", {"start", "duration"}
        )
        if "start" not in unavailable:
            raise MaintenanceError(f"Failed to parse {what}.unavailability: missing 'start'")
        duration = unavailable.get("duration")
        windows.append(
            Window(
                tuple(
                    machine_id_from_json(m, f"{what}.machine_ids[{i}]") for i, m in enumerate(ids)
                ),
                Unavailability(
                    _nanoseconds(unavailable["start"], f"{what}.unavailability.start"),
                    None
                    if duration is None
                    else _nanoseconds(duration, f"{what}.unavailability.duration"),
                ),
            )
        )
    return tuple(windows)


# ------------------------------------------------------------------ checks (Mesos's)


def _check_machine(machine: MachineId) -> None:
    if not machine.hostname and not machine.ip:
        raise MaintenanceError("Both 'hostname' and 'ip' for a machine are empty")
    if machine.ip:
        try:
            ipaddress.IPv4Address(machine.ip)
        except ValueError:
            raise MaintenanceError(f"Failed to parse IP address '{machine.ip}'") from None


def check_machines(machines: Iterable[MachineId]) -> None:
    """Mesos's `validation::machines`: a non-empty list of valid, distinct ids."""
    seen: set[MachineId] = set()
    for machine in machines:
        _check_machine(machine)
        if machine in seen:
            raise MaintenanceError(
                f"Machine '{machine.described()}' appears more than once in the schedule"
            )
        seen.add(machine)
    if not seen:
        raise MaintenanceError("List of machines is empty")


# ------------------------------------------------------------------ the schedule


@dataclass(frozen=True)
class Schedule:
    """The maintenance schedule and the machines brought down: the whole of
    the maintenance state that survives a failover (Mesos's registry keeps
    the schedule and each scheduled machine's `MachineInfo`)."""

    windows: tuple[Window, ...] = ()
    down: frozenset[MachineId] = frozenset()

    def machines(self) -> Iterator[tuple[MachineId, Unavailability]]:
        for window in self.windows:
            for machine in window.machine_ids:
                yield machine, window.unavailability

    def mode(self, machine: MachineId) -> Mode:
        if machine in self.down:
            return Mode.DOWN
        return Mode.DRAINING if any(m == machine for m, _ in self.machines()) else Mode.UP

    def unavailability(self, machine: MachineId) -> Unavailability | None:
        return next((u for m, u in self.machines() if m == machine), None)

    def machine_of(self, hostname: str) -> MachineId | None:
        """The scheduled machine an agent of this hostname runs on."""
        return next((m for m, _ in self.machines() if m.holds(hostname)), None)

    def draining(self) -> dict[MachineId, Unavailability]:
        return {m: u for m, u in self.machines() if m not in self.down}

    def updated(self, windows: tuple[Window, ...]) -> Schedule:
        """UPDATE_MAINTENANCE_SCHEDULE: the schedule replaced whole (Mesos's
        `validation::schedule`); machines new to it are DRAINING, those left
        out are UP again; a DOWN machine cannot be left out."""
        listed: set[MachineId] = set()
        for window in windows:
            if not window.machine_ids:
                raise MaintenanceError("List of machines in the maintenance window is empty")
            if window.unavailability.duration is not None and window.unavailability.duration < 0:
                raise MaintenanceError("Unavailability 'duration' is negative")
            for machine in window.machine_ids:
                _check_machine(machine)
                if machine in listed:
                    raise MaintenanceError(
                        f"Machine '{machine.described()}' appears more than once in the schedule"
                    )
                listed.add(machine)
        removed = sorted(self.down - listed)
        if removed:
            raise MaintenanceError(
                f"Machine '{removed[0].described()}' is deactivated and cannot be removed "
                "from the schedule"
            )
        return replace(self, windows=windows)

    def started(self, machines: tuple[MachineId, ...]) -> Schedule:
        """START_MAINTENANCE (/machine/down): DRAINING machines become DOWN."""
        self._check_modes(machines, Mode.DRAINING, "brought down")
        return replace(self, down=self.down | set(machines))

    def stopped(self, machines: tuple[MachineId, ...]) -> Schedule:
        """STOP_MAINTENANCE (/machine/up): DOWN machines are UP, out of the
        schedule (windows left empty go with them)."""
        self._check_modes(machines, Mode.DOWN, "brought up")
        gone = set(machines)
        windows = tuple(
            Window(kept, w.unavailability)
            for w in self.windows
            if (kept := tuple(m for m in w.machine_ids if m not in gone))
        )
        return Schedule(windows, self.down - gone)

    def _check_modes(self, machines: tuple[MachineId, ...], mode: Mode, change: str) -> None:
        """Mesos's checks of START and STOP_MAINTENANCE: valid, distinct
        machines, each scheduled and in `mode` (else it cannot be `change`d)."""
        check_machines(machines)
        for machine in machines:
            now = self.mode(machine)
            if now is Mode.UP:
                raise MaintenanceError(
                    f"Machine '{machine.described()}' is not part of a maintenance schedule"
                )
            if now is not mode:
                raise MaintenanceError(
                    f"Machine '{machine.described()}' is not in {mode} mode and cannot be {change}"
                )

    def to_json(self) -> dict[str, Any]:
        """Mesos's `maintenance.Schedule` JSON (no windows: `{}`)."""
        return {"windows": [w.to_json() for w in self.windows]} if self.windows else {}

    def record(self) -> dict[str, Any]:
        """The durable form: the schedule and the DOWN machines."""
        return {**self.to_json(), "down_machines": [m.to_json() for m in sorted(self.down)]}

    @classmethod
    def from_record(cls, body: Mapping[str, Any]) -> Schedule:
        """Read the durable form back, checked as an update is."""
        down = body.get("down_machines", [])
        rest = {k: v for k, v in body.items() if k != "down_machines"}
        schedule = cls(down=frozenset(machine_ids_from_json(down)))
        return schedule.updated(windows_from_json(rest))


# ------------------------------------------------------------------ inverse offers


@dataclass(frozen=True)
class InverseOffer:
    """Mesos's `InverseOffer`: a request that `framework_id` gives back what
    it holds on `agent_id` by the `unavailability` (the whole agent: no
    resources named, as Mesos's allocator sends them)."""

    id: str
    framework_id: str
    agent_id: str
    hostname: str
    unavailability: Unavailability


@dataclass(frozen=True)
class Answer:
    """A framework's latest answer to an inverse offer for one agent, and
    when (the master's clock)."""

    framework_id: str
    status: InverseOfferStatus
    at: float


@dataclass
class InverseOffers:
    """The inverse offers outstanding, the answers per agent and the
    frameworks' refusal filters (Mesos's `Slave::Maintenance` and
    `inverseOfferFilters`). Ids share the master's offer ids' prefix."""

    prefix: str = "inverse-offer"
    outstanding: dict[str, InverseOffer] = field(default_factory=dict)
    answers: dict[str, dict[str, Answer]] = field(default_factory=dict)
    # (framework, agent) -> until when no inverse offer is made.
    filters: dict[tuple[str, str], float] = field(default_factory=dict)
    created: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._serial = itertools.count(1)

    def make(
        self,
        draining: Mapping[str, tuple[str, Unavailability]],
        holders: Mapping[str, Set[str]],
        now: float,
    ) -> list[InverseOffer]:
        """Mesos's `generateInverseOffers`: for each draining agent (id ->
        hostname, unavailability), an inverse offer to each framework in
        `holders[agent]` (those holding resources there, connected and
        active) without one outstanding there and not filtering it."""
        made = []
        waiting = {(o.framework_id, o.agent_id) for o in self.outstanding.values()}
        for agent_id, (hostname, unavailability) in sorted(draining.items()):
            self.answers.setdefault(agent_id, {})
            for framework_id in sorted(holders.get(agent_id, ())):
                pair = (framework_id, agent_id)
                if pair in waiting or self.filters.get(pair, now) > now:
                    continue
                self.filters.pop(pair, None)
                offer = InverseOffer(
                    f"{self.prefix}-I{next(self._serial)}",
                    framework_id,
                    agent_id,
                    hostname,
                    unavailability,
                )
                self.outstanding[offer.id] = offer
                self.created[offer.id] = now
                made.append(offer)
        return made

    def answer(
        self,
        framework_id: str,
        offer_ids: Iterable[str],
        status: InverseOfferStatus,
        refuse_seconds: float | None,
        now: float,
    ) -> list[InverseOffer]:
        """ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS: each of the
        framework's outstanding inverse offers named is answered (its status
        recorded for its agent) and filtered for `refuse_seconds` (Mesos's
        default of 5 s when None, capped at a year; 0: no filter). Ids that
        are not outstanding are ignored, as Mesos ignores them."""
        if status is InverseOfferStatus.UNKNOWN:
            raise InvalidArgumentError("an inverse offer is answered ACCEPT or DECLINE")
        seconds = DEFAULT_REFUSE_SECONDS if refuse_seconds is None else refuse_seconds
        if not seconds >= 0:  # negative or NaN: Mesos takes its default
            seconds = DEFAULT_REFUSE_SECONDS
        seconds = min(seconds, MAX_REFUSE_SECONDS)
        answered = []
        for offer_id in offer_ids:
            offer = self.outstanding.get(offer_id)
            if offer is None or offer.framework_id != framework_id:
                continue
            self._drop(offer_id)
            self.answers.setdefault(offer.agent_id, {})[framework_id] = Answer(
                framework_id, status, now
            )
            if seconds > 0:
                self.filters[(framework_id, offer.agent_id)] = now + seconds
            answered.append(offer)
        return answered

    def end_agent(self, agent_id: str) -> list[InverseOffer]:
        """The agent's unavailability changed or ended, or the agent left:
        its outstanding inverse offers (returned, to be rescinded), answers
        and filters are dropped (new ones follow for a new unavailability)."""
        ended = [o for o in self.outstanding.values() if o.agent_id == agent_id]
        for offer in ended:
            self._drop(offer.id)
        self.answers.pop(agent_id, None)
        self.filters = {k: v for k, v in self.filters.items() if k[1] != agent_id}
        return ended

    def end_framework(self, framework_id: str) -> list[InverseOffer]:
        """The framework disconnected or left: its outstanding inverse
        offers are withdrawn (it gets new ones when it is back)."""
        ended = [o for o in self.outstanding.values() if o.framework_id == framework_id]
        for offer in ended:
            self._drop(offer.id)
        return ended

    def expired(self, now: float, timeout: float) -> list[InverseOffer]:
        """Inverse offers unanswered for `timeout` (Mesos's offer_timeout)
        are rescinded; the framework gets a new one at the next cycle."""
        old = [o for o in self.outstanding.values() if now - self.created[o.id] >= timeout]
        for offer in old:
            self._drop(offer.id)
        return old

    def statuses(self, agent_id: str) -> list[Answer]:
        return sorted(self.answers.get(agent_id, {}).values(), key=lambda a: a.framework_id)

    def _drop(self, offer_id: str) -> None:
        del self.outstanding[offer_id]
        del self.created[offer_id]
