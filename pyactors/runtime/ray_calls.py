"""Every Ray call pyactors makes goes through here.

Actors elsewhere are plain classes over state machines; this module turns
them into Ray actors, sends one-way messages and waits where a caller must.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import ActorDiedError as ActorDiedError
from ray.exceptions import ActorUnschedulableError as ActorUnschedulableError
from ray.exceptions import GetTimeoutError, RayError
from ray.exceptions import RayActorError as RayActorError
from ray.exceptions import RayTaskError as RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from pyactors.errors import (
    ClusterUpError,
    NoAnswerError,
    PyactorsError,
    RayStartError,
    StartError,
)

NAMESPACE = "pyactors"
# Ray starts its workers at nice 15, below its own daemons. pyactors' actors
# are a control plane with deadlines in seconds (heartbeats, agent_timeout)
# and their agents' tasks are a user's workload, which Mesos runs at the
# machine's normal priority; at nice 15 any busy process starves both (the
# test suite ran about ten times slower beside four busy loops). A Ray
# cluster pyactors starts runs its workers at the normal priority.
SYSTEM_CONFIG: dict[str, Any] = {"worker_niceness": 0}


def ensure_started(num_cpus: int | None = None, address: str | None = None) -> None:
    """Connect to the Ray cluster at `address` (or the running one, as
    `ray.init` finds it), or start a local one ("local": always a new one)."""
    if ray.is_initialized():
        return
    # Options of a new instance only; an existing cluster has its own.
    new_instance = address in (None, "local")
    local: dict[str, Any] = (
        {"num_cpus": num_cpus, "include_dashboard": False, "_system_config": SYSTEM_CONFIG}
        if new_instance
        else {}
    )
    started = time.monotonic()
    while True:
        try:
            ray.init(
                address=address,
                namespace=NAMESPACE,
                logging_level=logging.ERROR,
                log_to_driver=False,
                **local,
            )
            return
        except Exception as error:
            if not node_start_timed_out(error):
                raise
            # What the failed start left running goes before the next try.
            ray.shutdown()
            waited = time.monotonic() - started
            if waited > START_BUDGET:
                raise RayStartError(
                    f"Ray did not start within {START_BUDGET:g} s (tried for {waited:.0f} s): "
                    f"{error}"
                ) from None


def node_start_timed_out(error: BaseException) -> bool:
    """Ray gave up on a node after its fixed 30 s wait for the raylet to
    register (ray/_private/node.py raises a bare Exception): on a loaded
    machine that is slowness, not failure, and starting again succeeds."""
    return type(error) is Exception and "timed out during startup" in str(error)


def connect(address: str | None = None, start_head: bool = False) -> str:
    """Connect this process (once) to the Ray cluster at `address`, or to the
    one running here ($RAY_ADDRESS, else the latest started on this
    machine), or with `start_head` to a new head node started for it.
    Returns the cluster's address; ClusterUpError if there is none."""
    if not ray.is_initialized():
        found = running_address(address)
        if found is None and start_head:
            found = start_head_node()
        if found is None:
            raise ClusterUpError("no Ray cluster is running here: pass its address, or `ray start`")
        try:
            ensure_started(address=found)
        except ConnectionError as error:
            raise ClusterUpError(f"cannot connect to the Ray cluster at {found}: {error}") from None
    current = str(ray.get_runtime_context().gcs_address)
    if address is not None and running_address(address) != current:
        # One process, one Ray cluster: acting on another would mislead.
        raise ClusterUpError(f"this process is connected to the Ray cluster at {current}")
    return current


def running_address(address: str | None = None) -> str | None:
    """The Ray cluster `address` names, or the one running here as `ray.init`
    finds it ($RAY_ADDRESS, else the latest one started on this machine);
    None when no address is given and none runs."""
    from ray._private.services import canonicalize_bootstrap_address

    # Ray's own lookup (its type says str, but None is what ray.init passes).
    found = canonicalize_bootstrap_address(address)  # type: ignore[arg-type]
    return None if found is None else str(found)


def start_head_node() -> str:
    """Start a Ray head node on this machine as `ray start --head` does: it
    outlives this process (`ray stop` ends it). Returns its address."""
    command = [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]
    options = ["start", "--head", "--disable-usage-stats", "--include-dashboard=false"]
    options.append(f"--system-config={json.dumps(SYSTEM_CONFIG)}")
    done = subprocess.run(command + options, capture_output=True, text=True, check=False)
    address = running_address() if done.returncode == 0 else None
    if address is None:
        raise ClusterUpError(f"ray start --head failed: {(done.stderr or done.stdout).strip()}")
    return address


