"""Messages between a scheduler and its running tasks (Mesos's framework
messages), carried as files in the task's sandbox.

A scheduler's `driver.message(agent_id, task_id, data)` reaches the task as a
file in `$MESOS_SANDBOX/inbox/`; a task sends to its scheduler by putting a
file in `$MESOS_SANDBOX/outbox/`, which the agent collects and forwards to
the scheduler's `message` callback. Files appear whole (written under a
temporary name, then renamed) and are read in the order they were written.
Any process can take part: `send` and `receive` below are the Python side.

The agent may run as root while the sandbox belongs to the task's user, so
what the task left there is not trusted: a box is opened without following
a link (a box linked to /etc is refused, not emptied), and so is each
message; a message that is not a regular file or is larger than a message
may be is dropped.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
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
    check_message(data)
    name = f"{time.time_ns():020d}-{os.getpid()}-{next(_serial):06d}"
    directory = _open_box(sandbox, box, create=True)
    try:
        fd = os.open(
            name + _PARTIAL,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
            dir_fd=directory,
        )
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.rename(name + _PARTIAL, name, src_dir_fd=directory, dst_dir_fd=directory)
    finally:
        os.close(directory)


def take(sandbox: Path, box: str) -> list[bytes]:
    """Remove and return the complete messages of a box, oldest first (none
    from a box that is missing, or is a link or no directory)."""
    try:
        directory = _open_box(sandbox, box, create=False)
    except (FileNotFoundError, InvalidArgumentError):
        return []
    try:
        names = sorted(n for n in os.listdir(directory) if not n.endswith(_PARTIAL))
        messages = []
        for name in names:
            data = _read_message(directory, name)
            if data is None:
                # Not a message: gone if it can be, skipped if not.
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=directory)
                continue
            os.unlink(name, dir_fd=directory)
            messages.append(data)
        return messages
    finally:
        os.close(directory)


def _open_box(sandbox: Path, box: str, create: bool) -> int:
    """A descriptor of the box directory, never reached through a link:
    InvalidArgumentError if the name is a link or not a directory,
    FileNotFoundError if there is none."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(sandbox / box)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(sandbox / box, flags)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise InvalidArgumentError(
            f"{box} of sandbox {sandbox} is not a directory: {error.strerror}"
        ) from None


def _read_message(directory: int, name: str) -> bytes | None:
    """The message in `name`, or None for what is no message (a link, a
    FIFO, a directory, too large)."""
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=directory
        )
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MESSAGE_BYTES:
            return None
        chunks = []
        while chunk := os.read(fd, MAX_MESSAGE_BYTES + 1):
            chunks.append(chunk)
            if sum(map(len, chunks)) > MAX_MESSAGE_BYTES:
                return None
        return b"".join(chunks)
    finally:
        os.close(fd)


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
