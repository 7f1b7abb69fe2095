"""The tasks the master knows: the live ones by id, and a bounded history
of those whose terminal update was acknowledged.

The book decides what follows from the tasks' states alone: which updates
to record, forward or acknowledge at once, which tasks to kill, what an
agent coming back still runs, how reconciliation is answered. Giving
resources back to the allocator is the caller's part: the book says which
tasks freed theirs. Counts of the tasks reaching each terminal state go to
the master's `counters` (`tasks_<state>`).
"""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pyactors._core import Resources
from pyactors.agent import task_messages
from pyactors.core.operations import valid_grace_period
from pyactors.core.protocol import (
    AcknowledgeToAgent,
    Effect,
    ForwardUpdates,
    FrameworkMessages,
    KillTasks,
    MessageToTask,
    TaskReport,
)
from pyactors.core.tasks import (
    TERMINAL_STATES,
    Reason,
    Source,
    TaskState,
    TaskStatus,
    can_transition,
)
from pyactors.errors import InvalidArgumentError
from pyactors.master.grouping import Grouped
from pyactors.master.records import AgentRecord, Delivery, FrameworkRecord, TaskRecord

# How reconciliation answers for a task the book does not know, given the
# task id and the agent the framework last saw it on: its state (UNKNOWN,
# GONE, UNREACHABLE), or None to answer later (its agent is awaited).
UnknownTaskState = Callable[[str, str | None], TaskState | None]


# The counter of the tasks reaching each state: `tasks_finished`, ...
_COUNTER_NAMES = {
    state: "tasks_" + state.value.removeprefix("TASK_").lower() for state in TaskState
}


@dataclass
class Rejoined:
    """What an agent coming back with its tasks amounts to."""

    # Updates for the frameworks: RUNNING again, or GONE.
    forward: dict[str, list[TaskStatus]] = field(default_factory=lambda: defaultdict(list))
    # Tasks of frameworks no longer known, to kill, per framework.
    kills: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # What the agent's tasks hold, per framework and role, for the allocator.
    allocated: dict[str, dict[str, Resources]] = field(default_factory=lambda: defaultdict(dict))

    def hold(self, record: TaskRecord) -> None:
        held = self.allocated[record.framework_id].get(record.role)
        resources = record.task.resources
        self.allocated[record.framework_id][record.role] = held + resources if held else resources


