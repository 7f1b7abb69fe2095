"""Unit tests drive plain state machines and real processes, never Ray: one
that tries to start Ray fails at once, saying so."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import ray
from support import processes

from pyactors.agent.state import AgentState


@pytest.fixture(scope="module", autouse=True)
def no_ray() -> Iterator[None]:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a unit test started Ray: it belongs in tests/runtime")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ray, "init", refuse)
        yield


@pytest.fixture(autouse=True)
def no_leftover_tasks() -> Iterator[None]:
    """Every task process a test starts is killed however the test ends."""
    yield
    while processes.started:
        processes.started.pop().terminate_now()


@pytest.fixture
def agents() -> Iterator[list[AgentState]]:
    """Agents a test makes (it appends them); shut down, their processes
    killed, however the test ends."""
    made: list[AgentState] = []
    yield made
    for agent in made:
        agent.shutdown()
