"""When job runs are due: ISO 8601 repeating intervals (counts, time zones,
calendar and elapsed periods) and cron expressions, without Ray."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyactors.frameworks.jobs.schedule import (
    duration_seconds,
    parse_cron,
    parse_duration,
    parse_repeating,
    time_zone,
)

UTC_ZONE = time_zone("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_repeating_forever_every_two_seconds() -> None:
    schedule = parse_repeating("R/2026-11-24T00:00:00Z/PT2S", UTC_ZONE, 0.0)
    start = at("2026-11-24T00:00:00+00:00")
    assert schedule.last_at_or_before(start - 0.5) is None
    assert schedule.next_after(start - 0.5) == start
    assert schedule.last_at_or_before(start) == start
    assert schedule.next_after(start) == start + 2
    assert schedule.last_at_or_before(start + 3_600_001) == start + 3_600_000
    assert schedule.next_after(start + 3_600_001) == start + 3_600_002


def test_a_count_limits_the_occurrences() -> None:
    schedule = parse_repeating("R3/2026-11-24T00:00:00Z/PT1H", UTC_ZONE, 0.0)
    start = at("2026-11-24T00:00:00+00:00")
    assert schedule.next_after(start + 3600) == start + 7200
    assert schedule.next_after(start + 7200) is None
    assert schedule.last_at_or_before(start + 10 * 3600) == start + 7200
    never = parse_repeating("R0/2026-11-24T00:00:00Z/PT1H", UTC_ZONE, 0.0)
    assert never.next_after(0.0) is None
    assert never.last_at_or_before(start + 3600) is None


def test_an_empty_start_is_when_the_job_was_added() -> None:
    schedule = parse_repeating("R//PT10S", UTC_ZONE, 1000.0)
    assert schedule.last_at_or_before(1000.0) == 1000.0
    assert schedule.next_after(1000.0) == 1010.0


def test_a_start_without_offset_is_read_in_the_time_zone() -> None:
    schedule = parse_repeating("R/2026-11-24T03:00:00/PT1H", BERLIN, 0.0)
    assert schedule.next_after(0.0) == at("2026-11-24T02:00:00+00:00")


def test_daily_periods_keep_the_local_time_across_daylight_saving() -> None:
    # Berlin moves to summer time on 2026-03-29: the day is 23 hours long.
    daily = parse_repeating("R/2026-03-28T03:00:00/P1D", BERLIN, 0.0)
    first = at("2026-03-28T03:00:00+01:00")
    second = daily.next_after(first)
    assert second == at("2026-03-29T03:00:00+02:00")
    assert second is not None and second - first == 23 * 3600
    # PT24H is elapsed time: 24 hours, whatever the clocks say.
    hourly = parse_repeating("R/2026-03-28T03:00:00/PT24H", BERLIN, 0.0)
    assert hourly.next_after(first) == first + 24 * 3600


def test_monthly_periods_step_from_the_start() -> None:
    monthly = parse_repeating("R/2026-01-31T00:00:00Z/P1M", UTC_ZONE, 0.0)
    jan = at("2026-01-31T00:00:00+00:00")
    assert monthly.next_after(jan) == at("2026-02-28T00:00:00+00:00")
    assert monthly.last_at_or_before(at("2026-04-01T00:00:00+00:00")) == at(
        "2026-03-31T00:00:00+00:00"
    )


@pytest.mark.parametrize(
    "text",
    ["R/2026-11-24T00:00:00Z", "X/2026-11-24T00:00:00Z/PT1H", "R/yesterday/PT1H", "R//1H", ""],
)
def test_malformed_repeating_intervals_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_repeating(text, UTC_ZONE, 0.0)


@pytest.mark.parametrize("text", ["PT0S", "P", "PT", "-PT1S", "60", "P1.5Y", "PT1H2"])
def test_malformed_or_empty_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_durations_in_seconds() -> None:
    assert duration_seconds("PT60S") == 60
    assert duration_seconds("P1DT1M") == 86460
    with pytest.raises(ValueError, match="months"):
        duration_seconds("P1M")


def test_cron_in_a_time_zone() -> None:
    nightly = parse_cron("0 3 * * *", BERLIN)
    assert nightly.next_after(at("2026-11-24T00:00:00+00:00")) == at("2026-11-24T02:00:00+00:00")
    three = at("2026-11-24T03:00:00+01:00")
    assert nightly.last_at_or_before(three) == three
    assert nightly.last_at_or_before(three - 1) == three - 86400
    with pytest.raises(ValueError, match="cron"):
        parse_cron("every night", BERLIN)


def test_unknown_time_zones_are_refused() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        time_zone("Mars/Olympus")


instants = st.floats(min_value=1.7e9, max_value=1.9e9, allow_nan=False)


@given(
    start=instants,
    period=st.integers(min_value=1, max_value=100_000),
    count=st.none() | st.integers(min_value=1, max_value=50),
    t=instants,
)
def test_elapsed_schedules_bracket_any_instant(
    start: float, period: int, count: int | None, t: float
) -> None:
    begin = datetime.fromtimestamp(start, UTC).isoformat()
    schedule = parse_repeating(f"R{count or ''}/{begin}/PT{period}S", UTC_ZONE, 0.0)
    last, following = schedule.last_at_or_before(t), schedule.next_after(t)
    if last is not None:
        assert last <= t
        assert schedule.next_after(last) == following
        assert following is None or following > t
    else:
        assert following == schedule.next_after(start - 1)
    if following is not None:
        assert following > t
        assert schedule.last_at_or_before(following) == following


@given(
    day=st.integers(min_value=1, max_value=28),
    months=st.integers(min_value=1, max_value=14),
    t=instants,
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
)
def test_calendar_schedules_bracket_any_instant(day: int, months: int, t: float, zone: str) -> None:
    schedule = parse_repeating(f"R/2025-01-{day:02d}T02:30:00/P{months}M", time_zone(zone), 0.0)
    last, following = schedule.last_at_or_before(t), schedule.next_after(t)
    assert following is not None and following > t
    if last is not None:
        assert last <= t < following
        assert schedule.next_after(last) == following


@given(
    expression=st.sampled_from(["0 3 * * *", "*/5 * * * *", "15 14 1 * *", "0 0 * * 1-5"]),
    t=instants,
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
)
def test_cron_schedules_bracket_any_instant(expression: str, t: float, zone: str) -> None:
    schedule = parse_cron(expression, time_zone(zone))
    last, following = schedule.last_at_or_before(t), schedule.next_after(t)
    assert last is not None and following is not None
    assert last <= t < following
    assert schedule.next_after(last) == following
