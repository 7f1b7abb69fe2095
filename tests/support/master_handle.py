"""A stand-in for a master actor's handle, for framework actor tests
without Ray: `subscribe.remote(...)` reaches a plain `MasterState`."""

from __future__ import annotations

import asyncio
from typing import Any

from pyactors.master.state import MasterState


class _Subscribe:
    def __init__(self, master: MasterState, now: float) -> None:
        self.master, self.now = master, now

    def remote(
        self, _host: Any, name: str, roles: list[str], framework_id: str | None, *_: Any
    ) -> Any:
        subscribed, _ = self.master.subscribe(name, roles, self.now, framework_id, [], 60.0)
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        done.set_result(subscribed)
        return done


class MasterHandle:
    """Stands for a master actor's handle: subscribe reaches `master`."""

    def __init__(self, master: MasterState, now: float) -> None:
        self.subscribe = _Subscribe(master, now)
