"""The jobs framework's state: jobs, their dependency graph, runs and their
history, with time as an argument (`now`, epoch seconds). No Ray here;
`JobScheduler` drives it from offers, updates and its timer.

A run is due when its job's schedule says so (`tick`), when the user asks
(`run_now`), or when every parent of a dependent job has succeeded since
its last run. Every occurrence of a schedule gets one run, recorded: one
missed (the framework was down, the machine busy) still runs when at most
the job's tolerance (`epsilon`, or `startingDeadlineSeconds`) late, and is
recorded SKIPPED when later; a scheduled run that gets no resources before
that deadline is SKIPPED too. A failed run is retried (`retries` times) and
then is FAILED. While a run is active, another due run follows the job's
concurrency policy: ALLOW runs both, FORBID records the new one SKIPPED,
REPLACE kills the active one (KILLED) for the new.

Run states: QUEUED (waiting for an offer), STARTING (launched), RUNNING,
then SUCCESS, FAILED, SKIPPED or KILLED. Each job keeps its last
`history_limit` runs.

The runs are the jobs' ledger, keyed by (job, scheduled time): a job runs
at most once for a scheduled time. A restored book keeps the runs its
predecessor launched in flight (`in_flight`): the scheduler reconciles
them, and an attempt the master never saw (`NEVER_LAUNCHED` answers) is
launched again as the same run, not counted against its retries.

An attempt whose agent is unreachable (TASK_UNREACHABLE) is waited for
`UNREACHABLE_GRACE`: an agent that was only silent comes back with it.
Past that the agent counts as lost with the machine it ran on, and the run
is launched again as the same run, not counted against its retries; the
earlier attempt, should its agent come back with it still live, is killed.
Whether a lost machine ran the attempt before it went is unknowable, so a
run on a lost machine is run at least once, not at most once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pyactors.core.tasks import TaskState
from pyactors.errors import JobDefinitionError, UnknownJobError
from pyactors.frameworks.jobs.definitions import JobDefinition, parse_job
from pyactors.frameworks.jobs.schedule import Schedule

QUEUED, STARTING, RUNNING = "QUEUED", "STARTING", "RUNNING"
SUCCESS, FAILED, SKIPPED, KILLED = "SUCCESS", "FAILED", "SKIPPED", "KILLED"
ACTIVE = (QUEUED, STARTING, RUNNING)

# A reconciliation answering these for a launched attempt: the master never
# saw its task (the launch was lost with the framework that sent it or with
# the master it went to, or the framework wrote it down and died before
# sending it).
NEVER_LAUNCHED = (TaskState.TASK_UNKNOWN, TaskState.TASK_GONE, TaskState.TASK_DROPPED)

# How long an attempt on an unreachable agent is waited for before the run
# is launched again elsewhere: longer than an agent that is only silent (a
# busy machine, a master failover) takes to be heard again.
UNREACHABLE_GRACE = 30.0

# At most how many missed occurrences of one job a tick records one by one
# (and not more than its history keeps); the rest of a longer outage is
# recorded as one SKIPPED run naming the span.
CATCH_UP_LIMIT = 1000


def ledger_key(scheduled: float) -> str:
    """A run's key in its job's ledger: its scheduled time in whole milliseconds."""
    return str(round(scheduled * 1000))


@dataclass
class Run:
    """One run of a job; `attempts` counts its launches: 1 + retries at most,
    plus `relaunches`, the attempts the master never saw or that were lost
    with their agent. `agent_id` is where its latest attempt was launched;
    `cause`, for a dependent run, the parent run whose success started it;
    `unreachable_since`, when its attempt's agent became unreachable."""

    id: str
    job: str
    trigger: str  # "schedule", "manual" or "parents"
    scheduled: float
    deadline: float | None
    state: str = QUEUED
    attempts: int = 0
    task_id: str | None = None
    started: float | None = None
    finished: float | None = None
    message: str = ""
    agent_id: str | None = None
    relaunches: int = 0
    cause: str = ""
    unreachable_since: float | None = None

    @property
    def key(self) -> str:
        return ledger_key(self.scheduled)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Job:
    definition: JobDefinition
    added_at: float
    next_due: float | None
    next_number: int = 1
    parents_succeeded: set[str] = field(default_factory=set)
    runs: list[Run] = field(default_factory=list)

    @property
    def timetable(self) -> Schedule | None:
        return self.definition.timetable(self.added_at)


