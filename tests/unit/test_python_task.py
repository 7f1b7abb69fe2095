"""Python callables as tasks, run as real processes in sandboxes (no Ray).

The callables are defined here, in a test module the task's process could
not import: they reach it pickled by value."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from support.processes import run_until_terminal
from support.runtime import PATIENCE, wait_for

from pyactors import Resources
from pyactors.agent import python_task
from pyactors.agent.state import AgentState
from pyactors.agent.task_process import METADATA, STDERR, STDOUT, TaskProcess, read_result
from pyactors.core.operations import TaskInfo
from pyactors.core.tasks import Reason, TaskState


@dataclass(frozen=True)
class Point:
    x: int
    y: int


def add(a: int, b: int, scale: int = 1) -> Point:
    return Point(a * scale, b * scale)


def chatty(name: str) -> str:
    print(f"hello {name}")
    print("to stderr", file=sys.stderr)
    return os.environ["MESOS_TASK_ID"]


def fails() -> None:
    raise ValueError("bad input")


def imports_of_the_runner() -> dict[str, bool]:
    return {"ray": "ray" in sys.modules, "pyactors": "pyactors" in sys.modules}


def hog(megabytes: int) -> None:
    held = bytearray(megabytes * 1024 * 1024)
    time.sleep(600)
    del held


def sleeps(seconds: float) -> None:
    time.sleep(seconds)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., TaskProcess]]:
    """Start function tasks; their process groups are killed however the
    test ends."""
    started: list[TaskProcess] = []

    def start(
        function: Callable[..., Any], *args: Any, mem: int = 128, **kwargs: Any
    ) -> TaskProcess:
        task_id = f"t{len(started)}"
        task = TaskInfo(
            task_id,
            task_id,
            Resources.parse(f"cpus:1;mem:{mem}"),
            function=function,
            args=args,
            kwargs=kwargs,
        )
        process = TaskProcess(task, "fw", "agent-1", tmp_path, now=0.0)
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate_now()


def test_a_callable_finishes_and_its_return_value_is_read_back(
    launch: Callable[..., TaskProcess],
) -> None:
    process = launch(add, 2, 3, scale=10)
    states = [s.state for s in run_until_terminal(process)]
    assert states == [TaskState.TASK_RUNNING, TaskState.TASK_FINISHED]
    # The class came by value and goes back as the very same class.
    assert read_result(process.sandbox) == Point(20, 30)
    metadata = orjson.loads((process.sandbox / METADATA).read_bytes())
    assert metadata["kind"] == "function"
    assert metadata["function"] == f"{__name__}.add"


def test_printing_goes_to_the_sandbox_files(launch: Callable[..., TaskProcess]) -> None:
    process = launch(chatty, "world")
    assert run_until_terminal(process)[-1].state is TaskState.TASK_FINISHED
    assert (process.sandbox / STDOUT).read_text() == "hello world\n"
    assert (process.sandbox / STDERR).read_text() == "to stderr\n"
    assert read_result(process.sandbox) == process.task.task_id


def test_a_raising_callable_fails_naming_the_exception(
    launch: Callable[..., TaskProcess],
) -> None:
    process = launch(fails)
    last = run_until_terminal(process)[-1]
    assert last.state is TaskState.TASK_FAILED
    assert last.reason is Reason.REASON_COMMAND_EXECUTOR_FAILED
    assert last.message == "ValueError: bad input"
    stderr = (process.sandbox / STDERR).read_text()
    assert "Traceback (most recent call last)" in stderr
    assert 'raise ValueError("bad input")' in stderr
    with pytest.raises(LookupError, match="raised ValueError: bad input"):
        read_result(process.sandbox)


def test_the_runner_stays_small(launch: Callable[..., TaskProcess]) -> None:
    """Importing Ray would cost the task 0.4 s and 55 MB: more than this
    task's whole memory limit."""
    process = launch(imports_of_the_runner, mem=48)
    assert run_until_terminal(process)[-1].state is TaskState.TASK_FINISHED
    assert read_result(process.sandbox) == {"ray": False, "pyactors": True}


def test_the_runner_returns_classes_shipped_by_value_without_ray(tmp_path: Path) -> None:
    (tmp_path / python_task.CALL).write_bytes(python_task.dump_call(add, (1, 2), {}))
    script = (
        "import sys\n"
        "from pyactors.agent import python_task\n"
        "code = python_task.main(['runner', sys.argv[1]])\n"
        "print(code, 'ray' in sys.modules)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert ran.stdout == "0 False\n", ran.stderr
    assert read_result(tmp_path) == Point(1, 2)


def test_a_callable_beyond_its_memory_is_killed(launch: Callable[..., TaskProcess]) -> None:
    last = run_until_terminal(launch(hog, 200, mem=64))[-1]
    assert last.state is TaskState.TASK_FAILED
    assert last.reason is Reason.REASON_CONTAINER_LIMITATION_MEMORY


def test_a_killed_callable_is_task_killed(launch: Callable[..., TaskProcess]) -> None:
    process = launch(sleeps, 60)
    wait_for(lambda: process.poll(time.monotonic()), what="the task started")
    process.kill(grace=1.0, now=time.monotonic())
    last = run_until_terminal(process)[-1]
    assert last.state is TaskState.TASK_KILLED
    with pytest.raises(LookupError, match="has not returned"):
        read_result(process.sandbox)


def test_a_partial_is_named_by_its_function(launch: Callable[..., TaskProcess]) -> None:
    process = launch(functools.partial(add, 1, scale=2), 5)
    assert run_until_terminal(process)[-1].state is TaskState.TASK_FINISHED
    assert read_result(process.sandbox) == Point(2, 10)
    metadata = orjson.loads((process.sandbox / METADATA).read_bytes())
    assert metadata["function"] == f"{__name__}.add"


def test_a_callable_that_cannot_be_pickled_fails_at_launch(tmp_path: Path) -> None:
    lock = threading.Lock()
    task = TaskInfo(
        "locked", "locked", Resources.parse("cpus:1;mem:64"), function=lambda: lock.locked()
    )
    # Validation does not pickle: the master cannot tell.
    assert task.problems() == []
    agent = AgentState("agent-1", tmp_path)
    agent.launch("fw", [task], now=0.0)
    (failed,) = agent.poll(0.0)
    assert failed.state is TaskState.TASK_FAILED
    assert failed.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
    assert "cannot pickle" in failed.message and "lock" in failed.message
    assert agent.processes == {}
    assert not (tmp_path / "frameworks" / "fw" / "tasks" / "locked").exists()


def test_function_tasks_are_validated_without_running_anything() -> None:
    def task(**fields: Any) -> TaskInfo:
        return TaskInfo("t", "t", Resources.parse("cpus:1"), **fields)

    assert task(function=add, args=(1, 2), kwargs={"scale": 3}).problems() == []
    assert any("not callable" in p for p in task(function=42).problems())
    assert any("exactly one" in p for p in task(function=add, command="true").problems())
    assert any("for a function task" in p for p in task(command="true", args=(1,)).problems())
    assert any("string keys" in p for p in task(function=add, kwargs={1: 2}).problems())
