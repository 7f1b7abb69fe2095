"""The workload's own ledger: append-only files on the machine's disk that
outlive any actor, written by the workload and read by the harness.

- the batch framework's records (JSON lines): each task launched (written
  before the accept) and each status update received, with its uuid and the
  framework actor's incarnation;
- task starts: every task command appends "<task id> <pid> <epoch>" when it
  starts (so a task started twice by agents shows two pids);
- job runs: the job's command appends "<job> <run id> <scheduled> <pid>
  <epoch> <agent>", the scheduled time as the jobs framework gives it
  ($PYACTORS_JOB_SCHEDULED, epoch milliseconds; "-" when it does not) and
  the agent it ran on (its work dir's name, above the sandbox; "-" outside
  an agent).

A line shorter than the pipe buffer appended with O_APPEND is written whole,
so processes may append to one file at once; a reader still skips a last
line torn by a writer killed mid-write.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

RECORDS = "batch.jsonl"
STARTS = "starts.log"
JOB_RUNS = "jobs.log"
STOP = "stop-launching"


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line and flush it to the kernel before returning, so
    a killed actor loses no record it wrote."""
    line = orjson.dumps(record) + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Every whole JSON line of the file (none if it does not exist yet)."""
    records = []
    for line in _lines(path):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


@dataclass(frozen=True)
class Start:
    """A task's process started: which task, its pid, when (epoch s)."""

    task_id: str
    pid: int
    at: float


@dataclass(frozen=True)
class JobRun:
    """A job's command ran: the job, the run's id, its scheduled time when
    known, its pid, when it ran and on which agent (None: not known)."""

    job: str
    run_id: str
    scheduled: float | None
    pid: int
    at: float
    agent: str | None = None


def start_command(starts: str | Path) -> str:
    """Shell text a task's command begins with: appends its start line."""
    return f'echo "$MESOS_TASK_ID $$ $(date +%s.%N)" >> {_quoted(starts)}'


def job_command(job_runs: str | Path) -> str:
    """A job's whole command: appends its run line."""
    # A sandbox is <agent work dir>/frameworks/<framework>/tasks/<task>.
    agent = '$(basename "${MESOS_SANDBOX%%/frameworks/*}")'
    return (
        'echo "$PYACTORS_JOB_NAME $PYACTORS_JOB_RUN_ID ${PYACTORS_JOB_SCHEDULED:--} '
        f'$$ $(date +%s.%N) {agent}" >> {_quoted(job_runs)}'
    )


def read_starts(path: str | Path) -> list[Start]:
    found = []
    for line in _lines(path):
        parts = line.split()
        if len(parts) != 3:
            continue
        try:
            found.append(Start(parts[0], int(parts[1]), float(parts[2])))
        except ValueError:
            continue
    return found


def read_job_runs(path: str | Path) -> list[JobRun]:
    found = []
    for line in _lines(path):
        parts = line.split()
        if len(parts) not in (5, 6):
            continue
        agent = parts[5] if len(parts) == 6 and parts[5] != "-" else None
        try:
            scheduled = None if parts[2] == "-" else int(parts[2]) / 1000
            found.append(
                JobRun(parts[0], parts[1], scheduled, int(parts[3]), float(parts[4]), agent)
            )
        except ValueError:
            continue
    return found


def _lines(path: str | Path) -> list[str]:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    text = data.decode(errors="replace")
    lines = text.split("\n")
    # The last piece is whole only when the file ends with a newline.
    return [line for line in lines[:-1] if line.strip()]


def _quoted(path: str | Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"
