"""Messages between a scheduler and its running tasks (Mesos's framework
messages), carried as files in the task's sandbox.

A scheduler's `driver.message(agent_id, task_id, data)` reaches the task as a
file in `$MESOS_SANDBOX/inbox/`; a task sends to its scheduler by putting a
file in `$MESOS_SANDBOX/outbox/`, which the agent collects and forwards to
the scheduler's `message` callback. Files appear whole (written under a
temporary name, then renamed) and are read in the order they were written.
Any process can take part: `send` and `receive` below are the Python side.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

from pyactors.errors import InvalidArgumentError

INBOX = "inbox"
OUTBOX = "outbox"
# Mesos caps a framework message the same way: it travels in one actor call.
MAX_MESSAGE_BYTES = 1 << 20
_PARTIAL = ".partial"
_serial = itertools.count()


def check_message(data: bytes) -> bytes:
    if not isinstance(data, bytes):
        raise InvalidArgumentError(f"a message is bytes, got {type(data).__name__}")
    if len(data) > MAX_MESSAGE_BYTES:
        raise InvalidArgumentError(
            f"a message is at most {MAX_MESSAGE_BYTES} bytes, got {len(data)}"
        )
    return data


def put(sandbox: Path, box: str, data: bytes) -> None:
    """Add a message to a box of the sandbox, atomically."""
    directory = sandbox / box
    directory.mkdir(exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}-{next(_serial):06d}"
    partial = directory / (name + _PARTIAL)
    partial.write_bytes(check_message(data))
    partial.rename(directory / name)


def take(sandbox: Path, box: str) -> list[bytes]:
    """Remove and return the complete messages of a box, oldest first."""
    directory = sandbox / box
    try:
        names = sorted(n for n in os.listdir(directory) if not n.endswith(_PARTIAL))
    except FileNotFoundError:
        return []
    messages = []
    for name in names:
        path = directory / name
        messages.append(path.read_bytes())
        path.unlink()
    return messages


def send(data: bytes) -> None:
    """From inside a task: send `data` to the task's scheduler."""
    put(_own_sandbox(), OUTBOX, data)


def receive() -> list[bytes]:
    """From inside a task: the messages its scheduler sent since the last
    call, oldest first."""
    return take(_own_sandbox(), INBOX)


def _own_sandbox() -> Path:
    sandbox = os.environ.get("MESOS_SANDBOX")
    if not sandbox:
        raise RuntimeError("not inside a pyactors task: MESOS_SANDBOX is not set")
    return Path(sandbox)
