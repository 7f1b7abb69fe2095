"""Every Ray call pyactors makes goes through here.

Actors elsewhere are plain classes over state machines; this module turns
them into Ray actors, sends one-way messages and waits where a caller must.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import ActorDiedError as ActorDiedError
from ray.exceptions import RayActorError as RayActorError
from ray.exceptions import RayError
from ray.exceptions import RayTaskError as RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

NAMESPACE = "pyactors"


def ensure_started(num_cpus: int | None = None, address: str | None = None) -> None:
    """Connect to the Ray cluster at `address` (or the running one, as
    `ray.init` finds it), or start a local one ("local": always a new one)."""
    if ray.is_initialized():
        return
    # Options of a new instance only; an existing cluster has its own.
    new_instance = address in (None, "local")
    local: dict[str, Any] = (
        {"num_cpus": num_cpus, "include_dashboard": False} if new_instance else {}
    )
    ray.init(
        address=address,
        namespace=NAMESPACE,
        logging_level=logging.ERROR,
        log_to_driver=False,
        **local,
    )


def spawn(
    cls: type, *args: Any, name: str | None = None, node_id: str | None = None, **kwargs: Any
) -> Any:
    """Start `cls` as an actor (async methods make it an async actor), on
    the Ray node `node_id` when given (and nowhere else). It takes no CPU
    from the cluster: pyactors' own actors must not compete with the tasks
    they run for Ray's resources."""
    options: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 64}
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


def ask(handle: Any, method: str, *args: Any, timeout: float = 30.0) -> Any:
    """Call and wait for the answer (for callers outside the actors)."""
    return ray.get(getattr(handle, method).remote(*args), timeout=timeout)


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
