"""A restarted agent drops the launches that reach it before it has
registered again: the master answers TASK_GONE for the tasks its
registration does not report, so such a task must never start (Mesos's
agent drops them too). The actor's message handling is driven without Ray:
its state is a real `AgentState`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.agents import poll_until, task

from pyactors.agent.actor import AgentActor
from pyactors.agent.state import AgentState
from pyactors.core.protocol import LaunchTasks
from pyactors.core.tasks import TaskState


@pytest.fixture
def actor(tmp_path: Path) -> Iterator[AgentActor]:
    # The constructor asks Ray for its node: the handling is all this needs.
    shell = AgentActor.__new__(AgentActor)
    shell.agent_id = "agent-1"
    shell.state = AgentState("agent-1", tmp_path, kill_grace=0.0)
    yield shell
    shell.state.shutdown()


def test_a_launch_before_the_restarted_agent_registered_is_dropped(actor: AgentActor) -> None:
    actor.recovered = True
    actor._receive(LaunchTasks("agent-1", "fw", [task("early", "sleep 600")], [], "*"))
    assert actor.state.report() == [] and actor.state.processes == {}
    # Registered (the master now knows what it holds): launches start again.
    actor.recovered = False
    actor._receive(LaunchTasks("agent-1", "fw", [task("later", "exit 0")], [], "*"))
    seen = poll_until(actor.state, lambda seen: len(seen) == 2, acknowledge=True)
    assert [(s.task_id, s.state) for s in seen] == [
        ("later", TaskState.TASK_RUNNING),
        ("later", TaskState.TASK_FINISHED),
    ]
