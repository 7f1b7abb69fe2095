"""Every Ray call pyactors makes goes through here.

Actors elsewhere are plain classes over state machines; this module turns
them into Ray actors, sends one-way messages and waits where a caller must.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any

import ray
from ray.exceptions import ActorDiedError as ActorDiedError
from ray.exceptions import RayError

NAMESPACE = "pyactors"


def ensure_started(num_cpus: int | None = None) -> None:
    """Connect to the running Ray instance, or start a local one."""
    if not ray.is_initialized():
        ray.init(
            namespace=NAMESPACE,
            num_cpus=num_cpus,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )


def spawn(cls: type, *args: Any, name: str | None = None, **kwargs: Any) -> Any:
    """Start `cls` as an actor (async methods make it an async actor). It
    takes no CPU from the cluster: pyactors' own actors must not compete
    with the tasks they run for Ray's resources."""
    options: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 64}
    if name is not None:
        options["name"] = name
    return ray.remote(cls).options(**options).remote(*args, **kwargs)


def ship_by_value(cls: type) -> None:
    """Let workers receive a user's class even when its module is not
    importable there (a test file, a notebook): pickle the module by value."""
    module = sys.modules.get(cls.__module__)
    if (
        module is not None
        and cls.__module__ != "__main__"
        and not cls.__module__.startswith("pyactors.")
    ):
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


def stop(handle: Any) -> None:
    ray.kill(handle, no_restart=True)
