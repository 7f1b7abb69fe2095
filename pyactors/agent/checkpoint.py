"""The agent's checkpoint: what a restarted agent must know to recover its
tasks (Mesos's `--recover=reconnect`).

Mesos's agent checkpoints its id, each framework's and task's info, its
executors' pids and each task's status update stream under its meta dir.
Here one file in the agent's work dir holds it all: the agent's id and,
per task held (running, or ended with its terminal update not yet
acknowledged), its framework, role, `TaskInfo`, its launcher's and its
leader's pids with their start times (`task_process.Pids`), the last status
it reported, every update not yet acknowledged and the kill asked of it, if
any (a restarted agent finishes it); and every custom executor, idle ones
too (`executors.ExecutorRecord`).

It is written ahead: before the launch it records, before a kill signals
the task, and before any update it holds is sent. The agent actor writes it
on a thread of its own (`ThreadedWrites`): its event loop goes on while the
disk syncs, the launches, kills and updates wait for the write's end, and
whatever comes meanwhile waits for the next write, one sync for all of it
(`AgentState`). A write is durable when it returns, and a reader finds the
last complete checkpoint or none, never half of one: the file holds two
slots, each a header (magic, sequence number, length, CRC-32) and a
checkpoint, and a write overwrites the older slot in place and syncs its
data (`CheckpointFile`): one flush of the file's blocks, no journal commit
of a new file, a rename and the directory (on a busy disk those commits
cost more than the rest of a launch). The reader takes the complete slot
with the higher number. A checkpoint that outgrows its slot is written as
a new file with larger slots, whole (temp file, fsync, rename, fsync of the directory).

Reading is strict: a file without a complete slot (or, as written before
slots, a plain JSON document), or whose checkpoint is not this module's
JSON of this `VERSION`, or names another agent, is `CheckpointError`, and
the agent starts clean (`AgentState.recover` says what then happens to the tasks).
Encoding a `TaskInfo` (pickled, as Ray ships it) is done once per task
and cached, so a write costs little beyond the bytes.
"""

from __future__ import annotations

import base64
import contextlib
import os
import pickle
import queue
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import orjson

from pyactors.agent.executors import ExecutorRecord
from pyactors.agent.task_process import Pids
from pyactors.core.operations import TaskInfo
from pyactors.core.protocol import TaskReport
from pyactors.core.tasks import Reason, TaskState, TaskStatus
from pyactors.errors import PyactorsError

VERSION = 1
FILE = "checkpoint.json"
# A slot's header: magic, sequence number, the checkpoint's length, its CRC-32.
_HEADER = struct.Struct("<8sQQI")
_MAGIC = b"PYACKPT\x01"
# The smallest slot; a checkpoint that outgrows its slot gets twice its size.
_MIN_SLOT = 64 * 1024


class CheckpointError(PyactorsError, ValueError):
    """The checkpoint cannot be read: corrupt, of another version, or
    another agent's."""


