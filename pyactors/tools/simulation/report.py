"""A simulated run's summary as text: the frameworks table with share
sparklines, the shares over time, the footer lines, and `Output`, which
prints them plainly or with rich (a live progress table on a terminal)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from pyactors.tools.simulation.cluster import Simulation

SHOWN_SAMPLES = 7  # rows of the share-over-time table
TREND_POINTS = 12  # characters of a share sparkline
SPARKS = "▁▂▃▄▅▆▇█"

T = TypeVar("T")


def sparkline(values: Sequence[float], top: float) -> str:
    if top <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, int(v / top * len(SPARKS)))] for v in values)


def evenly(items: Sequence[T], count: int) -> list[T]:
    """At most `count` evenly spaced items, always the first and the last."""
    step = max(1, math.ceil((len(items) - 1) / max(1, count - 1)))
    picked = list(items[::step])
    if len(items) > 1 and (len(items) - 1) % step:
        picked.append(items[-1])
    return picked


def convergence_line(summary: Mapping[str, Any]) -> str:
    c = summary["convergence"]
    final = ", ".join(
        f"{n} {summary['frameworks'][n]['weighted_share']:.3f}" for n in c["frameworks"]
    )
    means = ", ".join(f"{n} {share:.3f}" for n, share in c["mean_weighted_shares"].items())
    verdict, relation = ("converged", "<=") if c["converged"] else ("did NOT converge", ">")
    start, end = c["window"]
    return (
        f"DRF shares {verdict}: final weighted dominant shares {final}; "
        f"mean over t={start}..{end}s {means} "
        f"(spread {c['spread']:.3f} {relation} tolerance {c['tolerance']:.3f})"
    )


def summary_rows(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    trend_top = max(
        (v for s in summary["shares_over_time"] for k, v in s.items() if k != "t"), default=0.0
    )
    header = ["framework", "role", "weight", "launched", "finished", "running", "share", "trend"]
    rows = [
        [
            name,
            f["role"],
            f"{f['weight']:g}",
            str(f["launched"]),
            str(f["finished"]),
            str(f["running"]),
            f"{f['weighted_share']:.3f}",
            sparkline(
                [s[name] for s in evenly(summary["shares_over_time"], TREND_POINTS)], trend_top
            ),
        ]
        for name, f in summary["frameworks"].items()
    ]
    return header, rows


def share_rows(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    names = list(summary["frameworks"])
    header = ["t (s)", *names]
    rows = [
        [str(s["t"]), *(f"{s[n]:.3f}" for n in names)]
        for s in evenly(summary["shares_over_time"], SHOWN_SAMPLES)
    ]
    return header, rows


def footer_lines(summary: Mapping[str, Any]) -> list[str]:
    u, run_info, audits = summary["utilisation"], summary["run"], summary["audits"]
    ms = run_info["cycle_ms"]
    return [
        f"mean utilisation: cpus {u['cpus']:.1%}, mem {u['mem']:.1%}",
        f"offers: {summary['offers']['count']} (digest {summary['offers']['digest'][:16]})",
        f"audits: {audits['count']} snapshots, {len(audits['violations'])} problems "
        "(over-committed agents, allocations not matching the running tasks)",
        f"allocation cycle ({run_info['allocator']}, wall time): mean {ms['mean']:.3f} ms, "
        f"p50 {ms['p50']:.3f} ms, p99 {ms['p99']:.3f} ms, max {ms['max']:.3f} ms "
        f"over {run_info['cycles']} cycles",
        convergence_line(summary),
    ]


def plain_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        title,
        "  ".join(
            h.ljust(w) if h == "framework" else h.rjust(w)
            for h, w in zip(header, widths, strict=True)
        ),
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        cells = [
            c.ljust(w) if h == "framework" else c.rjust(w)
            for h, c, w in zip(header, row, widths, strict=True)
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def progress_line(simulation: Simulation) -> str:
    cpus, mem = simulation.seconds[-1].cpus, simulation.seconds[-1].mem
    parts = [f"{f.name} {f.running} running/{f.launched} launched" for f in simulation.frameworks]
    return f"[t={simulation.now:4d}s] cpus {cpus:6.1%} mem {mem:6.1%} | " + " | ".join(parts)


class Output:
    """Plain text, or rich (a live progress table on a terminal) if available."""

    def __init__(self, plain: bool) -> None:
        self.console: Any = None
        if not plain:
            try:
                from rich.console import Console
            except ImportError:
                pass
            else:
                self.console = Console()

    @property
    def live(self) -> bool:
        return self.console is not None and bool(self.console.is_terminal)

    @contextmanager
    def progress(self) -> Iterator[Callable[[Simulation], None]]:
        if not self.live:
            yield lambda simulation: print(progress_line(simulation), flush=True)
            return
        from rich.live import Live

        with Live(console=self.console, auto_refresh=False, transient=True) as live:
            yield lambda simulation: live.update(self.live_table(simulation), refresh=True)

    def live_table(self, simulation: Simulation) -> Any:
        from rich.table import Table

        cpus, mem = simulation.seconds[-1].cpus, simulation.seconds[-1].mem
        table = Table(
            title=f"t = {simulation.now} / {simulation.config.seconds} s",
            caption=f"cpus {cpus:.0%}, mem {mem:.0%}",
        )
        for column in ("framework", "running", "launched", "finished", "weighted share"):
            table.add_column(column, justify="left" if column == "framework" else "right")
        shares = simulation.samples[-1].weighted_shares if simulation.samples else {}
        for f in simulation.frameworks:
            share = f"{shares.get(f.name, 0.0):.3f}"
            table.add_row(f.name, str(f.running), str(f.launched), str(f.finished), share)
        return table

    def summary(self, summary: Mapping[str, Any]) -> None:
        tables = [
            ("Frameworks", *summary_rows(summary)),
            ("Weighted share over time", *share_rows(summary)),
        ]
        if self.console is None:
            for title, header, rows in tables:
                print(plain_table(title, header, rows), end="\n\n")
            print("\n".join(footer_lines(summary)))
            return
        from rich import box
        from rich.table import Table

        for title, header, rows in tables:
            table = Table(title=title, box=box.SIMPLE_HEAD, collapse_padding=True, show_edge=False)
            for column in header:
                table.add_column(column, justify="left" if column == "framework" else "right")
            for row in rows:
                table.add_row(*row)
            self.console.print(table)
            self.console.print()
        for line in footer_lines(summary):
            self.console.print(line, highlight=False, soft_wrap=True)
