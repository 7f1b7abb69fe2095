"""`bench/cluster.py --quick` (1,000 and 5,000 emulated agents, short
windows) in a subprocess of its own. The bench starts a Ray instance of its
own (`address="local"`, new ports and session directory), so the session's
Ray serving the other runtime tests is neither used nor disturbed; the
subprocess runs in a session of its own, and whatever of it outlives it is
killed with its process group. The figures are not checked (the machine is
noisy), only that the run measured both scales and judged every goal."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
GOALS = (
    "launch overhead p99, 5,000 vs 1,000 agents",
    "master CPU per launch, 5,000 vs 1,000 agents",
    "master RSS, 5,000 vs 1,000 agents",
    "throughput",
    "100,000 agents",
)


@contextlib.contextmanager
def process_group_stopped() -> Iterator[list[int]]:
    """Kills, at the end, the process groups of the pids put in the list."""
    groups: list[int] = []
    try:
        yield groups
    finally:
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)


@pytest.mark.timeout(420)
def test_quick_run_measures_both_scales_and_judges_every_goal(tmp_path: Path) -> None:
    result = tmp_path / "cluster.json"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    command = [sys.executable, str(ROOT / "bench" / "cluster.py"), "--quick"]
    command += ["--json", str(result), "--plot", str(tmp_path / "cluster.png")]
    profile = shutil.which("py-spy") is not None
    if profile:
        command += ["--flame", "quick"]
    with process_group_stopped() as groups:
        bench = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        groups.append(bench.pid)
        try:
            # Under pytest-timeout's bound, so a hung run fails here saying why.
            out, err = bench.communicate(timeout=390)
        except subprocess.TimeoutExpired:
            bench.kill()
            out, err = bench.communicate()
    said = f"stdout:\n{out[-3000:]}\nstderr:\n{err[-6000:]}"
    assert bench.returncode == 0, said
    figures = orjson.loads(result.read_bytes())
    scales = figures["scales"]
    assert [s["agents"] for s in scales] == [1_000, 5_000], said
    for scale in scales:
        assert "error" not in scale, said
        assert scale["launches"] > 0
        quantiles = [scale[f"launch_overhead_{q}_ms"] for q in ("median", "p90", "p99")]
        assert all(q is not None for q in quantiles), scale
        assert quantiles == sorted(quantiles)
        assert scale["master_cpu_ms_per_launch"] > 0
    rows = {row["goal"]: row for row in figures["goals"]}
    assert tuple(rows) == GOALS
    assert all(row["verdict"] in ("met", "missed") and row["measured"] for row in rows.values())
    # --quick runs neither the throughput point nor 100,000 agents, and says so.
    assert rows["throughput"]["verdict"] == "missed"
    assert "not run" in rows["throughput"]["measured"]
    assert "verdict" in out and "missed" in out
    assert (tmp_path / "cluster.png").stat().st_size > 0
    if profile:
        flame = scales[-1]["flame"]
        assert "error" not in flame, flame
        assert (tmp_path / "master_flame_quick.svg").stat().st_size > 0
        assert 0 < len(flame["top_frames"]) <= 5
