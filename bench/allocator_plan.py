"""The allocator benchmark's plan: which implementations run at which sizes
(quick and full), how long each may take, and the running of the plan, which
skips what a smaller size predicts to be over budget."""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Sequence

from allocator_scenarios import (
    CYCLE_GROUP,
    DECLINES,
    SCENARIOS,
    Cell,
    Limits,
    Result,
    measure_cycle_group,
    measure_decline,
    measure_suppressed,
    skipped,
)

FULL_AGENTS = (1000, 5000, 10000, 20000, 50000)
FULL_FRAMEWORKS = (1, 50, 100, 200, 500, 1000)
TARGET_DECLINE = (10000, 1000)
TARGET_CYCLE = (20000, 2000)

LIMITS = {
    ("quick", "rust"): Limits(3, 5, 50, 5, 10.0, 8.0),
    ("quick", "python"): Limits(1, 2, 3, 2, 15.0, 10.0),
    ("full", "rust"): Limits(5, 10, 1_000_000, 5, 30.0, 10.0),
    ("full", "python"): Limits(3, 3, 1_000_000, 3, 15.0, 10.0),
}


def quick_plan() -> list[Cell]:
    """A subset that finishes in a few minutes on two shared cores: a small
    size, a sweep of N at M=1,000 for the growth curve (with both
    DeclineOffers at 1,000 x 1,000, the largest size where Python's rounds
    are affordable here: the Rust/Python ratio on the round comes from it),
    both implementations at the DeclineOffers target size (Python without
    mesos_decline) and the Rust core at the cycle target."""
    python_target = tuple(s for s in SCENARIOS if s != "mesos_decline")
    cells = []
    for impl in ("rust", "python"):
        cells.append(Cell(impl, 1000, 50))
        cells.append(Cell(impl, 1000, 1000, (*CYCLE_GROUP, *DECLINES)))
        cells.append(Cell(impl, 5000, 1000, CYCLE_GROUP))
        cells.append(Cell(impl, *TARGET_DECLINE, SCENARIOS if impl == "rust" else python_target))
    cells.append(Cell("rust", *TARGET_CYCLE, CYCLE_GROUP))
    return cells


def full_plan() -> list[Cell]:
    """Mesos's grid (minus its 3,000 and 6,000 frameworks) plus the cycle
    target, smallest first so that budget predictions have data."""
    sizes = sorted({(n, m) for n in FULL_AGENTS for m in FULL_FRAMEWORKS} | {TARGET_CYCLE})
    return [Cell(impl, n, m) for impl in ("rust", "python") for n, m in sizes]


def predict_cost(history: Sequence[Result], cell: Cell, scenario: str) -> float | None:
    """Scale the cost of the largest measured smaller size: linear in agents
    (every cycle visits each agent), square root in frameworks (each agent
    stops at the first framework that takes it; sorting is the rest). Rough,
    but it only decides what not to try."""
    smaller = [
        r
        for r in history
        if r.scenario == scenario
        and r.impl == cell.impl
        and r.cost_s is not None
        and r.agents <= cell.agents
        and r.frameworks <= cell.frameworks
    ]
    if not smaller:
        return None
    ref = max(smaller, key=lambda r: (r.agents * r.frameworks, r.agents))
    scale = (cell.agents / ref.agents) * math.sqrt(cell.frameworks / ref.frameworks)
    return (ref.cost_s or 0.0) * scale


def skip_reason(history: Sequence[Result], cell: Cell, scenario: str, limits: Limits) -> str | None:
    for r in history:
        if (
            r.scenario == scenario
            and r.impl == cell.impl
            and r.skipped
            and r.agents <= cell.agents
            and r.frameworks <= cell.frameworks
        ):
            return f"over budget at {r.agents:,} x {r.frameworks:,}"
    predicted = predict_cost(history, cell, scenario)
    if predicted is not None and predicted > limits.unit_budget_s:
        return f"predicted {predicted:.1f} s > {limits.unit_budget_s:.0f} s budget"
    return None


def run_cell(cell: Cell, limits: Limits, history: Sequence[Result]) -> list[Result]:
    out: list[Result] = []
    if "full_cycle" in cell.scenarios:
        reason = skip_reason(history, cell, "full_cycle", limits)
        if reason:
            out += [skipped(cell, s, reason) for s in CYCLE_GROUP]
        else:
            out += measure_cycle_group(cell, limits)
    measures = {
        "decline_offers": measure_decline,
        "mesos_decline": functools.partial(measure_decline, mesos=True),
        "suppressed": measure_suppressed,
    }
    for scenario, measure in measures.items():
        if scenario not in cell.scenarios:
            continue
        reason = skip_reason(history, cell, scenario, limits)
        out.append(skipped(cell, scenario, reason) if reason else measure(cell, limits))
    return out


def run_plan(cells: Sequence[Cell], mode: str) -> list[Result]:
    results: list[Result] = []
    for cell in cells:
        started = time.perf_counter()
        results += run_cell(cell, LIMITS[(mode, cell.impl)], results)
        progress(
            f"{cell.impl:>6} {cell.agents:>6,} x {cell.frameworks:<5,} "
            f"{time.perf_counter() - started:6.1f} s"
        )
    return results


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
