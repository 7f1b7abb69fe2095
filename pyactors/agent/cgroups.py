"""Whether a task's memory could be limited by cgroup v2 here, and if not, why.

Enforcing a task's `mem` in the kernel (a cgroup per task with `memory.max`,
OOM kills counted in `memory.events`, `cpu.max` from its cpus) needs a cgroup
v2 hierarchy in which the agent's own cgroup offers the memory controller,
is writable, and hands the controller down to its children (`memory` in its
`cgroup.subtree_control`: a delegated subtree). `probe()` checks exactly
that, from /proc and the cgroup's own files, and never changes anything.

Only the detection exists. Where this was built, cgroup v2 is mounted at
/sys/fs/cgroup/unified beside v1 hierarchies, and the v1 `memory` hierarchy
holds the memory controller, so the v2 hierarchy offers no `memory`
controller (only `hugetlb`): per-task limits could not be exercised, and
`task_process` limits memory by polling the process tree's RSS with psutil.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PROC_SELF = Path("/proc/self")


@dataclass(frozen=True)
class CgroupSupport:
    """`usable`, with the agent's cgroup `path`, or why not in `reason`."""

    usable: bool
    reason: str
    path: Path | None = None


def probe(proc: Path = PROC_SELF) -> CgroupSupport:
    """Whether per-task cgroup v2 memory limits are possible for this
    process (`proc` is its /proc directory)."""
    try:
        mount = _cgroup2_mount((proc / "mountinfo").read_text())
        own = _own_cgroup((proc / "cgroup").read_text())
    except OSError as error:
        return CgroupSupport(False, f"cannot read the process's cgroups: {error}")
    if mount is None:
        return CgroupSupport(False, "no cgroup v2 hierarchy is mounted")
    if own is None:
        return CgroupSupport(False, "this process is in no cgroup v2 cgroup")
    root, mount_point = mount
    if os.path.commonpath([root, own]) != root:
        return CgroupSupport(False, f"cgroup {own} is outside the mounted v2 tree {root}")
    path = mount_point / os.path.relpath(own, root)
    try:
        controllers = (path / "cgroup.controllers").read_text().split()
        delegated = (path / "cgroup.subtree_control").read_text().split()
    except OSError as error:
        return CgroupSupport(False, f"cannot read cgroup {path}: {error}")
    if "memory" not in controllers:
        offered = " ".join(controllers) or "none"
        return CgroupSupport(
            False,
            f"cgroup v2 at {path} offers no memory controller (it offers: {offered}): "
            "the controller is bound to a cgroup v1 hierarchy or not delegated this far",
        )
    if not os.access(path, os.W_OK):
        return CgroupSupport(False, f"cgroup {path} is not writable")
    if "memory" not in delegated:
        return CgroupSupport(
            False, f"cgroup {path} does not delegate the memory controller to its children"
        )
    return CgroupSupport(True, f"per-task cgroups under {path}", path)


def _cgroup2_mount(mountinfo: str) -> tuple[str, Path] | None:
    """The root inside the hierarchy and the mount point of the first
    cgroup2 mount (proc(5): fields 4 and 5, the type after the "-")."""
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        separator = fields.index("-")
        if separator + 1 < len(fields) and fields[separator + 1] == "cgroup2":
            return _unescape(fields[3]), Path(_unescape(fields[4]))
    return None


def _own_cgroup(cgroup: str) -> str | None:
    """This process's cgroup v2 path: the "0::path" line."""
    for line in cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def _unescape(field: str) -> str:
    # mountinfo writes spaces, tabs, newlines and backslashes as octal.
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match[1], 8)), field)
