"""Starting actors: a slow start is waited for, a real failure is a typed
error naming what did not start and why, and nothing is left running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
import ray

import pyactors
from pyactors.errors import (
    AgentStartError,
    FrameworkStartError,
    StartError,
)
from pyactors.runtime import ray_calls
from pyactors.scheduler.api import Driver, Scheduler


class Sleeper:
    """An actor whose start takes as long as it is told."""

    def __init__(self, fail_init: bool = False) -> None:
        if fail_init:
            raise ValueError("bad configuration")

    async def start(self, seconds: float) -> str:
        import asyncio

        await asyncio.sleep(seconds)
        return "started"

    async def exit(self) -> None:
        os._exit(1)


# Workers cannot import this test module: send the class by value.
ray_calls.ship_by_value(Sleeper)


@pytest.fixture
def cluster() -> Any:
    cluster = pyactors.start(agents=1, agent_resources="cpus:1;mem:256", allocation_interval=0.1)
    yield cluster
    cluster.shutdown()


@pytest.mark.timeout(300)
def test_a_slow_start_is_waited_for_and_said() -> None:
    handle = ray_calls.spawn(Sleeper)
    heard: list[str] = []
    start = ray_calls.begin_start(handle, 3.0, what="sleeper", error=StartError)
    try:
        [(answer, seconds)] = ray_calls.wait_started([start], budget=240, on_wait=heard.append)
    finally:
        ray_calls.stop(handle)
    assert answer == "started"
    assert seconds >= 3.0
    assert heard and all(phrase.startswith("sleeper: ") for phrase in heard)
    assert heard[-1] == "sleeper: starting up"


@pytest.mark.timeout(300)
def test_a_start_past_its_budget_fails_typed() -> None:
    handle = ray_calls.spawn(Sleeper)
    start = ray_calls.begin_start(handle, 600.0, what="sleeper", error=AgentStartError)
    try:
        # The budget is counted from the call: wait for the actor to be
        # created first, so the failure is about the start, not Ray.
        ray.get(start.ready, timeout=240)
        start.since = time.monotonic()
        with pytest.raises(
            AgentStartError, match=r"sleeper did not start within 2 s \(starting up\)"
        ):
            ray_calls.wait_started([start], budget=2)
    finally:
        ray_calls.stop(handle)


@pytest.mark.timeout(300)
def test_a_constructor_that_raises_is_a_start_error() -> None:
    handle = ray_calls.spawn(Sleeper, True)
    start = ray_calls.begin_start(handle, 0.0, what="sleeper", error=AgentStartError)
    with pytest.raises(
        AgentStartError,
        match="sleeper did not start: its constructor raised ValueError: bad configuration",
    ):
        ray_calls.wait_started([start])


@pytest.mark.timeout(300)
def test_an_actor_dying_while_starting_is_a_start_error() -> None:
    handle = ray_calls.spawn(Sleeper)
    start = ray_calls.begin_start(handle, 600.0, what="sleeper", error=StartError)
    ray.get(start.ready, timeout=240)
    handle.exit.remote()
    with pytest.raises(StartError, match="sleeper did not start: its actor died"):
        ray_calls.wait_started([start])


class Failing(Scheduler):
    def __init__(self, error: Exception) -> None:
        raise error


class DiesOnSubscribe(Scheduler):
    def subscribed(self, driver: Driver, framework_id: str, master_info: dict[str, Any]) -> None:
        os._exit(1)


@pytest.mark.timeout(300)
def test_a_scheduler_that_raises_is_a_framework_start_error(cluster: Any) -> None:
    with pytest.raises(
        FrameworkStartError,
        match="framework 'broken' did not start: its start raised ZeroDivisionError: no",
    ):
        cluster.run_framework(Failing, ZeroDivisionError("no"), name="broken")
    assert cluster.frameworks == []


@pytest.mark.timeout(300)
def test_a_framework_actor_dying_while_subscribing_is_a_framework_start_error(
    cluster: Any,
) -> None:
    with pytest.raises(FrameworkStartError, match="framework 'dies' did not start: its actor died"):
        cluster.run_framework(DiesOnSubscribe, name="dies")
    assert cluster.frameworks == []


@pytest.mark.timeout(300)
def test_an_agent_ray_cannot_place_is_an_agent_start_error(cluster: Any) -> None:
    nowhere = "ab" * 28  # no Ray node has this id
    with pytest.raises(AgentStartError, match="agent 'lost' did not start: Ray cannot place it"):
        cluster.add_agent("lost", nowhere, "cpus:1;mem:128")
    assert "lost" not in cluster.agents
    assert set(cluster.start_seconds) == {"master", "agent"}


@pytest.mark.timeout(300)
def test_start_says_what_it_waits_for() -> None:
    heard: list[str] = []
    cluster = pyactors.start(agents=2, agent_resources="cpus:1;mem:256", progress=heard.append)
    try:
        assert "starting 1 master" in heard
        assert "starting 2 agents" in heard
        cluster.run_framework(DiesOnSubscribe.__base__, name="idle")  # type: ignore[arg-type]
        assert "starting framework 'idle'" in heard
        assert set(cluster.start_seconds) == {"master", "agent", "framework"}
        assert all(seconds > 0 for seconds in cluster.start_seconds.values())
    finally:
        cluster.shutdown()


_PRIORITY_PROBE = """
import os, subprocess
import ray
from pyactors.runtime import ray_calls

class Probe:
    def niceness(self):
        child = subprocess.run(["nice"], capture_output=True, text=True, check=True)
        return os.nice(0), int(child.stdout)

ray_calls.ensure_started(num_cpus=1, address="local")
probe = ray_calls.spawn(Probe)
print(*ray_calls.ask(probe, "niceness"))
ray.shutdown()
"""


def test_a_ray_cluster_pyactors_starts_runs_actors_and_their_processes_at_normal_priority(
    tmp_path: Any,
) -> None:
    # A Ray instance of its own: the session's cluster is the tests' making.
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(
        [sys.executable, "-c", _PRIORITY_PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(os.nice(0))] * 2
