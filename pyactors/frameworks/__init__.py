"""Frameworks that ship with pyactors, built on the public scheduler API, and
what they use (the HAProxy load balancer)."""
