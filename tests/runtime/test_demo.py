"""The main job, small: both frameworks finish real work on a local cluster,
the demo draws and reports what it measured, and it fails in one line."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from pyactors import Resources
from pyactors.errors import PyactorsError
from pyactors.tools import demo

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.timeout(300)
def test_demo_runs_both_frameworks_to_completion(tmp_path: Path) -> None:
    result = demo.run(agents=2, pi_tasks=12, gangs=2, work_dir=str(tmp_path))
    assert result.complete
    assert result.tallies["pi"].counts() == {"TASK_FINISHED": 12}
    assert result.tallies["gang"].counts() == {"TASK_FINISHED": 8}
    pi_out = Path(result.sandboxes["pi"] or "") / "stdout"
    assert pi_out.read_text().strip() == str(sum(range(demo.PI_TERMS)))
    gang_out = Path(result.sandboxes["gang"] or "") / "stdout"
    assert gang_out.read_text() == "gang member gang-0-a0-0 done\n"
    assert result.samples[-1].finished == {"pi": 12, "gang": 8}
    assert set(result.start_seconds) >= {"master", "agent", "framework"}
    summary = demo._summary(result)
    assert "pi" in summary and (result.shapes and result.shapes.gang_member in summary)


def test_shapes_split_the_machine_and_fit_a_gang_in_an_agent() -> None:
    shapes = demo.shapes(4, cpus=2, mem_mb=12000)
    assert shapes.agent == "cpus:0.500;mem:3000"
    agent = Resources.parse(shapes.agent)
    member = Resources.parse(shapes.gang_member)
    pi = Resources.parse(shapes.pi)
    gang = member + member + member + member
    assert gang <= agent and pi + pi + pi + pi <= agent
    # Three of each per agent: DRF can give both frameworks 3/4 of their
    # dominant resource at once.
    assert pi + pi + pi + member + member + member <= agent
    with pytest.raises(PyactorsError):
        demo.shapes(0, cpus=2, mem_mb=12000)


class _Fake:
    """Frameworks and a cluster whose pi task ends at every `ends_every`-th look."""

    def __init__(self, tasks: int, ends_every: int) -> None:
        self.tasks, self.ends_every, self.looks = tasks, ends_every, 0

    def call(self, method: str) -> Any:
        if method == "gangs":
            self.looks += 1
            return []
        tally = demo.Tally(launched=self.tasks)
        for n in range(min(self.tasks, self.looks // self.ends_every)):
            tally.latest[f"pi-{n}"] = "TASK_FINISHED"
        return tally

    def state(self) -> dict[str, Any]:
        return {"allocator": {"roles": {}}}


def _watch(fake: _Fake, timeout: float) -> demo.DemoResult:
    result = demo.DemoResult()
    frameworks: Any = {"pi": fake, "gang": fake}
    started = time.monotonic()
    demo._watch(fake, frameworks, started, fake.tasks, 0, timeout, None, result)  # type: ignore[arg-type]
    return result


@pytest.mark.timeout(60)
def test_the_demo_waits_as_long_as_tasks_keep_ending() -> None:
    # A task ends every second or so (a look each 0.5 s), for longer than
    # the timeout in all: slow is not stuck.
    result = _watch(_Fake(tasks=3, ends_every=2), timeout=2.5)
    assert result.complete and result.samples[-1].t > 2.5


@pytest.mark.timeout(60)
def test_the_demo_gives_up_when_nothing_ends() -> None:
    with pytest.raises(demo.StalledError, match=r"no task ended in 1s: finished: pi 0/2"):
        _watch(_Fake(tasks=2, ends_every=10**6), timeout=1.0)


@pytest.mark.timeout(300)
def test_demo_draws_its_plot_and_reports_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    png, report = tmp_path / "demo.png", tmp_path / "report.json"
    argv = ["--agents", "2", "--pi-tasks", "4", "--gangs", "1", "--work-dir", str(tmp_path)]
    code = demo.main([*argv, "--plot", str(png), "--report-json", str(report)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 10_000
    assert f"plot: {png}" in out
    written = orjson.loads(report.read_bytes())
    assert written["ok"] is True and written["plot"] == str(png)
    assert written["tallies"]["pi"] == {"launched": 4, "states": {"TASK_FINISHED": 4}}
    assert written["tallies"]["gang"] == {"launched": 4, "states": {"TASK_FINISHED": 4}}
    assert set(written["start_seconds"]) >= {"master", "agent", "framework"}
    assert written["seconds"] > 0


def test_without_matplotlib_the_demo_draws_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert not demo.plot(demo.DemoResult(), tmp_path / "demo.png")
    assert not (tmp_path / "demo.png").exists()


@pytest.mark.timeout(300)
def test_a_failed_start_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    # Sandboxes under a regular file: every agent's constructor fails.
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    report = tmp_path / "report.json"
    argv = ["--work-dir", str(blocker / "work"), "--report-json", str(report)]
    done = subprocess.run(
        [sys.executable, "-m", "pyactors.demo", *argv],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("pyactors: ")]
    assert len(errors) == 1 and "did not start" in errors[0], done.stderr
    assert done.stderr.rstrip().endswith(errors[0])
    written = orjson.loads(report.read_bytes())
    assert written["ok"] is False and written["error"] == errors[0].removeprefix("pyactors: ")
