"""The built-in service framework (what Marathon does): long-running apps
kept at their instance count, health-checked, replaced with backoff,
deployed under an upgrade strategy, fronted by HAProxy.

`state` decides (plain Python, time as an argument); `scheduler` is the
thin `pyactors.Scheduler` shell over it; `client` is what
`Cluster.services()` returns.
"""
