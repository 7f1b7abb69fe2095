"""The `pyactors` command end to end: click's runner (and once a real
`python3 -m pyactors` process) against a running cluster's HTTP API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import ray
from support.cli import cli
from support.http import get
from support.runtime import Launcher, wait_for

from pyactors.runtime.cluster import Cluster

ROOT = Path(__file__).resolve().parent.parent


def cli_json(url: str, *args: str) -> Any:
    return json.loads(cli(*args, "--json", master=url).stdout)


def test_no_master_is_exit_code_2() -> None:
    result = cli("status", code=2)
    assert "no master" in result.stderr and "PYACTORS_MASTER" in result.stderr
    result = cli("--master", "http://127.0.0.1:1", "agents", code=2)
    assert "cannot reach the master at http://127.0.0.1:1" in result.stderr
    assert result.stdout == ""


def test_url_status_and_agents(cluster: Cluster, url: str) -> None:
    assert cli("url", master=url).stdout.strip() == url
    assert cli("--master", url, "url").stdout.strip() == url  # the option, without env
    table = cli("status", master=url).stdout
    assert "2 (2 reachable)" in table
    assert "cpus 0/4" in table and "mem 0/1024" in table
    summary = cli_json(url, "status")
    assert summary.keys() == get(url, "/master/state-summary").keys()
    assert sorted(a["id"] for a in summary["slaves"]) == ["agent-0", "agent-1"]
    assert {"TASK_RUNNING", "used_resources", "reachable"} <= summary["slaves"][0].keys()
    again = cli_json(url, "--json", "status")  # the global flag too
    assert [a["id"] for a in again["slaves"]] == [a["id"] for a in summary["slaves"]]
    table = cli("agents", master=url).stdout
    assert "agent-0" in table and "agent-1" in table and "cpus 0/2" in table
    agents = cli_json(url, "agents")
    assert len(agents["slaves"]) == 2 and agents["slaves"][0]["resources"]["cpus"] == 2.0


def pyactors_module(*args: str) -> subprocess.CompletedProcess[str]:
    """`python3 -m pyactors ARGS` in a process of its own, PYACTORS_MASTER
    unset, looking for a standing cluster on this session's Ray cluster (which
    has none) rather than on whichever Ray cluster started last here."""
    env = {k: v for k, v in os.environ.items() if k != "PYACTORS_MASTER"}
    env["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # Generous: a bound on a stuck process, not on a slow start on a busy machine.
    return subprocess.run(
        [sys.executable, "-m", "pyactors", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def test_entry_point_runs_as_a_module(url: str) -> None:
    done = pyactors_module("--master", url, "status")
    assert done.returncode == 0, done.stderr
    assert "agents" in done.stdout and "2 (2 reachable)" in done.stdout
    done = pyactors_module("tasks")
    assert done.returncode == 2 and "no master" in done.stderr


def test_global_options_before_or_after_the_command(url: str) -> None:
    unreachable = "http://127.0.0.1:1"
    tasks = cli_json(url, "tasks")
    for args in (
        ("tasks", "--master", url, "--json"),
        ("--master", url, "tasks", "--json"),
        ("--json", "--master", url, "tasks"),
        ("--master", unreachable, "tasks", "--master", url, "--json"),  # the last wins
    ):
        assert json.loads(cli(*args).stdout) == tasks, args
    result = cli("--master", url, "tasks", "--master", unreachable, code=2)
    assert f"cannot reach the master at {unreachable}" in result.stderr
    # Typed, it beats $PYACTORS_MASTER at any level.
    assert json.loads(cli("tasks", "--master", url, "--json", master=unreachable).stdout) == tasks
    assert "tasks" in cli("--master", url, "tasks", master=unreachable).stdout

    quotas = get(url, "/master/quota")
    for args in (
        ("--master", url, "--json", "quota", "list"),
        ("quota", "list", "--master", url, "--json"),
        ("quota", "--master", url, "list", "--json"),
        ("quota", "--json", "list", "--master", url),
    ):
        assert json.loads(cli(*args).stdout) == quotas, args
    # $PYACTORS_MASTER, read again by each level, does not override a --master before it.
    again = cli("--master", url, "quota", "list", "--json", master=unreachable)
    assert json.loads(again.stdout) == quotas
    assert "quota" in cli("quota", "list", "--master", url).stdout  # a table without --json

    for args in (("tasks", "--help"), ("quota", "--help"), ("quota", "list", "--help")):
        shown = cli(*args).stdout
        assert "--master URL" in shown and "--json" in shown and "PYACTORS_MASTER" in shown


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("tasks", "--master"), "Option '--master' requires an argument"),
        (("quota", "list", "--json", "--master"), "Option '--master' requires an argument"),
        # The value left out, the next word is taken for it.
        (("--master", "tasks", "--json"), "Invalid value for '--master': 'tasks' is not a URL"),
        (("tasks", "--master", "--json"), "Invalid value for '--master': '--json' is not a URL"),
    ],
)
def test_a_missing_value_is_a_usage_error(args: tuple[str, ...], said: str) -> None:
    result = cli(*args, code=2)
    assert said in result.stderr and "Usage: " in result.stderr and "--help" in result.stderr
    assert isinstance(result.exception, SystemExit)


def test_a_missing_value_prints_no_traceback() -> None:
    done = pyactors_module("quota", "list", "--master")
    assert done.returncode == 2
    assert "Option '--master' requires an argument" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_quota_and_weights_round_trip(cluster: Cluster, url: str) -> None:
    cli("quota", "set", "cli", "--guarantee", "cpus:1;mem:64", "--limit", "cpus:2", master=url)
    (role,) = [r for r in get(url, "/master/roles")["roles"] if r["name"] == "cli"]
    assert role["quota"]["guarantee"] == {"cpus": 1.0, "mem": 64.0}
    assert role["quota"]["limit"] == {"cpus": 2.0}
    table = cli("quota", "list", master=url).stdout
    assert "cli" in table and "cpus:1;mem:64" in table
    assert [q["role"] for q in cli_json(url, "quota", "list")["infos"]] == ["cli"]
    cli("quota", "remove", "cli", master=url)
    assert cli_json(url, "quota", "list") == {"infos": []}
    assert "cli" not in [r["name"] for r in get(url, "/master/roles")["roles"] if r["quota"]]
    result = cli("quota", "remove", "cli", master=url, code=1)
    assert "no quota is set for role 'cli'" in result.stderr
    cli("quota", "set", "cli", "--guarantee", "cpus:lots", master=url, code=1)

    cli("weights", "set", "cli=2", "other=0.5", master=url)
    assert get(url, "/master/state")["weights"] == {"cli": 2.0, "other": 0.5}
    assert {"role": "cli", "weight": 2.0} in cli_json(url, "weights", "list")
    assert "other" in cli("weights", "list", master=url).stdout
    cli("weights", "set", "cli=3", "bad=-1", master=url, code=1)  # all or none
    assert get(url, "/master/state")["weights"]["cli"] == 2.0
    cli("weights", "set", "noequals", master=url, code=2)


def test_tasks_kill_and_teardown(cluster: Cluster, url: str) -> None:
    tasks = [
        ("cli-done", "true", "cpus:0.5;mem:32"),
        ("cli-sleeper", "sleep 3600", "cpus:0.5;mem:32"),  # runs until killed
    ]
    framework = cluster.run_framework(Launcher, tasks, name="cli", roles=["cli"])
    wait_for(lambda: "TASK_FINISHED" in framework.call("states", "cli-done"), what="one finishes")
    wait_for(lambda: "TASK_RUNNING" in framework.call("states", "cli-sleeper"), what="one runs")

    table = cli("tasks", "--framework", framework.id, master=url).stdout
    assert "cli-done" in table and "TASK_FINISHED" in table
    assert "cli-sleeper" in table and "TASK_RUNNING" in table
    listed = cli_json(url, "tasks", "--framework", framework.id)
    assert {t["id"]: t["state"] for t in listed["tasks"]} == {
        "cli-done": "TASK_FINISHED",
        "cli-sleeper": "TASK_RUNNING",
    }
    assert listed["tasks"][0]["framework_id"] == framework.id
    running = cli_json(url, "tasks", "--state", "running")
    assert [t["id"] for t in running["tasks"]] == ["cli-sleeper"]
    assert len(cli_json(url, "tasks", "--limit", "1")["tasks"]) == 1
    assert (
        "no task state 'sideways'" in cli("tasks", "--state", "sideways", master=url, code=2).stderr
    )
    frameworks = cli("frameworks", master=url).stdout
    assert framework.id in frameworks and "cli" in frameworks
    assert "TASK_RUNNING" in cli("status", master=url).stdout

    result = cli("kill", "cli-sleeper", "--framework", "framework-999", master=url, code=1)
    assert "framework-999" in result.stderr and "unknown_framework" in result.stderr
    assert "\n" not in result.stderr.strip()  # one line
    cli("kill", "no-such-task", master=url, code=1)
    cli("kill", "cli-sleeper", "--framework", framework.id, master=url)
    wait_for(lambda: "TASK_KILLED" in framework.call("states", "cli-sleeper"), what="killed")

    result = cli("teardown", "framework-999", master=url, code=1)
    assert "unknown_framework" in result.stderr
    cli("teardown", framework.id, master=url)
    assert framework.id not in [f["id"] for f in cli_json(url, "frameworks")["frameworks"]]
    cluster.frameworks.remove(framework)
    cluster._stop_framework(framework.handle)


def test_maintenance_drain_list_and_up(cluster: Cluster, url: str) -> None:
    cli("maintenance", "drain", "agent-9", master=url, code=1)
    cli("maintenance", "drain", "agent-1", "--grace", "-1", master=url, code=2)
    assert cli_json(url, "maintenance", "list") == {"agents": []}
    assert (
        "draining agent-1"
        in cli("maintenance", "drain", "agent-1", "--grace", "2", master=url).stdout
    )
    (listed,) = cli_json(url, "maintenance", "list")["agents"]
    assert listed["agent_id"] == "agent-1" and listed["config"]["max_grace_period"] == 2.0
    table = cli("maintenance", "list", master=url).stdout
    assert "agent-1" in table and "DRAINED" in table  # nothing ran there
    (agent,) = [s for s in get(url, "/master/slaves")["slaves"] if s["id"] == "agent-1"]
    assert agent["deactivated"]
    cli("maintenance", "up", "agent-1", master=url)
    assert cli_json(url, "maintenance", "list") == {"agents": []}
    cli("maintenance", "up", "agent-1", master=url, code=1)