def spawn(
    cls: type,
    *args: Any,
    name: str | None = None,
    node_id: str | None = None,
    detached: bool = False,
    max_restarts: int = 0,
    **kwargs: Any,
) -> Any:
    """Start `cls` as an actor (async methods make it an async actor), on
    the Ray node `node_id` when given (and nowhere else). It takes no CPU
    from the cluster: pyactors' own actors must not compete with the tasks
    they run for Ray's resources. A `detached` actor outlives the process
    that started it (until it is stopped or its node leaves); a `name`
    already taken raises ValueError and starts nothing. Ray starts an actor
    whose process died again, with the same arguments, up to `max_restarts`
    times (-1: always; `restarted()` tells it so)."""
    options: dict[str, Any] = {
        "num_cpus": 0,
        "max_concurrency": 64,
        "max_restarts": max_restarts,
    }
    if detached:
        options["lifetime"] = "detached"
    if name is not None:
        # In pyactors' namespace whatever the driver's, so `named` finds it.
        options["name"] = name
        options["namespace"] = NAMESPACE
    if node_id is not None:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id, soft=False)
    return ray.remote(cls).options(**options).remote(*args, **kwargs)


class NoSuchActorError(Exception):
    """No live actor goes by that name (not started yet, or gone)."""


def named(name: str) -> Any:
    """The handle of the actor `spawn`ed under `name`."""
    try:
        return ray.get_actor(name, namespace=NAMESPACE)
    except ValueError as e:
        raise NoSuchActorError(f"no actor named {name!r}") from e


def named_actors(prefix: str) -> list[str]:
    """The names of the live actors in pyactors' namespace that start with `prefix`."""
    listed = ray.util.list_named_actors(all_namespaces=True)
    return sorted(
        actor["name"]
        for actor in listed
        if actor["namespace"] == NAMESPACE and actor["name"].startswith(prefix)
    )


@dataclass(frozen=True)
class RayNode:
    """What an agent on a Ray node reports by default."""

    node_id: str
    hostname: str
    address: str
    resources: dict[str, float]
    labels: dict[str, str]


def alive_nodes() -> list[RayNode]:
    """The Ray cluster's live nodes, in a stable order."""
    return sorted(
        (
            RayNode(
                node["NodeID"],
                node["NodeManagerHostname"],
                node["NodeManagerAddress"],
                dict(node["Resources"]),
                dict(node.get("Labels") or {}),
            )
            for node in ray.nodes()  # type: ignore[no-untyped-call]
            if node["Alive"]
        ),
        key=lambda node: node.node_id,
    )


def restarted() -> bool:
    """Whether this actor is a restart by Ray of one whose process died."""
    return bool(ray.get_runtime_context().was_current_actor_reconstructed)


def current_actor() -> Any:
    """This actor's own handle."""
    return ray.get_runtime_context().current_actor


def current_node_id() -> str:
    """The Ray node the caller (a driver or an actor) runs on."""
    return str(ray.get_runtime_context().get_node_id())


def current_node_ip() -> str:
    """The IP address of the Ray node the caller runs on."""
    return str(ray.util.get_node_ip_address())  # type: ignore[no-untyped-call]


def ship_by_value(cls: type) -> None:
    """Let workers receive a user's class even when its module (or a base
    class's) is not importable there (a test file, a notebook): pickle those
    modules by value."""
    for base in cls.__mro__:
        name = base.__module__
        module = sys.modules.get(name)
        if module is None or name in ("__main__", "builtins") or name.startswith("pyactors."):
            continue
        ray.cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]


def tell(handle: Any, method: str, *args: Any) -> None:
    """A one-way message: fire and forget (a dead receiver is noticed by
    heartbeats and timeouts, not here)."""
    getattr(handle, method).remote(*args)


def tell_until_delivered(handle: Any, method: str, *args: Any) -> None:
    """A one-way message Ray resends until the receiver takes it, however
    often it is restarting meanwhile: for an actor's message to itself from
    its constructor, which Ray refuses while the actor is not alive yet
    ("the actor is restarting"). The receiver's method must bear being
    called twice (an attempt may die with its actor after running)."""
    getattr(handle, method).options(max_task_retries=-1).remote(*args)


def tell_watched(
    handle: Any, method: str, args: tuple[Any, ...], on_dead: Callable[[], None]
) -> None:
    """A one-way message from inside an async actor whose receiver's death
    is noticed: `on_dead` runs on this actor's event loop if the receiver's
    actor has died. An exception the receiver raised is not its death."""
    reference = getattr(handle, method).remote(*args)
    watcher = asyncio.get_running_loop().create_task(_watch(reference, on_dead))
    # The loop keeps only weak references to tasks: hold it until done.
    _watchers.add(watcher)
    watcher.add_done_callback(_watchers.discard)


_watchers: set[asyncio.Task[None]] = set()


async def _watch(reference: Any, on_dead: Callable[[], None]) -> None:
    try:
        await reference
    except ActorDiedError:
        on_dead()
    except RayError:
        # The receiver's handler failed (it is alive and logged it), or the
        # receiver is briefly unreachable: heartbeats and timeouts decide.
        pass


# How long a live actor may take to answer a call before the caller gives
# up: minutes, because a busy machine answers late, not never (a dead actor
# is reported at once, whatever this is).
ANSWER_BUDGET = 300.0


