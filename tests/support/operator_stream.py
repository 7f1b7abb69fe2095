"""A v1 operator API SUBSCRIBE stream (`POST /api/v1`), read by a client of
its own in a thread of its own, for tests to wait on its events."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import aiohttp
import orjson

from pyactors.api.v1.recordio import Decoder
from support.runtime import PATIENCE, wait_for


class EventStream:
    """The events received so far (`events`), the answer's status and
    headers; `ended` once the server closed the stream."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.ended = False
        self._decoder = Decoder()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asked = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            **(headers or {}),
        }
        self._reading = asyncio.run_coroutine_threadsafe(self._read(url, asked), self._loop)

    async def _read(self, url: str, headers: dict[str, str]) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=PATIENCE)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(
                    url + "/api/v1", data=b'{"type": "SUBSCRIBE"}', headers=headers
                ) as response,
            ):
                self.status, self.headers = response.status, dict(response.headers)
                async for chunk in response.content.iter_any():
                    for record in self._decoder.decode(chunk):
                        self.events.append(orjson.loads(record))
        except aiohttp.ClientError:
            pass  # the server went away: the stream ended
        finally:
            self.ended = True

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The bodies of the events of `kind` (e.g. TASK_ADDED) so far (a
        HEARTBEAT's: {})."""
        return [e.get(kind.lower(), {}) for e in list(self.events) if e["type"] == kind]

    def close(self) -> None:
        """Leave (the server must notice), and stop the thread."""
        self._loop.call_soon_threadsafe(self._reading.cancel)
        concurrent.futures.wait([self._reading], timeout=30)
        wait_for(lambda: self.ended, what="the reader to stop")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
