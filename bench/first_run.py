#!/usr/bin/env python3
"""The main job as a new user meets it, on a busy machine.

Runs `python3 -m pyactors.demo` `--runs` times, each as a fresh process (a
new Ray instance, nothing warmed up), while `--busy` processes spinning a
core each compete for the CPU (default: two per core, as a build or a CI
neighbour would; `--quiet-machine` for none). Every run must end with all
its work done and its plot drawn, however slowly. Figures, per run:

  ok           the demo exited 0 and drew its plot
  wall         seconds from starting the process to its exit
  demo         the demo's own time, from starting Ray to the end of the work
  master, agent, framework
               the slowest start of each kind of actor the cluster saw
               (what a fixed start deadline used to cut short)

then how many runs succeeded. Arguments after `--` go to the demo.

Run it from the repository root:

    python bench/first_run.py [--runs 5] [--busy M | --quiet-machine] [-- --pi-tasks 100]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import outputs
from rich.console import Console
from rich.table import Table

OUT = Path(__file__).parent / "out"
KINDS = ("master", "agent", "framework", "supervisor")


@contextlib.contextmanager
def busy_loops(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` processes spinning a core each, stopped however the block ends."""
    loops: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            loops.append(
                subprocess.Popen(
                    [sys.executable, "-c", "while True: pass"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    # Out of the terminal's process group: a Ctrl-C is this
                    # script's to handle, and it stops them itself.
                    start_new_session=True,
                )
            )
        yield loops
    finally:
        for loop in loops:
            loop.terminate()
        for loop in loops:
            try:
                loop.wait(5)
            except subprocess.TimeoutExpired:
                loop.kill()
                loop.wait()


def run_demo(number: int, demo_args: list[str]) -> dict[str, Any]:
    """One run of the demo in a fresh process, and what it reported."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="pyactors-first-run-") as scratch:
        report_path = Path(scratch) / "report.json"
        command = [sys.executable, "-m", "pyactors.demo", "--work-dir", f"{scratch}/work"]
        command += ["--report-json", str(report_path), *demo_args]
        began = time.monotonic()
        code, stderr = _wait(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        )
        wall = time.monotonic() - began
        report: dict[str, Any] = (
            orjson.loads(report_path.read_bytes()) if report_path.exists() else {}
        )
        drawn = report.get("plot") is not None and Path(report["plot"]).is_file()
    if code == 0:
        error = None if drawn else "no plot was drawn"
    else:
        error = report.get("error") or _last_line(stderr)
    return {
        "run": number,
        "ok": code == 0 and drawn,
        "exit_code": code,
        "error": error,
        "wall_seconds": wall,
        "demo_seconds": report.get("seconds"),
        "start_seconds": report.get("start_seconds", {}),
        "plot_drawn": drawn,
        "traceback": "Traceback" in stderr,
        "load_before": load,
    }


def _wait(demo: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, stderr = demo.communicate()
    except KeyboardInterrupt:
        # A Ctrl-C in the terminal reached the demo too: give it the time to
        # shut its cluster down, and interrupt it only if it did not hear it.
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(30)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
        raise
    return demo.returncode, stderr


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(results: list[dict[str, Any]], kinds: list[str], busy: int) -> Table:
    title = f"python3 -m pyactors.demo, {busy} busy loops on {os.cpu_count()} cores (seconds)"
    grid = Table(title=title)
    for heading in ["run", "ok", "load", "wall", "demo", *kinds, "error"]:
        grid.add_column(heading, justify="left" if heading == "error" else "right")
    for r in results:
        grid.add_row(
            str(r["run"]),
            "[green]yes[/]" if r["ok"] else "[red]no[/]",
            f"{r['load_before']:.1f}",
            seconds(r["wall_seconds"]),
            seconds(r["demo_seconds"]),
            *[seconds(r["start_seconds"].get(k)) for k in kinds],
            r["error"] or "",
        )
    return grid


def summary(results: list[dict[str, Any]], kinds: list[str]) -> str:
    ok = sum(r["ok"] for r in results)
    walls = [r["wall_seconds"] for r in results]
    lines = [
        f"{ok} of {len(results)} runs succeeded; wall time median "
        f"{statistics.median(walls):.1f} s, max {max(walls):.1f} s"
    ]
    slowest = {k: max(r["start_seconds"].get(k, 0.0) for r in results) for k in kinds}
    if slowest:
        each = ", ".join(f"{kind} {s:.1f} s" for kind, s in slowest.items())
        lines.append(f"slowest start over all runs: {each}")
    tracebacks = sum(r["traceback"] for r in results)
    if tracebacks:
        lines.append(f"{tracebacks} runs printed a traceback")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r["run"] for r in results]
    kinds = [k for k in KINDS if any(k in r["start_seconds"] for r in results)]
    fig, (walls, starts) = plt.subplots(1, 2, figsize=(10, 3.8))
    colours = ["C2" if r["ok"] else "C3" for r in results]
    walls.bar(runs, [r["wall_seconds"] for r in results], color=colours)
    walls.set_xlabel("run (red: failed)")
    walls.set_ylabel("wall time, s")
    walls.set_xticks(runs)
    width = 0.8 / max(1, len(kinds))
    for i, kind in enumerate(kinds):
        offsets = [run - 0.4 + width * (i + 0.5) for run in runs]
        values = [r["start_seconds"].get(kind, 0.0) for r in results]
        starts.bar(offsets, values, width, label=kind)
    starts.set_xlabel("run")
    starts.set_ylabel("slowest start, s")
    starts.set_xticks(runs)
    starts.legend(fontsize="small")
    busy = results[0]["busy"]
    fig.suptitle(f"the demo as a fresh process, {busy} busy loops on {os.cpu_count()} cores")
    fig.tight_layout()
    fig.savefig(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    cores = os.cpu_count() or 1
    parser.add_argument("--busy", type=int, default=2 * cores, help="default: 2 x cores")
    parser.add_argument("--quiet-machine", action="store_true", help="no busy loops")
    parser.add_argument("--json", type=Path, default=OUT / "first_run.json")
    parser.add_argument("--plot", type=Path, default=OUT / "first_run.png")
    parser.add_argument("demo_args", nargs="*", help="after --: arguments of the demo")
    args = parser.parse_args()
    busy = 0 if args.quiet_machine else args.busy
    # A kill must stop the busy loops as a Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    console = Console()
    results: list[dict[str, Any]] = []
    try:
        with busy_loops(busy):
            for number in range(1, args.runs + 1):
                with console.status(f"run {number} of {args.runs} ({busy} busy loops)"):
                    result = run_demo(number, args.demo_args)
                results.append({**result, "busy": busy, "cores": cores})
                mark = "ok" if result["ok"] else f"failed: {result['error']}"
                console.print(f"run {number}: {result['wall_seconds']:.1f} s, {mark}")
    except KeyboardInterrupt:
        console.print("interrupted; the busy loops are stopped")
        if not results:
            return 130
    kinds = [k for k in KINDS if any(k in r["start_seconds"] for r in results)]
    console.print(table(results, kinds, busy))
    console.print(summary(results, kinds))
    if importlib.util.find_spec("matplotlib") is not None:
        outputs.write(results, args.json, args.plot, plot)
    else:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json} (no plot: matplotlib is not installed)", file=sys.stderr)
    return 0 if all(r["ok"] for r in results) and len(results) == args.runs else 1


if __name__ == "__main__":
    raise SystemExit(main())
