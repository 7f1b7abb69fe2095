"""Files of one sandbox, opened so that no name reaches outside it, read in
Mesos's /files/read manner, and log files rotated in place.

A name comes from a request (an operator's URL) and the sandbox's content
from a task, so neither is trusted: a name must be a relative path of plain
components (no "..", no absolute path, no NUL); the file is opened without
following a final symlink and without blocking (a FIFO cannot hang the
agent), and it is the opened descriptor's real path that must lie inside
the sandbox (an intermediate symlink to /etc is caught there, with no race
between a check and the open) and name a regular file.

Rotation (Mesos's logrotate container logger, `rotate`): Mesos pipes each
container's output through a `mesos-logrotate-logger` process; here that
would be two more processes per task, on the launch path the runtime
benchmark counts. Instead the task writes straight to its files, opened
O_APPEND, and the agent's periodic pass copies a file that outgrew the
limit to `<name>.1` (shifting `.1` to `.2`, ..., dropping the oldest) and
truncates it: logrotate's copytruncate. O_APPEND makes the task's next write
land at the new end, so the file does not become sparse. The price, as with
copytruncate, is that bytes written between the copy and the truncation are
lost. Offsets stay meaningful across rotations: the caller keeps how many
bytes were rotated away (`base`), and reads take and give offsets counted
from the task's first byte.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pyactors.errors import SandboxGoneError, SandboxPathError, UnknownFileError

# The most one read returns (a longer `length` is cut to it).
MAX_READ = 1 << 20
# How far back from the end a read looks for the start of a UTF-8 character.
_UTF8_MAX = 4


@dataclass(frozen=True)
class FileChunk:
    """Bytes of a sandbox file from `offset` (counted from the task's first
    byte, rotated ones included). The chunk never ends inside a UTF-8
    character, so `next_offset` is where to read on."""

    data: bytes
    offset: int

    @property
    def next_offset(self) -> int:
        return self.offset + len(self.data)


def check_name(name: str) -> None:
    """A relative path of plain components, or SandboxPathError."""
    if not name or "\0" in name:
        raise SandboxPathError(f"file name {name!r} is empty or holds a NUL byte")
    if name.startswith("/"):
        raise SandboxPathError(f"file name {name!r} is absolute: name a file in the sandbox")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise SandboxPathError(f"file name {name!r} has an empty, '.' or '..' component")


def open_file(sandbox: Path, name: str, flags: int = os.O_RDONLY) -> int:
    """A descriptor of the regular file `name` inside `sandbox` (the caller
    closes it): SandboxPathError for a name or a file that leaves it,
    UnknownFileError if there is none, SandboxGoneError without a sandbox."""
    check_name(name)
    root = os.path.realpath(sandbox)
    if not os.path.isdir(root):
        raise SandboxGoneError(f"the sandbox {sandbox} is gone")
    try:
        fd = os.open(os.path.join(root, name), flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise UnknownFileError(f"no file {name!r} in the sandbox") from None
    except OSError as error:
        # ELOOP: the name is a symlink (not followed, whatever its target).
        raise SandboxPathError(f"cannot open {name!r} in the sandbox: {error.strerror}") from None
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
        if not real.startswith(root + os.sep):
            raise SandboxPathError(f"{name!r} leads outside the sandbox")
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SandboxPathError(f"{name!r} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def read(sandbox: Path, name: str, offset: int, length: int | None, base: int = 0) -> FileChunk:
    """Up to `length` bytes (at most MAX_READ; None: as many) of `name` from
    `offset`, which counts the `base` bytes rotated away before the file's
    start. Offset -1 asks for the size only (Mesos's /files/read): an empty
    chunk at the end. An offset before `base` reads from the file's start."""
    if offset < -1:
        raise SandboxPathError(f"offset must be -1 or non-negative, got {offset}")
    if length is not None and length < 0:
        raise SandboxPathError(f"length must be non-negative, got {length}")
    fd = open_file(sandbox, name)
    try:
        size = os.fstat(fd).st_size
        if offset == -1:
            return FileChunk(b"", base + size)
        start = max(offset, base)
        wanted = min(MAX_READ, max(0, base + size - start) if length is None else length)
        data = os.pread(fd, wanted, start - base)
    finally:
        os.close(fd)
    return FileChunk(_whole_characters(data), start)


def _whole_characters(data: bytes) -> bytes:
    """`data` without a UTF-8 character cut at its end (the next read
    starts with it); unchanged if that would leave nothing, or if the end is
    not UTF-8 at all."""
    for back in range(1, min(_UTF8_MAX, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: a character starts here
            needed = 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4
            if byte >= 0xC0 and back < needed and back < len(data):
                return data[:-back]
            return data
    return data


def rotate(sandbox: Path, name: str, keep: int) -> int:
    """Copy `name` to `name.1` (older copies shifted, at most `keep` kept)
    and truncate it; the bytes moved away (copytruncate, see above)."""
    for index in range(keep - 1, 0, -1):
        older = sandbox / f"{name}.{index}"
        with contextlib.suppress(FileNotFoundError):
            os.replace(older, sandbox / f"{name}.{index + 1}")
    fd = open_file(sandbox, name, os.O_RDWR)
    try:
        if keep == 0:
            moved = os.fstat(fd).st_size
            os.ftruncate(fd, 0)
            return moved
        # A fresh file: never through a link the task left under that name.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(sandbox / f"{name}.1")
        copy = os.open(sandbox / f"{name}.1", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            moved = 0
            # Up to the end, then once more what came meanwhile (bounded
            # however fast the task writes), then the cut at once.
            for _ in range(2):
                moved = _copy(fd, copy, moved, os.fstat(fd).st_size)
        finally:
            os.close(copy)
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
    return moved


def _copy(source: int, target: int, start: int, end: int) -> int:
    """Copy bytes [start, end) at the same offsets, in the kernel where the
    file system allows; where the copy ended (the source may be shorter)."""
    while start < end:
        try:
            copied = os.copy_file_range(source, target, end - start, start, start)
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            data = os.pread(source, min(end - start, MAX_READ), start)
            copied = os.pwrite(target, data, start) if data else 0
        if copied == 0:
            break
        start += copied
    return start
