"""The master's metrics in Prometheus's text format (prometheus-client).

Each Mesos metric of `/metrics/snapshot` (`pyactors.api.state_json.metrics`)
becomes `pyactors_<name>` with `/` as `_` (`master/tasks_running` is
`pyactors_master_tasks_running`): the ones that only grow are counters
(exposed with `_total`), the others gauges. Besides them: the allocation
cycle time and the status update latency (forwarded by the master to
acknowledged by the framework) as histograms, each framework's dominant
share per role, and the CPU time and resident memory of each framework's
running tasks.
Values are read from the state at scrape time (the reading may be counted
off the master's loop: `MasterMetrics.exposition` awaits it); no Ray here.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pyactors.api.state_json import COUNTERS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# How many forwarded updates wait for their acknowledgement to be timed.
_TRACKED_UPDATES = 100_000


@dataclass(frozen=True)
class Reading:
    """What one scrape reads from the leading master."""

    snapshot: dict[str, float]
    # (framework, role) -> dominant share
    shares: dict[tuple[str, str], float]
    # framework -> sums over its running tasks (`pyactors.master.task_usage`)
    usage: dict[str, dict[str, float]] = field(default_factory=dict)


def prometheus_name(mesos_name: str) -> str:
    return "pyactors_" + re.sub(r"[^a-zA-Z0-9_]", "_", mesos_name)


class _StateCollector(Collector):
    """The state's families, of the reading taken for the scrape under way."""

    def __init__(self) -> None:
        self.reading: Reading | None = None

    def collect(self) -> Iterator[Metric]:
        reading = self.reading
        if reading is None:
            return
        for name, value in sorted(reading.snapshot.items()):
            if name == "allocator/mesos/allocation_run_ms":
                continue  # the histogram below says more
            family = CounterMetricFamily if name in COUNTERS else GaugeMetricFamily
            yield family(prometheus_name(name), f"Mesos's {name}", value=value)
        shares = GaugeMetricFamily(
            "pyactors_framework_share",
            "A framework's dominant share of the cluster in a role",
            labels=["framework", "role"],
        )
        for (framework, role), share in sorted(reading.shares.items()):
            shares.add_metric([framework, role], share)
        yield shares
        yield from _usage_families(reading.usage)


# Per framework, not per task: a label per task would make a new series
# for every task ever run.
_USAGE_FAMILIES = (
    ("cpus_user_time_secs", "pyactors_framework_cpus_user_seconds", "user CPU seconds"),
    ("cpus_system_time_secs", "pyactors_framework_cpus_system_seconds", "system CPU seconds"),
    ("mem_rss_bytes", "pyactors_framework_mem_rss_bytes", "resident memory bytes"),
)


def _usage_families(usage: dict[str, dict[str, float]]) -> Iterator[Metric]:
    for key, name, what in _USAGE_FAMILIES:
        family = GaugeMetricFamily(
            name, f"The {what} of a framework's running tasks", labels=["framework"]
        )
        for framework, sums in sorted(usage.items()):
            family.add_metric([framework], sums[key])
        yield family


class MasterMetrics:
    """One master's Prometheus registry: the state read at scrape time and
    the allocation cycles observed as they run."""

    def __init__(self, read: Callable[[], Awaitable[Reading | None]]) -> None:
        self._read = read
        self.registry = CollectorRegistry(auto_describe=False)
        self.allocation_run = Histogram(
            "pyactors_allocator_allocation_run_seconds",
            "Time one allocation cycle took in the allocator core",
            buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.update_acknowledged = Histogram(
            "pyactors_status_update_acknowledgement_seconds",
            "From the master forwarding a status update to its framework's acknowledgement",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        # When each update awaiting acknowledgement was first forwarded
        # (bounded: updates never acknowledged, of frameworks gone, age out).
        self._forwarded: OrderedDict[str, float] = OrderedDict()
        self._state = _StateCollector()
        self.registry.register(self._state)

    def observe_cycle(self, seconds: float) -> None:
        self.allocation_run.observe(seconds)

    def forwarded(self, uuids: Iterable[str], now: float) -> None:
        for uuid in uuids:
            self._forwarded.setdefault(uuid, now)
        while len(self._forwarded) > _TRACKED_UPDATES:
            self._forwarded.popitem(last=False)

    def acknowledged(self, uuids: Iterable[str], now: float) -> None:
        for uuid in uuids:
            sent = self._forwarded.pop(uuid, None)
            if sent is not None:
                self.update_acknowledged.observe(now - sent)

    async def exposition(self) -> bytes:
        """The registry's text with the state as read now (the reading is
        awaited; the text is written without a pause, so concurrent scrapes
        each see their own)."""
        self._state.reading = await self._read()
        try:
            return generate_latest(self.registry)
        finally:
            self._state.reading = None
