"""The custom executors the master knows, as Mesos's `Framework::executors`
and `Slave::executors`: one per (framework, agent, executor id), from the
accept whose first task for it launched it until its agent says it exited.

An executor's resources are allocated beside its tasks': the accept that
launches it takes them from its offers (`OfferBook` checks they fit), and
they stay used, not offered, until its ExitedExecutor (or its agent's next
registration, which no longer lists it) gives them back. Tasks launched on
it later need only their own. A state machine without I/O: what to give
back is returned to `Offering`, which talks to the allocator.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from pyactors._core import Resources
from pyactors.core.operations import ExecutorInfo
from pyactors.core.protocol import Effect, ExecutorReport, ShutdownFramework
from pyactors.master.records import FrameworkRecord

Key = tuple[str, str, str]  # (framework id, agent id, executor id)


@dataclass
class ExecutorRecord:
    framework_id: str
    agent_id: str
    role: str
    info: ExecutorInfo
    # Its resources are in the allocator (not while its agent is unreachable:
    # they leave with the agent and come back with its registration).
    holds: bool = True

    @property
    def key(self) -> Key:
        return (self.framework_id, self.agent_id, self.info.executor_id)


class MasterExecutors:
    def __init__(self) -> None:
        self.records: dict[Key, ExecutorRecord] = {}

    def __iter__(self) -> Iterator[ExecutorRecord]:
        return iter(self.records.values())

    def running(self, framework_id: str) -> Container[tuple[str, str]]:
        """The framework's executors as (agent id, executor id): a task for
        one of them needs no executor resources. A view over the records
        (an accept asks it about one agent, whatever the number held)."""
        return _Running(self.records, framework_id)

    def add(self, framework_id: str, agent_id: str, role: str, info: ExecutorInfo) -> None:
        record = ExecutorRecord(framework_id, agent_id, role, info)
        self.records[record.key] = record

    def exited(self, framework_id: str, agent_id: str, executor_id: str) -> ExecutorRecord | None:
        """Forget an executor that exited; its record, whose resources go back
        if it `holds` them (None: not known, or already forgotten)."""
        return self.records.pop((framework_id, agent_id, executor_id), None)

    def release(self, framework_id: str) -> list[Effect]:
        """The framework is removed (its allocations leave with it): its
        executors are forgotten, and each agent that runs one hears
        ShutdownFramework, which reaches idle executors too."""
        agents = {a for f, a, _ in self.records if f == framework_id}
        self.records = {k: r for k, r in self.records.items() if k[0] != framework_id}
        return [ShutdownFramework(agent_id, framework_id) for agent_id in sorted(agents)]

    def unreachable(self, agent_id: str) -> None:
        for record in self.records.values():
            if record.agent_id == agent_id:
                record.holds = False

    def rejoin(
        self,
        agent_id: str,
        reports: Sequence[ExecutorReport],
        frameworks: Mapping[str, FrameworkRecord],
        allocated: dict[str, dict[str, Resources]] | None,
    ) -> tuple[list[ExecutorRecord], list[Effect]]:
        """An agent (re-)registers with the executors it runs. Those of
        known frameworks are held: added to `allocated`, what the allocator
        takes the agent back with (None: the allocator kept the agent, and
        the executors it knows kept their resources). Those of removed
        frameworks are shut down there. The executors this master had there
        that the agent does not list exited meanwhile: they are returned
        (the caller gives back what they held)."""
        listed: dict[Key, ExecutorReport] = {}
        orphans: set[str] = set()
        for report in reports:
            if report.framework_id in frameworks:
                listed[(report.framework_id, agent_id, report.executor.executor_id)] = report
            else:
                orphans.add(report.framework_id)
        gone = [r for k, r in self.records.items() if k[1] == agent_id and k not in listed]
        for record in gone:
            del self.records[record.key]
        for key, report in listed.items():
            if allocated is None and key in self.records:
                continue
            self.add(report.framework_id, agent_id, report.role, report.executor)
            if allocated is None:
                # Unknown to this master while the allocator kept the agent:
                # its resources were never allocated here.
                self.records[key].holds = False
            else:
                roles = allocated.setdefault(report.framework_id, {})
                held = roles.get(report.role)
                resources = report.executor.resources
                roles[report.role] = held + resources if held else resources
        return gone, [ShutdownFramework(agent_id, f) for f in sorted(orphans)]


class _Running(AbstractSet[tuple[str, str]]):
    """`MasterExecutors.running`: one framework's executors, looked up by
    key (iterating, rarely needed, visits every record)."""

    def __init__(self, records: Mapping[Key, ExecutorRecord], framework_id: str) -> None:
        self.records = records
        self.framework_id = framework_id

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, tuple) or len(item) != 2:
            return False
        agent_id, executor_id = item
        return (self.framework_id, agent_id, executor_id) in self.records

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((a, e) for f, a, e in self.records if f == self.framework_id)

    def __len__(self) -> int:
        return sum(1 for _ in self)
