"""The documented import path of the HAProxy load balancer
(`pyactors.frameworks.services.haproxy`)."""

from pyactors.frameworks.services.haproxy import Backend, Frontend, LoadBalancer, render

__all__ = ["Backend", "Frontend", "LoadBalancer", "render"]
