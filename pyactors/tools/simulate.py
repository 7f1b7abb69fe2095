"""A simulated cluster driven by the real allocator: `python -m pyactors.simulate`.

A deterministic discrete-event simulation. Agents and frameworks are plain
Python objects and tasks are records with a duration (no processes); the
allocator is the real one (`pyactors.core.allocator.Allocator`, the Rust core, or
with `--reference` its pure-Python twin). Time is simulated: every step of
the loop is one second (`now` = 0, 1, ..., --seconds), nothing sleeps. This
module is the command line; the simulation is `pyactors.tools.simulation`.

The cluster: --agents agents of `cpus:8;mem:16384;disk:100000;ports:[...]`,
three in four with a `rack` attribute. The frameworks:

- `pi` (role `science`): a batch job that always has work, many short tasks
  of <1 cpu, 1 GB>, as many as each offer holds.
- `web` (role `web`, weight 2, quota guarantee of exactly its tasks): keeps 8
  long-running tasks of <2 cpus, 512 MB, 1 port>; suppresses its offers when
  all 8 run and revives when one ends.
- `gang` (role `ml`): always has work, gangs of 4 tasks of <2 cpus, 2 GB>
  that start together or not at all: it launches only as many whole gangs as
  one round of offers holds and declines the round (with a filter) if it
  cannot hold one.

Everything printed and written with --json is a function of the flags
(--agents, --seconds, --seed), except the wall times of the allocation cycles
(kept apart under "run" in the JSON). Both allocators make the same offers,
so --reference changes nothing else either.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from pyactors.tools.simulation.cluster import DEFAULT_AGENTS, DEFAULT_SECONDS, Config, run
from pyactors.tools.simulation.report import Output
from pyactors.tools.simulation.summary import summarise


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pyactors.simulate",
        description="Simulate a cluster driven by the pyactors allocator (simulated time).",
    )
    parser.add_argument("--agents", type=int, default=DEFAULT_AGENTS, help="agents (default 20)")
    parser.add_argument(
        "--seconds", type=int, default=DEFAULT_SECONDS, help="simulated seconds (default 120)"
    )
    parser.add_argument("--seed", type=int, default=0, help="allocator and task seed")
    parser.add_argument(
        "--reference", action="store_true", help="use the pure-Python reference allocator"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the summary as JSON")
    parser.add_argument("--plain", action="store_true", help="plain text even if rich is there")
    args = parser.parse_args(argv)
    if args.agents < 1 or args.seconds < 0 or not 0 <= args.seed < 2**64:
        parser.error("--agents must be >= 1, --seconds >= 0, --seed in [0, 2**64)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = Config(args.agents, args.seconds, args.seed, args.reference)
    output = Output(args.plain)
    with output.progress() as progress:
        simulation = run(config, progress)
    summary = summarise(simulation)
    output.summary(summary)
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return 1 if summary["audits"]["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
