"""The leader's recent history of framework dominant shares, for the web UI's
chart (`/master/shares`): one sample every `interval` seconds, the last
`window` seconds kept in a ring buffer, so a page opened just now still
draws the last minutes.

A plain state machine: the caller passes the time and the shares it read
(the allocator's `shares()`), and asks `due`
first so that nothing is read between samples.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyactors.errors import InvalidArgumentError


@dataclass(frozen=True)
class ShareSample:
    # Wall-clock seconds.
    time: float
    # (framework id, role) -> the framework's dominant share in the role.
    shares: Mapping[tuple[str, str], float]


class ShareHistory:
    def __init__(self, interval: float = 5.0, window: float = 600.0) -> None:
        if not interval > 0 or not window >= interval:
            raise InvalidArgumentError(
                f"share history needs 0 < interval <= window, got {interval} and {window}"
            )
        self.interval, self.window = interval, window
        self._samples: deque[ShareSample] = deque(maxlen=int(window // interval) + 1)

    def due(self, now: float) -> bool:
        """Whether a sample taken at `now` would be kept (the last one is at
        least `interval` old, or the clock went back)."""
        if not self._samples:
            return True
        last = self._samples[-1].time
        return now - last >= self.interval or now < last

    def record(self, now: float, shares: Mapping[tuple[str, str], float]) -> None:
        """Keep a sample if one is due; a clock that went back starts afresh
        (the chart's times must not run backwards)."""
        if not self.due(now):
            return
        if self._samples and now < self._samples[-1].time:
            self._samples.clear()
        self._samples.append(ShareSample(now, dict(shares)))
        # Samples come at least `interval` apart, maybe more (a slow loop).
        while now - self._samples[0].time > self.window:
            self._samples.popleft()

    def clear(self) -> None:
        self._samples.clear()

    def samples(self) -> list[ShareSample]:
        return list(self._samples)

    def to_json(self, names: Mapping[str, str]) -> dict[str, Any]:
        """`/master/shares`: one series per (framework, role) seen in the
        window, with a value per sample (null where it was not there then);
        `names` gives the frameworks' names (current ones; gone ones keep
        their ids)."""
        samples = self.samples()
        keys = sorted({key for sample in samples for key in sample.shares})
        return {
            "interval_seconds": self.interval,
            "window_seconds": self.window,
            "times": [sample.time for sample in samples],
            "series": [
                {
                    "framework_id": framework_id,
                    "name": names.get(framework_id, framework_id),
                    "role": role,
                    "shares": [sample.shares.get((framework_id, role)) for sample in samples],
                }
                for framework_id, role in keys
            ],
        }
