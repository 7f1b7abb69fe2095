"""How long the master's process stopped answering, and why: the longest
stall of its event loop and the garbage collector's pauses per generation.

At tens of thousands of agents the launch overhead's p99 is set by the
moments the loop does nothing else: a collection over the master's heap,
a long handler. These are the figures that tell them apart; they cost a
timer per probe interval and two clock reads per collection.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

GENERATIONS = 3


class Pauses:
    """Maxima since the last `take` (the longest loop stall, the longest
    collection of each generation), and totals since start (collections
    and their seconds per generation)."""

    def __init__(self) -> None:
        self.loop_lag_max = 0.0
        # The longest run of each kind of work the loop timed (a cycle, ...).
        self.handler_max: dict[str, float] = {}
        self.gc_max = [0.0] * GENERATIONS
        self.gc_seconds = [0.0] * GENERATIONS
        self.gc_collections = [0] * GENERATIONS
        self._collection_started: float | None = None

    def install(self) -> None:
        """Time this process's collections from now on."""
        if self._on_collection not in gc.callbacks:
            gc.callbacks.append(self._on_collection)

    def uninstall(self) -> None:
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._collection_started = time.perf_counter()
            return
        started, self._collection_started = self._collection_started, None
        if started is None:
            return
        took = time.perf_counter() - started
        generation = int(info["generation"])
        self.gc_seconds[generation] += took
        self.gc_collections[generation] += 1
        self.gc_max[generation] = max(self.gc_max[generation], took)

    def handled(self, kind: str, seconds: float) -> None:
        """One piece of `kind` of work took `seconds` of the loop."""
        if seconds > self.handler_max.get(kind, 0.0):
            self.handler_max[kind] = seconds

    async def watch_loop(self, interval: float = 0.05) -> None:
        """Runs on the loop it watches: how late each wake-up comes is how
        long the loop was busy with something else."""
        while True:
            asleep = time.monotonic()
            await asyncio.sleep(interval)
            late = time.monotonic() - asleep - interval
            self.loop_lag_max = max(self.loop_lag_max, late)

    def take(self) -> dict[str, float]:
        """The figures (seconds), the maxima reset: each read covers the
        time since the previous one."""
        figures = {"loop_lag_max_seconds": self.loop_lag_max}
        for generation in range(GENERATIONS):
            figures[f"gc{generation}_max_seconds"] = self.gc_max[generation]
            figures[f"gc{generation}_seconds"] = self.gc_seconds[generation]
            figures[f"gc{generation}_collections"] = float(self.gc_collections[generation])
        for kind, seconds in self.handler_max.items():
            figures[f"{kind}_max_seconds"] = seconds
        self.loop_lag_max = 0.0
        self.handler_max = {}
        self.gc_max = [0.0] * GENERATIONS
        return figures
