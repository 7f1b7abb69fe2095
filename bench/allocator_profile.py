"""Where the allocator benchmark's memory and time go: the memory probe and
the Rust profile (phases as the Python API sees them, perf samples when
perf works), each measured in a child process of the entry point."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from allocator_plan import TARGET_CYCLE, TARGET_DECLINE, progress
from allocator_scenarios import YEAR, Result, build_cluster, recover_all, timed_allocate

from pyactors.core.allocator import Allocator, Offer

# The child processes run the entry point, whose hidden flags dispatch to them.
ENTRY = str(Path(__file__).resolve().with_name("allocator.py"))


def memory_probe(impl: str, agents: int, frameworks: int) -> dict[str, float]:
    """Runs in a fresh interpreter: the peak RSS growth of building the
    cluster and running its first cycle (offers kept alive), from
    /proc/self/status. A fresh process is needed because RSS only shows a new
    peak and freed memory is not always returned to the OS."""
    gc.collect()
    before = proc_status_kib("VmRSS")
    cluster = build_cluster(impl, agents, frameworks, loaded=False)
    offers = cluster.alloc.allocate(1.0)
    peak, now = proc_status_kib("VmHWM"), proc_status_kib("VmRSS")
    del offers
    return {"peak_growth_mib": (peak - before) / 1024, "held_mib": (now - before) / 1024}


def proc_status_kib(key: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return float(line.split()[1])
    raise KeyError(key)


def measure_memory(results: Sequence[Result], quick: bool) -> list[dict[str, Any]]:
    """One probe per implementation at the target sizes, and in full mode also
    along N at 1,000 frameworks (memory barely depends on M)."""
    if not Path("/proc/self/status").exists():
        return []
    wanted = {TARGET_DECLINE} if quick else {TARGET_DECLINE, TARGET_CYCLE}
    cells = sorted(
        {
            (r.impl, r.agents, r.frameworks)
            for r in results
            if r.scenario == "full_cycle"
            and r.seconds is not None
            and ((r.agents, r.frameworks) in wanted or (not quick and r.frameworks == 1000))
        }
    )
    out = []
    for impl, agents, frameworks in cells:
        command = [sys.executable, ENTRY, "--memory-probe", impl, str(agents), str(frameworks)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            progress(f"memory probe {impl} {agents} x {frameworks} failed: {done.stderr[-300:]}")
            continue
        probe = json.loads(done.stdout)
        out.append({"impl": impl, "agents": agents, "frameworks": frameworks, **probe})
    return out


def profile_phases() -> dict[str, Any]:
    """Where the Python API sees the Rust time go at the DeclineOffers target
    size: registration, a full cycle (split into the core's allocate, which
    includes building its Python tuples, and the facade's Offer objects), a
    declined round's recover calls and its allocate."""
    agents, frameworks = TARGET_DECLINE
    empty = build_cluster("rust", agents, frameworks, loaded=False)
    assert isinstance(empty.alloc, Allocator)
    core = empty.alloc._core  # private on purpose: to separate the facade's share
    start = time.perf_counter()
    raw = core.allocate(1.0)
    middle = time.perf_counter()
    offers = [Offer(*fields) for fields in raw]
    end = time.perf_counter()
    recover_s = recover_all(empty.alloc, offers, 1.0, YEAR)
    next_s, _ = timed_allocate(empty.alloc, 2.0)
    return {
        "size": [agents, frameworks],
        "add_frameworks_s": empty.add_frameworks_s,
        "add_agents_s": empty.add_agents_s,
        "full_cycle_core_s": middle - start,
        "full_cycle_offer_objects_s": end - middle,
        "offers": len(offers),
        "recover_all_offers_s": recover_s,
        "allocate_after_declines_s": next_s,
    }


def perf_mode() -> str | None:
    """'hardware' when perf counts instructions (the brief's test), 'software'
    when only cpu-clock sampling works (virtual machines), None without perf."""
    if shutil.which("perf") is None:
        return None
    probe = subprocess.run(
        ["perf", "stat", "-x,", "-e", "instructions", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode == 0 and "not supported" not in probe.stderr:
        return "hardware"
    probe = subprocess.run(
        ["perf", "record", "-q", "-e", "cpu-clock", "-o", os.devnull, "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    return "software" if probe.returncode == 0 else None


def profile_with_perf(mode: str) -> dict[str, Any]:
    """Sample only the allocate() calls of a child process (perf's control
    FIFO switches sampling on around them), then list the hottest symbols."""
    agents, frameworks = TARGET_DECLINE
    event = "cycles" if mode == "hardware" else "cpu-clock"
    with tempfile.TemporaryDirectory() as tmp:
        ctl, ack, data = (os.path.join(tmp, name) for name in ("ctl", "ack", "perf.data"))
        os.mkfifo(ctl)
        os.mkfifo(ack)
        child = [sys.executable, ENTRY, "--perf-child", str(agents), str(frameworks), ctl, ack]
        record = ["perf", "record", "-q", "-e", event, "-F", "2999", "-D", "-1"]
        record += ["--control", f"fifo:{ctl},{ack}", "-o", data, "--", *child]
        done = subprocess.run(record, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return {"error": done.stderr[-500:]}
        report = ["perf", "report", "-i", data, "--stdio", "--no-children", "-q"]
        by_dso = perf_lines([*report, "--sort", "dso"], 8)
        by_symbol = perf_lines([*report, "--sort", "dso,symbol"], 15)
    return {
        "event": event,
        "window": "5 allocate() calls with everything available",
        "child": done.stdout.strip(),
        "by_dso": by_dso,
        "by_symbol": by_symbol,
    }


def perf_lines(command: list[str], limit: int) -> list[str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = []
    for line in done.stdout.splitlines():
        words = line.split()
        while words and words[-1] == "-":  # empty columns perf prints for srcline
            words.pop()
        if "%" in line:
            lines.append(" ".join(words))
    return lines[:limit]


def perf_child(agents: int, frameworks: int, ctl_path: str, ack_path: str) -> None:
    """The process perf samples: five allocate() calls with everything
    available (the first cycle, then four after all offers were returned)."""
    cluster = build_cluster("rust", agents, frameworks, loaded=False)
    times = []
    with open(ctl_path, "w") as ctl, open(ack_path) as ack:
        for step in range(5):

            def command(word: str) -> None:
                ctl.write(word + "\n")
                ctl.flush()
                ack.readline()

            command("enable")
            seconds, offers = timed_allocate(cluster.alloc, 1.0 + step)
            command("disable")
            times.append(seconds)
            recover_all(cluster.alloc, offers, 1.0 + step, 0.0)
    print("allocate() " + ", ".join(f"{1000 * t:.1f} ms" for t in times))


def run_profile() -> dict[str, Any]:
    progress("profile: phases at the DeclineOffers target size")
    out: dict[str, Any] = {"phases": profile_phases()}
    mode = perf_mode()
    out["perf"] = mode
    if mode is not None:
        progress(f"profile: perf ({mode} event)")
        out["perf_profile"] = profile_with_perf(mode)
    return out