def ask(handle: Any, method: str, *args: Any, timeout: float = ANSWER_BUDGET) -> Any:
    """Call and wait for the answer (for callers outside the actors);
    NoAnswerError if a live actor has not answered within `timeout`."""
    try:
        return ray.get(getattr(handle, method).remote(*args), timeout=timeout)
    except GetTimeoutError:
        raise NoAnswerError(f"no answer to {method!r} within {timeout:.0f} s") from None


# How long an actor may take to start before its start counts as failed:
# generous, because a slow start (a busy machine, workers importing from
# cold) is not a failure; the real failures are reported as soon as Ray
# knows them.
START_BUDGET = 600.0


@dataclass
class Starting:
    """An actor's start under way: `what` names it in messages ("agent
    'agent-0'"), `error` is the StartError kind raised if it fails."""

    what: str
    error: type[StartError]
    handle: Any
    ready: Any  # Ray's reference: the actor was created (its constructor returned)
    answer: Any  # the reference to the start method's answer
    since: float = field(default_factory=time.monotonic)


def begin_start(handle: Any, *args: Any, what: str, error: type[StartError]) -> Starting:
    """Call `start` (every pyactors actor's first call, which brings it into
    service) on a just-spawned actor, without waiting."""
    ready = handle.__ray_ready__.remote()
    return Starting(what, error, handle, ready, handle.start.remote(*args))


def wait_started(
    starts: Sequence[Starting],
    budget: float = START_BUDGET,
    on_wait: Callable[[str], None] | None = None,
) -> list[tuple[Any, float]]:
    """Wait for every start: each one's answer and how long it took, in
    order. Fails with the start's StartError kind as soon as one fails for
    a real reason (its actor died or its constructor raised, Ray cannot
    place it, its start raised), or once `budget` seconds have passed; a
    PyactorsError its start raised on purpose (a refused id, a bad
    argument) is raised as it is. `on_wait` hears what is awaited whenever
    that changes."""
    answers: dict[int, tuple[Any, float]] = {}
    created: set[int] = set()
    said = ""
    while len(answers) < len(starts):
        pending = [s for n, s in enumerate(starts) if n not in answers]
        references = [s.answer for s in pending] + [
            s.ready for n, s in enumerate(starts) if n not in created and n not in answers
        ]
        done, _ = ray.wait(references, num_returns=len(references), timeout=1.0)
        finished = set(done)
        for n, start in enumerate(starts):
            if start.ready in finished:
                created.add(n)
            if start.answer in finished:
                answers[n] = (_answer(start), time.monotonic() - start.since)
        waiting = [(n, s) for n, s in enumerate(starts) if n not in answers]
        if not waiting:
            break
        oldest = min(s.since for _, s in waiting)
        if time.monotonic() - oldest > budget:
            n, start = waiting[0]
            raise start.error(
                f"{start.what} did not start within {budget:.0f} s "
                f"({_stage(n in created)}); a slower machine needs a larger start budget"
            )
        if on_wait is not None:
            stages = sorted({_stage(n in created) for n, _ in waiting})
            now = f"{waiting[0][1].what}" if len(waiting) == 1 else f"{len(waiting)} actors"
            phrase = f"{now}: {' / '.join(stages)}"
            if phrase != said:
                said = phrase
                on_wait(phrase)
    return [answers[n] for n in range(len(starts))]


def _stage(created: bool) -> str:
    return "starting up" if created else "waiting for Ray to start its worker"


def _answer(start: Starting) -> Any:
    """The start's answer, or the typed error that says why there is none."""
    try:
        return ray.get(start.answer)
    except ActorUnschedulableError as error:
        reason = f"Ray cannot place it: {error.error_message}"
    except RayActorError as error:
        reason = (
            f"its constructor raised {_last_line(str(error))}"
            if error.actor_init_failed
            else f"its actor died: {_last_line(str(error))}"
        )
    except RayError as error:
        original = cause(error)
        if isinstance(original, PyactorsError):
            raise original from None
        reason = f"its start raised {type(original).__name__}: {original}"
    raise start.error(f"{start.what} did not start: {reason}")


def _last_line(message: str) -> str:
    """The line of a Ray error message that says what happened (the last
    one: an exception's `Type: message`), without terminal colours."""
    lines = [line.strip() for line in _COLOURS.sub("", message).splitlines() if line.strip()]
    return lines[-1] if lines else "no reason given"


_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


async def ask_async(handle: Any, method: str, *args: Any) -> Any:
    """Call and await the answer (inside async actors)."""
    return await getattr(handle, method).remote(*args)


def cause(error: BaseException) -> BaseException:
    """The exception an actor's method raised, without Ray's wrapping (whose
    message carries the remote traceback)."""
    original = getattr(error, "cause", None)
    return original if isinstance(original, BaseException) else error


def stop(handle: Any) -> None:
    ray.kill(handle, no_restart=True)
