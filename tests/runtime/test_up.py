"""A long-running cluster on the session's multi-node Ray cluster, driven as
an operator would: `python3 -m pyactors up --address ...` in a real
subprocess, `pyactors.connect()` from this process, `pyactors down`.

One agent per Ray node, a node that joins later gets one, tasks run on the
node whose agent accepted them, a removed node's tasks are reported
unreachable, and `down` leaves no actor and no task process behind."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest
from click.testing import CliRunner
from ray.cluster_utils import Cluster
from support.multinode import OnePerAgent, raylet_pids
from support.runtime import PATIENCE, processes_in, wait_for

import pyactors
from pyactors import Launch, Resources, TaskInfo
from pyactors.agent import launcher
from pyactors.cli import main
from pyactors.cli.common import Api, NoMaster
from pyactors.core.offer import OfferInfo
from pyactors.errors import ClusterUpError, InvalidArgumentError
from pyactors.runtime import ray_calls
from pyactors.runtime.supervisor import PREFIX, NodeWatch, agent_id_of
from pyactors.scheduler.api import Driver
from pyactors.security.local_credentials import load_local_credentials

ROOT = Path(__file__).resolve().parent.parent


def pyactors_command(
    *args: str, env: dict[str, str] | None = None, timeout: float = PATIENCE
) -> subprocess.CompletedProcess[str]:
    """`python3 -m pyactors ARGS` in a subprocess that imports this copy
    (with `env` added to this process's environment)."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pyactors", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path, **(env or {})},
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module", autouse=True)
def private_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`up` writes the admin credentials it generates under
    $XDG_CONFIG_HOME, which `pyactors up` subprocesses inherit: a
    directory of this module's, not the user's own."""
    before = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    yield
    if before is None:
        del os.environ["XDG_CONFIG_HOME"]
    else:
        os.environ["XDG_CONFIG_HOME"] = before


@dataclass
class Standing:
    address: str
    url: str
    work_dir: Path


@pytest.fixture(scope="module")
def standing(ray_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standing]:
    work_dir = tmp_path_factory.mktemp("standing")
    address = ray_cluster.address
    try:
        done = pyactors_command(
            "up",
            "--address",
            address,
            "--http-port",
            "0",
            "--work-dir",
            str(work_dir),
            "--agent-resources",
            "disk:1000",
            "--attribute",
            "rack=r1",
        )
        assert done.returncode == 0, done.stderr
        url = done.stdout.split("export PYACTORS_MASTER=")[1].strip()
        yield Standing(address, url, work_dir)
    finally:
        # The down test stops it already; whatever is left must go.
        with contextlib.suppress(ClusterUpError):
            pyactors.down(address)


class Probe(OnePerAgent):
    """One task with `command` on each agent, named `<name>-<agent id>`, so
    that the tests' frameworks never reuse an id the master still holds
    (a task it reported TASK_GONE stays among its live ones)."""

    def __init__(self, name: str, command: str) -> None:
        super().__init__(command)
        self.name = name

    def offers(self, driver: Driver, offers: list[OfferInfo]) -> None:
        for offer in offers:
            if offer.agent_id in self.agents:
                driver.decline([offer.id], refuse_seconds=60)
                continue
            self.agents.add(offer.agent_id)
            task_id = f"{self.name}-{offer.agent_id}"
            resources = Resources.parse("cpus:0.1;mem:16")
            task = TaskInfo(task_id, "probe", resources, command=self.command)
            driver.accept([offer.id], [Launch([task])], refuse_seconds=60)


def haproxies(work_dir: Path) -> list[psutil.Process]:
    """The HAProxy processes serving from under `work_dir`."""
    return [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "haproxy" and str(work_dir) in " ".join(p.info["cmdline"] or [])
    ]


def agents_by_node(url: str) -> dict[str, dict[str, object]]:
    api = Api(url, credentials=load_local_credentials())
    return {a["attributes"]["ray_node_id"]: a for a in api.get("/master/slaves")["slaves"]}


def test_node_watch_reports_joined_and_left_nodes() -> None:
    watch = NodeWatch()
    first = watch.update(["b", "a"])
    assert (first.joined, first.left) == (["a", "b"], [])
    second = watch.update(["b", "c"])
    assert (second.joined, second.left) == (["c"], ["a"])
    # An agent that could not start is tried again at the next reading.
    watch.forget("c")
    assert watch.update(["b", "c"]).joined == ["c"]
    assert watch.without_agent(["c"]) == ["b"]
    assert agent_id_of("0123456789abcdef") == "agent-0123456789ab"


def test_a_detached_cluster_is_one_agent_per_node_and_on_this_ray_cluster() -> None:
    with pytest.raises(InvalidArgumentError, match="per-node"):
        pyactors.Cluster(agents=2, detached=True)
    with pytest.raises(ClusterUpError, match="connected to the Ray cluster at"):
        pyactors.connect("127.0.0.1:1")
    assert not ray_calls.named_actors(PREFIX)


@pytest.mark.timeout(300)
def test_up_starts_one_agent_per_node_and_a_second_up_is_refused(standing: Standing) -> None:
    nodes = {n.node_id for n in ray_calls.alive_nodes()}
    agents = wait_for(lambda: len(agents_by_node(standing.url)) == len(nodes), what="agents")
    assert agents
    found = agents_by_node(standing.url)
    assert set(found) == nodes
    for node in ray_calls.alive_nodes():
        agent = found[node.node_id]
        # Detected from its node, but for what --agent-resources names.
        assert agent["resources"]["cpus"] == node.resources["CPU"]
        assert agent["resources"]["disk"] == 1000
        assert agent["attributes"]["rack"] == "r1"
    names = ray_calls.named_actors(PREFIX)
    assert f"{PREFIX}supervisor" in names and f"{PREFIX}master-0" in names
    assert {f"{PREFIX}{agent_id_of(n)}" for n in nodes} <= set(names)
    again = pyactors_command("up", "--address", standing.address, "--http-port", "0")
    assert again.returncode == 1
    assert "already up" in again.stderr
    # Refused without touching the cluster that is up.
    assert ray_calls.named_actors(PREFIX) == names
    Api(standing.url).get("/health")
    # Without --master or $PYACTORS_MASTER, commands find its master by name.
    found = CliRunner().invoke(main, ["url"], env={"PYACTORS_MASTER": None})
    assert found.exit_code == 0, found.output
    assert found.stdout.strip() == standing.url


@pytest.mark.timeout(300)
def test_connect_runs_a_framework_whose_tasks_run_on_their_agents_nodes(
    ray_cluster: Cluster, standing: Standing
) -> None:
    cluster = pyactors.connect(standing.address)
    try:
        assert cluster.url == standing.url
        framework = cluster.run_framework(
            Probe, "probe", "echo $RAY_RAYLET_PID", name="probe", roles=["probe"]
        )
        agents = cluster.state()["agents"]
        wait_for(
            lambda: (
                sum(s == "TASK_FINISHED" for _, s, _, _ in framework.call("seen")["updates"])
                == len(agents)
            ),
            what="a finished task on each agent",
        )
        pids = raylet_pids(ray_cluster)
        for agent in agents:
            sandbox = cluster.sandbox(f"probe-{agent['id']}")
            assert sandbox is not None and sandbox.startswith(str(standing.work_dir))
            raylet = int(Path(sandbox, "stdout").read_text())
            assert raylet == pids[agent["attributes"]["ray_node_id"]]
        cluster.teardown(framework)
    finally:
        cluster.shutdown()
    # Disconnecting ends only this process's frameworks.
    Api(standing.url).get("/health")
    assert ray_calls.named_actors(f"{PREFIX}master")


@pytest.mark.timeout(600)
def test_a_joining_node_gets_an_agent_and_a_leaving_ones_tasks_are_unreachable(
    ray_cluster: Cluster, standing: Standing
) -> None:
    node = ray_cluster.add_node(wait=False, num_cpus=1)
    sandbox = None
    cluster = pyactors.connect(standing.address)
    try:
        ray_cluster.wait_for_nodes(timeout=PATIENCE)
        agent_id = agent_id_of(node.node_id)
        joined = wait_for(
            lambda: agents_by_node(standing.url).get(node.node_id), what="the new node's agent"
        )
        assert joined["id"] == agent_id and joined["reachable"]
        framework = cluster.run_framework(Probe, "doomed", "sleep 600", name="doomed", roles=["d"])
        task = f"doomed-{agent_id}"
        wait_for(lambda: "TASK_RUNNING" in framework.call("states", task), what="running")
        sandbox = Path(cluster.sandbox(task) or "")
        assert processes_in(sandbox)
        ray_cluster.remove_node(node)
        wait_for(
            lambda: "TASK_UNREACHABLE" in framework.call("states", task),
            what="TASK_UNREACHABLE",
        )
        assert not agents_by_node(standing.url)[node.node_id]["reachable"]
        unreachable = [
            t for t, s, _, _ in framework.call("seen")["updates"] if s == "TASK_UNREACHABLE"
        ]
        assert unreachable == [task]
        cluster.teardown(framework)
    finally:
        if node in ray_cluster.worker_nodes:
            ray_cluster.remove_node(node)
        # The removed node's raylet took its workers, not the task's own
        # process group.
        for process in processes_in(sandbox) if sandbox else []:
            process.kill()
        cluster.shutdown()


@pytest.mark.timeout(300)
def test_an_agent_that_died_on_a_live_node_is_started_again_and_recovers_its_tasks(
    standing: Standing,
) -> None:
    cluster = pyactors.connect(standing.address)
    home = ray_calls.current_node_id()
    agent_id = agent_id_of(home)
    sandbox = None
    try:
        framework = cluster.run_framework(Probe, "orphan", "sleep 600", name="orphan", roles=["o"])
        task = f"orphan-{agent_id}"
        wait_for(lambda: "TASK_RUNNING" in framework.call("states", task), what="running")
        sandbox = Path(cluster.sandbox(task) or "")
        pid = orjson.loads((sandbox / launcher.PIDS).read_bytes())["task"][0]
        process = psutil.Process(pid)
        old = ray_calls.named(f"{PREFIX}{agent_id}")
        # Stopped for good (no Ray restart): the supervisor starts a new
        # actor under the same id, which recovers the old one's task.
        ray_calls.stop(old)
        wait_for(lambda: _renamed(agent_id, old), what="a new agent actor")
        wait_for(lambda: agents_by_node(standing.url)[home]["reachable"], what="agent back")
        assert framework.call("states", task) == ["TASK_RUNNING"]
        assert process.is_running()
        # The new agent kills the task it adopted.
        cluster.teardown(framework)
        wait_for(lambda: not process.is_running(), what="the adopted task killed")
    finally:
        for leftover in processes_in(sandbox) if sandbox else []:
            leftover.kill()
        cluster.shutdown()


def _renamed(agent_id: str, old: Any) -> bool:
    try:
        return bool(ray_calls.named(f"{PREFIX}{agent_id}")._actor_id != old._actor_id)
    except ray_calls.NoSuchActorError:
        return False


@pytest.mark.timeout(600)
def test_job_commands_drive_the_clusters_jobs_framework(standing: Standing, tmp_path: Path) -> None:
    name = f"nightly-{uuid.uuid4().hex[:6]}"
    definition = tmp_path / "job.json"
    definition.write_text(
        f'{{"name": "{name}", "command": "echo ran", "cron": "0 3 * * *", "cpus": 0.1, "mem": 16}}'
    )
    at = ("--address", standing.address)
    added = pyactors_command("job", "add", str(definition), *at)
    assert added.returncode == 0, added.stderr
    assert f"added {name}" in added.stdout
    # Another process finds the same framework: the job is there.
    listed = pyactors_command("--json", "job", "list", *at)
    assert listed.returncode == 0, listed.stderr
    (described,) = [j for j in json.loads(listed.stdout) if j["name"] == name]
    assert described["cron"] == "0 3 * * *" and described["nextRun"] is not None
    assert pyactors_command("job", "run", name, *at).returncode == 0

    def finished() -> bool:
        runs = json.loads(pyactors_command("--json", "job", "history", name, *at).stdout)
        return bool(runs) and runs[-1]["state"] == "SUCCESS"

    wait_for(finished, what="the run finishes")
    table = pyactors_command("job", "history", name, *at)
    assert "SUCCESS" in table.stdout and name in table.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "bad", "command": "true", "cron": "not cron", "colour": 1}')
    refused = pyactors_command("job", "add", str(bad), *at)
    assert refused.returncode == 1 and "colour" in refused.stderr, refused.stderr
    unknown = pyactors_command("job", "run", "no-such-job", *at)
    assert unknown.returncode == 1 and "no-such-job" in unknown.stderr
    assert pyactors_command("job", "remove", name, *at).returncode == 0
    listed = json.loads(pyactors_command("job", "--json", "list", *at).stdout)
    assert name not in [j["name"] for j in listed]
    assert f"{PREFIX}jobs" in ray_calls.named_actors(PREFIX)


@pytest.mark.timeout(600)
def test_app_commands_drive_the_clusters_service_framework(
    standing: Standing, tmp_path: Path
) -> None:
    app_id = f"/cli/web-{uuid.uuid4().hex[:6]}"
    definition = {
        "id": app_id,
        "cmd": "python3 -m http.server $PORT0 --bind 127.0.0.1",
        "instances": 1,
        "cpus": 0.1,
        "mem": 64,
        "portDefinitions": [{"port": 0}],
        "healthChecks": [{"protocol": "HTTP", "portIndex": 0, "path": "/", "intervalSeconds": 1}],
    }
    path = tmp_path / "web.json"
    path.write_text(json.dumps(definition))
    at = ("--address", standing.address)
    deployed = pyactors_command("app", "deploy", str(path), *at)
    assert deployed.returncode == 0, deployed.stderr
    assert "deployment" in deployed.stdout

    def healthy(count: int) -> bool:
        listed = json.loads(pyactors_command("--json", "app", "list", *at).stdout)
        return any(a["id"] == app_id and a["tasksHealthy"] == count for a in listed)

    wait_for(lambda: healthy(1), what="one healthy instance")
    shown = json.loads(pyactors_command("app", "show", app_id, "--json", *at).stdout)
    assert [t["state"] for t in shown["tasks"]] == ["TASK_RUNNING"]

    # Served through HAProxy, from another process than the one that deployed
    # (HAProxy may be reloading with the new instance still).
    def served() -> bool:
        try:
            with urllib.request.urlopen(shown["endpoint"], timeout=30) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    wait_for(served, what="an answer through HAProxy")
    assert haproxies(standing.work_dir)
    assert pyactors_command("app", "scale", app_id, "2", *at).returncode == 0
    wait_for(lambda: healthy(2), what="two healthy instances")
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "/bad", "cmd": "true", "instances": "many"}')
    refused = pyactors_command("app", "deploy", str(bad), *at)
    assert refused.returncode == 1 and "instances" in refused.stderr, refused.stderr
    unknown = pyactors_command("app", "show", "/nope", *at)
    assert unknown.returncode == 1 and "/nope" in unknown.stderr, unknown.stderr
    assert pyactors_command("app", "remove", app_id, *at).returncode == 0
    wait_for(
        lambda: (
            app_id
            not in [
                a["id"] for a in json.loads(pyactors_command("--json", "app", "list", *at).stdout)
            ]
        ),
        what="the app gone",
    )
    assert f"{PREFIX}services" in ray_calls.named_actors(PREFIX)


@pytest.mark.timeout(600)
def test_down_stops_the_tasks_agents_and_masters(standing: Standing) -> None:
    cluster = pyactors.connect(standing.address)
    try:
        framework = cluster.run_framework(Probe, "long", "sleep 600", name="long", roles=["l"])
        agents = [a for a in cluster.state()["agents"] if a["reachable"]]
        tasks = [f"long-{a['id']}" for a in agents]
        for task in tasks:
            wait_for(lambda t=task: "TASK_RUNNING" in framework.call("states", t), what=task)
        sandboxes = [Path(cluster.sandbox(task) or "") for task in tasks]
        processes = [p for sandbox in sandboxes for p in processes_in(sandbox)]
        assert len(processes) >= len(tasks)
        done = pyactors_command("down", "--address", standing.address)
        assert done.returncode == 0, done.stderr
        assert "pyactors is down" in done.stdout
        wait_for(lambda: not ray_calls.named_actors(PREFIX), what="no actor of the cluster left")
        _, alive = psutil.wait_procs(processes, timeout=PATIENCE)
        assert not alive
        # The service framework's HAProxy went with it.
        assert not haproxies(standing.work_dir)
        with pytest.raises(NoMaster):
            Api(standing.url, timeout=5).get("/health")
    finally:
        cluster.shutdown()
    with pytest.raises(ClusterUpError, match="pyactors up"):
        pyactors.connect(standing.address)
    again = pyactors_command("down", "--address", standing.address)
    assert again.returncode == 1 and "no pyactors cluster is up" in again.stderr


@pytest.mark.timeout(300)
def test_demo_command_runs_the_main_job(ray_cluster: Cluster) -> None:
    result = CliRunner().invoke(
        main,
        ["demo", "--agents", "2", "--pi-tasks", "4", "--gangs", "1", "--timeout", str(PATIENCE)],
    )
    assert result.exit_code == 0, result.output
    assert "pi" in result.output and "TASK_FINISHED=4" in result.output


@pytest.mark.timeout(300)
def test_up_that_cannot_serve_its_api_is_refused_and_leaves_nothing(ray_cluster: Cluster) -> None:
    assert not ray_calls.named_actors(PREFIX), "a cluster of another test is still up"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = pyactors_command("up", "--address", ray_cluster.address, "--http-port", port)
    assert done.returncode == 1
    assert port in done.stderr
    wait_for(lambda: not ray_calls.named_actors(PREFIX), what="nothing left of it")


@pytest.mark.timeout(300)
def test_up_with_zookeeper_on_the_ray_cluster_of_ray_address(
    ray_cluster: Cluster, zookeeper: Any, tmp_path: Path
) -> None:
    zk = f"zk://{zookeeper.hosts}/pyactors-up-{uuid.uuid4().hex[:8]}"
    # No --address: $RAY_ADDRESS names the Ray cluster, as for `ray` itself.
    env = {"RAY_ADDRESS": ray_cluster.address}
    options = ["--http-port", "0", "--work-dir", str(tmp_path), "--zk", zk, "--masters", "2"]
    try:
        done = pyactors_command("up", *options, env=env)
        assert done.returncode == 0, done.stderr
        url = done.stdout.split("export PYACTORS_MASTER=")[1].strip()
        assert {f"{PREFIX}master-0", f"{PREFIX}master-1"} <= set(ray_calls.named_actors(PREFIX))
        cluster = pyactors.connect(ray_cluster.address)
        try:
            assert cluster.url == url
            nodes = {n.node_id for n in ray_calls.alive_nodes()}
            wait_for(lambda: set(agents_by_node(url)) == nodes, what="an agent per node")
        finally:
            cluster.shutdown()
        down = pyactors_command("down", env=env)
        assert down.returncode == 0, down.stderr
        wait_for(lambda: not ray_calls.named_actors(PREFIX), what="no actor of the cluster left")
    finally:
        with contextlib.suppress(ClusterUpError):
            pyactors.down(ray_cluster.address)
