"""The agent as a plain state machine: it runs the tasks the master sends as
processes and delivers their status updates reliably.

The agent actor drives it with the time: `launch` and `kill` as the master
asks, `poll` on a timer (it returns the batch of updates to send now, new or
due again), `acknowledge` as acknowledgements come back. On re-registration
the agent reports every task it still holds (`report()`): enough for a
master that has never seen them (a new leader) to rebuild their records.

Tasks with a health check are checked while they run: the actor starts the
probes `due_health_checks` names and hands their results to
`health_result`. A change of health is a TASK_RUNNING update with `healthy`
set and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, delivered reliably like
any other; a task that fails too often is killed and ends TASK_KILLED with
`healthy=False` and that reason (Mesos's command executor marks such a task
unhealthy and leaves the reason for later; here the reason says why).

Each task runs as the user `pyactors.agent.task_user` picks (its own `user`,
else the agent's `task_user`, else the agent's); its COMMAND health checks
run as that user too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pyactors.agent import checkpoint, launcher, task_messages
from pyactors.agent import volumes as persistent_volumes
from pyactors.agent.checkpoint import Checkpoint, CheckpointError, KillRequest, Plan, TaskEntry
from pyactors.agent.executor_runs import Executors
from pyactors.agent.executors import Key
from pyactors.agent.health_checks import HealthChecks
from pyactors.agent.sandbox_files import FileChunk
from pyactors.agent.sandboxes import Sandboxes
from pyactors.agent.status_updates import StatusUpdateStreams
from pyactors.agent.task_process import (
    Pids,
    SessionUsage,
    TaskProcess,
    read_outcome,
    read_pids,
    sandbox_path,
    session_usage,
)
from pyactors.agent.task_user import AS_AGENT, AgentIdentity, RunAs, TaskUser, TaskUserError, run_as
from pyactors.core.operations import USER_RULE, HealthCheck, TaskInfo, valid_user
from pyactors.core.protocol import ExitedExecutor, TaskReport
from pyactors.core.tasks import Reason, Source, TaskState, TaskStatus
from pyactors.errors import DuplicateError, InvalidArgumentError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Launch:
    framework_id: str
    tasks: tuple[TaskInfo, ...]
    groups: tuple[tuple[TaskInfo, ...], ...]
    now: float


@dataclass
class _Waiting:
    """What waits for a checkpoint holding it to be durable: launches to
    start, kills to signal (with when each was asked), updates and
    executors' exits to send, each in the order it came."""

    launches: list[_Launch] = field(default_factory=list)
    kills: list[tuple[str, KillRequest, float]] = field(default_factory=list)
    updates: list[TaskStatus] = field(default_factory=list)
    exits: list[ExitedExecutor] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.launches or self.kills or self.updates or self.exits)

    def then(self, later: _Waiting) -> _Waiting:
        """This, followed by what came `later`."""
        return _Waiting(
            self.launches + later.launches,
            self.kills + later.kills,
            self.updates + later.updates,
            self.exits + later.exits,
        )


