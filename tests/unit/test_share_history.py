"""The leader's share history (what `/master/shares` serves), driven with
explicit times and no Ray."""

from __future__ import annotations

import pytest

from pyactors.errors import InvalidArgumentError
from pyactors.master.share_history import ShareHistory


def test_samples_once_per_interval() -> None:
    history = ShareHistory(interval=5.0, window=60.0)
    assert history.due(100.0)
    history.record(100.0, {("f1", "web"): 0.25})
    assert not history.due(104.9)
    history.record(104.9, {("f1", "web"): 0.9})  # not due: dropped
    assert history.due(105.0)
    history.record(105.0, {("f1", "web"): 0.5})
    assert [(s.time, dict(s.shares)) for s in history.samples()] == [
        (100.0, {("f1", "web"): 0.25}),
        (105.0, {("f1", "web"): 0.5}),
    ]


def test_keeps_only_the_window() -> None:
    history = ShareHistory(interval=5.0, window=20.0)
    for step in range(10):
        history.record(step * 5.0, {("f1", "*"): step / 10})
    times = [s.time for s in history.samples()]
    assert times == [25.0, 30.0, 35.0, 40.0, 45.0]
    assert times[-1] - times[0] <= history.window
    # Samples further apart than the interval: the window still bounds them.
    history.record(100.0, {("f1", "*"): 1.0})
    history.record(112.0, {("f1", "*"): 1.0})
    assert [s.time for s in history.samples()] == [100.0, 112.0]


def test_a_clock_going_back_starts_afresh() -> None:
    history = ShareHistory(interval=5.0, window=60.0)
    history.record(100.0, {("f1", "*"): 0.1})
    history.record(105.0, {("f1", "*"): 0.2})
    assert history.due(50.0)
    history.record(50.0, {("f1", "*"): 0.3})
    assert [s.time for s in history.samples()] == [50.0]


def test_json_has_a_series_per_framework_and_role() -> None:
    history = ShareHistory(interval=5.0, window=60.0)
    history.record(10.0, {("f1", "web"): 0.1})
    history.record(15.0, {("f1", "web"): 0.2, ("f2", "batch"): 0.4, ("f2", "web"): 0.05})
    history.record(20.0, {("f2", "batch"): 0.3})
    shown = history.to_json({"f1": "web-frontend", "f2": "<b>batch</b>"})
    assert shown["interval_seconds"] == 5.0 and shown["window_seconds"] == 60.0
    assert shown["times"] == [10.0, 15.0, 20.0]
    assert shown["series"] == [
        {"framework_id": "f1", "name": "web-frontend", "role": "web", "shares": [0.1, 0.2, None]},
        {"framework_id": "f2", "name": "<b>batch</b>", "role": "batch", "shares": [None, 0.4, 0.3]},
        {"framework_id": "f2", "name": "<b>batch</b>", "role": "web", "shares": [None, 0.05, None]},
    ]
    # A framework gone from the state keeps its id as its name.
    assert history.to_json({})["series"][0]["name"] == "f1"


def test_empty_history() -> None:
    shown = ShareHistory().to_json({})
    assert shown["times"] == [] and shown["series"] == []


@pytest.mark.parametrize(("interval", "window"), [(0.0, 60.0), (-1.0, 60.0), (10.0, 5.0)])
def test_refuses_a_bad_interval_or_window(interval: float, window: float) -> None:
    with pytest.raises(InvalidArgumentError, match="interval"):
        ShareHistory(interval=interval, window=window)