class TaskBook:
    """`live` is read by the HTTP state and tests; it changes only here
    (`add`, `retire`), which keeps the live tasks also by agent and by
    framework: what concerns one agent or framework visits only its tasks."""

    def __init__(self, max_completed: int, counters: Counter[str]) -> None:
        self.max_completed = max_completed
        self.counters = counters
        self.live: dict[str, TaskRecord] = {}
        self._by_agent: Grouped[TaskRecord] = Grouped()
        self._by_framework: Grouped[TaskRecord] = Grouped()
        # Tasks whose terminal update was acknowledged, oldest first.
        self.completed: OrderedDict[str, TaskRecord] = OrderedDict()

    def __contains__(self, task_id: str) -> bool:
        return task_id in self.live or task_id in self.completed

    def find(self, task_id: str) -> TaskRecord | None:
        """A live or completed task."""
        return self.live.get(task_id) or self.completed.get(task_id)

    def add(self, record: TaskRecord) -> None:
        task_id = record.task.task_id
        replaced = self.live.get(task_id)
        if replaced is not None:
            self._unindex(replaced)
        self.live[task_id] = record
        self._by_agent.add(record.agent_id, task_id, record)
        self._by_framework.add(record.framework_id, task_id, record)

    def _unindex(self, record: TaskRecord) -> None:
        task_id = record.task.task_id
        self._by_agent.drop(record.agent_id, task_id)
        self._by_framework.drop(record.framework_id, task_id)

    def on_agent(self, agent_id: str) -> list[TaskRecord]:
        """The agent's tasks not yet terminal."""
        return [r for r in self._by_agent.of(agent_id).values() if r.state not in TERMINAL_STATES]

    def of_framework(self, framework_id: str) -> list[TaskRecord]:
        """The framework's live tasks (terminal ones not yet acknowledged too)."""
        return list(self._by_framework.of(framework_id).values())

    def to_resend(self, framework_id: str) -> dict[str, list[str]]:
        """The framework's live tasks per agent, for its agents to resend
        their updates to its new scheduler: what was forwarded to the one it
        replaces may be lost with it, so a resend is forwarded again."""
        pending: dict[str, list[str]] = defaultdict(list)
        for task in self._by_framework.of(framework_id).values():
            pending[task.agent_id].append(task.task.task_id)
            if task.delivery is Delivery.FORWARDED:
                task.delivery = Delivery.RECORDED
        return pending

    # ------------------------------------------------------------ updates

    def status_updates(
        self,
        agent_id: str,
        statuses: Sequence[TaskStatus],
        frameworks: Mapping[str, FrameworkRecord],
    ) -> tuple[list[Effect], list[TaskRecord]]:
        """`status_update_batches` for one agent's batch."""
        return self.status_update_batches([(agent_id, statuses)], frameworks)

    def status_update_batches(
        self,
        batches: Sequence[tuple[str, Sequence[TaskStatus]]],
        frameworks: Mapping[str, FrameworkRecord],
    ) -> tuple[list[Effect], list[TaskRecord]]:
        """Record the batches of updates of agents; the effects (forwards in
        one batch per framework for all the agents, acknowledgements of
        what nobody will acknowledge, per agent) and the tasks whose
        resources are now free. Updates of unknown tasks or impossible
        transitions are acknowledged so the agent stops resending them, and
        not forwarded. A disconnected framework's are recorded but not
        forwarded: the agent keeps them until the framework is back.

        As in Mesos's master, an update whose `latest_state` is terminal
        frees the task's resources when it arrives, whatever its own state:
        the task ended while an earlier update of it awaits acknowledgement.
        The task stays in the book until its terminal update is acknowledged.

        An update the book holds already (same uuid: the agent resent it, its
        acknowledgement late) costs a lookup: the framework's acknowledgement
        is repeated to the agent if it came, the update forwarded again only
        if its framework's current scheduler never had it (counted as
        `status_updates_duplicate`)."""
        forward: dict[str, list[TaskStatus]] = defaultdict(list)
        acknowledged: list[Effect] = []
        freed: list[TaskRecord] = []
        duplicates = 0
        for agent_id, statuses in batches:
            stale: list[tuple[str, str]] = []
            live = self._by_agent.of(agent_id)
            for status in statuses:
                record = live.get(status.task_id)
                uuid = status.uuid
                if record is None:
                    if uuid is not None:
                        stale.append((status.task_id, uuid))
                    continue
                recorded = record.status
                if uuid is not None and uuid == recorded.uuid:
                    duplicates += 1
                    if status.latest_state is not None:
                        # Resent because the task ended behind it.
                        self._ended(record, status.latest_state, freed)
                    framework = frameworks.get(record.framework_id)
                    if framework is None or record.delivery is Delivery.ACKNOWLEDGED:
                        stale.append((status.task_id, uuid))
                    elif record.delivery is Delivery.RECORDED and framework.connected:
                        forward[record.framework_id].append(recorded)
                        record.delivery = Delivery.FORWARDED
                    continue
                state, new = recorded.state, status.state
                if state is not new and not can_transition(state, new):
                    if uuid is not None:
                        stale.append((status.task_id, uuid))
                    continue
                self._ended(record, status.latest_state or new, freed)
                record.status = status
                record.delivery = Delivery.RECORDED
                framework = frameworks.get(record.framework_id)
                if framework is None:
                    # Nobody will acknowledge it: the framework was torn down.
                    if uuid is not None:
                        stale.append((status.task_id, uuid))
                        self.complete(record, uuid)
                elif framework.connected:
                    forward[record.framework_id].append(status)
                    record.delivery = Delivery.FORWARDED
            if stale:
                acknowledged.append(AcknowledgeToAgent(agent_id, stale))
        if duplicates:
            self.counters["status_updates_duplicate"] += duplicates
        effects: list[Effect] = [ForwardUpdates(f, s) for f, s in forward.items()]
        return effects + acknowledged, freed

    def _ended(self, record: TaskRecord, latest: TaskState, freed: list[TaskRecord]) -> None:
        """An update says the task is now `latest`: if that is terminal, the
        task ended (kept as its `latest_state`), counted and its resources
        freed, each once."""
        if latest not in TERMINAL_STATES:
            return
        if record.state not in TERMINAL_STATES:
            self.count_terminal(latest)
            record.latest_state = latest
        if record.holds:
            record.holds = False
            freed.append(record)

    def acknowledge(
        self, framework_id: str, acknowledgements: Sequence[tuple[str, str]]
    ) -> list[Effect]:
        """The framework acknowledges updates (task id, uuid); each agent
        gets its own in one message and may drop them. A task that is not
        the framework's refuses the whole batch. Acknowledging a terminal
        update moves the task to the completed ones."""
        records = []
        for task_id, uuid in acknowledgements:
            record = self.find(task_id)
            if record is None or record.framework_id != framework_id:
                raise InvalidArgumentError(f"task '{task_id}' is not a task of '{framework_id}'")
            records.append((record, uuid))
        per_agent: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for record, uuid in records:
            per_agent[record.agent_id].append((record.task.task_id, uuid))
            if record.status.uuid == uuid:
                record.delivery = Delivery.ACKNOWLEDGED
            self.complete(record, uuid)
        return [AcknowledgeToAgent(agent_id, acks) for agent_id, acks in per_agent.items()]

    def complete(self, record: TaskRecord, uuid: str) -> None:
        """The terminal update of a task was delivered: keep the task among
        the completed ones, a bounded history."""
        delivered = record.status.uuid == uuid and record.status.state in TERMINAL_STATES
        if delivered and self.live.get(record.task.task_id) is record:
            self.retire(record)

    def retire(self, record: TaskRecord) -> None:
        task_id = record.task.task_id
        del self.live[task_id]
        self._unindex(record)
        self.completed[task_id] = record
        while len(self.completed) > self.max_completed:
            self.completed.popitem(last=False)

    def count_terminal(self, state: TaskState) -> None:
        self.counters[_COUNTER_NAMES[state]] += 1

    # ------------------------------------------------------------ kills

    def kill(
        self, framework_id: str, task_id: str, now: float, grace_period: float | None = None
    ) -> list[Effect]:
        """Kill a live task on its agent (SIGTERM, SIGKILL `grace_period`
        later; None: the task's kill policy, else the agent's default)."""
        if grace_period is not None and not valid_grace_period(grace_period):
            raise InvalidArgumentError(
                f"kill of '{task_id}': grace_period must be seconds >= 0, got {grace_period!r}"
            )
        record = self.find(task_id)
        if record is None or record.framework_id != framework_id:
            # Mesos answers a kill of an unknown task with TASK_LOST/UNKNOWN.
            status = TaskStatus(
                task_id,
                TaskState.TASK_UNKNOWN,
                Source.SOURCE_MASTER,
                now,
                reason=Reason.REASON_TASK_UNKNOWN,
                message="no such task",
                uuid=None,
            )
            return [ForwardUpdates(framework_id, [status])]
        if record.state.is_terminal:
            return []
        return [KillTasks(record.agent_id, framework_id, [task_id], grace_period)]

    def shutdown_executor(
        self, framework_id: str, agent_id: str, executor_id: str, now: float
    ) -> list[Effect]:
        """Mesos's SHUTDOWN: end an executor and its tasks. A custom
        executor's live tasks on that agent are killed (the agent shuts it
        down once the last of them is); a command task is its own executor
        (as with Mesos's command executor): the task `executor_id` is killed."""
        custom = [
            r.task.task_id
            for r in self.on_agent(agent_id)
            if r.framework_id == framework_id
            and r.task.executor is not None
            and r.task.executor.executor_id == executor_id
        ]
        if custom:
            return [e for task_id in custom for e in self.kill(framework_id, task_id, now)]
        record = self.live.get(executor_id)
        if record is None or record.framework_id != framework_id or record.agent_id != agent_id:
            raise InvalidArgumentError(
                f"no executor '{executor_id}' of '{framework_id}' on agent '{agent_id}'"
            )
        return self.kill(framework_id, executor_id, now)

    def release(self, framework_id: str, now: float) -> list[Effect]:
        """The framework is removed: as Mesos's master does, its tasks are
        TASK_KILLED in the records at once (REASON_FRAMEWORK_REMOVED) and
        join the completed ones, holding nothing; those on reachable agents
        are killed there (the agents' own updates are then only
        acknowledged), and an unreachable agent's are killed when it comes
        back (`rejoin`)."""
        kills: dict[str, list[str]] = defaultdict(list)
        for record in self.of_framework(framework_id):
            if not record.state.is_terminal:
                if record.state is not TaskState.TASK_UNREACHABLE:
                    kills[record.agent_id].append(record.task.task_id)
                record.holds = False
                record.status = TaskStatus(
                    record.task.task_id,
                    TaskState.TASK_KILLED,
                    Source.SOURCE_MASTER,
                    now,
                    agent_id=record.agent_id,
                    reason=Reason.REASON_FRAMEWORK_REMOVED,
                    message=f"framework {framework_id} removed",
                    uuid=None,
                )
                self.count_terminal(TaskState.TASK_KILLED)
            self.retire(record)
        return [KillTasks(agent_id, framework_id, ids) for agent_id, ids in kills.items()]

    # ------------------------------------------------------------ messages

    def message_to_task(
        self, framework_id: str, agent_id: str, task_id: str, data: bytes
    ) -> list[Effect]:
        """A scheduler's message for one of its live tasks (executor id =
        task id, as for Mesos's command executor), or for a custom executor
        by its id (any of its live tasks there carries it to it)."""
        task_messages.check_message(data)
        record = next(
            (
                r
                for r in self.on_agent(agent_id)
                if r.framework_id == framework_id
                and r.task.executor is not None
                and r.task.executor.executor_id == task_id
            ),
            None,
        ) or self.live.get(task_id)
        if (
            record is None
            or record.framework_id != framework_id
            or record.agent_id != agent_id
            or record.state.is_terminal
        ):
            raise InvalidArgumentError(
                f"no live task '{task_id}' of '{framework_id}' on agent '{agent_id}'"
            )
        return [MessageToTask(agent_id, record.task.task_id, data)]

    def messages_from_tasks(
        self,
        agent_id: str,
        messages: Sequence[tuple[str, bytes]],
        frameworks: Mapping[str, FrameworkRecord],
    ) -> list[Effect]:
        """Messages tasks on an agent left for their schedulers. Like Mesos's
        framework messages they are best effort: a disconnected or removed
        framework's are dropped. A task that has ended still has its say: its
        last words may reach the master after its terminal update."""
        out: dict[str, list[tuple[str, str, bytes]]] = defaultdict(list)
        for task_id, data in messages:
            record = self.find(task_id)
            if record is None or record.agent_id != agent_id:
                continue
            framework = frameworks.get(record.framework_id)
            if framework is not None and framework.connected:
                # A custom executor's message names it, not the task that carried it.
                executor = record.task.executor
                sender = task_id if executor is None else executor.executor_id
                out[record.framework_id].append((agent_id, sender, data))
        return [FrameworkMessages(f, m) for f, m in out.items()]

    # ------------------------------------------------------------ agents

    def unreachable(self, agent: AgentRecord, now: float) -> list[Effect]:
        """The agent is unreachable: its live tasks are TASK_UNREACHABLE and
        hold nothing; their frameworks hear so."""
        forward: dict[str, list[TaskStatus]] = defaultdict(list)
        for record in self.on_agent(agent.agent_id):
            record.holds = False
            record.status = TaskStatus(
                record.task.task_id,
                TaskState.TASK_UNREACHABLE,
                Source.SOURCE_MASTER,
                now,
                agent_id=agent.agent_id,
                reason=Reason.REASON_AGENT_DISCONNECTED,
                message=f"agent {agent.agent_id} has not been heard from since {agent.last_seen}",
                uuid=None,
            )
            forward[record.framework_id].append(record.status)
        return [ForwardUpdates(f, s) for f, s in forward.items()]

    def rejoin(
        self,
        agent_id: str,
        reports: Sequence[TaskReport],
        frameworks: Mapping[str, FrameworkRecord],
        was_known: bool,
        now: float,
    ) -> Rejoined:
        """An agent (re-)registers with the tasks it holds. If this master
        knew it (`was_known`), its unreachable tasks still running are
        RUNNING again, the others GONE; tasks this master has never seen (it
        was elected since) are taken from the report, and killed if their
        framework is gone."""
        rejoined = Rejoined()
        reported = {report.task.task_id: report for report in reports}
        gone: list[TaskRecord] = []
        for task in list(self._by_agent.of(agent_id).values()) if was_known else ():
            if task.agent_id != agent_id or task.state is not TaskState.TASK_UNREACHABLE:
                continue
            report = reported.get(task.task.task_id)
            if report is not None and report.status.state.is_terminal:
                continue  # its terminal update is resent next
            alive = report is not None
            task.status = TaskStatus(
                task.task.task_id,
                TaskState.TASK_RUNNING if alive else TaskState.TASK_GONE,
                Source.SOURCE_MASTER,
                now,
                agent_id=agent_id,
                reason=Reason.REASON_RECONCILIATION,
                message="agent re-registered" + ("" if alive else " without this task"),
                uuid=None,
            )
            rejoined.forward[task.framework_id].append(task.status)
            if not alive:
                self.count_terminal(task.status.state)
                gone.append(task)
            if alive and task.framework_id in frameworks:
                task.holds = True
                rejoined.hold(task)
        # The master's own GONE needs no acknowledgement: the task is done now.
        for task in gone:
            self.retire(task)
        for task_id, report in reported.items():
            # Also a task the book knows: its framework was removed while
            # the agent was away.
            if report.framework_id not in frameworks:
                if not report.status.state.is_terminal:
                    rejoined.kills[report.framework_id].append(task_id)
                continue
            if task_id in self:
                continue
            holds = not report.status.state.is_terminal
            record = TaskRecord(
                report.task,
                report.framework_id,
                agent_id,
                report.role,
                report.status,
                holds,
                launched_at=now,
            )
            self.add(record)
            if holds:
                rejoined.hold(record)
        return rejoined

    # ------------------------------------------------------------ reconciliation

    def reconcile(
        self,
        framework_id: str,
        task_ids: Sequence[str],
        agent_ids: Mapping[str, str],
        unknown_state: UnknownTaskState,
        now: float,
    ) -> list[Effect]:
        """The latest state of the named tasks (all the framework's live
        tasks when none are named), as updates that need no
        acknowledgement. A task this book does not know is answered with
        `unknown_state` of the agent the framework last saw it on
        (`agent_ids`), or not yet if that is None."""
        wanted = list(task_ids) or list(self._by_framework.of(framework_id))
        statuses = []
        for task_id in wanted:
            record = self.find(task_id)
            if record is None or record.framework_id != framework_id:
                agent_id = agent_ids.get(task_id)
                state = unknown_state(task_id, agent_id)
                if state is None:
                    continue
                statuses.append(
                    TaskStatus(
                        task_id,
                        state,
                        Source.SOURCE_MASTER,
                        now,
                        agent_id=agent_id,
                        reason=Reason.REASON_RECONCILIATION,
                        uuid=None,
                    )
                )
            else:
                latest = record.status
                statuses.append(
                    TaskStatus(
                        task_id,
                        record.state,
                        Source.SOURCE_MASTER,
                        now,
                        agent_id=record.agent_id,
                        reason=Reason.REASON_RECONCILIATION,
                        message=latest.message,
                        healthy=latest.healthy,
                        uuid=None,
                    )
                )
        return [ForwardUpdates(framework_id, statuses)] if statuses else []