def _first_due(definition: JobDefinition, added_at: float, now: float) -> float | None:
    """The first occurrence still to run: the latest one not later than
    the tolerance allows, else the next."""
    timetable = definition.timetable(added_at)
    if timetable is None:
        return None
    last = timetable.last_at_or_before(now)
    if last is not None and now - last <= definition.tolerance:
        return last
    return timetable.next_after(now)


def _timing(definition: JobDefinition) -> tuple[Any, ...]:
    return (definition.schedule, definition.cron, definition.schedule_time_zone)


class JobBook:
    def __init__(self, history_limit: int = 100) -> None:
        self.history_limit = history_limit
        self.jobs: dict[str, Job] = {}
        self._by_task: dict[str, Run] = {}
        self._changed: set[str] = set()
        # Runs this book started, and those of them that failed or were
        # stopped (Metronome's jobs.started and jobs.failed counters: this
        # instance's, not stored).
        self.runs_started = 0
        self.runs_failed = 0

    # ----------------------------------------------------------- definitions

    def add(self, definition: JobDefinition, now: float) -> None:
        """Add a job, or replace the one of that name (its history stays; its
        schedule restarts from `now` if its timing changed). Refused whole
        with JobDefinitionError for an unknown parent or a cycle."""
        missing = [p for p in definition.parents if p not in self.jobs]
        if missing:
            raise JobDefinitionError([("parents", f"unknown jobs {missing}: add them first")])
        cycle = self._cycle_through(definition)
        if cycle:
            raise JobDefinitionError([("parents", "dependency cycle: " + " -> ".join(cycle))])
        old = self.jobs.get(definition.name)
        if old is not None and _timing(old.definition) == _timing(definition):
            old.definition = definition
        elif old is not None:
            old.definition, old.added_at = definition, now
            old.next_due = _first_due(definition, now, now)
        else:
            self.jobs[definition.name] = Job(definition, now, _first_due(definition, now, now))
        job = self.jobs[definition.name]
        job.parents_succeeded &= set(definition.parents)
        self._changed.add(definition.name)

    def remove(self, name: str, now: float) -> list[str]:
        """Remove a job; its active runs are KILLED. Returns the task ids to
        kill. Refused while other jobs name it as a parent."""
        job = self._job(name)
        children = sorted(j.definition.name for j in self._children(name))
        if children:
            raise JobDefinitionError(
                [("parents", f"{name!r} is a parent of {children}: remove or change them first")]
            )
        kills = [self._end(run, KILLED, now, "the job was removed") for run in job.runs]
        for run in job.runs:
            if run.task_id is not None:
                self._by_task.pop(run.task_id, None)
        del self.jobs[name]
        self._changed.add(name)
        return [task_id for task_id in kills if task_id is not None]

    def _cycle_through(self, definition: JobDefinition) -> list[str]:
        """A path of parents from the new definition back to itself, if any."""
        parents = {name: job.definition.parents for name, job in self.jobs.items()}
        parents[definition.name] = definition.parents
        path: list[str] = [definition.name]
        seen: set[str] = set()

        def walk(name: str) -> bool:
            for parent in parents.get(name, ()):
                path.append(parent)
                if parent == definition.name:
                    return True
                if parent not in seen:
                    seen.add(parent)
                    if walk(parent):
                        return True
                path.pop()
            return False

        return path if walk(definition.name) else []

    # ------------------------------------------------------------------ runs

    def run_now(self, name: str, now: float) -> tuple[Run, list[str]]:
        """A manual run, whatever the schedule (and even if disabled); it
        waits for resources as long as it takes. Returns it and the task
        ids to kill (its concurrency policy may replace a run)."""
        job = self._job(name)
        kills = self._occur(job, "manual", now, None, now)
        return job.runs[-1], kills

    def kill(self, name: str, now: float, run_id: str | None = None) -> list[str]:
        """End the job's active runs (only `run_id`, if given) as KILLED;
        returns the task ids to kill. UnknownJobError for an unknown job or
        a run it does not have."""
        job = self._job(name)
        runs = [run for run in job.runs if run_id in (None, run.id)]
        if run_id is not None and not runs:
            raise UnknownJobError(f"job {name!r} has no run {run_id!r}")
        kills: list[str] = []
        for run in runs:
            task_id = self._end(run, KILLED, now, "killed on request")
            if task_id is not None:
                kills.append(task_id)
                self._by_task.pop(task_id, None)
        return kills

    def tick(self, now: float) -> list[str]:
        """Start the runs due by `now` and record SKIPPED those too late, one
        run per occurrence; returns the task ids to kill."""
        kills: list[str] = []
        for job in self.jobs.values():
            for run in job.runs:
                since = run.unreachable_since
                if run.active and since is not None and now - since >= UNREACHABLE_GRACE:
                    kills += self._given_up(run, now - since)
                late = run.deadline is not None and now > run.deadline
                if run.state == QUEUED and run.attempts == 0 and late:
                    self._end(run, SKIPPED, now, "no resources before its starting deadline")
                    self.runs_failed += 1
                    self._changed.add(job.definition.name)
            if job.next_due is None or job.next_due > now:
                continue
            # Parsed only when due: most ticks find nothing due.
            timetable = job.timetable
            if timetable is None:
                continue
            due, gap = self._due(job, timetable, now)
            if job.definition.disabled:
                continue
            for scheduled in due:
                kills += self._scheduled(job, scheduled, now)
            if gap is not None:
                first, latest = gap
                run = self._new_run(job, "schedule", first, None)
                missed = f"missed, with every occurrence after it up to {latest}"
                self._end(run, SKIPPED, now, missed)
                kills += self._scheduled(job, latest, now)
        return kills

    def _due(
        self, job: Job, timetable: Schedule, now: float
    ) -> tuple[list[float], tuple[float, float] | None]:
        """The occurrences from the job's next due one up to `now`, oldest
        first, and the job's next due one moves past `now`. Past a
        history's worth of them, the rest is a gap (its first occurrence and
        the latest), recorded as one run."""
        due: list[float] = []
        scheduled = job.next_due
        limit = min(CATCH_UP_LIMIT, self.history_limit)
        while scheduled is not None and scheduled <= now and len(due) < limit:
            due.append(scheduled)
            scheduled = timetable.next_after(scheduled)
        gap = None
        if scheduled is not None and scheduled <= now:
            latest = timetable.last_at_or_before(now)
            if latest is not None and latest > scheduled:
                gap = (scheduled, latest)
                scheduled = timetable.next_after(latest)
        job.next_due = scheduled
        self._changed.add(job.definition.name)
        return due, gap

    def _scheduled(self, job: Job, scheduled: float, now: float) -> list[str]:
        """The run of one occurrence: at most one per scheduled time, ever."""
        key = ledger_key(scheduled)
        if any(run.key == key and run.trigger == "schedule" for run in job.runs):
            return []
        tolerance = job.definition.tolerance
        if now - scheduled > tolerance:
            run = self._new_run(job, "schedule", scheduled, None)
            missed = f"missed by {now - scheduled:.1f} s ({tolerance:g} s allowed)"
            self._end(run, SKIPPED, now, missed)
            return []
        return self._occur(job, "schedule", scheduled, scheduled + tolerance, now)

    def waiting(self) -> list[Run]:
        """Runs waiting for resources, the earliest scheduled first."""
        queued = [run for job in self.jobs.values() for run in job.runs if run.state == QUEUED]
        return sorted(queued, key=lambda run: (run.scheduled, run.id))

    def launched(self, run: Run, now: float, agent_id: str | None = None) -> str:
        """The run is being launched (on `agent_id`'s offer); returns its new
        task id."""
        run.attempts += 1
        run.task_id = f"{run.id}.{run.attempts}"
        run.state, run.agent_id = STARTING, agent_id
        self._by_task[run.task_id] = run
        self._changed.add(run.job)
        return run.task_id

    def task_update(
        self,
        task_id: str,
        state: TaskState,
        message: str,
        now: float,
        unseen: bool = False,
    ) -> list[str]:
        """A status update of a run's task, received at `now` (agents stamp
        updates with their own monotonic clocks); returns the task ids to
        kill (a success can start dependent runs that replace others). An
        `unseen` update says the master never saw the launch (a
        reconciliation answering NEVER_LAUNCHED, a launch refused for its
        offers): the run goes back in the queue, not counted as a retry."""
        run = self._by_task.get(task_id)
        if run is None or not run.active or run.task_id != task_id:
            return self._earlier_attempt_live(task_id, state)
        self._changed.add(run.job)
        if unseen:
            del self._by_task[task_id]
            run.relaunches += 1
            run.state, run.deadline = QUEUED, None
            run.message = f"launching again: the master never saw {task_id} ({state.value})"
            return []
        if state is TaskState.TASK_UNREACHABLE:
            if run.unreachable_since is None:
                run.unreachable_since = now
                run.message = f"{task_id} unreachable ({message or 'its agent is lost'})"
            return []
        run.unreachable_since = None
        if state is TaskState.TASK_RUNNING:
            run.state = RUNNING
            run.started = run.started or now
            return []
        if not state.is_terminal:
            return []
        del self._by_task[task_id]
        if state is TaskState.TASK_FINISHED:
            self._end(run, SUCCESS, now, "")
            return self._parent_succeeded(run, now)
        job = self.jobs[run.job]
        reason = f"{state.value}: {message}" if message else state.value
        if run.attempts - run.relaunches <= job.definition.retries:
            run.state, run.deadline, run.message = QUEUED, None, f"retrying after {reason}"
        else:
            self._end(run, FAILED, now, reason)
        return []

    def _given_up(self, run: Run, unreachable_for: float) -> list[str]:
        """The attempt's agent counts as lost: the run goes back in the
        queue, not counted as a retry; returns its task id to kill (should
        the agent come back after all)."""
        task_id = run.task_id
        if task_id is None:
            return []
        self._by_task.pop(task_id, None)
        run.relaunches += 1
        run.state, run.deadline, run.unreachable_since = QUEUED, None, None
        run.message = f"launching again: {task_id}'s agent unreachable for {unreachable_for:.0f} s"
        self._changed.add(run.job)
        return [task_id]

    def _earlier_attempt_live(self, task_id: str, state: TaskState) -> list[str]:
        """An attempt given up (its agent unreachable) found live again: kill
        it, as the run goes on elsewhere."""
        run_id, _, number = task_id.rpartition(".")
        job = self.jobs.get(run_id.rpartition("-")[0])
        if job is None or state.is_terminal or not number.isdigit():
            return []
        run = next((r for r in job.runs if r.id == run_id), None)
        if run is None or int(number) >= run.attempts:
            return []
        return [task_id]

    def in_flight(self) -> dict[str, str | None]:
        """The launched attempts whose outcome is not known: task id -> the
        agent it was launched on (what to reconcile)."""
        return {task_id: run.agent_id for task_id, run in sorted(self._by_task.items())}

    def active_task_ids(self) -> list[str]:
        return sorted(self._by_task)

    def _parent_succeeded(self, parent: Run, now: float) -> list[str]:
        kills: list[str] = []
        name = parent.job
        for child in self._children(name):
            child.parents_succeeded.add(name)
            self._changed.add(child.definition.name)
            if child.parents_succeeded >= set(child.definition.parents):
                child.parents_succeeded.clear()
                if not child.definition.disabled:
                    kills += self._occur(child, "parents", now, None, now, parent.id)
        return kills

    def _occur(
        self,
        job: Job,
        trigger: str,
        scheduled: float,
        deadline: float | None,
        now: float,
        cause: str = "",
    ) -> list[str]:
        """A run is due: queue it as the concurrency policy allows."""
        active = [run for run in job.runs if run.active]
        policy = job.definition.policy
        run = self._new_run(job, trigger, scheduled, deadline)
        run.cause = cause
        if active and policy == "FORBID" and trigger != "manual":
            self._end(run, SKIPPED, now, f"run {active[0].id} is still active (FORBID)")
            return []
        self.runs_started += 1
        kills: list[str] = []
        if policy == "REPLACE":
            for old in active:
                task_id = self._end(old, KILLED, now, f"replaced by run {run.id}")
                if task_id is not None:
                    kills.append(task_id)
                    self._by_task.pop(task_id, None)
        return kills

    def _new_run(self, job: Job, trigger: str, scheduled: float, deadline: float | None) -> Run:
        name = job.definition.name
        taken = {run.key for run in job.runs}
        # Manual and dependent runs are "scheduled" when asked: one in the
        # same millisecond as another run takes the next free one, so the
        # ledger's key stays the run's own.
        while ledger_key(scheduled) in taken:
            scheduled += 0.001
        run = Run(f"{name}-{job.next_number}", name, trigger, scheduled, deadline)
        job.next_number += 1
        job.runs.append(run)
        self._changed.add(name)
        excess = len(job.runs) - self.history_limit
        if excess > 0:
            old = [r for r in job.runs if not r.active][:excess]
            job.runs = [r for r in job.runs if r not in old]
        return run

    def _end(self, run: Run, state: str, now: float, message: str) -> str | None:
        """End an active run; returns its task id if a task may still run."""
        if not run.active:
            return None
        launched = run.state in (STARTING, RUNNING)
        run.state, run.finished, run.message = state, now, message
        if state in (FAILED, KILLED):
            self.runs_failed += 1
        self._changed.add(run.job)
        return run.task_id if launched else None

    def _children(self, name: str) -> list[Job]:
        return [job for job in self.jobs.values() if name in job.definition.parents]

    def _job(self, name: str) -> Job:
        job = self.jobs.get(name)
        if job is None:
            raise UnknownJobError(f"no job named {name!r}")
        return job

    # ---------------------------------------------------------------- views

    def history(self, name: str) -> list[dict[str, Any]]:
        return [run.to_dict() for run in self._job(name).runs]

    def describe(self, name: str) -> dict[str, Any]:
        """The definition (Chronos/Metronome fields) and where the job is."""
        job = self._job(name)
        return {
            **job.definition.to_json(),
            "nextRun": job.next_due,
            "activeRuns": [run.id for run in job.runs if run.active],
        }

    def names(self) -> list[str]:
        return sorted(self.jobs)

    # --------------------------------------------------------- persistence

    def take_changed(self) -> set[str]:
        """The names of the jobs changed (or removed) since the last call."""
        changed, self._changed = self._changed, set()
        return changed

    def changed_again(self, names: Iterable[str]) -> None:
        """Jobs taken by `take_changed` whose changes were not stored after all."""
        self._changed.update(names)

    def record(self, name: str) -> dict[str, Any] | None:
        """What to store of a job to restore it, its runs aside (`ledger`);
        None: removed."""
        job = self.jobs.get(name)
        if job is None:
            return None
        return {
            "definition": job.definition.to_json(),
            "added_at": job.added_at,
            "next_due": job.next_due,
            "next_number": job.next_number,
            "parents_succeeded": sorted(job.parents_succeeded),
        }

    def ledger(self, name: str) -> dict[str, dict[str, Any]]:
        """The job's runs as its ledger stores them: ledger key -> run."""
        job = self.jobs.get(name)
        return {} if job is None else {run.key: run.to_dict() for run in job.runs}

    @classmethod
    def restore(
        cls,
        records: Iterable[dict[str, Any]],
        ledgers: Mapping[str, Iterable[dict[str, Any]]],
        history_limit: int = 100,
    ) -> JobBook:
        """A book from stored records and each job's ledger, as a new framework
        finds it. The runs launched before stay in flight (`in_flight`):
        their tasks may still run, or have ended, and only the master knows."""
        book = cls(history_limit)
        for record in records:
            definition = parse_job(record["definition"])
            # Records of version 1 held their runs.
            stored = list(record.get("runs", ())) + list(ledgers.get(definition.name, ()))
            runs = sorted((Run(**run) for run in stored), key=_run_number)
            book.jobs[definition.name] = Job(
                definition,
                record["added_at"],
                record["next_due"],
                record["next_number"],
                set(record["parents_succeeded"]),
                runs,
            )
            if "runs" in record:
                book._changed.add(definition.name)
        for job in book.jobs.values():
            for run in job.runs:
                if run.state in (STARTING, RUNNING) and run.task_id is not None:
                    book._by_task[run.task_id] = run
        return book


def _run_number(run: Run) -> int:
    """The order runs were made in (a run's id is `<job>-<n>`)."""
    return int(run.id.rpartition("-")[2])