@dataclass(frozen=True)
class KillRequest:
    """A kill asked of a task: its grace period (SIGTERM, then SIGKILL after
    it) and the reason its TASK_KILLED gives."""

    grace: float
    reason: Reason | None = None

    def to_json(self) -> dict[str, Any]:
        return {"grace": self.grace, "reason": None if self.reason is None else self.reason.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KillRequest:
        grace, reason = data["grace"], data["reason"]
        if not isinstance(grace, int | float) or isinstance(grace, bool) or not grace >= 0:
            raise ValueError(f"its kill's grace is {grace!r}, not seconds >= 0")
        return cls(float(grace), None if reason is None else Reason(reason))


@dataclass(frozen=True)
class TaskEntry:
    """One task as checkpointed."""

    report: TaskReport
    pids: Pids | None = None
    # Updates not yet acknowledged, oldest first.
    updates: tuple[TaskStatus, ...] = ()
    # The kill asked of it, while it has not ended.
    kill: KillRequest | None = None


@dataclass
class Checkpoint:
    agent_id: str
    tasks: dict[str, TaskEntry] = field(default_factory=dict)
    executors: tuple[ExecutorRecord, ...] = ()


class Plan(Enum):
    """What a recovering agent does with a checkpointed task."""

    # Its terminal update waits for acknowledgement: resend it, watch nothing.
    RESEND = "resend"
    # Its launcher recorded its end: report it with its real exit status.
    REPORT_END = "report_end"
    # Its launcher still runs (same pid, same start time): watch it again.
    ADOPT = "adopt"
    # No pids yet: the launcher may still be starting; wait for its record.
    AWAIT_LAUNCH = "await_launch"
    # Its launcher is gone without recording an end: the task failed.
    FAILED = "failed"


def plan(entry: TaskEntry, launcher_running: bool, outcome_recorded: bool) -> Plan:
    """The recovery decision for one task, given what the machine says now:
    whether its launcher (pid and start time both) still runs and whether
    it recorded the task's end."""
    if entry.report.status.state.is_terminal:
        return Plan.RESEND
    if outcome_recorded:
        return Plan.REPORT_END
    if entry.pids is None:
        return Plan.AWAIT_LAUNCH
    return Plan.ADOPT if launcher_running else Plan.FAILED


class Encoder:
    """Checkpoints as bytes, each task's `TaskInfo` pickled once and each
    task's entry formed again only once it changed (most tasks are as they
    were at the previous write)."""

    def __init__(self) -> None:
        self._tasks: dict[str, tuple[TaskInfo, str]] = {}
        self._formed: dict[str, tuple[TaskEntry, dict[str, Any]]] = {}

    def encode(self, checkpoint: Checkpoint) -> bytes:
        tasks = {task_id: self._entry(entry) for task_id, entry in checkpoint.tasks.items()}
        for gone in self._tasks.keys() - checkpoint.tasks.keys():
            del self._tasks[gone]
            self._formed.pop(gone, None)
        executors = [record.to_json() for record in checkpoint.executors]
        return orjson.dumps(
            {
                "version": VERSION,
                "agent_id": checkpoint.agent_id,
                "tasks": tasks,
                "executors": executors,
            }
        )

    def _entry(self, entry: TaskEntry) -> dict[str, Any]:
        report = entry.report
        task_id = report.task.task_id
        formed = self._formed.get(task_id)
        if formed is not None and _unchanged(formed[0], entry):
            return formed[1]
        cached = self._tasks.get(task_id)
        if cached is None or cached[0] is not report.task:
            cached = (report.task, _pickle(report.task))
            self._tasks[task_id] = cached
        form = {
            "framework_id": report.framework_id,
            "role": report.role,
            "task": cached[1],
            "pids": None if entry.pids is None else entry.pids.to_json(),
            "status": report.status.to_dict(),
            "updates": [update.to_dict() for update in entry.updates],
            "kill": None if entry.kill is None else entry.kill.to_json(),
        }
        self._formed[task_id] = (entry, form)
        return form


def _unchanged(before: TaskEntry, now: TaskEntry) -> bool:
    """The same task entry: the same report and updates (the agent makes
    new ones for every change), pids and kill."""
    return (
        before.report is now.report
        and before.pids == now.pids
        and before.kill == now.kill
        and len(before.updates) == len(now.updates)
        and all(old is new for old, new in zip(before.updates, now.updates, strict=True))
    )


def _pickle(task: TaskInfo) -> str:
    # Ray's cloudpickle, as the task reached the agent: a callable from a
    # test module or a notebook pickles by value.
    from ray import cloudpickle

    try:
        data: bytes = cloudpickle.dumps(task)  # type: ignore[no-untyped-call]
    except Exception:  # pickling raises whatever the object's reducers raise
        # A callable that cannot be pickled fails its launch (its sandbox
        # keeps the call): the task is remembered without it.
        data = cloudpickle.dumps(replace(task, function=None, args=(), kwargs={}))  # type: ignore[no-untyped-call]
    return base64.b64encode(data).decode()


def decode(data: bytes, agent_id: str) -> Checkpoint:
    """The checkpoint in `data`, which must be `agent_id`'s; CheckpointError
    for anything else."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise CheckpointError(f"the checkpoint is not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("version") != VERSION:
        version = document.get("version") if isinstance(document, dict) else None
        raise CheckpointError(f"the checkpoint is of version {version!r}, not {VERSION}")
    if document.get("agent_id") != agent_id:
        raise CheckpointError(
            f"the checkpoint is agent {document.get('agent_id')!r}'s, not {agent_id!r}"
        )
    tasks = document.get("tasks")
    if not isinstance(tasks, dict):
        raise CheckpointError("the checkpoint has no tasks object")
    checkpoint = Checkpoint(agent_id)
    for task_id, entry in tasks.items():
        try:
            checkpoint.tasks[task_id] = _decode_entry(task_id, entry)
        except (KeyError, TypeError, ValueError, PyactorsError) as error:
            raise CheckpointError(f"task {task_id!r} in the checkpoint: {error}") from None
    # Absent from checkpoints written before executors were kept.
    try:
        records = tuple(ExecutorRecord.from_json(e) for e in document.get("executors", []))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"an executor in the checkpoint: {error}") from None
    checkpoint.executors = records
    return checkpoint


def _decode_entry(task_id: str, entry: Mapping[str, Any]) -> TaskEntry:
    try:
        task = pickle.loads(base64.b64decode(entry["task"], validate=True))
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as error:
        raise ValueError(f"its TaskInfo cannot be read: {error}") from None
    if not isinstance(task, TaskInfo) or task.task_id != task_id:
        raise ValueError(f"its TaskInfo is {type(task).__name__} {task!r:.80}")
    framework_id, role = entry["framework_id"], entry["role"]
    if not isinstance(framework_id, str) or not isinstance(role, str):
        raise ValueError("framework_id and role must be strings")
    status = TaskStatus.from_dict(entry["status"])
    updates = tuple(TaskStatus.from_dict(update) for update in entry["updates"])
    if any(s.task_id != task_id for s in (status, *updates)):
        raise ValueError("it holds another task's status")
    pids = None if entry["pids"] is None else Pids.from_json(entry["pids"])
    # Absent from checkpoints written before kills were kept.
    kill = entry.get("kill")
    request = None if kill is None else KillRequest.from_json(kill)
    return TaskEntry(TaskReport(framework_id, role, task, status), pids, updates, request)


def path(work_dir: Path) -> Path:
    return work_dir / FILE


class CheckpointFile:
    """The agent's checkpoint file, kept open and written in place (see the
    module); the first write makes it new."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self._fd: int | None = None
        self._slot_bytes = 0
        self._sequence = 0

    def write(self, data: bytes) -> None:
        """Make `data` the checkpoint, durably."""
        sequence = self._sequence + 1
        record = _HEADER.pack(_MAGIC, sequence, len(data), zlib.crc32(data)) + data
        if self._fd is None or len(record) > self._slot_bytes:
            self._create(record, sequence)
        else:
            # The other slot than the last write's: that one stays whole
            # until this one is.
            os.pwrite(self._fd, record, (sequence % 2) * self._slot_bytes)
            os.fdatasync(self._fd)
        self._sequence = sequence

    def _create(self, record: bytes, sequence: int) -> None:
        """A new file with slots of room for `record` twice over, holding it."""
        self.close()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        slot_bytes = max(_MIN_SLOT, 2 * len(record))
        image = bytearray(2 * slot_bytes)
        at = (sequence % 2) * slot_bytes
        image[at : at + len(record)] = record
        target = path(self.work_dir)
        temporary = target.with_name(FILE + ".tmp")
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        fd = os.open(temporary, flags, 0o600)
        try:
            # Every block written now: an overwrite later allocates nothing.
            os.write(fd, image)
            os.fsync(fd)
            os.replace(temporary, target)
            directory = os.open(self.work_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._slot_bytes = fd, slot_bytes

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        """Close and remove the checkpoint (nothing left to recover, or an
        unreadable one: the agent starts clean)."""
        self.close()
        discard(self.work_dir)


# Told how a write ended: None once it is durable, else why it is not.
Done = Callable[[OSError | None], None]


class InlineWrites:
    """A checkpoint file's writes on the caller's thread: `done` is called
    before `write` returns."""

    def __init__(self, file: CheckpointFile) -> None:
        self.file = file

    def write(self, data: bytes, done: Done) -> None:
        try:
            self.file.write(data)
        except OSError as error:
            done(error)
            return
        done(None)

    def close(self) -> None:
        """Nothing is ever in flight."""


class ThreadedWrites:
    """A checkpoint file's writes on a thread of their own, so that the
    caller's thread (the agent's event loop) goes on while the disk syncs.
    `deliver(done, error)` hands each write's end back to the caller's
    thread (an event loop's `call_soon_threadsafe`). The caller keeps one
    write in flight at a time; `close` waits for it."""

    def __init__(self, file: CheckpointFile, deliver: Callable[[Done, OSError | None], object]):
        self.file = file
        self._deliver = deliver
        self._writes: queue.SimpleQueue[tuple[bytes, Done] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def write(self, data: bytes, done: Done) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="checkpoint", daemon=True)
            self._thread.start()
        self._writes.put((data, done))

    def close(self) -> None:
        """Wait for the write in flight, if any (the file may then go)."""
        if self._thread is not None:
            self._writes.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while (item := self._writes.get()) is not None:
            data, done = item
            error = None
            try:
                self.file.write(data)
            except OSError as failed:
                error = failed
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits
                self._deliver(done, error)


Writes = InlineWrites | ThreadedWrites


def write(work_dir: Path, data: bytes) -> None:
    """Replace the checkpoint with `data`, durably, as a new file."""
    file = CheckpointFile(work_dir)
    try:
        file.write(data)
    finally:
        file.close()


def read(work_dir: Path, agent_id: str) -> Checkpoint | None:
    """The agent's checkpoint, None if it has none; CheckpointError if it
    cannot be read."""
    try:
        data = path(work_dir).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CheckpointError(f"the checkpoint cannot be read: {error}") from None
    if data[:1] == b"{":
        # Written before slots: one JSON document.
        return decode(data, agent_id)
    return decode(_newest_slot(data), agent_id)


def _newest_slot(data: bytes) -> bytes:
    """The checkpoint in the complete slot with the higher number."""
    slot_bytes = len(data) // 2
    if slot_bytes < _HEADER.size or len(data) != 2 * slot_bytes:
        raise CheckpointError(f"the checkpoint file's {len(data)} bytes are not two slots")
    newest: tuple[int, bytes] | None = None
    for at in (0, slot_bytes):
        magic, sequence, length, crc = _HEADER.unpack_from(data, at)
        body = data[at + _HEADER.size : at + _HEADER.size + length]
        complete = magic == _MAGIC and length <= slot_bytes - _HEADER.size
        if complete and zlib.crc32(body) == crc and (newest is None or sequence > newest[0]):
            newest = (sequence, body)
    if newest is None:
        raise CheckpointError("the checkpoint file holds no complete checkpoint")
    return newest[1]


def discard(work_dir: Path) -> None:
    """Remove an unreadable checkpoint (the agent starts clean)."""
    with contextlib.suppress(FileNotFoundError):
        path(work_dir).unlink()


def sandboxes(work_dir: Path) -> Iterable[Path]:
    """Every task sandbox under the work dir (for an agent whose checkpoint
    is unreadable: the tasks it can still name)."""
    return sorted(work_dir.glob("frameworks/*/tasks/*"))


def held_state(entry: TaskEntry) -> TaskState | None:
    """The last state the task's process reported: None while only staged."""
    state = entry.report.status.state
    return None if state is TaskState.TASK_STAGING else state
