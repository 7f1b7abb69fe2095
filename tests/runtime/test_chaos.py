"""A short chaos run (`bench/chaos.py`, a minute of faults with a fixed
seed) in a subprocess of its own: it starts its own Ray cluster of three
nodes, ZooKeeper and HAProxy, which must not clash with the session's Ray.
Every invariant must hold and every fault it injected must be reported with
its recovery time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from pyactors.tools.chaos.invariants import INVARIANTS

ROOT = Path(__file__).resolve().parents[2]
SEED = 15

pytestmark = pytest.mark.skipif(
    not Path("/usr/share/java/zookeeper.jar").is_file() or shutil.which("haproxy") is None,
    reason="Debian's zookeeper and haproxy are not both installed",
)


@pytest.mark.timeout(900)
def test_a_minute_of_faults_breaks_no_invariant(tmp_path: Path) -> None:
    result = tmp_path / "chaos.json"
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "chaos.py"),
            "--minutes",
            "1",
            "--seed",
            str(SEED),
            "--json",
            str(result),
            "--plot",
            str(tmp_path / "chaos.png"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        # Under pytest-timeout's bound: a hung run fails here, saying why,
        # and subprocess.run kills it (its ZooKeeper dies with it).
        timeout=840,
        check=False,
    )
    said = f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-6000:]}"
    assert result.exists(), said
    figures = orjson.loads(result.read_bytes())
    assert figures["broken"] == [], said
    assert done.returncode == 0, said
    for name in INVARIANTS:
        assert figures[name] is True if name == "services_restored" else figures[name] == 0, name
    assert figures["tasks_launched"] > 0 and figures["job_runs"] > 0
    injected = {entry["kind"] for entry in figures["fault_log"]}
    assert injected, "no fault was injected"
    assert set(figures["faults"]) == injected
    assert all(figures["recovery"][kind]["count"] == figures["faults"][kind] for kind in injected)
    assert (tmp_path / "chaos.png").stat().st_size > 0
