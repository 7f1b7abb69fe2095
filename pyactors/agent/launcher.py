"""The launcher: the process between the agent and one task, as Mesos's
executor and container logger are.

An agent process starts one launcher server (`python -I -S launcher.py`)
the first time it launches a task and writes each launch to its stdin,
framed (`marshal`: the same interpreter reads it): the sandbox, argv, cwd,
environment, user, log limits and the files to write in the sandbox
(`task.json`, a callable's call), so the task's environment never lands on
disk. The server forks one launcher per task: a fork of a Python that has
already started costs a fraction of starting one, and the agent's side of a
launch is a pipe write, not a fork and exec of its own large process. The
server

- forks once more and leaves the session at its start, so that it is no
  child of the agent's Ray worker: Ray kills a dying worker's children and
  its process group, and a restarted worker could not wait for a process
  that is not its child; it ends when the agent's end of the pipe closes,
  and the launchers it forked outlive it and the agent;
- leaves its launchers to the kernel to reap (they are adopted by init once
  it ends).

Each launcher, in a session of its own (a kill of the server's never
reaches it), with its own output in the sandbox's `launcher.log`,

- makes the sandbox when the agent left that to it (the agent's event loop
  is spared a directory creation, which a busy disk file system makes
  slow), reporting one it cannot make on the server's failure pipe, and
  writes the files the launch carries, then starts the task as the leader
  of a session of its own (a kill of that session reaches everything the
  task started, never the launcher), as the user the agent chose, with
  stdout and stderr piped to the launcher; a launch that fails before the
  task starts is recorded as the task's end with the error (`STATUS`);
- records its own and the task's pid with their start times (`PIDS`,
  atomically, not synced: they mean nothing after a reboot), so a restarted
  agent adopts them only if they are still the same processes;
- writes what comes through the pipes to the sandbox's files, rotating a
  file by rename once it reaches `max_log_bytes` (`stdout.1`, ... kept up
  to `log_files`), nothing written twice or lost, and the bytes rotated away
  per file in `ROTATED` so that offsets keep counting from the first byte;
- when the task's leader ends, kills what is left of its session, drains
  the pipes, and writes the exit status with the task's CPU times
  (`STATUS`), atomically: the agent polls for that file. Not synced: the
  agent's checkpoint holds the task's end durably before its update
  leaves, and a machine that crashes before the agent read the file loses
  it with the task, as Mesos's agent loses an update its executor had not
  handed over; a journal commit per task would make every task's end
  wait for the disk.

It imports only built-in modules (not even json or typing: what it writes
for the agent is JSON it formats itself) and is run by path with `-I -S`
(no site, no pyactors package).
"""

from __future__ import annotations

import _signal as signal  # type: ignore[import-not-found]  # `signal` imports enum
import marshal
import os
import select
import sys
import time

# typing is not imported at run time (a few ms of every launch).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# In the sandbox: what the launcher leaves for the agent.
PIDS = "launcher.json"
STATUS = "exit.json"
ROTATED = "rotated.json"
LOG = "launcher.log"
# The task's output files.
STDOUT = "stdout"
STDERR = "stderr"

_CHUNK = 64 * 1024
# How long the pipes are drained after the leader ended and its session
# was killed: a process that left the session may hold them open forever.
_DRAIN_SECONDS = 5.0


