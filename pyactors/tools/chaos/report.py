"""The chaos run's report: its figures as JSON, a rich table and a plot of
work done over time with the faults marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from rich.table import Table

from pyactors.tools.chaos.invariants import INVARIANTS


def write_json(figures: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def tables(figures: Mapping[str, Any]) -> list[Table]:
    """Two tables: the invariants and counts, then faults and recoveries."""
    broken = {line.split(" ")[0] for line in figures.get("broken", [])}
    summary = Table(title=f"chaos run, seed {figures.get('seed')}, {figures.get('minutes')} min")
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    summary.add_column("invariant")
    for name in (
        "tasks_launched",
        "tasks_finished",
        "tasks_killed_by_faults",
        "tasks_unreachable_by_faults",
        "updates_redelivered_after_failover",
        "launches_dropped_in_flight",
        "launches_failed_by_agent_kills",
        "job_runs",
        "dependent_runs",
        "jobs_rerun_after_node_loss",
        "gangs_submitted",
        "gangs_done",
        "service_requests_failed",
        *INVARIANTS,
    ):
        if name not in figures:
            continue
        verdict = ""
        if name in INVARIANTS:
            verdict = "[red]BROKEN[/red]" if name in broken else "[green]holds[/green]"
        summary.add_row(name, str(figures[name]), verdict)
    faults = Table(title="faults and recovery (s)")
    for column in ("fault", "injected", "recovered", "p50", "p99", "max"):
        faults.add_column(column, justify="left" if column == "fault" else "right")
    recovery = figures.get("recovery", {})
    for kind, count in sorted(figures.get("faults", {}).items()):
        stats = recovery.get(kind, {})
        faults.add_row(
            kind,
            str(count),
            str(stats.get("count", 0)),
            _seconds(stats.get("p50")),
            _seconds(stats.get("p99")),
            _seconds(stats.get("max")),
        )
    return [summary, faults]


def plot(
    work: Mapping[str, Sequence[float]],
    faults: Sequence[tuple[float, str]],
    title: str,
    path: Path,
) -> None:
    """Cumulative work done (each series: the times, in seconds from the
    start, at which one more unit was done) with a line at each fault."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for label, times in sorted(work.items()):
        ordered = sorted(times)
        ax.step(ordered, range(1, len(ordered) + 1), where="post", label=label)
    # Faults as grey lines named at the top, apart from the work's colours.
    top = max((len(times) for times in work.values()), default=1)
    for at, kind in faults:
        ax.axvline(at, color="grey", linestyle="--", linewidth=0.8)
        ax.text(at, top, f" {kind}", rotation=90, va="top", fontsize=7, color="dimgrey")
    ax.set_xlabel("seconds since the workload started")
    ax.set_ylabel("work done (cumulative)")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
