"""The load balancer in front of the apps (what marathon-lb does): HAProxy
(`pyactors.frameworks.services.haproxy`) fed with each service port's live
endpoints, reloaded only when they change, started with the first app that
has a service port."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Sequence
from functools import lru_cache

import psutil

from pyactors.errors import LoadBalancerError
from pyactors.frameworks.services import haproxy
from pyactors.frameworks.services.model import Frontend

logger = logging.getLogger(__name__)


class Balancer:
    def __init__(self, work_dir: str, bind_host: str, binary: str) -> None:
        self.work_dir = work_dir
        self.bind_host = bind_host
        self.binary = binary
        self._haproxy: haproxy.LoadBalancer | None = None
        self._shown: list[Frontend] | None = None
        self._failure: str | None = None

    def update(self, frontends: Sequence[Frontend]) -> None:
        """Serve these frontends. A reload HAProxy refuses is logged and
        tried again with the next change; the previous configuration serves
        meanwhile."""
        wanted = list(frontends)
        if wanted == self._shown:
            return
        try:
            if self._haproxy is None:
                if not wanted:
                    return
                _end_orphans(os.path.join(os.path.abspath(self.work_dir), haproxy.CONFIG))
                self._haproxy = haproxy.LoadBalancer(self.work_dir, self.bind_host, self.binary)
            self._haproxy.update(
                [
                    haproxy.Frontend(
                        f.name,
                        f.service_port,
                        tuple(haproxy.Backend(_address(host), port) for host, port in f.backends),
                        mode=f.mode,
                    )
                    for f in wanted
                ]
            )
        except LoadBalancerError as error:
            if str(error) != self._failure:
                logger.error("service framework: load balancer: %s", error)
            self._failure = str(error)
            return
        self._shown, self._failure = wanted, None

    def stop(self) -> None:
        if self._haproxy is not None:
            self._haproxy.stop()
            self._haproxy = None
            self._shown = None


def _end_orphans(config: str) -> None:
    """End an HAProxy a previous incarnation of the framework left running
    with this configuration (its actor was killed, its children were not),
    so that two never serve the same ports."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if config in cmdline and "-f" in cmdline:
            with contextlib.suppress(psutil.Error):
                for child in process.children(recursive=True):
                    child.kill()
                process.kill()


@lru_cache(maxsize=1024)
def _address(host: str) -> str:
    """An agent's hostname as an address HAProxy can use without DNS at reload."""
    try:
        return socket.gethostbyname(host)
    except OSError:
        return host