def start_time(pid: int) -> int | None:
    """When the process `pid` started (clock ticks since boot, field 22 of
    /proc/<pid>/stat), None if there is none: with the pid it names one
    process, never a later one given a recycled pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # Fields after the command start at 3 (state): 22 is index 19.
    if fields[0] == b"Z":
        return None  # ended, not yet reaped: nothing runs
    return int(fields[19])


def alive(pid: int, started: int) -> bool:
    """Whether the process `pid` that started at `started` still runs."""
    return start_time(pid) == started


def write_atomically(dir_fd: int, name: str, data: bytes, sync: bool) -> None:
    """`name` in the directory holds `data` whole or not at all (temp file
    and rename; with `sync`, file and directory flushed to disk)."""
    temporary = name + ".tmp"
    _unlink(temporary, dir_fd)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, 0o644, dir_fd=dir_fd)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    if sync:
        os.fsync(dir_fd)


class RotatingLog:
    """One output file of the task, rotated by rename at `max_bytes`."""

    def __init__(
        self,
        dir_fd: int,
        name: str,
        max_bytes: int | None,
        keep: int,
        owner: tuple[int, int] | None,
    ) -> None:
        self.dir_fd = dir_fd
        self.name = name
        self.max_bytes = max_bytes
        self.keep = keep
        self.owner = owner
        self.rotated = 0
        self.fd = self._open(create=False)
        self.size = os.fstat(self.fd).st_size

    def write(self, data: bytes) -> bool:
        """Append `data`, rotating as often as the limit says; whether a
        rotation happened."""
        rotated = False
        view = memoryview(data)
        while view:
            room = len(view) if self.max_bytes is None else self.max_bytes - self.size
            if room <= 0:
                self._rotate()
                rotated = True
                continue
            written = os.write(self.fd, view[:room])
            self.size += written
            view = view[written:]
        return rotated

    def close(self) -> None:
        os.close(self.fd)

    def _rotate(self) -> None:
        os.close(self.fd)
        for index in range(self.keep - 1, 0, -1):
            try:  # noqa: SIM105 (contextlib costs the launch its import)
                os.replace(
                    f"{self.name}.{index}",
                    f"{self.name}.{index + 1}",
                    src_dir_fd=self.dir_fd,
                    dst_dir_fd=self.dir_fd,
                )
            except FileNotFoundError:
                pass  # fewer copies than kept so far
        if self.keep:
            os.replace(self.name, f"{self.name}.1", src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        else:
            _unlink(self.name, self.dir_fd)
        self.rotated += self.size
        self.fd = self._open(create=True)
        self.size = 0

    def _open(self, create: bool) -> int:
        # Never through a link the task left under the name: a fresh file
        # (O_EXCL), the name cleared first if something took it.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        if create:
            _unlink(self.name, self.dir_fd)
            flags |= os.O_EXCL
        fd = os.open(self.name, flags, 0o644, dir_fd=self.dir_fd)
        if create and self.owner is not None:
            os.fchown(fd, *self.owner)
        return fd


def _unlink(name: str, dir_fd: int) -> None:
    try:  # noqa: SIM105 (contextlib costs the launch its import)
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def _json(value: object) -> bytes:
    """`value` (dicts with str keys, lists, str, int, float, None) as JSON."""
    return _text(value).encode()


def _text(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = "".join(
            f"\\u{ord(c):04x}" if c < " " or c in '"\\' or "\ud800" <= c <= "\udfff" else c
            for c in value
        )
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_text(k)}: {_text(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _start_task(spec: dict[str, Any], out: int, err: int, failed: int) -> int:
    """Fork the task: a new session, output to the pipes, as its user; an
    exec that fails writes why to `failed` and exits 127."""
    pid = os.fork()
    if pid:
        return pid
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        # Python ignores these; a program expects them at their defaults.
        for signum in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(signum, signal.SIG_DFL)
        os.chdir(spec["cwd"])
        user = spec.get("user")
        if user is not None:
            os.setgroups(user["groups"])
            os.setgid(user["gid"])
            os.setuid(user["uid"])
        os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
    except BaseException as error:  # anything, so the child never returns here
        try:
            os.write(failed, f"{type(error).__name__}: {error}".encode())
        finally:
            os._exit(127)
    os._exit(127)


def read_ready(logs: dict[int, RotatingLog], ready: list[int], dir_fd: int) -> None:
    """One read from each ready pipe into its log (a closed pipe's log is
    closed and dropped); rotations are recorded for the agent."""
    rotated = False
    for fd in ready:
        data = os.read(fd, _CHUNK)
        if data:
            rotated = logs[fd].write(data) or rotated
        else:
            logs.pop(fd).close()
            os.close(fd)
    if rotated:
        _rotations.update({log.name: log.rotated for log in logs.values()})
        write_atomically(dir_fd, ROTATED, _json(_rotations), sync=False)


# Bytes rotated away per file, also of logs whose pipe has closed.
_rotations: dict[str, int] = {}


def _open_logs(dir_fd: int, spec: dict[str, Any]) -> tuple[dict[int, RotatingLog], int, int]:
    """The launch's files written whole (never through a link: the sandbox
    is new), then the task's output files open: their logs keyed by the
    read end of each one's pipe, and the write ends for stdout and stderr;
    then the sandbox given to the task's user, if it has one."""
    for name, data in spec.get("files", ()):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    user = spec.get("user")
    owner = None if user is None else (user["uid"], user["gid"])
    limit, keep = spec.get("max_log_bytes"), spec.get("log_files", 0)
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    logs = {
        out_read: RotatingLog(dir_fd, STDOUT, limit, keep, owner),
        err_read: RotatingLog(dir_fd, STDERR, limit, keep, owner),
    }
    if owner is not None:
        # Only now the task's user's: until every file the launcher writes
        # or opens as root is there, nothing else of that user could put a
        # name in its way.
        os.fchown(dir_fd, *owner)
    return logs, out_write, err_write


