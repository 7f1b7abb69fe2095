"""What a simulated run produced, as plain data (`summarise`): every
framework's counters, shares over time, utilisation, the offers' digest,
the audits, and whether DRF converged. All of it is a function of the
config except "run" (which allocator, and wall times)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from pyactors.tools.simulation.cluster import AGENT_TOTAL, Simulation


def convergence_tolerance(agents: int) -> float:
    """How far apart the hungry frameworks' weighted shares may end up.

    Two agents' worth of cpus, as a share of the cluster (2 / agents): one
    because DRF hands out an agent's free resources to one role at a time and
    a gang is itself one agent's cpus (4 x 2), so the framework behind may
    trail by a whole agent; one for the fragments only `pi` can use (a free
    cpu left alone on an agent fits a pi task but no gang task), which pi
    absorbs whenever the gang declines them. (Seeds 0-39 stay well inside:
    largest spreads 0.18 at 10 agents, 0.064 at 20, 0.023 at 50.)
    """
    return min(1.0, 2.0 / agents)


def convergence(simulation: Simulation) -> dict[str, Any]:
    """The hungry frameworks' weighted shares over the last quarter of the run
    (the instant values move by a whole gang when one ends)."""
    hungry = [f.name for f in simulation.frameworks if f.hungry]
    first = simulation.config.seconds - simulation.config.seconds // 4
    window = [second for second in simulation.seconds if second.now >= first]
    means = {name: statistics.fmean(w.weighted_shares[name] for w in window) for name in hungry}
    spread = max(means.values()) - min(means.values()) if means else 0.0
    tolerance = convergence_tolerance(simulation.config.agents)
    return {
        "frameworks": hungry,
        "window": [window[0].now, window[-1].now],
        "mean_weighted_shares": {name: round(share, 6) for name, share in means.items()},
        "spread": round(spread, 6),
        "tolerance": round(tolerance, 6),
        "converged": spread <= tolerance,
    }


def summarise(simulation: Simulation) -> dict[str, Any]:
    """Everything the run produced, as plain data. All of it is a function of
    the config except "run" (which allocator, and wall times)."""
    final = simulation.samples[-1].weighted_shares
    frameworks = {
        f.name: {
            "kind": f.kind,
            "role": f.role,
            "weight": f.weight,
            "task": f.spec.text(),
            "launched": f.launched,
            "finished": f.finished,
            "running": f.running,
            "declined_offers": f.declined,
            "weighted_share": round(final[f.name], 6),
        }
        for f in simulation.frameworks
    }
    cycles = [seconds * 1000 for seconds in simulation.cycle_seconds]
    return {
        "config": {
            "agents": simulation.config.agents,
            "seconds": simulation.config.seconds,
            "seed": simulation.config.seed,
            "agent_total": AGENT_TOTAL,
        },
        "frameworks": frameworks,
        "shares_over_time": [
            {"t": s.now, **{n: round(v, 6) for n, v in s.weighted_shares.items()}}
            for s in simulation.samples
        ],
        "utilisation": {
            "cpus": round(statistics.fmean(s.cpus for s in simulation.seconds), 6),
            "mem": round(statistics.fmean(s.mem for s in simulation.seconds), 6),
        },
        "offers": {"count": simulation.offers, "digest": simulation.offer_digest.hexdigest()},
        "audits": {"count": simulation.audits, "violations": simulation.violations},
        "convergence": convergence(simulation),
        "run": {
            "allocator": "reference" if simulation.config.reference else "rust",
            "cycles": len(cycles),
            "cycle_ms": {
                "mean": statistics.fmean(cycles),
                "p50": statistics.median(cycles),
                "p99": percentile(cycles, 0.99),
                "max": max(cycles),
                "total": sum(cycles),
            },
        },
    }


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def deterministic(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary without "run": what the flags alone decide."""
    return {key: value for key, value in summary.items() if key != "run"}
