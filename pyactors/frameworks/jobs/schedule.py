"""When a job's runs are due: Chronos's ISO 8601 repeating intervals and
Metronome's cron expressions, as instants in epoch seconds.

A repeating interval `R[n]/<start>/<period>` has occurrences
`start + k * period` for k = 0, 1, ... (n of them; `R` alone: forever).
A start without a UTC offset is read in the schedule's time zone; an empty
start means "when the job is added". Periods made only of hours, minutes
and seconds are elapsed time (PT1H is every 3,600 s, across daylight
saving changes too); periods with days, weeks, months or years are
calendar steps in the time zone (P1D at 03:00 stays at 03:00 local).
Cron expressions (croniter: 5 fields, or 6 with seconds last) are read in
the time zone too.

Both kinds answer the same two questions, with time as an argument:
`next_after(t)`, the first occurrence strictly after `t`, and
`last_at_or_before(t)`, the latest occurrence at or before `t` (None when
there is none).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import isodate
from croniter import croniter

_REPEAT = re.compile(r"R(?P<count>\d*)")
# isodate accepts a few forms Chronos users never write (P1.5Y, negative
# durations); the period must be a plain positive duration.
_DURATION = re.compile(r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?")


class Schedule(Protocol):
    def next_after(self, t: float) -> float | None: ...

    def last_at_or_before(self, t: float) -> float | None: ...


def time_zone(name: str) -> tzinfo:
    """The IANA time zone `name` ("UTC", "Europe/Berlin"); ValueError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {name!r}: use an IANA name, e.g. Europe/Berlin") from e


def parse_duration(text: str) -> timedelta | isodate.Duration:
    """A positive ISO 8601 duration ("PT60S", "P1D", "P1M"); ValueError if not.
    Durations with months or years come back as `isodate.Duration`."""
    if not isinstance(text, str) or not _DURATION.fullmatch(text):
        raise ValueError(f"expected an ISO 8601 duration like 'PT60S' or 'P1D', got {text!r}")
    duration = isodate.parse_duration(text)
    if isinstance(duration, timedelta) and duration <= timedelta(0):
        raise ValueError(f"the duration must be positive, got {text!r}")
    return duration


def duration_seconds(text: str) -> float:
    """An ISO 8601 duration of fixed length (no months or years) in seconds."""
    duration = parse_duration(text)
    if not isinstance(duration, timedelta):
        raise ValueError(f"months and years have no fixed length; use days: {text!r}")
    return duration.total_seconds()


@dataclass(frozen=True)
class RepeatingSchedule:
    """`R[n]/<start>/<period>`: `count` occurrences (None: forever) from
    `start` (an aware datetime) every `period`."""

    count: int | None
    start: datetime
    period: timedelta | isodate.Duration
    calendar: bool

    def occurrence(self, k: int) -> float:
        if self.calendar:
            # Wall-clock steps in the start's zone: aware datetime arithmetic
            # in Python keeps the local time of day.
            return (self.start + self.period * k).timestamp()
        return self.start.timestamp() + k * self._seconds()

    def next_after(self, t: float) -> float | None:
        k = self._index_at_or_before(t) + 1
        return self.occurrence(k) if self._exists(k) else None

    def last_at_or_before(self, t: float) -> float | None:
        k = self._index_at_or_before(t)
        if k < 0:
            return None
        if self.count is not None and k >= self.count:
            k = self.count - 1
        return self.occurrence(k) if self._exists(k) else None

    def _exists(self, k: int) -> bool:
        return k >= 0 and (self.count is None or k < self.count)

    def _seconds(self) -> float:
        if isinstance(self.period, timedelta):
            return self.period.total_seconds()
        # An estimate only (months vary): `_index_at_or_before` corrects it.
        return float(
            float(self.period.years) * 365.2425 * 86400
            + float(self.period.months) * 30.436875 * 86400
            + self.period.tdelta.total_seconds()
        )

    def _index_at_or_before(self, t: float) -> int:
        """The largest k with occurrence(k) <= t (-1 before the start),
        ignoring the count."""
        start = self.start.timestamp()
        if t < start:
            return -1
        k = math.floor((t - start) / self._seconds())
        # Calendar steps differ from the estimate by a few days at most.
        while k > 0 and self.occurrence(k) > t:
            k -= 1
        while self.occurrence(k + 1) <= t:
            k += 1
        return k


@dataclass(frozen=True)
class CronSchedule:
    """A cron expression read in `zone`."""

    expression: str
    zone: tzinfo

    def next_after(self, t: float) -> float | None:
        return float(croniter(self.expression, self._at(t)).get_next(float))

    def last_at_or_before(self, t: float) -> float | None:
        # croniter's get_prev is strictly before its base; the base itself
        # may be an occurrence.
        previous = float(croniter(self.expression, self._at(t)).get_prev(float))
        following = float(croniter(self.expression, self._at(previous)).get_next(float))
        return following if following <= t else previous

    def _at(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, self.zone)


def parse_repeating(text: str, zone: tzinfo, added_at: float) -> RepeatingSchedule:
    """Parse `R[n]/<start>/<period>`; an empty start is `added_at`.
    ValueError says what is wrong."""
    parts = text.split("/") if isinstance(text, str) else []
    if len(parts) != 3:
        raise ValueError(
            f"expected R[n]/<start>/<period>, e.g. 'R/2026-11-24T00:00:00Z/PT1H', got {text!r}"
        )
    repeat, start_text, period_text = parts
    match = _REPEAT.fullmatch(repeat)
    if match is None:
        raise ValueError(f"the repetitions must be R or R<n>, got {repeat!r}")
    count = int(match["count"]) if match["count"] else None
    if start_text:
        try:
            start = isodate.parse_datetime(start_text)
        except (isodate.ISO8601Error, ValueError) as e:
            raise ValueError(f"bad start {start_text!r}: {e}") from e
        if start.tzinfo is None:
            start = start.replace(tzinfo=zone)
    else:
        start = datetime.fromtimestamp(added_at, zone)
    period = parse_duration(period_text)
    date_part = period_text[1:].partition("T")[0]
    calendar = any(c.isdigit() and c != "0" for c in date_part)
    if calendar:
        start = start.astimezone(zone)
    return RepeatingSchedule(count, start, period, calendar)


def parse_cron(expression: str, zone: tzinfo) -> CronSchedule:
    if not isinstance(expression, str) or not croniter.is_valid(expression):
        raise ValueError(f"not a cron expression (e.g. '0 3 * * *'): {expression!r}")
    return CronSchedule(expression, zone)