def run(sandbox: str, spec: dict[str, Any]) -> None:
    """Write the launch's files, start the task, log its output, record its
    end (the launcher proper, out of the agent's process tree)."""
    dir_fd = os.open(sandbox, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        logs, out_write, err_write = _open_logs(dir_fd, spec)
    except OSError as error:
        # Nothing started: the agent reports the launch failed.
        outcome = {"code": 127, "error": f"the launcher could not prepare the sandbox: {error}"}
        write_atomically(dir_fd, STATUS, _json(outcome), sync=True)
        os.close(dir_fd)
        return
    failed_read, failed_write = os.pipe()
    pid = _start_task(spec, out_write, err_write, failed_write)
    for fd in (out_write, err_write, failed_write):
        os.close(fd)
    me = os.getpid()
    pids = {"launcher": [me, start_time(me)], "task": [pid, start_time(pid)]}
    # Not synced: pids name processes of this boot only, and a restarted
    # agent reads them from the page cache like any other process; a
    # journal commit per launch would slow every file system operation of
    # the agents' launches.
    write_atomically(dir_fd, PIDS, _json(pids), sync=False)
    failure = b""
    while chunk := os.read(failed_read, 4096):
        failure += chunk
    os.close(failed_read)
    leader = os.pidfd_open(pid)
    while True:
        ready, _, _ = select.select([*logs, leader], [], [])
        read_ready(logs, [fd for fd in ready if fd != leader], dir_fd)
        if leader in ready:
            break
    _, status, usage = os.wait4(pid, 0)
    os.close(leader)
    # The leader is gone: nothing it started may linger (nor hold the pipes).
    try:  # noqa: SIM105 (contextlib costs the launch its import)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + _DRAIN_SECONDS
    while logs:
        ready, _, _ = select.select(list(logs), [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        read_ready(logs, ready, dir_fd)
    for fd, log in logs.items():
        log.close()
        os.close(fd)
    outcome = {
        "code": os.waitstatus_to_exitcode(status),
        "user_seconds": usage.ru_utime,
        "system_seconds": usage.ru_stime,
        "error": failure.decode(errors="replace") or None,
    }
    write_atomically(dir_fd, STATUS, _json(outcome), sync=False)
    os.close(dir_fd)


def _read_exactly(fd: int, size: int) -> bytes | None:
    """`size` bytes from `fd`, None if it ends first."""
    data = bytearray()
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def read_frame(fd: int) -> bytes | None:
    """One frame (`frame`'s form), None once the writer closed its end."""
    header = _read_exactly(fd, 4)
    return None if header is None else _read_exactly(fd, int.from_bytes(header, "big"))


def frame(sandbox: str, spec: dict[str, Any]) -> bytes:
    """A launch as the server reads it: its length, then its marshal."""
    data = marshal.dumps((sandbox, spec))
    return len(data).to_bytes(4, "big") + data


def _make_sandbox(sandbox: str) -> None:
    """The sandbox, new (FileExistsError if anything is there already)."""
    try:
        os.mkdir(sandbox)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(sandbox), exist_ok=True)
        os.mkdir(sandbox)


def _launch(sandbox: str, spec: dict[str, Any], failures: int) -> None:
    """One launcher, just forked by the server: in a session of its own,
    its stdin closed, it makes the sandbox if the agent left that to it (a
    sandbox it cannot make is reported on `failures`: there is nowhere
    else to say so) and, its output in the sandbox's log, runs the task."""
    # The task inherits this disposition through exec, and the launcher
    # must wait for the task itself.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    if spec.get("make_sandbox"):
        try:
            _make_sandbox(sandbox)
        except OSError as error:
            report = frame(sandbox, {"error": f"could not make the sandbox: {error}"})
            try:  # noqa: SIM105 (contextlib costs the launch its import)
                # One write of less than PIPE_BUF: whole or not at all.
                os.write(failures, report)
            except OSError:
                pass  # the agent is gone or not reading: the launch budget ends it
            return
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    log = os.open(os.path.join(sandbox, LOG), flags, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    run(sandbox, spec)


def _record_failure(sandbox: str, why: str) -> None:
    """The task's end, recorded for a launch that never got a launcher."""
    try:
        dir_fd = os.open(sandbox, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        print(f"launcher server: {sandbox}: {why}; not recorded: {error}", file=sys.stderr)
        return
    try:
        write_atomically(dir_fd, STATUS, _json({"code": 127, "error": why}), sync=True)
    finally:
        os.close(dir_fd)


def serve(requests: int, failures: int) -> None:
    """Fork a launcher for each launch framed on `requests` until its
    writer closes it; launchers report sandboxes they cannot make on
    `failures` (never blocking: a report that does not fit is dropped)."""
    # The kernel reaps the launchers: the server never waits for one.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    # Launchers keep it across fork; their tasks never see it.
    os.set_inheritable(failures, False)
    os.set_blocking(failures, False)
    while (data := read_frame(requests)) is not None:
        try:
            sandbox, spec = marshal.loads(data)
        except (ValueError, TypeError, EOFError) as error:
            print(f"launcher server: a launch that cannot be read: {error}", file=sys.stderr)
            continue
        try:
            pid = os.fork()
        except OSError as error:
            _record_failure(sandbox, f"could not fork its launcher: {error}")
            continue
        if pid == 0:
            code = 0
            try:
                os.close(requests)
                _launch(sandbox, spec, failures)
            except BaseException as error:  # anything: the child never returns to the loop
                sys.excepthook(type(error), error, error.__traceback__)
                code = 1
            finally:
                os._exit(code)


def main(argv: list[str]) -> int:
    """`launcher.py FAILURES`: launches come on stdin, failures to make a
    sandbox go to the descriptor FAILURES."""
    # Out of the agent's process tree: the first process exits at once (the
    # agent reaps it), the server is adopted by init and leads its own session.
    if os.fork():
        os._exit(0)
    os.setsid()
    serve(sys.stdin.fileno(), int(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
