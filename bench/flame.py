"""A flame graph of one process with py-spy, and its hottest frames.

py-spy samples a running process from outside (ptrace) without changing
it. Two recorders run over the same seconds: one writes the SVG, the other
the raw collapsed stacks, from which the frames with the most own time (the
frame at the top of a sample's stack) are summed. Only the thread holding
the GIL is sampled (`--gil`): the Python work that queues the master's
messages, not its threads waiting (py-spy's idle test counts a Ray worker's
threads blocked in epoll or on a condition as busy). Work done with the GIL
released (the allocator core's cycle) is not in the graph.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# Samples per second: py-spy's default, a pause of microseconds each.
RATE = 100
_LINE_NUMBER = re.compile(r":\d+\)$")


class FlameError(Exception):
    """py-spy is missing, could not attach, or wrote nothing."""


@dataclass
class Frame:
    name: str  # function (file), its lines summed
    samples: int
    share: float  # of all samples taken while the process was busy


class Recording:
    """py-spy recording process `pid` for `seconds` into `svg` (and the raw
    stacks beside it, `.raw`)."""

    def __init__(self, pid: int, seconds: float, svg: Path) -> None:
        spy = shutil.which("py-spy")
        if spy is None:
            raise FlameError("py-spy is not installed (pip install py-spy)")
        svg.parent.mkdir(parents=True, exist_ok=True)
        self.svg, self.raw = svg, svg.with_suffix(".raw")
        self.seconds = seconds
        common = ["record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
        common += ["--rate", str(RATE), "--gil"]
        self._spies = [
            subprocess.Popen(
                [spy, *common, "--format", form, "--output", str(path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for form, path in (("flamegraph", self.svg), ("raw", self.raw))
        ]

    def finish(self, top: int = 5) -> list[Frame]:
        """Wait for both recorders; the `top` frames by own time."""
        said = []
        for spy in self._spies:
            try:
                out, _ = spy.communicate(timeout=self.seconds + 120)
            except subprocess.TimeoutExpired:
                spy.kill()
                out, _ = spy.communicate()
            said.append(out.strip())
        if not self.svg.exists() or not self.raw.exists():
            raise FlameError(f"py-spy wrote no graph: {' / '.join(said)[-600:]}")
        return top_frames(self.raw.read_text(), top)


def top_frames(collapsed: str, top: int) -> list[Frame]:
    """The frames with the most own time in py-spy's raw output (one line
    per distinct stack: frames joined by ';', then its sample count)."""
    own: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            own[_LINE_NUMBER.sub(")", stack.split(";")[-1])] += int(count)
    total = sum(own.values()) or 1
    return [Frame(name, n, n / total) for name, n in own.most_common(top)]


def describe(frames: list[Frame]) -> str:
    return "\n".join(
        f"{n}. {100 * f.share:5.1f}%  {f.samples:>6} samples  {f.name}"
        for n, f in enumerate(frames, 1)
    )
