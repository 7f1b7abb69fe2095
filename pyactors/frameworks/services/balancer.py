"""The load balancer in front of the apps (what marathon-lb does): HAProxy
(`pyactors.frameworks.haproxy`) fed with each service port's live
endpoints, reloaded only when they change, started with the first app that
has a service port."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from functools import lru_cache

from pyactors.frameworks import haproxy
from pyactors.frameworks.services.model import Frontend


class Balancer:
    def __init__(self, work_dir: str, bind_host: str, binary: str) -> None:
        self.work_dir = work_dir
        self.bind_host = bind_host
        self.binary = binary
        self._haproxy: haproxy.LoadBalancer | None = None
        self._shown: list[Frontend] | None = None

    def update(self, frontends: Sequence[Frontend]) -> None:
        wanted = list(frontends)
        if wanted == self._shown:
            return
        if self._haproxy is None:
            if not wanted:
                return
            self._haproxy = haproxy.LoadBalancer(self.work_dir, self.bind_host, self.binary)
        self._haproxy.update(
            [
                haproxy.Frontend(
                    f.name,
                    f.service_port,
                    [haproxy.Backend(_address(host), port) for host, port in f.backends],
                    mode=f.mode,
                )
                for f in wanted
            ]
        )
        self._shown = wanted

    def stop(self) -> None:
        if self._haproxy is not None:
            self._haproxy.stop()
            self._haproxy = None
            self._shown = None


@lru_cache(maxsize=1024)
def _address(host: str) -> str:
    """An agent's hostname as an address HAProxy can use without DNS at reload."""
    try:
        return socket.gethostbyname(host)
    except OSError:
        return host
