"""Chronos's and Metronome's REST APIs of the jobs framework on a real cluster
with credentials, driven by Chronos's own Python client (chronos-python
1.2.1), by plain HTTP and by `pyactors job add`: every answer is compared
with what `cluster.jobs()` reports, and runs started through the APIs are
in the ledger, once."""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chronos
import pytest
from click.testing import CliRunner
from support.runtime import small_cluster, wait_for

from pyactors.cli import main
from pyactors.frameworks.jobs.client import Jobs
from pyactors.frameworks.jobs.store import read_ledger
from pyactors.runtime import cluster as runtime_cluster
from pyactors.runtime.cluster import Cluster

pytestmark = pytest.mark.timeout(600)

SECRET = "chronos-test-secret"
FAR = "R/2030-01-01T00:00:00Z/P1D"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from small_cluster(
        tmp_path_factory, credentials={"ops": SECRET}, principal="ops", secret=SECRET
    )


@pytest.fixture(scope="module")
def jobs(cluster: Cluster) -> Jobs:
    started: Jobs = cluster.jobs()
    return started


@pytest.fixture(scope="module")
def client(jobs: Jobs) -> Any:
    return chronos.connect(
        jobs.chronos_url.removeprefix("http://"), username="ops", password=SECRET
    )


def call(jobs: Jobs, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """(status, JSON body or None) of one request, authenticated."""
    token = base64.b64encode(f"ops:{SECRET}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(
        jobs.chronos_url + path, data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        status, raw = refused.code, refused.read()
    return status, json.loads(raw) if raw else None


def runs(jobs: Jobs, name: str, state: str | None = None) -> list[dict[str, Any]]:
    return [run for run in jobs.history(name) if state in (None, run["state"])]


def test_the_master_shows_the_api_as_the_frameworks_webui_url(cluster: Cluster, jobs: Jobs) -> None:
    token = base64.b64encode(f"ops:{SECRET}".encode()).decode()
    request = urllib.request.Request(
        cluster.url + "/master/state", headers={"Authorization": f"Basic {token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        state = json.loads(answer.read())
    (framework,) = [f for f in state["frameworks"] if f["id"] == jobs.framework_id]
    assert framework["webui_url"] == jobs.chronos_url
    status, leader = call(jobs, "GET", "/leader")
    assert status == 200 and jobs.chronos_url.endswith(leader["leader"])


def test_chronos_python_adds_lists_searches_runs_and_deletes(
    cluster: Cluster, jobs: Jobs, client: Any
) -> None:
    client.add(
        {
            "name": "extract",
            "command": "echo extracted",
            "schedule": FAR,
            "owner": "data@example.com",
            "disabled": False,
            "cpus": 0.1,
            "mem": 16,
        }
    )
    client.add(
        {
            "name": "load",
            "command": "echo loaded",
            "parents": ["extract"],
            "owner": "data@example.com",
            "disabled": False,
            "mem": 16,
        }
    )
    listed = {job["name"]: job for job in client.list()}
    reported = {job["name"]: job for job in jobs.jobs()}
    assert set(listed) == set(reported) >= {"extract", "load"}
    for name in ("extract", "load"):
        assert listed[name]["command"] == reported[name]["command"]
        assert listed[name]["owner"] == reported[name]["owner"] == "data@example.com"
    assert listed["extract"]["schedule"] == reported["extract"]["schedule"] == FAR
    assert listed["load"]["parents"] == reported["load"]["parents"] == ["extract"]
    assert [job["name"] for job in client.search(name="loa")] == ["load"]
    assert {job["name"] for job in client.search(command="echo")} >= {"extract", "load"}

    # Run now (a PUT with no body): a manual run in the ledger, then the
    # dependent job after its success.
    client.run("extract")
    wait_for(lambda: runs(jobs, "load", "SUCCESS"), what="the dependent job ran")
    (manual,) = runs(jobs, "extract")
    assert manual["trigger"] == "manual" and manual["state"] == "SUCCESS"
    assert manual["attempts"] == 1
    assert runs(jobs, "load")[0]["cause"] == manual["id"]
    assert jobs.ledger()["extract"] == jobs.history("extract")
    # As stored (the work dir's ledger): the one run, launched once.
    (stored,) = read_ledger(None, str(cluster.work_dir))["extract"]
    assert (stored["id"], stored["state"], stored["attempts"]) == (manual["id"], "SUCCESS", 1)
    listed = {job["name"]: job for job in client.list()}
    assert listed["extract"]["successCount"] == 1 and listed["extract"]["lastSuccess"]
    assert listed["load"]["successCount"] == len(runs(jobs, "load", "SUCCESS")) == 1
    stat = client.job_stat("extract")
    assert [task["taskId"] for task in stat["taskStatHistory"]] == [manual["task_id"]]
    graph = client.scheduler_graph().splitlines()
    assert "node,extract,success,idle" in graph and "link,extract,load" in graph

    client.delete("load")
    client.delete("extract")
    remaining = {job["name"] for job in jobs.jobs()}
    assert not remaining & {"extract", "load"}


def test_chronos_python_failures_say_why_in_its_logger_and_change_nothing(
    jobs: Jobs, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    before = jobs.jobs()
    bad = {"name": "bad", "command": "true", "schedule": "daily", "owner": "", "disabled": False}
    with caplog.at_level(logging.ERROR, logger="chronos"):
        with pytest.raises(chronos.ChronosAPIError, match="No remaining Chronos servers"):
            client.add(bad)
        with pytest.raises(chronos.ChronosAPIError):
            client.run("no-such-job")
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "schedule" in logged and "no-such-job" in logged
    anonymous = chronos.connect(jobs.chronos_url.removeprefix("http://"))
    with pytest.raises(chronos.ChronosAPIError):
        anonymous.list()
    status, refused = call(jobs, "POST", "/v1/scheduler/dependency", {"name": "x"})
    assert status == 400 and refused["status"] == "Bad Request" and refused["message"]
    assert jobs.jobs() == before


def test_metronome_job_with_a_cron_schedule_runs_and_is_stopped(
    cluster: Cluster, jobs: Jobs
) -> None:
    spec = {
        "id": "metronome.sleeper",
        "description": "sleeps until stopped",
        # The run's task sees its environment, or fails at once.
        "run": {
            "cmd": 'test "$GREETING" = hello && sleep 600',
            "env": {"GREETING": "hello"},
            "cpus": 0.1,
            "mem": 16,
            "disk": 0,
        },
        "schedules": [{"id": "yearly", "cron": "0 0 1 1 *", "concurrencyPolicy": "FORBID"}],
    }
    status, created = call(jobs, "POST", "/v1/jobs", spec)
    assert status == 201 and created["id"] == "metronome.sleeper"
    reported = jobs.job("metronome.sleeper")
    assert reported["cron"] == created["schedules"][0]["cron"] == "0 0 1 1 *"
    assert reported["concurrencyPolicy"] == "FORBID"
    status, schedules = call(jobs, "GET", "/v1/jobs/metronome.sleeper/schedules")
    assert status == 200 and [s["id"] for s in schedules] == ["yearly"]

    status, run = call(jobs, "POST", "/v1/jobs/metronome.sleeper/runs")
    assert status == 201 and run["jobId"] == "metronome.sleeper"

    def active() -> bool:
        return bool(runs(jobs, "metronome.sleeper", "RUNNING"))

    wait_for(active, what="the run's task running")
    status, listed = call(jobs, "GET", "/v1/jobs/metronome.sleeper/runs")
    (ledger_run,) = runs(jobs, "metronome.sleeper")
    assert [r["id"] for r in listed] == [run["id"]] == [ledger_run["id"]]
    assert listed[0]["status"] == "ACTIVE"
    assert listed[0]["tasks"][0]["id"] == ledger_run["task_id"]

    status, stopped = call(
        jobs, "POST", f"/v1/jobs/metronome.sleeper/runs/{run['id']}/actions/stop"
    )
    assert status == 200 and stopped["status"] == "FAILED"
    assert runs(jobs, "metronome.sleeper")[0]["state"] == "KILLED"
    (stored,) = read_ledger(None, str(cluster.work_dir))["metronome.sleeper"]
    assert (stored["id"], stored["state"]) == (run["id"], "KILLED")
    status, listed = call(jobs, "GET", "/v1/jobs/metronome.sleeper/runs")
    assert listed == []
    status, deleted = call(jobs, "DELETE", "/v1/jobs/metronome.sleeper")
    assert status == 200 and deleted["id"] == "metronome.sleeper"
    assert "metronome.sleeper" not in [job["name"] for job in jobs.jobs()]


def test_malformed_metronome_jobs_get_metronome_errors_and_add_nothing(jobs: Jobs) -> None:
    before = jobs.jobs()
    bad = {"id": "bad", "run": {"cpus": 0.1, "docker": {"image": "busybox"}}}
    status, refused = call(jobs, "POST", "/v1/jobs", bad)
    assert status == 422 and refused["message"] == "Object is not valid"
    assert {d["path"] for d in refused["details"]} == {"/run/cmd", "/run/docker"}
    status, refused = call(jobs, "POST", "/v1/jobs", b"{not json")
    assert status == 400 and refused["message"]
    status, missing = call(jobs, "GET", "/v1/jobs/nothing")
    assert status == 404 and missing == {"id": "nothing", "message": "Job not found"}
    assert jobs.jobs() == before


class Borrowed:
    """The test's cluster as `pyactors job` finds one: the command shuts its
    connection down when done, not the module's cluster."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def jobs(self) -> Jobs:
        return self.cluster.jobs()

    def shutdown(self) -> None:
        pass


def test_pyactors_job_add_reads_a_metronome_file(
    cluster: Cluster, jobs: Jobs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_cluster, "connect", lambda address: Borrowed(cluster))
    spec = tmp_path / "job.json"
    spec.write_text(
        json.dumps(
            {
                "id": "from-file",
                "run": {"cmd": "echo from a file", "cpus": 0.1, "mem": 16, "disk": 0},
                "schedules": [
                    {
                        "id": "nightly",
                        "cron": "0 3 * * *",
                        "timezone": "Europe/Berlin",
                        "startingDeadlineSeconds": 60,
                        "concurrencyPolicy": "ALLOW",
                    }
                ],
            }
        )
    )
    added = CliRunner().invoke(main, ["job", "add", str(spec)])
    assert added.exit_code == 0, added.output
    assert "from-file" in added.output
    reported = jobs.job("from-file")
    assert (reported["command"], reported["cron"], reported["scheduleTimeZone"]) == (
        "echo from a file",
        "0 3 * * *",
        "Europe/Berlin",
    )
    assert reported["startingDeadlineSeconds"] == 60
    status, shown = call(jobs, "GET", "/v1/jobs/from-file")
    assert status == 200 and shown["schedules"][0]["id"] == "nightly"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"id": "bad-file", "run": {"cpus": 0.1}}))
    refused = CliRunner().invoke(main, ["job", "add", str(bad)])
    assert refused.exit_code == 1 and "run.cmd" in refused.output
    assert "bad-file" not in [job["name"] for job in jobs.jobs()]
    jobs.remove("from-file")
