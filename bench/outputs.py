"""Where a benchmark's figures go: a JSON file of all of them and a plot."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

Figures = TypeVar("Figures")


def write(
    results: Figures,
    json_path: Path,
    plot_path: Path,
    plot: Callable[[Figures, Path], None],
) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2))
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    plot(results, plot_path)
    print(f"wrote {json_path} and {plot_path}", file=sys.stderr)


def transposed(rows: list[tuple[str, list[str]]], cell_width: int) -> str:
    """A table with one line per figure and one column per run."""
    width = max(len(name) for name, _ in rows)
    return "\n".join(
        f"{name:<{width}}" + "".join(f"  {v:>{cell_width}}" for v in values)
        for name, values in rows
    )


def goals_table(rows: list[dict[str, str]]) -> str:
    """Goal rows (goal, target, measured, verdict...) as aligned text columns."""
    widths = {key: max(len(key), *(len(r[key]) for r in rows)) for key in rows[0]}
    header = "  ".join(f"{key:<{widths[key]}}" for key in widths)
    lines = [header, "-" * len(header)]
    lines += ["  ".join(f"{r[key]:<{widths[key]}}" for key in widths) for r in rows]
    return "\n".join(lines)
