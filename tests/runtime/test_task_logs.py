"""Task logs, sandbox files and per-task usage on real clusters: read over
HTTP from the tasks' agents, `pyactors logs` (following a running task in
a real process), log rotation, sandbox garbage collection and
/monitor/statistics."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import cli
from support.http import get, request
from support.runtime import PATIENCE, Launcher, small_cluster, wait_for

from pyactors.runtime.cluster import Cluster, Framework

ROOT = Path(__file__).resolve().parent.parent


def launch(
    cluster: Cluster, command: str, resources: str = "cpus:0.1;mem:32"
) -> tuple[Framework, str]:
    """A framework running one task; (the framework, the task id)."""
    task_id = f"t-{uuid.uuid4().hex[:8]}"
    framework = cluster.run_framework(Launcher, [(task_id, command, resources)], name=task_id)
    return framework, task_id


def wait_state(framework: Framework, task_id: str, state: str) -> None:
    wait_for(lambda: state in framework.call("states", task_id), what=f"{task_id} {state}")


def test_logs_over_http_with_offsets_lengths_and_the_size(cluster: Cluster, url: str) -> None:
    framework, task_id = launch(cluster, "printf 'hello\\nworld\\n'; echo oops >&2")
    wait_state(framework, task_id, "TASK_FINISHED")
    logs = f"/tasks/{task_id}/logs"
    assert get(url, f"{logs}/stdout") == {"data": "hello\nworld\n", "offset": 0, "next_offset": 12}
    assert get(url, f"{logs}/stdout?offset=6&length=3")["data"] == "wor"
    assert get(url, f"{logs}/stdout?offset=-1") == {"data": "", "offset": 12, "next_offset": 12}
    assert get(url, f"{logs}/stderr")["data"] == "oops\n"
    # For a browser: the bytes themselves.
    with urllib.request.urlopen(f"{url}{logs}/stdout?offset=6&format=text", timeout=30) as text:
        assert text.headers.get_content_type() == "text/plain"
        assert (text.read(), text.headers["X-Next-Offset"]) == (b"world\n", "12")
    mesos = get(url, f"/files/read?path={task_id}/stdout&offset=0&length=5")
    assert (mesos["data"], mesos["offset"]) == ("hello", 0)
    assert task_id in get(url, f"/files/read?path=/{task_id}/task.json")["data"]
    for path, status, kind in [
        ("/tasks/no-such-task/logs/stdout", 404, "unknown_task"),
        (f"{logs}/task.json", 404, "unknown_file"),
        (f"/files/read?path={task_id}/nothing", 404, "unknown_file"),
        (f"{logs}/stdout?offset=-2", 400, "invalid_argument"),
        (f"{logs}/stdout?offset=x", 400, "invalid_argument"),
        (f"{logs}/stdout?length=-1", 400, "invalid_argument"),
        ("/files/read?path=just-a-task", 400, "invalid_argument"),
    ]:
        answer = request(url, path)
        assert answer[0] == status and answer[1]["error"] == kind, (path, answer)
    cluster.teardown(framework)


def test_paths_leaving_the_sandbox_are_refused(cluster: Cluster, url: str) -> None:
    framework, task_id = launch(
        cluster, "ln -s /etc/passwd leak; ln -s / root; mkdir -p sub; echo inside > sub/f"
    )
    wait_state(framework, task_id, "TASK_FINISHED")
    assert get(url, f"/files/read?path={task_id}/sub/f")["data"] == "inside\n"
    attempts = [
        f"{task_id}/../../../../../../etc/passwd",
        f"{task_id}/sub/../../{task_id}/sub/f",
        f"{task_id}//etc/passwd",
        f"{task_id}/leak",
        f"{task_id}/root/etc/passwd",
        f"{task_id}/sub",
    ]
    for path in attempts:
        status, body = request(url, "/files/read?" + urllib.parse.urlencode({"path": path}))
        assert status == 400 and body["error"] == "invalid_path", (path, status, body)
    # Encoded by hand, and in the route's own segments.
    for raw in [
        f"/files/read?path={task_id}/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        f"/files/read?path={task_id}%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        f"/files/read?path=%2F{task_id}%2F%2Fetc%2Fpasswd",
    ]:
        status, body = request(url, raw)
        assert status == 400 and body["error"] == "invalid_path", (raw, status, body)
    for raw in ["/tasks/..%2F..%2F..%2Fetc/logs/stdout", "/tasks/%2Fetc%2Fpasswd/logs/stdout"]:
        status, body = request(url, raw)
        assert status == 404 and "root:" not in str(body), (raw, status, body)
    cluster.teardown(framework)


def test_cli_prints_logs_their_tail_and_refuses_unknown_tasks(cluster: Cluster, url: str) -> None:
    framework, task_id = launch(cluster, "seq 1 50; echo warned >&2")
    wait_state(framework, task_id, "TASK_FINISHED")
    assert cli("logs", task_id, master=url).stdout == "".join(f"{i}\n" for i in range(1, 51))
    assert cli("logs", task_id, "--stderr", master=url).stdout == "warned\n"
    assert cli("logs", task_id, "--tail", "2", master=url).stdout == "49\n50\n"
    assert cli("logs", task_id, "--tail", "0", master=url).stdout == ""
    assert cli("logs", task_id, "--tail", "500", master=url).stdout.startswith("1\n2\n")
    # Following a finished task prints what there is and ends.
    assert cli("logs", "-f", task_id, "--tail", "1", master=url).stdout == "50\n"
    result = cli("logs", "no-such-task", master=url, code=1)
    assert "unknown task 'no-such-task'" in result.stderr
    assert "no master" in cli("logs", task_id, code=2).stderr
    cluster.teardown(framework)


def test_logs_follow_sees_new_lines_and_exits_when_the_task_ends(
    cluster: Cluster, url: str
) -> None:
    framework, task_id = launch(
        cluster, "echo first; while [ ! -e go ]; do sleep 0.1; done; echo second"
    )
    wait_state(framework, task_id, "TASK_RUNNING")
    env = {k: v for k, v in os.environ.items() if k != "PYACTORS_MASTER"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = ["logs", "-f", task_id, "--interval", "0.1"]
    follower = subprocess.Popen(
        [sys.executable, "-m", "pyactors", "--master", url, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert lines.get(timeout=PATIENCE) == "first\n"
        # The task is still running, waiting for this: the next line is new.
        assert framework.call("states", task_id)[-1] == "TASK_RUNNING"
        sandbox = cluster.sandbox(task_id)
        assert sandbox is not None
        Path(sandbox, "go").touch()
        assert lines.get(timeout=PATIENCE) == "second\n"
        assert follower.wait(timeout=PATIENCE) == 0
        assert "TASK_FINISHED" in framework.call("states", task_id)
    finally:
        if follower.poll() is None:
            follower.kill()
        follower.wait()
        reader.join(timeout=10)
        assert follower.stderr is not None
        follower.stderr.close()
        cluster.teardown(framework)


def test_monitor_statistics_report_a_busy_tasks_cpu_time_and_memory(
    cluster: Cluster, url: str
) -> None:
    framework, task_id = launch(cluster, "while :; do :; done", "cpus:0.5;mem:64")
    wait_state(framework, task_id, "TASK_RUNNING")

    def cpu_seconds() -> float:
        for entry in get(url, "/monitor/statistics"):
            if entry["executor_id"] == task_id:
                used = entry["statistics"]
                return float(used["cpus_user_time_secs"] + used["cpus_system_time_secs"])
        return 0.0

    first = wait_for(lambda: cpu_seconds() > 0.1 and cpu_seconds(), what="CPU time reported")
    wait_for(lambda: cpu_seconds() > first + 0.3, what="the CPU time grows")
    (entry,) = [e for e in get(url, "/monitor/statistics") if e["executor_id"] == task_id]
    assert entry["framework_id"] == framework.id and entry["source"] == task_id
    statistics = entry["statistics"]
    assert statistics["mem_rss_bytes"] > 0
    assert statistics["mem_limit_bytes"] == 64 * 1024 * 1024
    assert statistics["cpus_limit"] == 0.5
    assert statistics["timestamp"] > 1e9  # the wall clock
    (shown,) = [
        t
        for f in get(url, "/master/state")["frameworks"]
        if f["id"] == framework.id
        for t in f["tasks"]
    ]
    assert shown["statistics"]["cpus_user_time_secs"] > 0
    status, text = request(url, "/metrics")
    assert status == 200
    (line,) = [
        line
        for line in text.splitlines()
        if line.startswith(f'pyactors_framework_cpus_user_seconds{{framework="{framework.id}"}}')
    ]
    assert float(line.rsplit(" ", 1)[1]) > 0
    assert f'pyactors_framework_mem_rss_bytes{{framework="{framework.id}"}}' in text
    cluster.teardown(framework)
    wait_for(
        lambda: all(e["executor_id"] != task_id for e in get(url, "/monitor/statistics")),
        what="an ended task leaves /monitor/statistics",
    )


# ------------------------------------------- rotation and garbage collection


@pytest.fixture(scope="module")
def short_lived(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    """One agent that rotates logs past 20 kB (two copies kept) and removes
    finished sandboxes after 3 s."""
    yield from small_cluster(
        tmp_path_factory, agents=1, max_log_bytes=20_000, log_files=2, sandbox_gc_seconds=3.0
    )


def test_logs_rotate_past_their_size_and_the_current_file_has_the_newest(
    short_lived: Cluster,
) -> None:
    url = short_lived.url
    # About 100 kB at 20 kB/s, then a last line; it keeps running after (its
    # sandbox would be collected 3 s after it ended).
    line = "x" * 90
    write = (
        f'i=0; while [ $i -lt 1000 ]; do echo "$i {line}"; i=$((i+1)); '
        "[ $((i % 20)) -eq 0 ] && sleep 0.1; done; echo LAST; sleep 600"
    )
    framework, task_id = launch(short_lived, write)
    wait_state(framework, task_id, "TASK_RUNNING")
    sandbox = Path(wait_for(lambda: short_lived.sandbox(task_id), what="the sandbox"))
    logs = f"/tasks/{task_id}/logs/stdout"
    wait_for(lambda: get(url, f"{logs}?offset=-1")["offset"] > 90_000, what="100 kB written")
    wait_for(lambda: (sandbox / "stdout").read_text().endswith("LAST\n"), what="the last line")
    names = sorted(p.name for p in sandbox.iterdir() if p.name.startswith("stdout"))
    assert names == ["stdout", "stdout.1", "stdout.2"]
    current = (sandbox / "stdout").stat().st_size
    assert current < 60_000  # rotated: not the whole 100 kB
    assert 15_000 < (sandbox / "stdout.1").stat().st_size < 60_000
    # Offsets count from the first byte: the end is far past the current file.
    end = get(url, f"{logs}?offset=-1")["offset"]
    assert end > current + 20_000
    tail = get(url, f"{logs}?offset={end - 5}")
    assert tail == {"data": "LAST\n", "offset": end - 5, "next_offset": end}
    # Before the current file: it is read from its start.
    first = get(url, f"{logs}?offset=0&length=10")
    assert first["offset"] == end - current
    assert cli("logs", task_id, "--tail", "1", master=url).stdout == "LAST\n"
    short_lived.teardown(framework)


def test_a_fast_writer_loses_no_line_across_rotations(short_lived: Cluster) -> None:
    url = short_lived.url
    # 56 000 bytes of numbered lines, flushed one by one over about a
    # second: rotated twice while written, all within the two copies kept.
    write = (
        "import time\n"
        "for i in range(8000):\n"
        "    print(f'{i:06d}', flush=True)\n"
        "    i % 400 or time.sleep(0.05)\n"
    )
    framework, task_id = launch(short_lived, f'python3 -c "{write}"; sleep 600')
    wait_state(framework, task_id, "TASK_RUNNING")
    sandbox = Path(wait_for(lambda: short_lived.sandbox(task_id), what="the sandbox"))
    logs = f"/tasks/{task_id}/logs/stdout"
    wait_for(lambda: get(url, f"{logs}?offset=-1")["offset"] == 56_000, what="every line")
    files = [sandbox / name for name in ("stdout.2", "stdout.1", "stdout")]
    text = b"".join(path.read_bytes() for path in files).decode()
    assert text.splitlines() == [f"{i:06d}" for i in range(8000)]
    # Offsets over HTTP count every byte: the current file starts at 40 000,
    # inside line 5714 (rotation cuts by size, as Mesos's logrotate does).
    assert get(url, f"{logs}?offset=0&length=7") == {
        "data": "5714\n00",
        "offset": 40_000,
        "next_offset": 40_007,
    }
    short_lived.teardown(framework)


@pytest.mark.timeout(400)
def test_finished_sandboxes_are_collected_after_their_age_and_running_ones_kept(
    short_lived: Cluster, tmp_path: Path
) -> None:
    url = short_lived.url
    running, running_id = launch(short_lived, "echo still here; sleep 600")
    wait_state(running, running_id, "TASK_RUNNING")
    # It ends when the test has read its log: its sandbox goes 3 s after.
    go = tmp_path / "go"
    done, done_id = launch(short_lived, f"echo done; while [ ! -e {go} ]; do sleep 0.1; done")
    wait_state(done, done_id, "TASK_RUNNING")
    sandbox = Path(wait_for(lambda: short_lived.sandbox(done_id), what="the sandbox"))
    running_sandbox = short_lived.sandbox(running_id)
    wait_for(lambda: get(url, f"/tasks/{done_id}/logs/stdout")["data"] == "done\n", what="its log")
    go.touch()
    wait_state(done, done_id, "TASK_FINISHED")
    wait_for(lambda: not sandbox.exists(), what="the finished sandbox is collected")
    status, body = request(url, f"/tasks/{done_id}/logs/stdout")
    assert status == 404 and body["error"] == "sandbox_gone", body
    # The agent's own message, without Ray's wrapping.
    assert body["message"] == (
        f"the sandbox of task '{done_id}' is gone: garbage-collected, or never here"
    )
    assert "is gone" in cli("logs", done_id, master=url, code=1).stderr
    # Older than the age, but running: kept, and readable.
    assert running_sandbox is not None and Path(running_sandbox).is_dir()
    assert get(url, f"/tasks/{running_id}/logs/stdout")["data"] == "still here\n"
    short_lived.teardown(running)
    short_lived.teardown(done)