class AgentState:
    def __init__(
        self,
        agent_id: str,
        work_dir: Path,
        kill_grace: float = 5.0,
        retry_min: float = 10.0,
        retry_max: float = 600.0,
        memory_interval: float = 0.25,
        sandbox_gc_seconds: float = 7 * 24 * 3600.0,
        max_log_bytes: int | None = 10 * 1024 * 1024,
        log_files: int = 5,
        task_user: str | None = None,
        identity: AgentIdentity | None = None,
    ) -> None:
        """Every `memory_interval` one pass over /proc checks the tasks'
        memory, gathers their statistics and rotates their logs past
        `max_log_bytes` (keeping `log_files` rotated copies); finished
        sandboxes are removed `sandbox_gc_seconds` after their task ended
        (Mesos's --gc_delay, a week by default). Tasks that name no user
        run as `task_user`, else as the agent's own user (`identity`, by
        default this process's)."""
        if task_user is not None and not valid_user(task_user):
            raise InvalidArgumentError(f"task_user {task_user!r} is not {USER_RULE}")
        self.agent_id = agent_id
        self.task_user = task_user
        self.identity = identity or AgentIdentity.current()
        self.work_dir = work_dir
        self.kill_grace = kill_grace
        self.streams = StatusUpdateStreams(retry_min, retry_max)
        self.processes: dict[str, TaskProcess] = {}
        self.memory_interval = memory_interval
        self._memory_checked_at = float("-inf")
        # The last /proc pass: what `statistics` reports.
        self._sessions: dict[int, SessionUsage] = {}
        self.sandboxes = Sandboxes(sandbox_gc_seconds, max_log_bytes, log_files)
        # Tasks that ended since messages were last collected: their outbox
        # is read once more so a message sent just before exiting arrives.
        self._ended: list[str] = []
        # Every task held until its terminal update is acknowledged.
        self._held: dict[str, TaskReport] = {}
        self.health = HealthChecks()
        # Tasks being killed for failing their health check: why.
        self._unhealthy: dict[str, str] = {}
        self._encoder = checkpoint.Encoder()
        self._checkpoint_file = checkpoint.CheckpointFile(work_dir)
        self._writes: checkpoint.Writes = checkpoint.InlineWrites(self._checkpoint_file)
        # Something the checkpoint does not hold yet (written at the next
        # poll, before anything is sent), and the pids it holds.
        self._dirty = False
        # Write-ahead: what the next checkpoint must hold before it is
        # released, and what the checkpoint being written holds (None: no
        # write in flight). Whatever comes while a write is in flight goes
        # into the next one, however much it is (one sync for all of it).
        self._waiting = _Waiting()
        self._committing: _Waiting | None = None
        # Durable and not yet taken: updates and exits to send, in order.
        self._sendable: list[TaskStatus] = []
        self._exits: list[ExitedExecutor] = []
        self._closed = False
        self._checkpointed_pids: dict[str, Pids] = {}
        # Kills asked of tasks still held, kept so a restarted agent
        # finishes them.
        self._kills: dict[str, KillRequest] = {}
        # Custom executors and the tasks they run (`executor_runs`).
        self.executors = Executors(agent_id, work_dir, kill_grace)

    def launch(
        self,
        framework_id: str,
        tasks: Sequence[TaskInfo],
        now: float,
        groups: Sequence[Sequence[TaskInfo]] = (),
        role: str = "*",
    ) -> None:
        """Start tasks (allocated to `role`); a group starts all its tasks or
        none (if one cannot start, the others are killed). A task that cannot
        start is reported TASK_FAILED with REASON_CONTAINER_LAUNCH_FAILED."""
        everything = [*tasks, *(t for group in groups for t in group)]
        ids = [t.task_id for t in everything]
        for task_id in ids:
            if task_id in self._held or ids.count(task_id) > 1:
                raise DuplicateError(f"task '{task_id}' is already on agent '{self.agent_id}'")
        for task in everything:
            staging = TaskStatus(
                task.task_id,
                TaskState.TASK_STAGING,
                Source.SOURCE_AGENT,
                now,
                agent_id=self.agent_id,
                uuid=None,
            )
            self._held[task.task_id] = TaskReport(framework_id, role, task, staging)
        # Write-ahead: started once the checkpoint holds them, so that a
        # restarted agent knows of every task it may have started.
        self._dirty = True
        self._waiting.launches.append(
            _Launch(framework_id, tuple(tasks), tuple(tuple(g) for g in groups), now)
        )
        self._commit()

    def _start_launches(self, launches: Sequence[_Launch]) -> None:
        # Read once per batch, not once per task (each read decodes it all).
        environment = dict(os.environ)
        for launch in launches:
            framework_id, now = launch.framework_id, launch.now
            for task in launch.tasks:
                self._start(framework_id, task, now, environment)
            for group in launch.groups:
                executors = {None if t.executor is None else t.executor.executor_id for t in group}
                if None not in executors and len(executors) == 1:
                    # One LAUNCH_GROUP for its executor, which runs it all or none.
                    self._launch_on_executor(framework_id, group, now, group=True)
                    continue
                started = [self._start(framework_id, task, now, environment) for task in group]
                if not all(started):
                    for task, ok in zip(group, started, strict=True):
                        if ok:
                            self.processes[task.task_id].kill(0.0, now)

    def kill(
        self,
        task_ids: Sequence[str],
        now: float,
        grace: float | None = None,
        reason: Reason | None = None,
    ) -> None:
        """SIGTERM, then SIGKILL after the grace period (the kill's, else
        the task's kill policy, else the agent's `kill_grace`); their
        TASK_KILLED carries `reason`. Unknown ids are answered by the
        master, not here. Checkpointed before any signal: an agent
        restarted meanwhile finishes the kill."""
        asked: dict[str, KillRequest] = {}
        for task_id in task_ids:
            # Mesos stops checking a task once it is asked to die.
            self.health.forget(task_id)
            if self.executors.book.owns(task_id):
                for status in self.executors.kill(task_id, now, grace):
                    self._add(status, now)
                continue
            held = self._held.get(task_id)
            # A task whose launch still waits for its checkpoint is killed
            # once it starts (launches are released before kills).
            if held is None or held.status.state.is_terminal or task_id in self._kills:
                continue
            own = self._grace(held.task) if grace is None else grace
            asked[task_id] = KillRequest(own, reason)
        if not asked:
            return
        self._kills.update(asked)
        self._dirty = True
        self._waiting.kills += [(task_id, request, now) for task_id, request in asked.items()]
        self._commit()

    def _grace(self, task: TaskInfo) -> float:
        """How long a task killed without a grace of its own may take to stop."""
        return self.kill_grace if task.kill_grace_period is None else task.kill_grace_period

    def poll(self, now: float) -> list[TaskStatus]:
        """Collect new states from the processes and return the updates to
        send now, in one batch."""
        sessions = None
        # The pass reads every process on the machine: only while a task
        # runs (one that has not started or has ended uses nothing).
        if now - self._memory_checked_at >= self.memory_interval and any(
            process.reported is TaskState.TASK_RUNNING for process in self.processes.values()
        ):
            self._memory_checked_at = now
            sessions = self._sessions = session_usage()
        for task_id, process in self.processes.items():
            status = process.poll(now, sessions)
            pids = process.pids
            if pids is not None and task_id not in self._checkpointed_pids:
                self._checkpointed_pids[task_id] = pids
                self._dirty = True
            # A task that started and ended between two polls has both
            # updates queued at once: its end goes out as soon as its
            # RUNNING is acknowledged, not a poll later.
            while status is not None:
                check = process.task.health_check
                if status.state is TaskState.TASK_RUNNING and check is not None:
                    self.health.watch(task_id, check, now)
                if status.state.is_terminal:
                    self.health.forget(task_id)
                    self._ended.append(task_id)
                    why = self._unhealthy.pop(task_id, None)
                    if why is not None and status.state is TaskState.TASK_KILLED:
                        status = replace(
                            status,
                            healthy=False,
                            reason=Reason.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
                            message=f"killed: {why}",
                        )
                    self.sandboxes.ended(task_id, now)
                self._add(status, now)
                status = None if status.state.is_terminal else process.poll(now, sessions)
        for status in self.executors.poll(now):
            self._add(status, now)
        if self.executors.book.take_changed():
            self._dirty = True
        # Write-ahead: nothing is sent that the checkpoint does not hold;
        # an executor's exit goes after its tasks' last updates.
        self._waiting.updates += self.streams.due(now)
        self._waiting.exits += self.executors.book.take_exits()
        self._commit()
        return self.take_updates()

    def take_updates(self) -> list[TaskStatus]:
        """The updates to send now, in one batch: those whose checkpoint is
        durable (`poll` returns them too)."""
        updates, self._sendable = self._sendable, []
        # Made due twice before it was taken (a resend): sent once.
        return list({id(update): update for update in updates}.values())

    def take_exits(self) -> list[ExitedExecutor]:
        """Executors that exited, for the master: sent after the updates
        taken before them."""
        exits, self._exits = self._exits, []
        return exits

    def write_checkpoints_on_thread(
        self, deliver: Callable[[checkpoint.Done, OSError | None], object]
    ) -> None:
        """From now on the checkpoint is written and synced on a thread of
        its own (`checkpoint.ThreadedWrites`), `deliver` bringing each
        write's end back to the caller's thread: launches, kills and
        updates wait for their checkpoint without the caller waiting, and
        whatever comes during a write goes into the next one. Updates then
        become sendable between polls: the caller takes them (`take_updates`,
        then `take_exits`) after each delivered end too."""
        self._writes.close()
        self._writes = checkpoint.ThreadedWrites(self._checkpoint_file, deliver)

    def due_health_checks(
        self, now: float
    ) -> list[tuple[str, HealthCheck, Path, dict[str, str], TaskUser | None]]:
        """The health checks to start now: (task id, check, sandbox, the
        task's environment, the user it runs as, None for the agent's own);
        each result goes to `health_result`."""
        return [
            (
                task_id,
                check,
                self.processes[task_id].sandbox,
                self.processes[task_id].env,
                self.processes[task_id].run_as.user,
            )
            for task_id, check in self.health.due(now)
        ]

    def health_result(self, task_id: str, healthy: bool, detail: str, now: float) -> None:
        """A check's outcome: report a change of health, kill a task that
        failed too often. A result for a task no longer checked is dropped."""
        change = self.health.record(task_id, healthy, detail, now)
        if change is None:
            return
        if change.changed:
            self._add(
                TaskStatus(
                    task_id,
                    TaskState.TASK_RUNNING,
                    Source.SOURCE_EXECUTOR,
                    now,
                    agent_id=self.agent_id,
                    reason=Reason.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
                    message=change.message,
                    healthy=change.healthy,
                ),
                now,
            )
        if change.kill:
            self._unhealthy[task_id] = change.message
            process = self.processes[task_id]
            process.kill(self._grace(process.task), now)

    def statistics(self, timestamp: float) -> list[tuple[str, dict[str, float]]]:
        """(task id, Mesos's ResourceStatistics) of each running task, from
        the last pass over /proc, stamped `timestamp` (the caller's wall
        clock)."""
        return [
            (task_id, self.processes[task_id].usage(timestamp, self._sessions))
            for task_id in self.running()
            if task_id in self.processes
        ]

    def read_file(self, task_id: str, name: str, offset: int, length: int | None) -> FileChunk:
        """A chunk of a file in a task's sandbox (`pyactors.agent.sandbox_files.read`)."""
        return self.sandboxes.read(task_id, name, offset, length)

    def collect_garbage(self, now: float) -> list[Path]:
        """The finished sandboxes due for removal at `now`, forgotten here
        (`pyactors.agent.sandboxes.remove` deletes them)."""
        return self.sandboxes.expired(now)

    def deliver_message(self, task_id: str, data: bytes) -> None:
        """A scheduler's message into a running task's inbox (to its
        executor, for a custom executor's task)."""
        if self.executors.book.owns(task_id):
            self.executors.book.message_to(task_id, data)
            return
        process = self.processes.get(task_id)
        if process is None or (process.reported is not None and process.reported.is_terminal):
            raise InvalidArgumentError(f"task '{task_id}' is not running on '{self.agent_id}'")
        task_messages.put(process.sandbox, task_messages.INBOX, data)

    def take_messages(self, running_too: bool) -> list[tuple[str, bytes]]:
        """Messages tasks left in their outboxes, (task id, data) oldest
        first per task: from tasks that just ended, and from all running
        ones when `running_too` (the agent does so on a slower timer)."""
        ended, self._ended = self._ended, []
        task_ids = ended
        if running_too:
            # An ended task's box was read once, as it ended (in `ended`).
            running = TaskState.TASK_RUNNING
            task_ids += [t for t, p in self.processes.items() if p.reported is running]
        return self.executors.book.take_messages() + [
            (task_id, data)
            for task_id in task_ids
            if task_id in self.processes
            for data in task_messages.take(self.processes[task_id].sandbox, task_messages.OUTBOX)
        ]

    def acknowledge(self, acknowledgements: Sequence[tuple[str, str]], now: float) -> None:
        for task_id, uuid in acknowledgements:
            taken = self.streams.acknowledge(task_id, uuid, now)
            held = self._held.get(task_id)
            done = (
                held is not None
                and held.status.state.is_terminal
                and not self.streams.pending(task_id)
            )
            if taken and self.executors.book.owns(task_id):
                self.executors.book.acknowledged(task_id, uuid, done)
            if done:
                # Delivered for good: the sandbox stays, the handle goes.
                del self._held[task_id]
                self.processes.pop(task_id, None)
                self._checkpointed_pids.pop(task_id, None)
                self._kills.pop(task_id, None)
            self._dirty = True
        # A task's next update goes out once its checkpoint is durable, not
        # at the next poll.
        due = self.streams.due(now)
        if due:
            self._waiting.updates += due
            self._commit()

    def resend(self, task_ids: Sequence[str] | None, now: float) -> None:
        """Send these tasks' (all tasks' when None) unacknowledged updates at
        the next poll."""
        self.streams.resend_now(list(self._held if task_ids is None else task_ids), now)

    def destroy_volumes(self, persistence_ids: Sequence[str]) -> None:
        """Persistent volumes were destroyed (DESTROY): delete their data."""
        persistent_volumes.destroy(self.work_dir, persistence_ids)

    def shutdown(self) -> None:
        """Kill every task's process group at once (agent teardown); the
        checkpoint goes with them: there is nothing left to recover. What
        still waits for a checkpoint never starts."""
        self._closed = True
        self._writes.close()
        for process in self.processes.values():
            process.terminate_now()
        self.executors.shutdown()
        self._checkpoint_file.discard()

    def recover(self, now: float) -> bool:
        """Take back what the checkpoint in the work dir holds (a previous
        incarnation of this agent): every task is held again with its
        unacknowledged updates (due at once); a task whose launcher still
        runs (same pid, same start time) is watched again, one whose
        launcher recorded its end is reported with its real exit status,
        one whose launcher vanished without a record is TASK_FAILED. An
        unreadable checkpoint is dropped and the agent starts clean: the
        task processes it can still name (their launchers' records) are
        killed, and the master reports those tasks TASK_GONE when the agent
        re-registers without them, as Mesos 1.x's master does for tasks a
        re-registering agent does not know. Whether there was a checkpoint
        (the agent then registers as recovered)."""
        try:
            found = checkpoint.read(self.work_dir, self.agent_id)
        except CheckpointError as error:
            log.warning("agent %s: starting clean: %s", self.agent_id, error)
            self._checkpoint_file.discard()
            self._kill_orphans(now)
            return True
        if found is None:
            return False
        for task_id, entry in found.tasks.items():
            if entry.report.task.executor is not None:
                self._recover_executor_task(task_id, entry, now)
            else:
                self._recover_task(task_id, entry, now)
        self.executors.recover_executors(found.executors, now)
        log.info("agent %s: recovered %d tasks", self.agent_id, len(found.tasks))
        self._dirty = True
        self._commit()
        return True

    def _recover_task(self, task_id: str, entry: TaskEntry, now: float) -> None:
        report = entry.report
        sandbox = sandbox_path(self.work_dir, report.framework_id, task_id)
        pids = entry.pids or read_pids(sandbox)
        running = pids is not None and launcher.alive(pids.launcher, pids.launcher_started)
        decision = checkpoint.plan(
            TaskEntry(report, pids, entry.updates), running, read_outcome(sandbox) is not None
        )
        log.info("agent %s: task '%s': %s", self.agent_id, task_id, decision.value)
        self._held[task_id] = report
        for update in entry.updates:
            self.streams.add(update, now)
        self.sandboxes.add(task_id, sandbox)
        process = TaskProcess.adopt(
            report.task,
            report.framework_id,
            self.agent_id,
            self.work_dir,
            pids,
            checkpoint.held_state(entry),
            self._run_as(report.task),
        )
        self.processes[task_id] = process
        if pids is not None:
            self._checkpointed_pids[task_id] = pids
        if decision is Plan.RESEND:
            self.sandboxes.ended(task_id, now)
        if entry.kill is not None:
            self._kills[task_id] = entry.kill
            if decision in (Plan.ADOPT, Plan.AWAIT_LAUNCH):
                # Asked of the incarnation that died: finished here, its
                # grace counted again from now.
                process.kill(entry.kill.grace, now, entry.kill.reason)
        check = report.task.health_check
        if decision is Plan.ADOPT and check is not None and process.reported is not None:
            self.health.watch(task_id, check, now)

    def _recover_executor_task(self, task_id: str, entry: TaskEntry, now: float) -> None:
        """A custom executor's task: held again with its unacknowledged
        updates; its executor is awaited (`Executors.recover`)."""
        report = entry.report
        self._held[task_id] = report
        for update in entry.updates:
            self.streams.add(update, now)
        pending = [u.uuid for u in entry.updates if u.uuid is not None]
        self.executors.recover(
            report.framework_id,
            report.task,
            report.status.state,
            pending,
            now,
            self._run_as(report.task),
            report.role,
        )

    def _run_as(self, task: TaskInfo) -> RunAs:
        try:
            return run_as(task.user, self.task_user, self.identity, self.agent_id)
        except TaskUserError:
            return AS_AGENT  # it ran once; only its health checks' user is at stake

    def _kill_orphans(self, now: float) -> None:
        """Tasks left by an incarnation whose checkpoint is unreadable: none
        is adopted; each one still running (its leader's pid and start time
        as its launcher recorded them) is killed."""
        for sandbox in checkpoint.sandboxes(self.work_dir):
            pids = read_pids(sandbox)
            if pids is not None and launcher.alive(pids.task, pids.task_started):
                log.warning("agent %s: killing orphaned task in %s", self.agent_id, sandbox)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pids.task, signal.SIGKILL)
            task_id = sandbox.name
            if task_id not in self.sandboxes:
                self.sandboxes.add(task_id, sandbox)
                self.sandboxes.ended(task_id, now)

    def _commit(self) -> None:
        """Write what waits into a checkpoint (if anything changed) and
        release it once that is durable (`_written`); with a write in
        flight, its end does so."""
        if self._committing is not None or self._closed:
            return
        if not self._dirty:
            # The durable checkpoint holds all of it already.
            waiting, self._waiting = self._waiting, _Waiting()
            self._release(waiting)
            return
        data = self._encode()
        self._committing, self._waiting = self._waiting, _Waiting()
        self._writes.write(data, self._written)

    def _written(self, error: OSError | None) -> None:
        committed, self._committing = self._committing, None
        if committed is None or self._closed:
            return  # shut down meanwhile: nothing starts, nothing is sent
        if error is not None:
            log.error(
                "agent %s: the checkpoint could not be written (again at the next poll): %s",
                self.agent_id,
                error,
            )
            self._dirty = True
            self._waiting = committed.then(self._waiting)
            return
        self._release(committed)
        if self._waiting:
            self._commit()

    def _release(self, durable: _Waiting) -> None:
        """What a durable checkpoint holds: its launches start, its kills
        are signalled (after the launches), its updates and exits become
        sendable."""
        if durable.launches:
            self._start_launches(durable.launches)
        for task_id, request, asked_at in durable.kills:
            process = self.processes.get(task_id)
            if process is not None:
                process.kill(request.grace, asked_at, request.reason)
        self._sendable += durable.updates
        self._exits += durable.exits

    def _encode(self) -> bytes:
        """Everything held, as a checkpoint (see `pyactors.agent.checkpoint`)."""
        entries = {
            task_id: checkpoint.TaskEntry(
                held,
                self._checkpointed_pids.get(task_id),
                tuple(self.streams.pending(task_id)),
                self._kills.get(task_id),
            )
            for task_id, held in self._held.items()
        }
        executors = tuple(self.executors.book.records())
        self._dirty = False
        return self._encoder.encode(Checkpoint(self.agent_id, entries, executors))

    def executor_subscribe(
        self,
        key: Key,
        unacknowledged_tasks: Sequence[str],
        unacknowledged_updates: Sequence[TaskStatus],
        now: float,
    ) -> None:
        """An executor's SUBSCRIBE (`ExecutorBook.subscribe`); the updates
        it resends that were never taken join their tasks' streams."""
        for status in self.executors.book.subscribe(
            key, unacknowledged_tasks, unacknowledged_updates, now
        ):
            self._add(status, now)

    def executor_update(self, key: Key, status: TaskStatus, now: float) -> None:
        """An executor's UPDATE: into its task's reliable stream, as a
        command task's updates (`ExecutorBook.update` checks it)."""
        taken = self.executors.book.update(key, status, now)
        if taken is not None:
            self._add(taken, now)

    def running(self) -> list[str]:
        """Tasks that have not ended."""
        return [t for t, held in self._held.items() if not held.status.state.is_terminal]

    def report(self) -> list[TaskReport]:
        """Every task held (running, or ended with its terminal update not yet
        acknowledged), for (re-)registration."""
        reports = []
        for task_id, held in self._held.items():
            pending = self.streams.pending(task_id)
            reports.append(
                TaskReport(held.framework_id, held.role, held.task, pending[0]) if pending else held
            )
        return reports

    def _add(self, status: TaskStatus, now: float) -> None:
        self._dirty = True
        self.streams.add(status, now)
        held = self._held[status.task_id]
        self._held[status.task_id] = TaskReport(held.framework_id, held.role, held.task, status)

    def _start(
        self, framework_id: str, task: TaskInfo, now: float, environment: dict[str, str]
    ) -> bool:
        if task.executor is not None:
            return self._launch_on_executor(framework_id, [task], now)
        try:
            how = run_as(task.user, self.task_user, self.identity, self.agent_id)
        except TaskUserError as error:
            # Nothing was made: the task never starts.
            self._failed(task.task_id, f"could not start: {error}", now)
            return False
        if how.note:
            log.warning("agent %s: task '%s': %s", self.agent_id, task.task_id, how.note)
        try:
            process = TaskProcess(
                task,
                framework_id,
                self.agent_id,
                self.work_dir,
                now,
                base_env=environment,
                run_as=how,
                max_log_bytes=self.sandboxes.max_log_bytes,
                log_files=self.sandboxes.log_files,
            )
            self.processes[task.task_id] = process
            self.sandboxes.add(task.task_id, process.sandbox)
            return True
        except (OSError, ValueError) as error:
            self._keep_failed_sandbox(framework_id, task.task_id, now)
            as_user = "" if how.user is None else f" as user '{how.user.name}'"
            self._failed(task.task_id, f"could not start{as_user}: {error}", now)
            return False

    def _launch_on_executor(
        self, framework_id: str, tasks: Sequence[TaskInfo], now: float, group: bool = False
    ) -> bool:
        limits = (self.sandboxes.max_log_bytes, self.sandboxes.log_files)
        run_as = self._run_as(tasks[0])
        role = self._held[tasks[0].task_id].role
        failed = self.executors.launch(framework_id, tasks, now, run_as, limits, group, role)
        for status in failed:
            self._add(status, now)
        return not failed

    def _failed(self, task_id: str, message: str, now: float) -> None:
        self._add(
            TaskStatus(
                task_id,
                TaskState.TASK_FAILED,
                Source.SOURCE_AGENT,
                now,
                agent_id=self.agent_id,
                reason=Reason.REASON_CONTAINER_LAUNCH_FAILED,
                message=message,
            ),
            now,
        )

    def _keep_failed_sandbox(self, framework_id: str, task_id: str, now: float) -> None:
        """A sandbox made before its launch failed goes like a finished one."""
        try:
            sandbox = sandbox_path(self.work_dir, framework_id, task_id)
        except ValueError:
            return  # an id that names no directory: nothing was made
        if task_id not in self.sandboxes and sandbox.is_dir():
            self.sandboxes.add(task_id, sandbox)
            self.sandboxes.ended(task_id, now)
