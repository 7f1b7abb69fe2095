"""Files of one sandbox, opened so that no name reaches outside it, and
read in Mesos's /files/read manner.

A name comes from a request (an operator's URL) and the sandbox's content
from a task, so neither is trusted: a name must be a relative path of plain
components (no "..", no absolute path, no NUL); the file is opened without
following a final symlink and without blocking (a FIFO cannot hang the
agent), and it is the opened descriptor's real path that must lie inside
the sandbox (an intermediate symlink to /etc is caught there, with no race
between a check and the open) and name a regular file.

Logs are rotated by the task's launcher (`pyactors.agent.launcher`), by
rename, as Mesos's logrotate container logger does: nothing is lost.
Offsets stay meaningful across rotations: the caller passes how many bytes
were rotated away (`base`, `rotated`), and reads take and give offsets
counted from the task's first byte.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import orjson

from pyactors.agent.launcher import ROTATED
from pyactors.errors import PyactorsError, SandboxGoneError, SandboxPathError, UnknownFileError

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


def rotated(sandbox: Path, name: str) -> int:
    """How many bytes of the log `name` its launcher rotated away (0 if none
    or unreadable: the launcher writes the record whole)."""
    try:
        fd = open_file(sandbox, ROTATED)
    except (OSError, PyactorsError):
        return 0
    try:
        counts = orjson.loads(os.read(fd, MAX_READ))
    except (OSError, orjson.JSONDecodeError):
        return 0
    finally:
        os.close(fd)
    count = counts.get(name) if isinstance(counts, dict) else None
    return count if isinstance(count, int) and count > 0 else 0
