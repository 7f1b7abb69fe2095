"""The main job, small: both frameworks finish real work on a local cluster."""

from __future__ import annotations

from pathlib import Path

from pyactors import demo


def test_demo_runs_both_frameworks_to_completion(tmp_path: Path) -> None:
    result = demo.run(
        agents=2, pi_tasks=12, gangs=2, timeout=90, show=False, work_dir=str(tmp_path)
    )
    assert result.tallies["pi"].counts() == {"TASK_FINISHED": 12}
    assert result.tallies["gang"].counts() == {"TASK_FINISHED": 8}
    pi_out = Path(result.sandboxes["pi"] or "") / "stdout"
    assert pi_out.read_text().strip() == str(sum(range(150000)))
    gang_out = Path(result.sandboxes["gang"] or "") / "stdout"
    assert gang_out.read_text() == "gang member gang-0-a0-0 done\n"
    assert "pi" in demo._summary(result)
